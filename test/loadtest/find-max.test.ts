import { describe, expect, it } from 'vitest';
import { findMax, judgeLevel, judgeOverload, largestSustainable, nextLevel, type MeasuredLevel } from '../../loadtest/find-max.js';
import { summarizeLevel } from '../../loadtest/level-summary.js';
import { session } from './sample-report.js';

/** Levels the policy asks for against a server that sustains exactly `capacity` streams. */
function walk(capacity: number, limits: { start: number; step: number | null; max: number }): number[] {
  const measured: MeasuredLevel[] = [];
  for (let n = nextLevel(measured, limits); n !== null; n = nextLevel(measured, limits)) {
    measured.push({ streams: n, sustainable: n <= capacity });
  }
  return measured.map((m) => m.streams);
}

describe('find-max policy', () => {
  it('doubles until a level fails, then bisects to adjacent pass and failure', () => {
    expect(walk(11, { start: 1, step: null, max: 64 })).toEqual([1, 2, 4, 8, 16, 12, 10, 11]);
  });

  it('steps linearly with --step', () => {
    expect(walk(7, { start: 2, step: 4, max: 64 })).toEqual([2, 6, 10, 8, 7]);
  });

  it('stops at --max-streams when everything passes', () => {
    expect(walk(1000, { start: 1, step: null, max: 20 })).toEqual([1, 2, 4, 8, 16, 20]);
  });

  it('bisects below a failing first level, down to none sustainable', () => {
    expect(walk(2, { start: 8, step: null, max: 64 })).toEqual([8, 4, 2, 3]);
    expect(walk(0, { start: 4, step: null, max: 64 })).toEqual([4, 2, 1]);
  });

  it('does not trust a pass above a failure', () => {
    expect(largestSustainable([
      { streams: 4, sustainable: true },
      { streams: 8, sustainable: false },
      { streams: 12, sustainable: true },
    ])).toBe(4);
    expect(largestSustainable([])).toBe(0);
  });

  it('runs levels until the answer is known and reports why it stopped', async () => {
    const ran: number[] = [];
    const outcome = await findMax(
      async (n) => (ran.push(n), n <= 5),
      { start: 1, step: null, max: 64 },
      performance.now() + 60_000,
      () => 1,
    );
    expect(ran).toEqual([1, 2, 4, 8, 6, 5]);
    expect(outcome).toEqual({ maxSustainableStreams: 5, stoppedBecause: '5 streams sustained, 6 did not' });
  });

  it('says calls when the levels count calls', async () => {
    const limits = { start: 2, step: null, max: 12 };
    const deadline = performance.now() + 60_000;
    expect((await findMax(async (n) => n <= 3, limits, deadline, () => 1, 'calls')).stoppedBecause).toBe('3 calls sustained, 4 did not');
    expect((await findMax(async () => false, { ...limits, start: 1 }, deadline, () => 1, 'calls')).stoppedBecause).toBe(
      'even 1 call was not sustainable',
    );
  });

  it('stops before a level that cannot finish within the wall-clock budget', async () => {
    const ran: number[] = [];
    const outcome = await findMax(
      async (n) => (ran.push(n), true),
      { start: 1, step: null, max: 64 },
      performance.now() + 10_000,
      (n) => (n >= 4 ? 3600 : 1),
    );
    expect(ran).toEqual([1, 2]);
    expect(outcome.maxSustainableStreams).toBe(2);
    expect(outcome.stoppedBecause).toMatch(/--max-wall/);
  });
});

