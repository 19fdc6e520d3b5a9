/**
 * Readiness that means "send me more": what `/readyz` and the HAProxy agent check say about a
 * gateway, from its capacity snapshot. Pure, so the rules are table-tested without a server.
 *
 *  - not ready (503) while the model loads, while draining (SIGTERM), and while **full**: a
 *    stream asked for now would be refused with 429 (sessions, KV pool, lag, the shed ceiling);
 *  - the **free share** is what a balancer weighs a ready gateway by: the smaller of the free
 *    session share and the lag headroom (1 - p95 lag / --max-lag-s), as a percentage.
 *
 * The agent check speaks HAProxy's agent protocol (configuration manual, "agent-check"): one
 * ASCII line per TCP connection, words separated by spaces. `up ready 60%` makes the server
 * usable with 60 % of its configured weight, `drain` stops new sessions while those it has (and
 * requests that persist to it, such as a WHIP DELETE) still reach it, `down#full` takes it
 * out of the balance until it answers `up` again.
 */
import type { CapacitySnapshot } from '../stream/session-contract.js';

export type NotReadyReason = 'model_loading' | 'shutting_down' | 'full';

export interface FreeCapacity {
  sessions_active: number;
  sessions_max: number;
  /** sessions that would still be admitted by count (the lag and the shed ceiling may refuse sooner) */
  sessions_free: number;
  lag_p95_s: number;
  /** 1 - lag_p95_s / --max-lag-s, at least 0 */
  lag_headroom: number;
  accepting: boolean;
  /** what a balancer should weigh this gateway by, 0-100: min(free session share, lag headroom); 0 when not accepting */
  weight_percent: number;
}

export function freeCapacity(capacity: CapacitySnapshot, maxLagS: number): FreeCapacity {
  const sessionsFree = Math.max(0, capacity.sessionsMax - capacity.sessionsActive);
  const sessionShare = capacity.sessionsMax > 0 ? sessionsFree / capacity.sessionsMax : 0;
  const lagHeadroom = Math.max(0, 1 - capacity.lagP95S / maxLagS);
  // A gateway that accepts gets at least 1 %: HAProxy reads 0 % as drain.
  const weight = capacity.accepting ? Math.max(1, Math.floor(100 * Math.min(sessionShare, lagHeadroom))) : 0;
  return {
    sessions_active: capacity.sessionsActive,
    sessions_max: capacity.sessionsMax,
    sessions_free: sessionsFree,
    lag_p95_s: Math.round(capacity.lagP95S * 1000) / 1000,
    lag_headroom: Math.round(lagHeadroom * 1000) / 1000,
    accepting: capacity.accepting,
    weight_percent: weight,
  };
}

export type Readiness =
  | { ready: true; model: string; capacity: FreeCapacity }
  | { ready: false; reason: NotReadyReason; capacity: FreeCapacity | null };

/** `engine` null: the model is still loading. */
export function readiness(engine: { model: string; capacity: CapacitySnapshot } | null, shuttingDown: boolean, maxLagS: number): Readiness {
  const capacity = engine === null ? null : freeCapacity(engine.capacity, maxLagS);
  if (shuttingDown) return { ready: false, reason: 'shutting_down', capacity };
  if (engine === null || capacity === null) return { ready: false, reason: 'model_loading', capacity: null };
  if (!capacity.accepting) return { ready: false, reason: 'full', capacity };
  return { ready: true, model: engine.model, capacity };
}

/** The `/readyz` body: 200 with it when ready, 503 otherwise. */
export function readyzBody(state: Readiness, model: string | null): { status: number; body: Record<string, unknown> } {
  if (state.ready) return { status: 200, body: { status: 'ready', model: state.model, capacity: state.capacity } };
  const body: Record<string, unknown> = { status: 'not_ready', reason: state.reason };
  if (state.capacity !== null) {
    body.model = model;
    body.capacity = state.capacity;
  }
  return { status: 503, body };
}

/** The agent-check line (with its newline) for HAProxy. */
export function agentReply(state: Readiness): string {
  if (state.ready) return `up ready ${state.capacity.weight_percent}%\n`;
  // Draining: no new sessions, but requests that persist to this gateway (WHIP DELETE) still come.
  if (state.reason === 'shutting_down') return 'drain\n';
  return `down#${state.reason}\n`;
}
