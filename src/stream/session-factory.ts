// Live sessions over one loaded model. Admission is decided here, before a session exists
// (src/stream/admission.ts): the KV pool is sized by slot count or byte budget, sessions are
// admitted only while it covers their worst case (STREAM_SLOTS), and none is admitted while
// the admitted ones lag, so that those keep their latency.
import type { StepStats } from '../engine/device-scheduler.js';
import { LiveDecoder, type LiveDecodeRequest } from '../engine/live-decoder.js';
import type { NativeModelInfo } from '../engine/native.js';
import { DEFAULT_TRANSCRIBE_OPTIONS } from '../engine/transcribe.js';
import { WhisperModel, type Precision, type StreamSlots } from '../engine/whisper.js';
import {
  admissionLimit,
  afterShed,
  chooseShed,
  computeLagS,
  decideAdmission,
  DEFAULT_MAX_LAG_S,
  DEFAULT_OVERLOAD_POLICY,
  medianLagGrowth,
  NO_OVERLOAD,
  overloaded,
  OverloadError,
  percentile,
  raiseCeiling,
  streamsPoolCovers,
  type AdmissionDecision,
  type OverloadPolicy,
  type OverloadState,
} from './admission.js';
import { commitPolicyFor } from './commit-policy.js';
import {
  CapacityError,
  type CapacitySnapshot,
  type LiveSession,
  type SessionEventSink,
  type SessionFactory,
  type SessionOptions,
} from './session-contract.js';
import { StreamingSession } from './session.js';

export interface SessionFactoryOptions {
  model: string;
  threads?: number;
  /** weight storage (the engine's defaultPrecision() when absent) */
  precision?: Precision;
  /** live sessions admitted at once */
  maxSessions: number;
  /** extra pool room for file transcriptions running beside live sessions */
  fileJobs?: number;
  /** KV pool size in bytes; absent: room for maxSessions + fileJobs streams */
  kvBudgetBytes?: number;
  /** new sessions are refused while admitted ones lag more than this (p95), seconds */
  maxLagS?: number;
  /** when an admitted stream is shed (src/stream/admission.ts, "Overload"); null: never */
  overload?: OverloadPolicy | null;
  /** false: one hypothesis per decoder call (the baseline for what batching buys) */
  batching?: boolean;
  onStep?: (stats: StepStats) => void;
}

/** What the KV pool holds now; slots are allocated lazily, so `bytes` is the budget, not RSS. */
export interface KvPoolStatus {
  windowsInUse: number;
  windowsTotal: number;
  /** live streams' windows, which keep their encoder K/V as well */
  streamingWindowsInUse: number;
  streamingWindowsTotal: number;
  sessionsInUse: number;
  sessionsTotal: number;
  bytes: number;
}

/**
 * What one live stream may hold in the KV pool at once: its streaming window (which its hops
 * and the final decodes of utterances with final words grow), and the offline decode of an
 * utterance that ended before any word was final (one window, best-of-N sampling or beam
 * hypotheses) beside the greedy hypothesis of the hop it preempted (src/stream/session.ts);
 * a speech check (one window, one greedy hypothesis) runs instead of a hop, and a flush that
 * needs a window of its own waits for it. That hypothesis decodes in the session that keeps the stream's prompt between hops
 * (src/engine/prompt-cache.ts), so the prompt costs no slot of its own.
 * A file transcription needs less, so it is reserved as one stream too.
 */
export const STREAM_SLOTS: StreamSlots = {
  windows: 1,
  sessions: Math.max(DEFAULT_TRANSCRIBE_OPTIONS.bestOf, DEFAULT_TRANSCRIBE_OPTIONS.beamSize) + 1,
  streamingWindows: 1,
};

/** How often the lag of admitted streams is checked for shedding. */
const OVERLOAD_CHECK_MS = 250;