describe('judging a level', () => {
  const criteria = { p95FinalMs: 1500, maxErrorRate: 0.01, maxLagGrowthS: 1, maxWerGapPoints: null };

  it('passes a level within every bound', () => {
    const summary = summarizeLevel([session({ finalLatencyMs: [400, 900, 1200] }), session({ finalLatencyMs: [500] })]);
    expect(judgeLevel(summary, criteria)).toEqual({ sustainable: true, reasons: [] });
  });

  it('names each bound a level misses', () => {
    const summary = summarizeLevel([
      session({ finalLatencyMs: [400, 2500], lagGrowthS: 3 }),
      session({ finalLatencyMs: [], outcome: 'refused', refusedStatus: 503 }),
    ]);
    const verdict = judgeLevel(summary, criteria);
    expect(verdict.sustainable).toBe(false);
    expect(verdict.reasons).toEqual([
      'p95 final latency 2500 ms > 1500 ms',
      'error rate 50.0 % > 1.0 %',
      'lag grew by 3.00 s > 1 s',
    ]);
  });

  it('holds the finals to the offline WER of the same clips plus the allowed gap', () => {
    const withGap = { ...criteria, maxWerGapPoints: 1 };
    // 100 errors in 1,000 words: 10 % of finals.
    const summary = summarizeLevel([session({ finalLatencyMs: [500], refWords: 1000, wordErrors: 100 })]);
    expect(judgeLevel(summary, withGap, 0.095)).toEqual({ sustainable: true, reasons: [] });
    expect(judgeLevel(summary, withGap, 0.08).reasons).toEqual(['WER of finals 10.00 % > offline 8.00 % + 1']);
    expect(judgeLevel(summary, withGap, null).reasons).toEqual(['no WER of finals against offline to judge']);
    expect(judgeLevel(summary, criteria, 0.08).sustainable).toBe(true);
  });

  it('does not judge the WER gap of a level with too few words to show a point', () => {
    const withGap = { ...criteria, maxWerGapPoints: 1 };
    // One stream for 60 s: 3 errors more than offline in 160 words is 1.9 points, or chance.
    const summary = summarizeLevel([session({ finalLatencyMs: [500], refWords: 160, wordErrors: 13 })]);
    expect(judgeLevel(summary, withGap, 0.0625)).toEqual({ sustainable: true, reasons: [] });
  });

  it('fails a level where sessions were admitted but no word was finalised', () => {
    const verdict = judgeLevel(summarizeLevel([session({ finalLatencyMs: [] })]), criteria);
    expect(verdict.reasons).toEqual(['no final words arrived']);
  });
});

describe('past capacity', () => {
  const criteria = { p95FinalMs: 1500, maxErrorRate: 0.01, maxLagGrowthS: 1, maxWerGapPoints: null };
  const refused = session({ outcome: 'refused', refusedStatus: 429, closeCode: null, finalLatencyMs: [], interimLatencyMs: [], utteranceFinalLatencyMs: [], lagGrowthS: null });
  const shed = session({ outcome: 'shed', closeCode: 1013, serverErrors: ['server_overloaded: behind'], finalLatencyMs: [9000, 12000], lagGrowthS: 8 });

  it('judges the streams kept to their end, and takes refusals and sheds for graceful', () => {
    const summary = summarizeLevel([session({ finalLatencyMs: [600, 1400] }), session({ finalLatencyMs: [700] }), refused, shed]);
    expect(summary).toMatchObject({ ok: 2, refused: 1, shed: 1, errored: 0 });
    expect(summary.kept.finalLatencyMs).toMatchObject({ n: 3, p95: 1400 });
    expect(summary.finalLatencyMs.p95).toBe(12000);
    expect(judgeLevel(summary, criteria).sustainable).toBe(false);
    expect(judgeOverload(summary, criteria)).toEqual({ sustainable: true, reasons: [] });
  });

  it('fails a collapse, a kept stream past the bound, and any other failure', () => {
    const collapsed = summarizeLevel([session({ finalLatencyMs: [20_000], lagGrowthS: 12 }), refused]);
    expect(judgeOverload(collapsed, criteria).reasons).toEqual([
      'p95 final latency of the streams kept 20000 ms > 1500 ms',
      "the kept streams' lag grew by 12.00 s > 1 s",
    ]);
    const failed = summarizeLevel([session(), session({ outcome: 'error', serverErrors: ['internal_error: x'] })]);
    expect(judgeOverload(failed, criteria).reasons).toEqual(['1 errors and 0 disconnects besides refusals and sheds']);
    expect(judgeOverload(summarizeLevel([refused, shed]), criteria).reasons).toEqual(['no stream ran to its end']);
  });
});
