// Per-stream measurements from a StreamRecord, with the project's metric definitions
// (../shared/DESIGN.md): final and interim latency of a word are the arrival of the message
// minus the moment the client sent the end of that word's audio; an utterance's final latency
// is the same for the last word of a final that ends an utterance (`speech_final`) or answers
// a Finalize (`from_finalize`); flush latency runs from CloseStream to the last final; lag is
// what the server reports in each result.
import { normalizeBasic } from '../src/text/normalize.js';
import { median } from './distribution.js';
import type { StreamRecord } from './stream-client.js';

interface ResultWord {
  word: string;
  punctuated_word?: string;
  start: number;
  end: number;
}

interface Results {
  type: 'Results';
  is_final: boolean;
  speech_final: boolean;
  from_finalize: boolean;
  start: number;
  duration: number;
  lag?: number;
  channel: { alternatives: { transcript: string; words: ResultWord[] }[] };
}

export interface StreamMetrics {
  finalText: string;
  finals: number;
  interims: number;
  /** ms from the first byte to the first interim with words */
  timeToFirstInterimMs: number | null;
  /** every interim result arrived before the final covering its audio */
  interimsBeforeFinals: boolean;
  finalLatencyMs: number[];
  interimLatencyMs: number[];
  utteranceFinalLatencyMs: number[];
  flushLatencyMs: number | null;
  maxLagS: number | null;
  lastLagS: number | null;
  /** [seconds since the first byte, lag in seconds] of each result that arrived before CloseStream */
  lagWhileStreaming: [number, number][];
  errors: string[];
  gotMetadata: boolean;
}

/** When the client sent the end of the audio at stream time `t`. */
function sentAtFor(record: StreamRecord): (t: number) => number {
  return (t) => {
    for (const s of record.sent) if (s.endS >= t - 1e-3) return s.atMs;
    return record.sent.length > 0 ? record.sent[record.sent.length - 1].atMs : record.startedAtMs;
  };
}

export function streamMetrics(record: StreamRecord): StreamMetrics {
  const sentAt = sentAtFor(record);
  const results = record.received.filter((r) => r.message.type === 'Results') as { atMs: number; message: unknown }[] as {
    atMs: number;
    message: Results;
  }[];
  const finals = results.filter((r) => r.message.is_final);
  const interims = results.filter((r) => !r.message.is_final);
  const finalWords = finals.flatMap((r) => r.message.channel.alternatives[0].words.map((w) => ({ w, atMs: r.atMs })));

  const finalLatencyMs = finalWords.map(({ w, atMs }) => atMs - sentAt(w.end));
  const utteranceFinalLatencyMs = finals
    .filter((r) => (r.message.speech_final || r.message.from_finalize) && r.message.channel.alternatives[0].words.length > 0)
    .map((r) => r.atMs - sentAt(r.message.channel.alternatives[0].words.at(-1)!.end));
  const interimLatencyMs: number[] = [];
  for (const { w, atMs } of finalWords) {
    const key = normalizeBasic(w.word);
    const mid = (w.start + w.end) / 2;
    const first = interims.find(
      (r) =>
        r.atMs <= atMs &&
        r.message.channel.alternatives[0].words.some(
          (iw) => normalizeBasic(iw.word) === key && Math.abs((iw.start + iw.end) / 2 - mid) < 1.5,
        ),
    );
    if (first) interimLatencyMs.push(first.atMs - sentAt(w.end));
  }
  const firstInterim = interims.find((r) => r.message.channel.alternatives[0].words.length > 0);
  const lastFinal = finals[finals.length - 1];
  const lags = results.map((r) => r.message.lag).filter((l): l is number => typeof l === 'number');
  const streamingUntilMs = record.closeSentAtMs ?? Infinity;
  const lagWhileStreaming = results
    .filter((r) => typeof r.message.lag === 'number' && r.atMs < streamingUntilMs)
    .map((r): [number, number] => [(r.atMs - record.startedAtMs) / 1000, r.message.lag!]);
  // An interim is late if a final covering its whole span had already arrived.
  const interimsBeforeFinals = interims.every(
    (i) =>
      !finals.some(
        (f) =>
          f.atMs < i.atMs &&
          f.message.start <= i.message.start + 1e-3 &&
          f.message.start + f.message.duration >= i.message.start + i.message.duration - 1e-3,
      ),
  );
  return {
    finalText: finals.map((r) => r.message.channel.alternatives[0].transcript).filter(Boolean).join(' '),
    finals: finals.length,
    interims: interims.length,
    timeToFirstInterimMs: firstInterim ? firstInterim.atMs - record.startedAtMs : null,
    interimsBeforeFinals,
    finalLatencyMs,
    interimLatencyMs,
    utteranceFinalLatencyMs,
    flushLatencyMs:
      record.closeSentAtMs !== null && lastFinal && lastFinal.atMs >= record.closeSentAtMs
        ? lastFinal.atMs - record.closeSentAtMs
        : null,
    maxLagS: lags.length > 0 ? Math.max(...lags) : null,
    lastLagS: lags.length > 0 ? lags[lags.length - 1] : null,
    lagWhileStreaming,
    errors: record.received
      .filter((r) => r.message.type === 'Error')
      .map((r) => `${String(r.message.code)}: ${String(r.message.description ?? r.message.message ?? '')}`),
    gotMetadata: record.received.some((r) => r.message.type === 'Metadata'),
  };
}

/**
 * One channel of a multichannel stream as a stream of its own: its results only (by
 * `channel_index`; one without is channel 0's), the same audio clock, since a frame carries
 * every channel's samples of the same moment. Other messages (Metadata, Error) belong to the
 * stream, not to a channel, and are left out.
 */
export function channelView(record: StreamRecord, channel: number): StreamRecord {
  const channelOf = (m: Record<string, unknown>) => (m.channel_index as [number, number] | undefined)?.[0] ?? 0;
  return { ...record, received: record.received.filter((r) => r.message.type === 'Results' && channelOf(r.message) === channel) };
}

/** Fewer lag samples than this in a stream say nothing about a trend. */
const MIN_LAG_SAMPLES = 6;

/**
 * How much the server fell further behind over one stream: the median lag of the results in
 * the last third of the streaming time minus the median lag in the first third (thirds of the
 * span from the first to the last lag sample before CloseStream). Medians, because lag
 * swings by a hop or more from one result to the next and single samples would be noise; the
 * flush after CloseStream is left out because it drains the backlog by design. Null with
 * fewer than MIN_LAG_SAMPLES samples or when they all arrived at once.
 */
export function lagGrowthS(series: readonly [number, number][]): number | null {
  if (series.length < MIN_LAG_SAMPLES) return null;
  const first = series[0][0];
  const last = series[series.length - 1][0];
  const third = (last - first) / 3;
  if (third <= 0) return null;
  const early = series.filter(([t]) => t <= first + third).map(([, lag]) => lag);
  const late = series.filter(([t]) => t >= last - third).map(([, lag]) => lag);
  return median(late)! - median(early)!;
}
