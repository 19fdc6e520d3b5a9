import { describe, expect, it } from 'vitest';
import {
  admissionLimit,
  afterShed,
  chooseShed,
  computeLagS,
  decideAdmission,
  medianLagGrowth,
  NO_OVERLOAD,
  overloaded,
  percentile,
  raiseCeiling,
  streamsPoolCovers,
  withinPacing,
  type AdmissionState,
  type OverloadPolicy,
  type OverloadState,
  type ShedCandidate,
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

  it('refuses at the ceiling a shed left, and only there', () => {
    expect(decideAdmission({ ...ROOMY, activeStreams: 5, ceiling: 5 })).toMatchObject({
      accepting: false,
      reason: expect.stringMatching(/shed recently.*5 sessions at most/),
    });
    expect(decideAdmission({ ...ROOMY, activeStreams: 4, ceiling: 5 }).accepting).toBe(true);
    expect(decideAdmission({ ...ROOMY, activeStreams: 7, ceiling: null }).accepting).toBe(true);
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

describe('overload: shedding and the ceiling', () => {
  const POLICY: OverloadPolicy = { overloadLagS: 1.5, shedLagS: 2.5, settleMs: 1000, shedShare: 0.2, maxShedShare: 0.5, raiseMs: 15_000 };
  const stream = (id: number, lagS: number, admittedAtMs = id): ShedCandidate => ({ id, lagS, admittedAtMs });

  it.each<[string, ShedCandidate[], OverloadState, number, number[]]>([
    ['nobody past the bound', [stream(1, 1.6), stream(2, 2.5), stream(3, 2.0)], NO_OVERLOAD, 10_000, []],
    ['no streams', [], NO_OVERLOAD, 10_000, []],
    ['one stream lagging while the median keeps up (a long utterance, not an overload)', [stream(1, 1.2), stream(2, 6), stream(3, 0.4)], NO_OVERLOAD, 10_000, []],
    ['the one past the bound while the median is behind', [stream(1, 1.6), stream(2, 2.6), stream(3, 1.7)], NO_OVERLOAD, 10_000, [2]],
    ['the latest admitted, not the one longest there (a client opening stream after stream loses its newest)', [stream(1, 7.5, 100), stream(2, 4.0, 300), stream(3, 3.1, 200)], NO_OVERLOAD, 10_000, [2]],
    ['the furthest behind of streams admitted at once', [stream(1, 4.0, 100), stream(2, 7.5, 100), stream(3, 3.1, 100)], NO_OVERLOAD, 10_000, [2]],
    ['never a lone stream: shedding it would help no other', [stream(1, 3)], NO_OVERLOAD, 10_000, []],
    ['never the last stream, however many are past the bounds', [stream(1, 3), stream(2, 3)], NO_OVERLOAD, 10_000, [2]],
    ['none within settleMs of the last shed', [stream(1, 9), stream(2, 9)], { ...NO_OVERLOAD, ceiling: 3, lastShedAtMs: 9_500, lagAtShedS: 8 }, 10_000, []],
    ['the next once settleMs has passed, the median no lower', [stream(1, 9), stream(2, 9)], { ...NO_OVERLOAD, ceiling: 3, lastShedAtMs: 9_000, lagAtShedS: 8 }, 10_000, [2]],
    ['none while the median comes down from the last shed', [stream(1, 7), stream(2, 7)], { ...NO_OVERLOAD, ceiling: 3, lastShedAtMs: 8_000, lagAtShedS: 8 }, 10_000, []],
    ['the next when the median has come down too slowly', [stream(1, 7), stream(2, 7)], { ...NO_OVERLOAD, ceiling: 3, lastShedAtMs: 6_000, lagAtShedS: 8 }, 10_000, [2]],
      ['a share of the live streams at once, newest first', Array.from({ length: 10 }, (_, i) => stream(i + 1, 12 - i)), NO_OVERLOAD, 10_000, [10, 9]],
    ['never one past shedLagS', [stream(1, 1.6), stream(2, 1.7), stream(3, 1.8), stream(4, 1.9), stream(5, 2.6)], NO_OVERLOAD, 10_000, [5]],
])('chooseShed: %s', (_what, streams, state, nowMs, expected) => {
    expect(chooseShed(nowMs, streams, state, POLICY)).toEqual(expected);
  });

  it('sheds the share of streams the growth of the median lag says the device cannot serve, within bounds', () => {
    const behind = Array.from({ length: 20 }, (_, i) => stream(i + 1, 3 + i / 10));
    expect(chooseShed(10_000, behind, NO_OVERLOAD, POLICY, 0)).toHaveLength(4);
    expect(chooseShed(10_000, behind, NO_OVERLOAD, POLICY, 0.35)).toHaveLength(7);
    expect(chooseShed(10_000, behind, NO_OVERLOAD, POLICY, 0.9)).toHaveLength(10);
    expect(chooseShed(10_000, behind, NO_OVERLOAD, POLICY, -2)).toHaveLength(4);
    expect(chooseShed(10_000, behind, NO_OVERLOAD, POLICY, 0.35)).toEqual([20, 19, 18, 17, 16, 15, 14]);
  });

  it('calls it an overload when the median lag, not one stream, is behind', () => {
    expect(overloaded([stream(1, 9), stream(2, 0.3), stream(3, 0.5)], POLICY)).toBe(false);
    expect(overloaded([stream(1, 9), stream(2, 1.6), stream(3, 0.5)], POLICY)).toBe(true);
    expect(overloaded([], POLICY)).toBe(false);
  });

  it('measures the growth of the median lag per second', () => {
    expect(medianLagGrowth([])).toBe(0);
    expect(medianLagGrowth([[0, 1]])).toBe(0);
    expect(medianLagGrowth([[1000, 1.5], [1250, 1.7], [1500, 1.9], [2000, 2.0]])).toBeCloseTo(0.5);
    expect(medianLagGrowth([[1000, 3], [1500, 2.5]])).toBeCloseTo(-1);
  });

  it('holds admission at the streams a shed left, never raising a lower ceiling, never below one', () => {
    expect(afterShed(NO_OVERLOAD, 5000, 11, 2.2)).toEqual({ ceiling: 11, lastShedAtMs: 5000, lagAtShedS: 2.2, lastRaiseAtMs: null });
    expect(afterShed({ ...NO_OVERLOAD, ceiling: 9, lastShedAtMs: 1000, lastRaiseAtMs: 3000 }, 5000, 11, 2.2)).toEqual({
      ceiling: 9,
      lastShedAtMs: 5000,
      lagAtShedS: 2.2,
      lastRaiseAtMs: null,
    });
    expect(afterShed(NO_OVERLOAD, 5000, 0, 9).ceiling).toBe(1);
  });

  it('raises the ceiling by one per raiseMs without a shed while the lag is within the bound, and drops it at the limit', () => {
    const shed = afterShed(NO_OVERLOAD, 0, 6, 2);
    expect(raiseCeiling(shed, 14_999, 0.8, 2, 8, POLICY)).toBe(shed);
    const raised = raiseCeiling(shed, 15_000, 0.8, 2, 8, POLICY);
    expect(raised).toEqual({ ceiling: 7, lastShedAtMs: 0, lagAtShedS: 2, lastRaiseAtMs: 15_000 });
    // Lagging: the device has shown no headroom, the ceiling stays.
    expect(raiseCeiling(raised, 30_000, 2.5, 2, 8, POLICY)).toBe(raised);
    expect(raiseCeiling(raised, 29_000, 0.8, 2, 8, POLICY)).toBe(raised);
    expect(raiseCeiling(raised, 30_000, 0.8, 2, 8, POLICY)).toEqual({ ceiling: null, lastShedAtMs: 0, lagAtShedS: 2, lastRaiseAtMs: 30_000 });
    expect(raiseCeiling(NO_OVERLOAD, 99_000, 0.8, 2, 8, POLICY)).toBe(NO_OVERLOAD);
  });

  it('under a load twice what the device serves, sheds down to what it serves and admits no more', () => {
    // A toy device: it serves 6 streams' audio a second; a stream beyond that makes every
    // stream fall behind by its share, and the policy sees only lags.
    const served = 6;
    let streams = Array.from({ length: 12 }, (_, i) => ({ id: i + 1, lagS: 1, admittedAtMs: i * 100 }));
    let state: OverloadState = NO_OVERLOAD;
    let shed = 0;
    let refused = 0;
    for (let now = 2000; now <= 60_000; now += 250) {
      const behind = Math.max(0, 1 - served / streams.length) * 0.25;
      streams = streams.map((s) => ({ ...s, lagS: streams.length <= served ? Math.max(1, s.lagS - 0.25) : s.lagS + behind }));
      const victims = chooseShed(now, streams, state, POLICY);
      if (victims.length > 0) {
        streams = streams.filter((s) => !victims.includes(s.id));
        state = afterShed(state, now, streams.length, percentile(streams.map((s) => s.lagS), 50));
        shed += victims.length;
      }
      state = raiseCeiling(state, now, percentile(streams.map((s) => s.lagS), 95), 2, 64, POLICY);
      // A new client every second asks to join.
      if (now % 1000 === 0) {
        const lagP95S = percentile(streams.map((s) => s.lagS), 95);
        const decision = decideAdmission({ activeStreams: streams.length, maxStreams: 64, poolStreams: 64, lagP95S, queueWaitS: 0, maxLagS: 2, ceiling: state.ceiling });
        if (decision.accepting) streams.push({ id: 1000 + now, lagS: 1, admittedAtMs: now });
        else refused++;
      }
    }
    expect(shed).toBeGreaterThanOrEqual(6);
    expect(refused).toBeGreaterThan(40);
    // It settles at what the device serves (the ceiling may probe one above it now and then).
    expect(streams.length).toBeGreaterThanOrEqual(served - 1);
    expect(streams.length).toBeLessThanOrEqual(served + 1);
    expect(Math.max(...streams.map((s) => s.lagS))).toBeLessThanOrEqual(POLICY.shedLagS + 0.5);
  });
});
