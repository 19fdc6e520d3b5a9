// One load level: N concurrent real-time streams against /v1/listen, their starts spread
// evenly over the ramp, each one session playing its program of clips and closing with
// CloseStream. Returns every session's record and the level's summary.
import { scoreWer } from '../src/eval/wer.js';
import { framesFor, type AudioFrames, type ClientEncoding } from './audio-frames.js';
import { SHED_CLOSE_CODE, summarizeLevel, type LevelSummary, type SessionOutcome, type SessionRecord } from './level-summary.js';
import { streamProgram, type SpeechClip, type StreamProgram } from './speech-source.js';
import { runStream, type StreamRecord } from './stream-client.js';
import { lagGrowthS, streamMetrics } from './stream-metrics.js';

export interface LevelOptions {
  /** ws://host:port/v1/listen */
  url: string;
  /** several targets (gateways without a balancer): stream i goes to urls[i % n]; overrides url */
  urls?: string[];
  streams: number;
  /** seconds of audio each stream plays at least */
  durationS: number;
  /** the N starts are spread evenly over this many seconds */
  rampS: number;
  speed: number;
  encoding: ClientEncoding;
  rate: number;
  token?: string;
  clips: SpeechClip[];
  /** how long a stream waits for the server to finish after its audio ends */
  drainTimeoutS: number;
}

export interface LevelReport {
  streams: number;
  startedAt: string;
  wallS: number;
  sessions: SessionRecord[];
  summary: LevelSummary;
}

/** Streams start on different clips so they do not all speak (and pause) in step. */
const CLIP_STRIDE = 7;

export async function runLevel(options: LevelOptions): Promise<LevelReport> {
  const startedAt = new Date();
  const started = performance.now();
  const prepared = new Map<number, Promise<{ program: StreamProgram; audio: AudioFrames }>>();
  const prepare = (firstClip: number) => {
    let entry = prepared.get(firstClip);
    if (!entry) {
      entry = streamProgram(options.clips, options.durationS, firstClip).then((program) => ({
        program,
        audio: framesFor(program.pcm, options.encoding, options.rate),
      }));
      prepared.set(firstClip, entry);
    }
    return entry;
  };
  const sessions = await Promise.all(
    Array.from({ length: options.streams }, async (_, stream): Promise<SessionRecord> => {
      const { program, audio } = await prepare((stream * CLIP_STRIDE) % options.clips.length);
      const startOffsetS = (stream * options.rampS) / options.streams;
      const waitMs = startOffsetS * 1000 - (performance.now() - started);
      if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
      const urls = options.urls ?? [options.url];
      const url = urls[stream % urls.length];
      const record = await runStream({
        url,
        params: { encoding: options.encoding, sample_rate: options.rate, interim_results: true, lag: true },
        audio,
        speed: options.speed,
        headers: options.token ? { Authorization: `Token ${options.token}` } : undefined,
        timeoutMs: options.drainTimeoutS * 1000,
      });
      const session = sessionRecord(stream, startOffsetS, program, audio, record);
      return { ...session, gateway: record.gateway ?? (urls.length > 1 ? new URL(url).host : null) };
    }),
  );
  return {
    streams: options.streams,
    startedAt: startedAt.toISOString(),
    wallS: (performance.now() - started) / 1000,
    sessions,
    summary: summarizeLevel(sessions),
  };
}

// Rounded before aggregation, so the summary is exactly what the stored samples give.
const ms = (v: number) => Math.round(v * 10) / 10;
const seconds = (v: number) => Math.round(v * 1000) / 1000;

function sessionRecord(
  stream: number,
  startOffsetS: number,
  program: StreamProgram,
  audio: AudioFrames,
  record: StreamRecord,
): SessionRecord {
  const m = streamMetrics(record);
  const outcome: SessionOutcome =
    record.refusedStatus !== null
      ? 'refused'
      : record.closeCode === SHED_CLOSE_CODE
        ? 'shed'
        : record.error !== null || m.errors.length > 0
        ? 'error'
        : record.closeCode !== 1000
          ? 'disconnected'
          : 'ok';
  const admitted = outcome !== 'refused';
  const score = admitted && program.ref !== null ? scoreWer([{ ref: program.ref, hyp: m.finalText }]) : null;
  const lagWhileStreaming = m.lagWhileStreaming.map(([t, lag]): [number, number] => [seconds(t), seconds(lag)]);
  const lagGrowth = lagGrowthS(lagWhileStreaming);
  return {
    stream,
    startOffsetS: seconds(startOffsetS),
    clips: program.clips.map((c) => c.id),
    audioS: seconds(audio.durationS),
    outcome,
    refusedStatus: record.refusedStatus,
    closeCode: record.closeCode,
    clientError: record.error,
    serverErrors: m.errors,
    finals: m.finals,
    interims: m.interims,
    timeToFirstInterimMs: m.timeToFirstInterimMs === null ? null : ms(m.timeToFirstInterimMs),
    finalLatencyMs: m.finalLatencyMs.map(ms),
    interimLatencyMs: m.interimLatencyMs.map(ms),
    utteranceFinalLatencyMs: m.utteranceFinalLatencyMs.map(ms),
    flushLatencyMs: m.flushLatencyMs === null ? null : ms(m.flushLatencyMs),
    maxLagS: m.maxLagS === null ? null : seconds(m.maxLagS),
    lagGrowthS: lagGrowth === null ? null : seconds(lagGrowth),
    lagWhileStreaming,
    refWords: score ? score.refWords : null,
    wordErrors: score ? score.substitutions + score.deletions + score.insertions : null,
    hypothesis: m.finalText,
  };
}