/** What admission knows of one admitted stream besides the session itself. */
interface AdmittedStream {
  id: number;
  admittedAtMs: number;
  /**
   * what the stream's decoder still does (sheddable): 'live', 'batch' (a gone client's
   * backlog owed to a sink, decoded below every live stream), 'none' (shed)
   */
  work: { value: DecoderWork };
  /** its finals are kept without the client (SessionOptions.finalsOwed) */
  finalsOwed: boolean;
  /** the transport's onError: how a shed stream is ended; null: the stream cannot be shed */
  onError: ((error: Error) => void) | null;
  /** wall time (ms) of the stream's first audio; null before it */
  firstAudioMs: number | null;
  /**
   * false once the client has gone: the session still holds its KV slots while it flushes
   * its finals to the sink, but its lag only says how much audio it left behind.
   */
  attached: boolean;
}

export class WhisperSessionFactory implements SessionFactory {
  /** every live session decodes its open utterance each hop, so each attached one's lag shows compute */
  private readonly admitted = new Map<StreamingSession, AdmittedStream>();
  private nextStreamId = 1;
  private overload: OverloadState = NO_OVERLOAD;
  private overloadTimer: NodeJS.Timeout | null = null;
  private shedTotal = 0;
  private backlogsDroppedTotal = 0;
  /** [ms, median lag s] of the last second of overload checks, for the lag's growth */
  private medianLags: Array<[number, number]> = [];

  private constructor(
    readonly model: WhisperModel,
    readonly modelName: string,
    private readonly maxSessions: number,
    private readonly poolStreams: number,
    private readonly maxLagS: number,
    private readonly decoder: LiveDecoder,
    private readonly overloadPolicy: OverloadPolicy | null,
  ) {}

  static async open(options: SessionFactoryOptions): Promise<WhisperSessionFactory> {
    const fileJobs = options.fileJobs ?? 1;
    const streams = options.maxSessions + fileJobs;
    const model = await WhisperModel.load(options.model, {
      threads: options.threads ?? 0,
      precision: options.precision,
      batching: options.batching,
      onStep: options.onStep,
      ...(options.kvBudgetBytes === undefined
        ? {
            maxWindows: streams * STREAM_SLOTS.windows,
            maxSessions: streams * STREAM_SLOTS.sessions,
            maxStreamingWindows: streams * (STREAM_SLOTS.streamingWindows ?? 0),
          }
        : { kvBudgetBytes: options.kvBudgetBytes, perStream: STREAM_SLOTS }),
    });
    const poolStreams = streamsPoolCovers(model.info, STREAM_SLOTS, fileJobs);
    if (poolStreams === 0) {
      const streamMb = streamBytes(model.info, STREAM_SLOTS) / 2 ** 20;
      model.close();
      throw new RangeError(
        `a KV budget of ${((options.kvBudgetBytes ?? 0) / 2 ** 20).toFixed(0)} MiB holds no live session: ` +
          `each needs ${streamMb.toFixed(1)} MiB and ${fileJobs} are kept for file jobs`,
      );
    }
    return new WhisperSessionFactory(
      model,
      options.model,
      options.maxSessions,
      poolStreams,
      options.maxLagS ?? DEFAULT_MAX_LAG_S,
      new LiveDecoder(model),
      options.overload === undefined ? DEFAULT_OVERLOAD_POLICY : options.overload,
    );
  }

  get activeSessions(): number {
    return this.admitted.size;
  }

  capacity(): CapacitySnapshot {
    return {
      sessionsActive: this.admitted.size,
      sessionsMax: admissionLimit({ maxStreams: this.maxSessions, poolStreams: this.poolStreams }),
      lagP95S: this.lagP95S(),
      accepting: this.admission().accepting,
    };
  }

  kvPool(): KvPoolStatus {
    const info = this.model.native.info();
    return {
      windowsInUse: info.windowsInUse,
      windowsTotal: info.maxWindows,
      streamingWindowsInUse: info.streamingWindowsInUse,
      streamingWindowsTotal: info.maxStreamingWindows,
      sessionsInUse: info.sessionsInUse,
      sessionsTotal: info.maxSessions,
      bytes:
        info.maxWindows * info.windowBytes +
        info.maxSessions * info.sessionBytes +
        info.maxStreamingWindows * info.streamingWindowBytes,
    };
  }

  get queueDepth(): number {
    return this.model.scheduler.queuedRequests;
  }

