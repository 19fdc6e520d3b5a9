import { describe, expect, it } from 'vitest';
import { distribution, percentile } from '../../loadtest/distribution.js';
import { summarizeLevel } from '../../loadtest/level-summary.js';
import type { StreamRecord } from '../../loadtest/stream-client.js';
import { lagGrowthS, streamMetrics } from '../../loadtest/stream-metrics.js';
import { reportInconsistencies } from './report-invariants.js';
import { sampleReport, session } from './sample-report.js';

describe('percentiles', () => {
  it('uses nearest rank, so every percentile is a measured value', () => {
    const values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(values, 50)).toBe(5);
    expect(percentile(values, 95)).toBe(10);
    expect(percentile(values, 0)).toBe(1);
    expect(percentile([], 50)).toBeNull();
    expect(distribution(values)).toEqual({ n: 10, min: 1, mean: 5.5, p50: 5, p90: 9, p95: 10, p99: 10, max: 10 });
  });
});

describe('level summary', () => {
  it('counts every requested session once and pools samples of admitted sessions', () => {
    const summary = summarizeLevel([
      session({ stream: 0, finalLatencyMs: [100, 200], refWords: 10, wordErrors: 1 }),
      session({ stream: 1, finalLatencyMs: [300], refWords: 30, wordErrors: 2, maxLagS: 2.5 }),
      session({ stream: 2, outcome: 'refused', refusedStatus: 503, finalLatencyMs: [], interimLatencyMs: [], utteranceFinalLatencyMs: [], timeToFirstInterimMs: null, maxLagS: null, lagGrowthS: null, refWords: null, wordErrors: null }),
      session({ stream: 3, outcome: 'disconnected', closeCode: 1006, finalLatencyMs: [400] }),
      session({ stream: 4, outcome: 'error', serverErrors: ['NET-0001: x'], finalLatencyMs: [] }),
    ]);
    expect(summary).toMatchObject({ requested: 5, admitted: 4, refused: 1, ok: 2, errored: 1, disconnected: 1, serverErrorMessages: 1 });
    expect(summary.errorRate).toBeCloseTo(3 / 5);
    expect(summary.finalLatencyMs).toMatchObject({ n: 4, min: 100, max: 400 });
    expect(summary.maxLagS).toBe(2.5);
    expect(summary.refWords).toBe(60);
    expect(summary.wordErrors).toBe(5);
    expect(summary.wer).toBeCloseTo(5 / 60);
  });

  it('a hand-made report satisfies the report invariants, and a tampered one does not', () => {
    const report = sampleReport();
    expect(reportInconsistencies(report)).toEqual([]);
    report.levels[1].summary.refused += 1;
    report.findMax!.maxSustainableStreams = 8;
    const problems = reportInconsistencies(report);
    expect(problems).toContain('level 2: admitted + refused != requested');
    expect(problems).toContain('find-max says 8, levels say 4');
  });
});

describe('lag growth', () => {
  it('is the median lag of the last third of streaming time minus that of the first', () => {
    const steady: [number, number][] = Array.from({ length: 30 }, (_, i) => [i, 0.5 + (i % 2) * 0.4]);
    expect(lagGrowthS(steady)).toBeCloseTo(0, 6);
    const behind: [number, number][] = Array.from({ length: 30 }, (_, i) => [i, 0.5 + 0.1 * i]);
    // first third: t 0..9.67 → lags 0.5..1.4, median 0.9 (nearest rank); last third: t 19.33..29 → 2.5..3.4, median 2.9
    expect(lagGrowthS(behind)).toBeCloseTo(2.0, 6);
    expect(lagGrowthS(behind.slice(0, 5))).toBeNull();
  });
});

describe('per-stream metrics', () => {
  it("measures an utterance's final latency from when the end of its last word was sent", () => {
    const sent = Array.from({ length: 40 }, (_, i) => ({ endS: (i + 1) * 0.1, atMs: 1000 + (i + 1) * 100 }));
    const word = (w: string, start: number, end: number) => ({ word: w, start, end });
    const results = (atMs: number, isFinal: boolean, speechFinal: boolean, words: ReturnType<typeof word>[], lag: number) => ({
      atMs,
      message: {
        type: 'Results', is_final: isFinal, speech_final: speechFinal, from_finalize: false, start: 0, duration: 2, lag,
        channel: { alternatives: [{ transcript: words.map((x) => x.word).join(' '), words }] },
      },
    });
    const record: StreamRecord = {
      gateway: null,
      startedAtMs: 1000,
      sent,
      received: [
        results(1900, false, false, [word('hello', 0.2, 0.6)], 0.3),
        results(2600, true, false, [word('hello', 0.2, 0.6)], 0.4),
        results(3800, true, true, [word('big', 1.0, 1.4), word('world', 1.5, 2.0)], 0.5),
      ],
      closeSentAtMs: 5000,
      closedAtMs: 5200,
      closeCode: 1000,
      closeReason: '',
      refusedStatus: null,
      error: null,
    };
    const m = streamMetrics(record);
    // "world" ends at 2.0 s, sent at 1000 + 20 * 100 = 3000 ms; the speech_final arrives at 3800.
    expect(m.utteranceFinalLatencyMs).toEqual([800]);
    expect(m.finalLatencyMs).toEqual([2600 - 1600, 3800 - 2400, 3800 - 3000]);
    expect(m.interimLatencyMs).toEqual([1900 - 1600]);
    expect(m.timeToFirstInterimMs).toBe(900);
    expect(m.lagWhileStreaming).toEqual([[0.9, 0.3], [1.6, 0.4], [2.8, 0.5]]);
  });
});
