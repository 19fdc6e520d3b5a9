// Whether another live stream may start now. Two resources bound it, and both are checked
// before a session exists so that admitted streams keep their latency and nothing fails
// mid-stream:
//  - KV memory: each admitted stream is counted against its worst case (the window and
//    hypothesis slots it may hold at once), so the pool can never run dry;
//  - compute: when the device falls behind, admitted streams lag (DESIGN.md) and requests
//    wait in the scheduler's queue; a new stream then would only make every stream late.
// Pure, so the policy is tested without a model.
import type { StreamSlots } from '../engine/whisper.js';

/**
 * Lag at which the device has no headroom left: with interim results every second, a session
 * that keeps up lags about a second plus one decode.
 */
export const DEFAULT_MAX_LAG_S = 2;

export interface PoolSlots {
  maxWindows: number;
  maxSessions: number;
  maxStreamingWindows?: number;
}

/**
 * Streams whose worst case `perStream` the pool covers, after `reservedStreams` kept for other
 * work on the same engine (file transcriptions).
 */
export function streamsPoolCovers(pool: PoolSlots, perStream: StreamSlots, reservedStreams: number): number {
  const streaming = perStream.streamingWindows ?? 0;
  const streams = Math.min(
    Math.floor(pool.maxWindows / Math.max(1, perStream.windows)),
    Math.floor(pool.maxSessions / Math.max(1, perStream.sessions)),
    streaming > 0 ? Math.floor((pool.maxStreamingWindows ?? 0) / streaming) : Infinity,
  );
  return Math.max(0, streams - reservedStreams);
}

/** Nearest-rank percentile (p in 0..100); 0 for no values, so an idle server shows no lag. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface AdmissionState {
  activeStreams: number;
  /** the operator's limit (--max-sessions) */
  maxStreams: number;
  /** streamsPoolCovers for the engine's pool */
  poolStreams: number;
  /** p95 lag of the admitted streams whose lag reflects compute, seconds */
  lagP95S: number;
  /** how long the oldest request in the device queue has waited, seconds */
  queueWaitS: number;
  /** above this lag or queue wait the device has no headroom left (--max-lag-s) */
  maxLagS: number;
  /** streams the device last proved it could keep up with (OverloadState.ceiling); null: no limit learnt */
  ceiling?: number | null;
}

export type AdmissionDecision = { accepting: true } | { accepting: false; reason: string };

export function decideAdmission(state: AdmissionState): AdmissionDecision {
  if (state.activeStreams >= state.maxStreams) {
    return { accepting: false, reason: `all ${state.maxStreams} live sessions are in use; try again later` };
  }
  if (state.activeStreams >= state.poolStreams) {
    return {
      accepting: false,
      reason: `the KV memory pool is full (${state.poolStreams} sessions fit in --kv-budget-mb); try again later`,
    };
  }
  if (state.ceiling != null && state.activeStreams >= state.ceiling) {
    return {
      accepting: false,
      reason: `a live session was shed recently to keep the others within their latency bound; ${state.ceiling} sessions at most until the engine shows headroom; try again later`,
    };
  }
  if (state.lagP95S > state.maxLagS) {
    return {
      accepting: false,
      reason: `live sessions are falling behind (p95 lag ${state.lagP95S.toFixed(2)} s > ${state.maxLagS} s); try again later`,
    };
  }
  if (state.queueWaitS > state.maxLagS) {
    return {
      accepting: false,
      reason: `the engine is busy (work has waited ${state.queueWaitS.toFixed(2)} s > ${state.maxLagS} s); try again later`,
    };
  }
  return { accepting: true };
}

/** Upper bound of admitted streams: the operator's limit or what the pool covers, whichever is less. */
export function admissionLimit(state: Pick<AdmissionState, 'maxStreams' | 'poolStreams'>): number {
  return Math.min(state.maxStreams, state.poolStreams);
}

/**
 * The part of a stream's lag that says something about compute. Audio a client sent ahead of
 * real time (a reconnect's backlog, a file streamed unpaced) is lag the client made itself:
 * counting it would let one client hold every new stream off until its backlog is worked through.
 * `receivedS` is audio received, `elapsedS` the wall time since the stream's first audio.
 */
export function computeLagS(lagS: number, receivedS: number, elapsedS: number): number {
  return Math.max(0, lagS - Math.max(0, receivedS - elapsedS));
}

