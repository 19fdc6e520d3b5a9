import { describe, expect, it } from 'vitest';
import {
  admissionLimit,
  computeLagS,
  decideAdmission,
  percentile,
  streamsPoolCovers,
  withinPacing,
  type AdmissionState,
} from '../../src/stream/admission.js';

const ROOMY: AdmissionState = { activeStreams: 3, maxStreams: 8, poolStreams: 8, lagP95S: 1.1, queueWaitS: 0.2, maxLagS: 2 };

describe('streamsPoolCovers', () => {
  it("counts streams of a stream's worst-case slots, after the reserved ones", () => {
    const perStream = { windows: 2, sessions: 6 };
    expect(streamsPoolCovers({ maxWindows: 18, maxSessions: 54 }, perStream, 1)).toBe(8);
    // Hypothesis slots run out first.
    expect(streamsPoolCovers({ maxWindows: 18, maxSessions: 53 }, perStream, 1)).toBe(7);
    // Window slots run out first.
    expect(streamsPoolCovers({ maxWindows: 7, maxSessions: 54 }, perStream, 1)).toBe(2);
    expect(streamsPoolCovers({ maxWindows: 2, maxSessions: 6 }, perStream, 1)).toBe(0);
    expect(streamsPoolCovers({ maxWindows: 0, maxSessions: 0 }, perStream, 1)).toBe(0);
  });
});

describe('percentile', () => {
  it('is nearest-rank, and 0 with no sessions', () => {
    expect(percentile([], 95)).toBe(0);
    expect(percentile([0.4], 95)).toBe(0.4);
    const lags = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(percentile(lags, 95)).toBe(19);
    expect(percentile(lags, 100)).toBe(20);
    expect(percentile([3, 1, 2], 50)).toBe(2);
  });
});

describe('decideAdmission', () => {
  it('admits while there is memory and headroom', () => {
    expect(decideAdmission(ROOMY)).toEqual({ accepting: true });
  });

  it('refuses at the session limit', () => {
    const decision = decideAdmission({ ...ROOMY, activeStreams: 8 });
    expect(decision.accepting).toBe(false);
    expect(!decision.accepting && decision.reason).toMatch(/all 8 live sessions are in use/);
  });

  it('refuses when the KV pool cannot cover one more stream, below the session limit', () => {
    const decision = decideAdmission({ ...ROOMY, poolStreams: 3 });
    expect(!decision.accepting && decision.reason).toMatch(/KV memory pool is full \(3 sessions/);
  });

  it('refuses while admitted sessions lag or work waits past the bound', () => {
    expect(decideAdmission({ ...ROOMY, lagP95S: 2.5 })).toMatchObject({ accepting: false, reason: expect.stringMatching(/p95 lag 2.50 s > 2 s/) });
    expect(decideAdmission({ ...ROOMY, queueWaitS: 3 })).toMatchObject({ accepting: false, reason: expect.stringMatching(/waited 3.00 s/) });
    expect(decideAdmission({ ...ROOMY, lagP95S: 2, queueWaitS: 2 }).accepting).toBe(true);
  });

  it('reports the smaller of the two limits as the capacity', () => {
    expect(admissionLimit({ maxStreams: 8, poolStreams: 5 })).toBe(5);
    expect(admissionLimit({ maxStreams: 2, poolStreams: 5 })).toBe(2);
  });
});

describe('computeLagS', () => {
  it('keeps the lag of a stream paced in real time', () => {
    expect(computeLagS(1.2, 30, 30.1)).toBe(1.2);
    expect(computeLagS(1.2, 30, 29.9)).toBeCloseTo(1.1);
  });

  it('leaves out what a client sent ahead of real time, so its backlog does not count as compute', () => {
    // 655 s of audio sent in 5 s: the 650 s it is ahead are its own doing.
    expect(computeLagS(640, 655, 5)).toBe(0);
    // Behind by more than it sent ahead: the rest is the device's.
    expect(computeLagS(12, 30, 20)).toBe(2);
  });
});

describe('withinPacing', () => {
  const pacing = { rate: 2, burstS: 30 };

  it('allows the burst at once, then the rate', () => {
    expect(withinPacing(30, 0, pacing)).toBe(true);
    expect(withinPacing(30.1, 0, pacing)).toBe(false);
    expect(withinPacing(50, 10, pacing)).toBe(true);
    expect(withinPacing(51, 10, pacing)).toBe(false);
  });

  it('never refuses a client paced in real time, however long it streams', () => {
    for (const seconds of [1, 60, 3600, 86_400]) expect(withinPacing(seconds, seconds, { rate: 1, burstS: 0 })).toBe(true);
  });
});
