// One load level: N concurrent real-time streams against /v1/listen, their starts spread
// evenly over the ramp, each one session playing its program of clips and closing with
// CloseStream; or N calls, each two readers taking turns on two channels, sent as one
// `multichannel=true` stream or as a Twilio Media Stream. Returns every session's record and
// the level's summary.
import { scoreWer } from '../src/eval/wer.js';
import { encodedSamples, framesFor, interleavedFramesFor, type ClientEncoding } from './audio-frames.js';
import { SHED_CLOSE_CODE, summarizeLevel, type LevelSummary, type SessionOutcome, type SessionRecord } from './level-summary.js';
import type { JsonlSinkTail } from './sink-tail.js';
import {
  callCast,
  callProgram,
  monoChannels,
  streamProgram,
  type CallProgram,
  type SpeechClip,
} from './speech-source.js';
import { runStream, type StreamRecord } from './stream-client.js';
import { channelView, lagGrowthS, streamMetrics } from './stream-metrics.js';
import { runTwilioCall } from './twilio-call.js';

/**
 * How a level's calls are sent: one `/v1/listen` stream with `multichannel=true` and the
 * channels interleaved, or a Twilio Media Stream to `/v1/twilio` whose finals are read from
 * the gateway's JSONL transcript sink; `authToken` signs each Twilio upgrade
 * (X-Twilio-Signature) for a gateway started with --twilio-auth-token.
 */
export type CallTransport = { transport: 'ws' } | { transport: 'twilio'; sink: JsonlSinkTail; authToken?: string };

