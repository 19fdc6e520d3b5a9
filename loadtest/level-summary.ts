// One load level's figures, derived only from its per-session records so that anyone holding
// report.json can recompute them: counts add up to the sessions requested, and distributions
// pool the per-session samples.
import { distribution, median, type Distribution } from './distribution.js';

/**
 * Each session counts once, by the first that applies: `refused` (the upgrade got an HTTP
 * status), `shed` (admitted, then ended by the server's overload policy: Error
 * `server_overloaded`, close code 1013), `error` (the client failed: no connection, a timeout;
 * or the server sent an Error message), `disconnected` (closed with a code other than 1000),
 * else `ok`.
 */
export type SessionOutcome = 'ok' | 'refused' | 'shed' | 'error' | 'disconnected';

/** The close code of a stream the server shed to keep the others within their bound (docs/protocol.md). */
export const SHED_CLOSE_CODE = 1013;

/**
 * One channel of a session: a one-channel stream has one; a call (`--multichannel`, Twilio) has
 * one per speaker, scored against that speaker's own clips.
 */
export interface ChannelRecord {
  channel: number;
  /** the reader on this channel of a call (speakerOf); null for a one-channel stream */
  speaker: string | null;
  /** the clips played on this channel, in order */
  clips: string[];
  finals: number;
  /** see lagGrowthS in stream-metrics.ts, over this channel's results */
  lagGrowthS: number | null;
  refWords: number | null;
  wordErrors: number | null;
  /** this channel's finals, in order */
  hypothesis: string;
}

export interface SessionRecord {
  /** the session's number in its level: a stream, or a call */
  stream: number;
  /** seconds after the level started at which this stream was due to connect */
  startOffsetS: number;
  /** every clip played, in the order played (on whichever channel) */
  clips: string[];
  audioS: number;
  outcome: SessionOutcome;
  refusedStatus: number | null;
  /** where it ran or was refused: a balancer's x-chorus-gateway, else the --url it used when several were given; null: one target, no header */
  gateway?: string | null;
  closeCode: number | null;
  clientError: string | null;
  serverErrors: string[];
  finals: number;
  interims: number;
  timeToFirstInterimMs: number | null;
  /** one per final word */
  finalLatencyMs: number[];
  /** one per final word that some earlier interim already held */
  interimLatencyMs: number[];
  /** one per final that ends an utterance or answers Finalize, for its last word */
  utteranceFinalLatencyMs: number[];
  flushLatencyMs: number | null;
  maxLagS: number | null;
  /** the largest of its channels' (a call falls behind when either side does) */
  lagGrowthS: number | null;
  /** every channel's, in arrival order */
  lagWhileStreaming: [number, number][];
  /** its channels' summed, null if any channel has no reference */
  refWords: number | null;
  wordErrors: number | null;
  channels: ChannelRecord[];
}

/** WER of one channel index over a level's admitted sessions (channel 1: every call's second speaker). */
export interface ChannelSummary {
  channel: number;
  refWords: number;
  wordErrors: number;
  wer: number | null;
}

export interface LevelSummary {
  requested: number;
  admitted: number;
  refused: number;
  shed: number;
  ok: number;
  errored: number;
  disconnected: number;
  /** sessions that were not `ok`, over sessions requested */
  errorRate: number;
  serverErrorMessages: number;
  audioS: number;
  timeToFirstInterimMs: Distribution;
  interimLatencyMs: Distribution;
  finalLatencyMs: Distribution;
  utteranceFinalLatencyMs: Distribution;
  flushLatencyMs: Distribution;
  maxLagS: number | null;
  /** median over the sessions that have one */
  lagGrowthS: number | null;
  /** summed over sessions with a reference: word errors over reference words */
  wer: number | null;
  refWords: number;
  wordErrors: number;
  /** per channel index; one entry for one-channel streams */
  channels: ChannelSummary[];
  /** the sessions that ran to their end (`ok`): what an overload must not take from them */
  kept: { finalLatencyMs: Distribution; lagGrowthS: number | null };
}

export function summarizeLevel(sessions: readonly SessionRecord[]): LevelSummary {
  const admitted = sessions.filter((s) => s.outcome !== 'refused');
  const count = (outcome: SessionOutcome) => sessions.filter((s) => s.outcome === outcome).length;
  const present = <T>(values: (T | null)[]) => values.filter((v): v is T => v !== null);
  const words = werOf(admitted);
  const lags = present(admitted.map((s) => s.maxLagS));
  return {
    requested: sessions.length,
    admitted: admitted.length,
    refused: count('refused'),
    shed: count('shed'),
    ok: count('ok'),
    errored: count('error'),
    disconnected: count('disconnected'),
    errorRate: sessions.length === 0 ? 0 : (sessions.length - count('ok')) / sessions.length,
    serverErrorMessages: sessions.reduce((n, s) => n + s.serverErrors.length, 0),
    audioS: admitted.reduce((n, s) => n + s.audioS, 0),
    timeToFirstInterimMs: distribution(present(admitted.map((s) => s.timeToFirstInterimMs))),
    interimLatencyMs: distribution(admitted.flatMap((s) => s.interimLatencyMs)),
    finalLatencyMs: distribution(admitted.flatMap((s) => s.finalLatencyMs)),
    utteranceFinalLatencyMs: distribution(admitted.flatMap((s) => s.utteranceFinalLatencyMs)),
    flushLatencyMs: distribution(present(admitted.map((s) => s.flushLatencyMs))),
    maxLagS: lags.length > 0 ? Math.max(...lags) : null,
    lagGrowthS: median(present(admitted.map((s) => s.lagGrowthS))),
    ...words,
    channels: channelSummaries(admitted),
    kept: {
      finalLatencyMs: distribution(sessions.filter((s) => s.outcome === 'ok').flatMap((s) => s.finalLatencyMs)),
      lagGrowthS: median(present(sessions.filter((s) => s.outcome === 'ok').map((s) => s.lagGrowthS))),
    },
  };
}

/** Word errors over reference words, summed over the records that have a reference. */
function werOf(scored: readonly { refWords: number | null; wordErrors: number | null }[]): { wer: number | null; refWords: number; wordErrors: number } {
  const withRef = scored.filter((s) => s.refWords !== null && s.wordErrors !== null);
  const refWords = withRef.reduce((n, s) => n + s.refWords!, 0);
  const wordErrors = withRef.reduce((n, s) => n + s.wordErrors!, 0);
  return { wer: refWords > 0 ? wordErrors / refWords : null, refWords, wordErrors };
}

function channelSummaries(admitted: readonly SessionRecord[]): ChannelSummary[] {
  const count = Math.max(0, ...admitted.map((s) => s.channels.length));
  return Array.from({ length: count }, (_, channel) => ({
    channel,
    ...werOf(admitted.flatMap((s) => s.channels.filter((c) => c.channel === channel))),
  }));
}
