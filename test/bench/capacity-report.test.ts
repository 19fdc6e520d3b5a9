import { describe, expect, it } from 'vitest';
import {
  capacityRatio,
  markdownSummary,
  rssPerStream,
  slope,
  type CapacityLevel,
  type CapacityReport,
  type ModeResult,
} from '../../bench/capacity-report.js';

const MIB = 2 ** 20;

function level(streams: number, sustainable: boolean, peakMib: number | null): CapacityLevel {
  return {
    streams,
    sustainable,
    reasons: sustainable ? [] : ['p95 final latency 2100 ms > 1500 ms'],
    admitted: streams,
    refused: 0,
    p95FinalMs: sustainable ? 900 : 2100,
    lagGrowthS: 0.1,
    peakRssBytes: peakMib === null ? null : peakMib * MIB,
    device: { encodeMsPerAudioS: 10, decodeMsPerAudioS: streams * 5, busy: streams / 10, meanDecodeBatch: streams / 2 },
  };
}

function mode(maxStreams: number, levels: CapacityLevel[]): ModeResult {
  return {
    serveArgs: [],
    maxStreams,
    stoppedBecause: `${maxStreams} streams sustained, ${maxStreams + 1} did not`,
    idleRssBytes: 300 * MIB,
    rssPerStreamBytes: rssPerStream(300 * MIB, levels),
    levels,
  };
}

describe('memory per added stream', () => {
  it('is the least-squares slope of peak RSS over streams, idle counting as zero streams', () => {
    expect(slope([{ x: 0, y: 1 }, { x: 2, y: 5 }, { x: 4, y: 9 }])).toBe(2);
    expect(slope([{ x: 3, y: 1 }, { x: 3, y: 5 }])).toBeNull();
    expect(rssPerStream(300 * MIB, [level(1, true, 320), level(2, true, 340), level(4, false, 380)])! / MIB).toBeCloseTo(20);
    // Levels whose RSS could not be read are left out rather than counted as zero.
    expect(rssPerStream(300 * MIB, [level(2, true, 340), level(4, true, null)])! / MIB).toBeCloseTo(20);
    expect(rssPerStream(null, [level(2, true, 340)])).toBeNull();
  });
});

describe('the capacity summary', () => {
  const batched = mode(3, [level(1, true, 320), level(2, true, 340), level(4, false, 380), level(3, true, 360)]);
  const unbatched = mode(1, [level(1, true, 320), level(2, false, 345)]);
  const report: CapacityReport = {
    date: '2026-11-25T10:00:00.000Z',
    wallS: 900,
    machine: { cpus: 2, cpuModel: 'Test CPU' },
    model: 'tiny.en',
    threads: 2,
    audio: 'sets librispeech-test-clean',
    level: { durationS: 60, rampS: 10, speed: 1, encoding: 'linear16', rate: 16000 },
    criteria: { p95FinalMs: 1500, maxErrorRate: 0.01, maxLagGrowthS: 1, maxWerGapPoints: 1 },
    batched,
    unbatched,
    ratio: capacityRatio(batched, unbatched),
    overCapacity: {
      capacity: 3,
      requested: 6,
      admitted: 3,
      refusedCleanly: 3,
      failed: 0,
      p95FinalMs: 1200,
      lagGrowthS: 0.2,
      passed: true,
      reasons: [],
    },
  };

  it('compares the batched run with the unbatched baseline, and reports 0 honestly', () => {
    expect(report.ratio).toBe(3);
    expect(capacityRatio(batched, mode(0, [level(1, false, 320)]))).toBeNull();
    expect(capacityRatio(mode(0, []), unbatched)).toBe(0);
    expect(capacityRatio(batched, null)).toBeNull();
  });

  it('prints one markdown table with both modes side by side', () => {
    const text = markdownSummary(report);
    expect(text).toContain('| max streams | 3 | 1 |');
    expect(text).toContain('| levels (streams ✓ sustained / ✗ not) | 1 ✓, 2 ✓, 4 ✗, 3 ✓ | 1 ✓, 2 ✗ |');
    expect(text).toContain('| RSS per added stream | 20.0 MiB |');
    expect(text).toContain('batched / unbatched: 3.00x');
    // The device row reads the largest sustained level of each mode, not the last one run.
    expect(text).toContain(
      '| device at the maximum | 10.0 + 15.0 ms per audio s (encoder + decoder, mean decoder batch 1.5), 30 % busy | ' +
        '10.0 + 5.0 ms per audio s (encoder + decoder, mean decoder batch 0.5), 10 % busy |',
    );
    expect(text).toContain('6 streams): 3 admitted, 3 refused with 429, 0 failed; admitted p95 final 1200 ms: passed');
    expect(markdownSummary({ ...report, unbatched: null, ratio: null, overCapacity: null })).toMatch(/\| max streams \| 3 \| not run \|[\s\S]*over capacity: not run/);
  });
});