export interface IngestPacing {
  /** audio may arrive this many times faster than real time (--max-ingest-rate) */
  rate: number;
  /** seconds of audio allowed beyond that at any time: a stream's start, a reconnect's catch-up (--ingest-burst-s) */
  burstS: number;
}

/** A reconnecting client resends what it buffered; half a minute covers the usual backoff. */
export const DEFAULT_INGEST_PACING: IngestPacing = { rate: 2, burstS: 30 };

/**
 * Whether a stream that has received `receivedS` seconds of audio `elapsedS` seconds after its
 * first audio is within its pacing; one past it would queue minutes of work on the shared device.
 */
export function withinPacing(receivedS: number, elapsedS: number, pacing: IngestPacing): boolean {
  return receivedS <= pacing.burstS + pacing.rate * Math.max(0, elapsedS);
}

// ---------------------------------------------------------------------------------------------
// Overload: shedding and the ceiling it leaves
//
// Admission reads lag, which shows an overload only seconds after the streams that caused it
// were admitted (a ramp of new streams all pass the check before the first of them lags), and
// the machine's CPU can be taken from streams already admitted. Past that point a live
// stream's work grows with its backlog (each hop re-decodes everything not yet final), so an
// overloaded device does not recover by itself: every stream's lag grows without end (issue 18
// item 9). An overload shows as the whole distribution of lags moving up (the device's queue
// stays short: each hop's steps just take longer), so while the median lag passes
// `overloadLagS`:
//  - the backlog of streams whose client has gone is no longer decoded at flush priority
//    ahead of every live stream: decoded below them when a sink is owed its finals, dropped
//    when no one will read them (WhisperSessionFactory);
//  - live streams past `shedLagS` are shed, the newest first, as many as the lag's growth says
//    the device cannot serve: ended with an Error `server_overloaded` and close code 1013,
//    their finals so far delivered, their backlog not decoded.
// A lone stream lagging on a long utterance is not an overload and is left alone. Sheds are
// spaced by `settleMs`, the time the device needs to show what the last one gave back, and each
// sets a ceiling on admission at the streams left, so the next new stream does not bring the
// overload straight back; the ceiling rises by one after every `raiseMs` without a shed while
// the lag stays within --max-lag-s.

export interface OverloadPolicy {
  /** the device is behind while the median compute lag of the live streams passes this, seconds */
  overloadLagS: number;
  /** a stream whose compute lag passes this is past its latency bound and may be shed, seconds */
  shedLagS: number;
  /** the least time between two sheds, ms */
  settleMs: number;
  /**
   * the least share of the live streams shed in one step (at least one stream): an overload of
   * a few streams in forty is gone in one step
   */
  shedShare: number;
  /** the most shed in one step, whatever the lag's growth says */
  maxShedShare: number;
  /** the ceiling rises by one after this long without a shed, ms */
  raiseMs: number;
}

/**
 * A stream that keeps up lags a hop plus a decode: a median under a second at capacity here
 * (2 Zen 4 cores), over 2 s within seconds of a collapse starting. 2.5 s leaves a stream room
 * for a slow final decode but sheds before finals arrive far past the 1.5 s bound of
 * DESIGN.md's capacity.
 */
export const DEFAULT_OVERLOAD_POLICY: OverloadPolicy = {
  overloadLagS: 1.5,
  shedLagS: 2,
  settleMs: 1000,
  shedShare: 0.1,
  maxShedShare: 0.5,
  raiseMs: 15_000,
};

export interface ShedCandidate {
  id: number;
  /** computeLagS of the stream now, seconds */
  lagS: number;
  /** when it was admitted (ms, any clock shared with nowMs) */
  admittedAtMs: number;
}

export interface OverloadState {
  /** most streams admitted until the device shows headroom; null: none learnt (no shed yet, or raised past the limit) */
  ceiling: number | null;
  lastShedAtMs: number | null;
  /** the median lag when the last stream was shed, seconds */
  lagAtShedS: number | null;
  /** when the ceiling last rose */
  lastRaiseAtMs: number | null;
}

export const NO_OVERLOAD: OverloadState = { ceiling: null, lastShedAtMs: null, lagAtShedS: null, lastRaiseAtMs: null };

/** After a shed, a median lag lower than at the shed is the device catching up: it gets this many settleMs to. */
const CATCH_UP_SETTLES = 4;

