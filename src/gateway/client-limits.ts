/**
 * Live sessions per client address: how many one address may hold at once, and how fast it may
 * start new ones. Without them one client (a fuzzer, a runaway reconnect loop, a flood of
 * short streams that leave) can hold every session slot and keep every other client at 429.
 * A stream of N channels holds N sessions. Addresses are those of the TCP peer: behind a
 * proxy every client shares the proxy's, so the limits are off by default (a call-centre
 * media server also sends all its calls from one address); docs/gateway.md says when to set them.
 */
import { Refusal } from './stream-admission.js';

export interface ClientLimitPolicy {
  /** sessions one address may hold at once; 0: no limit */
  maxSessions: number;
  /** sessions one address may start per second, on average; 0: no limit */
  startsPerS: number;
}

export const NO_CLIENT_LIMITS: ClientLimitPolicy = { maxSessions: 0, startsPerS: 0 };

/** Starts an address may make at once before the rate applies: ten seconds' worth, at least one stream of two channels. */
const BURST_S = 10;
const MIN_BURST = 2;
/** Addresses remembered at most; idle ones are forgotten first, so a spray of addresses cannot grow it. */
const MAX_ADDRESSES = 10_000;

/** A held share of an address's sessions; released once, by whichever end comes first. */
export interface ClientLease {
  release(): void;
}

const NO_LEASE: ClientLease = { release: () => {} };

interface ClientState {
  held: number;
  /** start tokens, refilled at startsPerS up to the burst */
  tokens: number;
  refilledAtMs: number;
}

export class ClientLimits {
  private readonly clients = new Map<string, ClientState>();

  constructor(private readonly policy: ClientLimitPolicy) {}

  /** Takes `sessions` for `address`, or refuses with 429 `too_many_client_sessions`. */
  admit(address: string, sessions: number, nowMs: number): ClientLease {
    const { maxSessions, startsPerS } = this.policy;
    if (maxSessions === 0 && startsPerS === 0) return NO_LEASE;
    const state = this.refilled(address, nowMs);
    if (maxSessions > 0 && state.held + sessions > maxSessions) {
      throw new Refusal(
        'too_many_client_sessions',
        `this client address holds ${state.held} of its ${maxSessions} live sessions; a stream of ${sessions} does not fit`,
        429,
      );
    }
    if (startsPerS > 0 && state.tokens < sessions) {
      const retryAfterS = Math.max(1, Math.ceil((sessions - state.tokens) / startsPerS));
      throw new Refusal('too_many_client_sessions', `this client address starts sessions faster than ${startsPerS} per second`, 429, retryAfterS);
    }
    if (startsPerS > 0) state.tokens -= sessions;
    state.held += sessions;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        state.held -= sessions;
        // With a start rate the bucket must outlive the streams, or leaving would refill it.
        if (state.held === 0 && this.policy.startsPerS === 0 && this.clients.get(address) === state) this.clients.delete(address);
      },
    };
  }

  /** Sessions `address` holds now (for tests and metrics). */
  held(address: string): number {
    return this.clients.get(address)?.held ?? 0;
  }

  private burst(): number {
    return Math.max(MIN_BURST, this.policy.startsPerS * BURST_S);
  }

  private refilled(address: string, nowMs: number): ClientState {
    let state = this.clients.get(address);
    if (!state) {
      if (this.clients.size >= MAX_ADDRESSES) {
        for (const [known, kept] of this.clients) {
          if (kept.held === 0) {
            this.clients.delete(known);
            break;
          }
        }
      }
      state = { held: 0, tokens: this.burst(), refilledAtMs: nowMs };
      this.clients.set(address, state);
      return state;
    }
    const elapsedS = Math.max(0, nowMs - state.refilledAtMs) / 1000;
    state.tokens = Math.min(this.burst(), state.tokens + elapsedS * this.policy.startsPerS);
    state.refilledAtMs = nowMs;
    return state;
  }
}