  create(options: SessionOptions, onEvent: SessionEventSink, onError?: (error: Error) => void): LiveSession {
    const admission = this.admission();
    if (!admission.accepting) throw new CapacityError(admission.reason);
    if (options.language && options.language !== 'en' && !this.model.multilingual) {
      throw new RangeError(`model ${this.modelName} is English-only; language "${options.language}" is not available`);
    }
    const work = { value: 'live' as DecoderWork };
    const session = new StreamingSession(sheddable(this.decoder, work), options, onEvent, onError, commitPolicyFor(options.finals ?? 'early'));
    const stream: AdmittedStream = {
      work,
      finalsOwed: options.finalsOwed === true,
      id: this.nextStreamId++,
      admittedAtMs: performance.now(),
      onError: onError ?? null,
      firstAudioMs: null,
      attached: true,
    };
    this.admitted.set(session, stream);
    this.watchOverload();
    const release = () => {
      this.admitted.delete(session);
      if (this.admitted.size === 0) this.stopWatchingOverload();
    };
    return {
      pushAudio: (samples) => {
        stream.firstAudioMs ??= performance.now();
        session.pushAudio(samples);
      },
      finalize: () => session.finalize(),
      close: () => session.close().finally(release),
      abort: () => {
        stream.attached = false;
        return session.abort().finally(release);
      },
      get receivedSeconds() {
        return session.receivedSeconds;
      },
      get lagSeconds() {
        return session.lagSeconds;
      },
    };
  }

  /** Streams shed since start (chorus_sessions_total counts them too, as server_overloaded). */
  get shedSessions(): number {
    return this.shedTotal;
  }

  /** Streams whose client had gone whose backlog was dropped, not decoded, during an overload. */
  get backlogsDropped(): number {
    return this.backlogsDroppedTotal;
  }

  close(): void {
    this.stopWatchingOverload();
    this.model.close();
  }

  private computeLagOf(session: StreamingSession, stream: AdmittedStream, now: number): number {
    const elapsedS = stream.firstAudioMs === null ? 0 : (now - stream.firstAudioMs) / 1000;
    return computeLagS(session.lagSeconds, session.receivedSeconds, elapsedS);
  }

  private lagP95S(): number {
    const now = performance.now();
    const lags: number[] = [];
    for (const [session, stream] of this.admitted) {
      if (stream.attached) lags.push(this.computeLagOf(session, stream, now));
    }
    return percentile(lags, 95);
  }

  private watchOverload(): void {
    if (this.overloadPolicy === null || this.overloadTimer !== null) return;
    this.overloadTimer = setInterval(() => this.checkOverload(), OVERLOAD_CHECK_MS);
    this.overloadTimer.unref();
  }

  private stopWatchingOverload(): void {
    if (this.overloadTimer !== null) clearInterval(this.overloadTimer);
    this.overloadTimer = null;
  }

  /** Sheds the stream furthest behind once one is past the policy's lag (admission.ts, "Overload"). */
  private checkOverload(): void {
    const policy = this.overloadPolicy;
    if (policy === null) return;
    const now = performance.now();
    const candidates = [];
    const byId = new Map<number, AdmittedStream>();
    for (const [session, stream] of this.admitted) {
      if (!stream.attached || stream.onError === null) continue;
      candidates.push({ id: stream.id, lagS: this.computeLagOf(session, stream, now), admittedAtMs: stream.admittedAtMs });
      byId.set(stream.id, stream);
    }
    if (overloaded(candidates, policy)) {
      // No one waits live for the backlog of a client that has gone: while live streams are
      // behind, it is not decoded at flush priority ahead of them. A backlog whose finals a
      // sink is owed is decoded below them; one that no one will read is dropped.
      for (const stream of this.admitted.values()) {
        if (stream.attached || stream.work.value !== 'live') continue;
        stream.work.value = stream.finalsOwed ? 'batch' : 'none';
        if (!stream.finalsOwed) this.backlogsDroppedTotal++;
      }
    }
    const medianLagS = percentile(candidates.map((c) => c.lagS), 50);
    this.medianLags.push([now, medianLagS]);
    while (this.medianLags.length > 0 && now - this.medianLags[0][0] > 1000) this.medianLags.shift();
    const victims = chooseShed(now, candidates, this.overload, policy, medianLagGrowth(this.medianLags));
    if (victims.length > 0) {
      this.medianLags = [];
      for (const id of victims) {
        const victim = byId.get(id)!;
        // Its lag no longer counts for admission while the transport ends it, and the backlog
        // that made it late is not decoded: that work is what the others are waiting behind.
        victim.attached = false;
        victim.work.value = 'none';
      }
      this.shedTotal += victims.length;
      const left = [...this.admitted.values()].filter((s) => s.attached).length;
      this.overload = afterShed(this.overload, now, left, medianLagS);
      for (const id of victims) {
        const lag = candidates.find((c) => c.id === id)!.lagS;
        byId.get(id)!.onError!(
          new OverloadError(
            `the server is overloaded: this stream fell ${lag.toFixed(1)} s behind (more than ${policy.shedLagS} s) and was ended ` +
              'to keep the others within their latency bound; reconnect later or elsewhere',
          ),
        );
      }
      return;
    }
    this.raiseCeiling(now);
  }

