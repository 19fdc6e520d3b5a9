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