export interface LevelOptions {
  /** ws://host:port/v1/listen, or /v1/twilio[/KEY] for Twilio calls */
  url: string;
  /** several targets (gateways without a balancer): stream i goes to urls[i % n]; overrides url */
  urls?: string[];
  /** streams, or calls with `calls` */
  streams: number;
  /** each of the `streams` is a two-speaker call sent this way; absent: one-channel streams */
  calls?: CallTransport;
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
/** Twilio's media: 8 kHz mu-law in 20 ms chunks, whatever --encoding says. */
const TWILIO_RATE = 8000;

/** What one session plays and how: its channels' programs and the client that sends them. */
interface Prepared {
  program: CallProgram;
  audioS: number;
  play(url: string): Promise<StreamRecord>;
}

export async function runLevel(options: LevelOptions): Promise<LevelReport> {
  const startedAt = new Date();
  const started = performance.now();
  // Sessions with the same program share its audio, prepared once.
  const prepared = new Map<string, Promise<Prepared>>();
  const prepare = (stream: number): Promise<Prepared> => {
    const cast = options.calls ? callCast(options.clips, stream) : null;
    const firstClip = (stream * CLIP_STRIDE) % options.clips.length;
    const key = cast ? `${cast.speakers.map((s) => s.speaker).join('|')}|${cast.firstClip}` : String(firstClip);
    let entry = prepared.get(key);
    if (!entry) {
      entry = (cast ? callProgram(cast, options.durationS) : streamProgram(options.clips, options.durationS, firstClip).then(monoChannels)).then(
        (program) => client(program, options),
      );
      prepared.set(key, entry);
    }
    return entry;
  };
  const sessions = await Promise.all(
    Array.from({ length: options.streams }, async (_, stream): Promise<SessionRecord> => {
      const session = await prepare(stream);
      const startOffsetS = (stream * options.rampS) / options.streams;
      const waitMs = startOffsetS * 1000 - (performance.now() - started);
      if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
      const urls = options.urls ?? [options.url];
      const url = urls[stream % urls.length];
      const record = await session.play(url);
      return {
        ...sessionRecord(stream, startOffsetS, session, record),
        gateway: record.gateway ?? (urls.length > 1 ? new URL(url).host : null),
      };
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

function client(program: CallProgram, options: LevelOptions): Prepared {
  const pcm = program.channels.map((c) => c.pcm);
  const timeoutMs = options.drainTimeoutS * 1000;
  const headers = options.token ? { Authorization: `Token ${options.token}` } : undefined;
  if (options.calls?.transport === 'twilio') {
    const { sink, authToken } = options.calls;
    const [inbound, outbound] = pcm.map((c) => encodedSamples(c, 'mulaw', TWILIO_RATE));
    return {
      program,
      audioS: inbound.length / TWILIO_RATE,
      play: (url) => runTwilioCall({ url, inbound, outbound, sink, timeoutMs, authToken }),
    };
  }
  const params = { encoding: options.encoding, sample_rate: options.rate, interim_results: true, lag: true };
  if (options.calls) {
    if (options.encoding === 'opus') throw new Error('a multichannel call is raw interleaved audio: linear16, mulaw or alaw');
    const audio = interleavedFramesFor(pcm, options.encoding, options.rate);
    const callParams = { ...params, channels: pcm.length, multichannel: true };
    return {
      program,
      audioS: audio.durationS,
      play: (url) => runStream({ url, params: callParams, audio, speed: options.speed, headers, timeoutMs }),
    };
  }
  const audio = framesFor(pcm[0], options.encoding, options.rate);
  return {
    program,
    audioS: audio.durationS,
    play: (url) => runStream({ url, params, audio, speed: options.speed, headers, timeoutMs }),
  };
}

// Rounded before aggregation, so the summary is exactly what the stored samples give.
const ms = (v: number) => Math.round(v * 10) / 10;
const seconds = (v: number) => Math.round(v * 1000) / 1000;
const secondsSeries = (series: readonly [number, number][]) => series.map(([t, lag]): [number, number] => [seconds(t), seconds(lag)]);

function sessionRecord(stream: number, startOffsetS: number, session: Prepared, record: StreamRecord): SessionRecord {
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
  // Each channel is measured as a stream of its own: a word is matched to interims of its own
  // channel only, and scored against its own speaker's reference.
  const channels = session.program.channels.map((program, channel) => {
    const cm = streamMetrics(channelView(record, channel));
    const score = admitted && program.ref !== null ? scoreWer([{ ref: program.ref, hyp: cm.finalText }]) : null;
    const lagGrowth = lagGrowthS(secondsSeries(cm.lagWhileStreaming));
    return {
      metrics: cm,
      record: {
        channel,
        speaker: program.speaker,
        clips: program.clips.map((c) => c.id),
        finals: cm.finals,
        lagGrowthS: lagGrowth === null ? null : seconds(lagGrowth),
        refWords: score ? score.refWords : null,
        wordErrors: score ? score.substitutions + score.deletions + score.insertions : null,
        hypothesis: cm.finalText,
      },
    };
  });
  const scored = channels.every((c) => c.record.refWords !== null);
  const growths = channels.map((c) => c.record.lagGrowthS).filter((g): g is number => g !== null);
  const pooled = (pick: (cm: (typeof channels)[number]['metrics']) => number[]) => channels.flatMap((c) => pick(c.metrics).map(ms));
  return {
    stream,
    startOffsetS: seconds(startOffsetS),
    clips: session.program.clips.map((c) => c.id),
    audioS: seconds(session.audioS),
    outcome,
    refusedStatus: record.refusedStatus,
    closeCode: record.closeCode,
    clientError: record.error,
    serverErrors: m.errors,
    finals: m.finals,
    interims: m.interims,
    timeToFirstInterimMs: m.timeToFirstInterimMs === null ? null : ms(m.timeToFirstInterimMs),
    finalLatencyMs: pooled((cm) => cm.finalLatencyMs),
    interimLatencyMs: pooled((cm) => cm.interimLatencyMs),
    utteranceFinalLatencyMs: pooled((cm) => cm.utteranceFinalLatencyMs),
    flushLatencyMs: m.flushLatencyMs === null ? null : ms(m.flushLatencyMs),
    maxLagS: m.maxLagS === null ? null : seconds(m.maxLagS),
    lagGrowthS: growths.length > 0 ? Math.max(...growths) : null,
    lagWhileStreaming: secondsSeries(m.lagWhileStreaming),
    refWords: scored ? channels.reduce((n, c) => n + c.record.refWords!, 0) : null,
    wordErrors: scored ? channels.reduce((n, c) => n + c.record.wordErrors!, 0) : null,
    channels: channels.map((c) => c.record),
  };
}