  private raiseCeiling(now: number): void {
    if (this.overloadPolicy === null) return;
    const limit = admissionLimit({ maxStreams: this.maxSessions, poolStreams: this.poolStreams });
    this.overload = raiseCeiling(this.overload, now, this.lagP95S(), this.maxLagS, limit, this.overloadPolicy);
  }

  private admission(): AdmissionDecision {
    // The ceiling rises with time, also while no stream is admitted.
    this.raiseCeiling(performance.now());
    return decideAdmission({
      activeStreams: this.admitted.size,
      maxStreams: this.maxSessions,
      poolStreams: this.poolStreams,
      lagP95S: this.lagP95S(),
      queueWaitS: this.model.scheduler.oldestWaitMs / 1000,
      maxLagS: this.maxLagS,
      ceiling: this.overload.ceiling,
    });
  }
}

/** What a stream's decoder still does: its own work, work below every live stream's, nothing. */
type DecoderWork = 'live' | 'batch' | 'none';

/**
 * The shared decoder as one stream sees it: once the stream is shed, its decodes answer with
 * nothing heard, so that closing it (which finalises) queues no work on the device. Words of its
 * backlog that were not final when it was shed are not transcribed; the shed's Error says how
 * far behind it was. Those answers wait for the stream's decodes already under way, so the
 * session never takes its close for done (and gives its streaming window back) while a hop that
 * began before the shed can still take the window again. A gone client's backlog owed to a sink
 * is decoded at the scheduler's lowest urgency instead.
 */
function sheddable(decoder: LiveDecoder, work: { value: DecoderWork }): LiveDecoder {
  const gated = Object.create(decoder) as LiveDecoder;
  const running = new Set<Promise<unknown>>();
  const track = <T>(decode: Promise<T>): Promise<T> => {
    running.add(decode);
    void decode.then(
      () => running.delete(decode),
      () => running.delete(decode),
    );
    return decode;
  };
  const settled = () => Promise.allSettled([...running]);
  const at = <T extends LiveDecodeRequest>(request: T): T => (work.value === 'batch' ? { ...request, urgency: 'batch' } : request);
  gated.final = (request) =>
    work.value === 'none' ? settled().then(() => ({ segments: [], language: request.language })) : track(decoder.final(at(request)));
  gated.hypothesis = (request) => (work.value === 'none' ? settled().then(() => null) : track(decoder.hypothesis(at(request))));
  gated.judgeSpeech = (request) =>
    work.value === 'none' ? settled().then(() => ({ noSpeechProb: 1, text: '' })) : track(decoder.judgeSpeech(at(request)));
  return gated;
}

/** KV memory one stream of `slots` may hold at once. */
export function streamBytes(info: NativeModelInfo, slots: StreamSlots): number {
  return (
    slots.windows * info.windowBytes +
    slots.sessions * info.sessionBytes +
    (slots.streamingWindows ?? 0) * info.streamingWindowBytes
  );
}