/**
 * How fast the median lag grows, seconds per second, from samples [ms, median lag s] of the
 * last second or so (oldest first); 0 with fewer than two. While every stream speaks, a device
 * that serves a share f of the work they ask for leaves each one 1 - f seconds behind per
 * second, so the growth is the share of streams it cannot serve.
 */
export function medianLagGrowth(samples: readonly (readonly [number, number])[]): number {
  if (samples.length < 2) return 0;
  const [t0, lag0] = samples[0];
  const [t1, lag1] = samples[samples.length - 1];
  return t1 > t0 ? (lag1 - lag0) / ((t1 - t0) / 1000) : 0;
}

/** Whether the live streams' median lag says the device is behind. */
export function overloaded(streams: readonly ShedCandidate[], policy: OverloadPolicy): boolean {
  return percentile(streams.map((s) => s.lagS), 50) > policy.overloadLagS;
}

/**
 * The streams to shed now (ids, possibly none): while the median lag passes `overloadLagS`,
 * streams past `shedLagS`, the latest admitted first (the streams whose admission the device
 * could least afford: a client that opens stream after stream loses its newest, not the streams
 * that were there before it; the furthest behind first among equals). As many as the median
 * lag's growth per second says the device cannot serve (`growthPerS` of the live streams),
 * within `shedShare` and `maxShedShare`, and one at least: a stream's work grows with its
 * backlog, so an overload cut late takes the streams kept down with it. One such step per
 * `settleMs`, and none while the median is still coming down from the last shed (for up to
 * CATCH_UP_SETTLES of them), so that the device's catching up is not taken for more overload.
 */
export function chooseShed(
  nowMs: number,
  streams: readonly ShedCandidate[],
  state: OverloadState,
  policy: OverloadPolicy,
  growthPerS = 0,
): number[] {
  if (!overloaded(streams, policy)) return [];
  const medianLagS = percentile(streams.map((s) => s.lagS), 50);
  if (state.lastShedAtMs !== null) {
    const sinceMs = nowMs - state.lastShedAtMs;
    if (sinceMs < policy.settleMs) return [];
    if (state.lagAtShedS !== null && medianLagS < state.lagAtShedS && sinceMs < CATCH_UP_SETTLES * policy.settleMs) return [];
  }
  const share = Math.min(policy.maxShedShare, Math.max(policy.shedShare, growthPerS));
  // Never the last stream: shedding it helps no one (the device is too slow even for one, or
  // its CPU is taken by something else), and the next would be refused by the ceiling.
  const most = Math.min(streams.length - 1, Math.max(1, Math.round(share * streams.length)));
  if (most <= 0) return [];
  return streams
    .filter((s) => s.lagS > policy.shedLagS)
    .sort((a, b) => b.admittedAtMs - a.admittedAtMs || b.lagS - a.lagS)
    .slice(0, most)
    .map((s) => s.id);
}

/**
 * After a shed that left `streamsLeft` live streams, at a median lag of `medianLagS`: admission
 * holds at them (one at least, so it never closes for good).
 */
export function afterShed(state: OverloadState, nowMs: number, streamsLeft: number, medianLagS: number): OverloadState {
  return {
    ceiling: Math.max(1, Math.min(state.ceiling ?? Infinity, streamsLeft)),
    lastShedAtMs: nowMs,
    lagAtShedS: medianLagS,
    lastRaiseAtMs: null,
  };
}

/**
 * The ceiling one step later: one higher after `raiseMs` without a shed or a raise while the
 * lag is within `maxLagS`; gone once it reaches `limit` (the sessions and memory limits).
 */
export function raiseCeiling(
  state: OverloadState,
  nowMs: number,
  lagP95S: number,
  maxLagS: number,
  limit: number,
  policy: OverloadPolicy,
): OverloadState {
  if (state.ceiling === null) return state;
  const since = Math.max(state.lastShedAtMs ?? -Infinity, state.lastRaiseAtMs ?? -Infinity);
  if (nowMs - since < policy.raiseMs || lagP95S > maxLagS) return state;
  const ceiling = state.ceiling + 1;
  return { ...state, ceiling: ceiling >= limit ? null : ceiling, lastRaiseAtMs: nowMs };
}

/** What a shed stream's transport is told (its onError): Error `server_overloaded`, close code 1013. */
export class OverloadError extends Error {
  readonly code = 'server_overloaded';
  constructor(message: string) {
    super(message);
    this.name = 'OverloadError';
  }
}
