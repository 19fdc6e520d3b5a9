// Hand-made session records and reports for tests that need no server.
import { judgeLevel, type CapacityCriteria } from '../../loadtest/find-max.js';
import { summarizeLevel, type SessionRecord } from '../../loadtest/level-summary.js';
import type { JudgedLevel, LoadTestReport } from '../../loadtest/report.js';

/** One session record; a one-channel stream unless `channels` says otherwise (then its WER is theirs summed). */
export function session(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const refWords = overrides.refWords === undefined ? 10 : overrides.refWords;
  const wordErrors = overrides.wordErrors === undefined ? 1 : overrides.wordErrors;
  return {
    stream: 0,
    startOffsetS: 0,
    clips: ['clip'],
    audioS: 10,
    outcome: 'ok',
    refusedStatus: null,
    closeCode: 1000,
    clientError: null,
    serverErrors: [],
    finals: 2,
    interims: 5,
    timeToFirstInterimMs: 800,
    finalLatencyMs: [600, 700],
    interimLatencyMs: [300],
    utteranceFinalLatencyMs: [700],
    flushLatencyMs: 200,
    maxLagS: 0.8,
    lagGrowthS: 0.1,
    lagWhileStreaming: [],
    refWords,
    wordErrors,
    channels: [{ channel: 0, speaker: null, clips: ['clip'], finals: 2, lagGrowthS: 0.1, refWords, wordErrors, hypothesis: 'words' }],
    ...overrides,
  };
}

const CRITERIA: CapacityCriteria = { p95FinalMs: 1500, maxErrorRate: 0.01, maxLagGrowthS: 1, maxWerGapPoints: null };

function level(streams: number, latencyScale: number): JudgedLevel {
  const sessions = Array.from({ length: streams }, (_, i) =>
    session({
      stream: i,
      finalLatencyMs: [400, 650, 900, 1100].map((v) => v * latencyScale + i),
      interimLatencyMs: [250, 380].map((v) => v * latencyScale + i),
      utteranceFinalLatencyMs: [950 * latencyScale],
      maxLagS: 0.5 * latencyScale,
    }),
  );
  const summary = summarizeLevel(sessions);
  return {
    streams,
    startedAt: '2026-01-01T00:00:00.000Z',
    wallS: 40,
    sessions,
    summary,
    verdict: judgeLevel(summary, CRITERIA),
    offlineWer: null,
  };
}

/** A find-max run: 1, 2 and 4 streams within bounds, 8 over the p95 bound. */
export function sampleReport(): LoadTestReport {
  const levels = [level(1, 1), level(2, 1.1), level(4, 1.3), level(8, 2.5)];
  return {
    date: '2026-01-01T00:00:00.000Z',
    wallS: 170,
    target: { url: 'ws://127.0.0.1:8080/v1/listen', httpBase: 'http://127.0.0.1:8080' },
    settings: { encoding: 'linear16', rate: 16000, speed: 1, durationS: 30, rampS: 5, drainTimeoutS: 30, audio: 'sets jfk' },
    criteria: CRITERIA,
    levels,
    findMax: { maxSustainableStreams: 4, stoppedBecause: '4 streams sustained, 8 did not', start: 1, step: null, max: 64 },
    http: {
      baseUrl: 'http://127.0.0.1:8080',
      wavPath: 'test/fixtures/audio/jfk.wav',
      targets: [
        {
          name: 'health probe', method: 'GET', path: '/healthz', connections: 4, durationS: 10, requests: 50000,
          requestsPerS: 5000, latencyMs: { mean: 0.7, p50: 1, p90: 1, p99: 2, max: 9 }, status2xx: 50000, non2xx: 0, errors: 0, timeouts: 0,
        },
      ],
    },
  };
}
