/**
 * Failed-key throttling per client address: after `maxFailures` wrong or missing keys within
 * `windowMs`, the address is refused with 429 until its oldest failure leaves the window, so
 * keys cannot be guessed at the rate the server answers 401s. Addresses are those of the TCP
 * peer: behind a proxy every client shares the proxy's, which then throttles them together.
 */

export interface AuthThrottlePolicy {
  maxFailures: number;
  windowMs: number;
}

/** A person mistyping a key gets several tries a minute; a guesser gets ten. */
export const DEFAULT_AUTH_THROTTLE: AuthThrottlePolicy = { maxFailures: 10, windowMs: 60_000 };

/** Enough for any honest crowd; a flood of spoofed-looking addresses cannot grow it further. */
const MAX_ADDRESSES = 10_000;

export class FailedAuthThrottle {
  /** failure times per address, oldest first; the Map's order is least recently failed first */
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly policy: AuthThrottlePolicy = DEFAULT_AUTH_THROTTLE) {}

  /** Whole seconds until `address` may present a key again; 0 when it may now. */
  retryAfterS(address: string, nowMs: number): number {
    const times = this.recent(address, nowMs);
    if (times.length < this.policy.maxFailures) return 0;
    return Math.max(1, Math.ceil((times[times.length - this.policy.maxFailures] + this.policy.windowMs - nowMs) / 1000));
  }

  recordFailure(address: string, nowMs: number): void {
    const times = this.recent(address, nowMs);
    times.push(nowMs);
    this.failures.delete(address);
    this.failures.set(address, times);
    if (this.failures.size > MAX_ADDRESSES) this.failures.delete(this.failures.keys().next().value!);
  }

  private recent(address: string, nowMs: number): number[] {
    const times = this.failures.get(address) ?? [];
    const from = times.findIndex((t) => t > nowMs - this.policy.windowMs);
    const kept = from === -1 ? [] : times.slice(from);
    if (kept.length === 0) this.failures.delete(address);
    else this.failures.set(address, kept);
    return kept;
  }
}
