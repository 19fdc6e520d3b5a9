// The capacity search behind `--find-max`: which stream counts to try, judged by the
// criteria of ../shared/DESIGN.md's "Capacity" (p95 final latency within a bound, no growing
// lag, WER of finals within a bound of offline on the same clips) plus an error-rate bound.
// The choice of the next level is a pure function of the levels measured so far, so it is
// tested without a server.
import type { LevelSummary } from './level-summary.js';

export interface CapacityCriteria {
  /** p95 of per-word final latency, ms */
  p95FinalMs: number;
  /** sessions not `ok` over sessions requested */
  maxErrorRate: number;
  /** the level's lag growth (median over sessions of lagGrowthS), seconds */
  maxLagGrowthS: number;
  /**
   * WER of the level's finals minus the offline WER of the same clips, in points; null: not
   * judged (no offline baseline was given)
   */
  maxWerGapPoints: number | null;
}

export interface Verdict {
  sustainable: boolean;
  /** why not, one line per criterion missed */
  reasons: string[];
}

/**
 * The fewest reference words over which a level's WER gap is judged. Below it one word is more
 * than a tenth of a point, and the same clips played twice differ by a few words (which hops a
 * loaded device skips changes the hypotheses), so the gap of a level of one stream for 60 s
 * (about 160 words) is noise around any bound of a point: it is reported, not judged. Levels
 * near capacity (tens of streams for 60 s) hold thousands of words.
 */
export const MIN_WER_WORDS = 1000;

/** offlineWer: the same build's offline WER of the clips the level played, when known. */
export function judgeLevel(summary: LevelSummary, criteria: CapacityCriteria, offlineWer: number | null = null): Verdict {
  const reasons: string[] = [];
  const p95 = summary.finalLatencyMs.p95;
  if (summary.admitted > 0 && p95 === null) reasons.push('no final words arrived');
  if (p95 !== null && p95 > criteria.p95FinalMs) reasons.push(`p95 final latency ${Math.round(p95)} ms > ${criteria.p95FinalMs} ms`);
  if (summary.errorRate > criteria.maxErrorRate) {
    reasons.push(`error rate ${(summary.errorRate * 100).toFixed(1)} % > ${(criteria.maxErrorRate * 100).toFixed(1)} %`);
  }
  if (summary.lagGrowthS !== null && summary.lagGrowthS > criteria.maxLagGrowthS) {
    reasons.push(`lag grew by ${summary.lagGrowthS.toFixed(2)} s > ${criteria.maxLagGrowthS} s`);
  }
  if (criteria.maxWerGapPoints !== null && summary.refWords >= MIN_WER_WORDS) {
    if (offlineWer === null || summary.wer === null) reasons.push('no WER of finals against offline to judge');
    else if ((summary.wer - offlineWer) * 100 > criteria.maxWerGapPoints) {
      reasons.push(
        `WER of finals ${(summary.wer * 100).toFixed(2)} % > offline ${(offlineWer * 100).toFixed(2)} % + ${criteria.maxWerGapPoints}`,
      );
    }
  }
  return { sustainable: reasons.length === 0, reasons };
}

/**
 * Past capacity (issue 18): the server degrades gracefully when every stream it did not refuse
 * or shed (with the documented 429 and 1013) ran to its end within the latency bound without
 * growing lag, and none failed in any other way.
 */
export function judgeOverload(summary: LevelSummary, criteria: CapacityCriteria): Verdict {
  const reasons: string[] = [];
  const p95 = summary.kept.finalLatencyMs.p95;
  if (summary.ok === 0) reasons.push('no stream ran to its end');
  if (p95 !== null && p95 > criteria.p95FinalMs) reasons.push(`p95 final latency of the streams kept ${Math.round(p95)} ms > ${criteria.p95FinalMs} ms`);
  if (summary.kept.lagGrowthS !== null && summary.kept.lagGrowthS > criteria.maxLagGrowthS) {
    reasons.push(`the kept streams' lag grew by ${summary.kept.lagGrowthS.toFixed(2)} s > ${criteria.maxLagGrowthS} s`);
  }
  if (summary.errored + summary.disconnected > 0) {
    reasons.push(`${summary.errored} errors and ${summary.disconnected} disconnects besides refusals and sheds`);
  }
  return { sustainable: reasons.length === 0, reasons };
}

export interface SearchLimits {
  /** the first level */
  start: number;
  /** grow by this many streams; null doubles instead */
  step: number | null;
  max: number;
}

export interface MeasuredLevel {
  streams: number;
  sustainable: boolean;
}

/**
 * The largest sustainable level below the smallest unsustainable one, 0 if none. A pass above
 * a failure is not trusted: capacity is where the server first stops keeping up.
 */
export function largestSustainable(measured: readonly MeasuredLevel[]): number {
  const lowestFailure = Math.min(Infinity, ...measured.filter((m) => !m.sustainable).map((m) => m.streams));
  return Math.max(0, ...measured.filter((m) => m.sustainable && m.streams < lowestFailure).map((m) => m.streams));
}

/**
 * Grows (by `step`, or doubling) while every level passes, then bisects between the largest
 * pass and the smallest failure down to one stream. Null when the answer is known: adjacent
 * pass and failure, or a pass at `max`.
 */
export function nextLevel(measured: readonly MeasuredLevel[], limits: SearchLimits): number | null {
  if (measured.length === 0) return Math.min(limits.start, limits.max);
  const best = largestSustainable(measured);
  const lowestFailure = Math.min(Infinity, ...measured.filter((m) => !m.sustainable).map((m) => m.streams));
  if (lowestFailure === Infinity) {
    if (best >= limits.max) return null;
    return Math.min(limits.max, limits.step === null ? best * 2 : best + limits.step);
  }
  if (lowestFailure - best <= 1) return null;
  return Math.floor((best + lowestFailure) / 2);
}

export interface SearchOutcome {
  maxSustainableStreams: number;
  stoppedBecause: string;
}

/**
 * Runs levels as `nextLevel` asks until it has an answer or the next level would not end
 * before `deadlineMs` (performance.now() time); `runAndJudge` measures one level and says
 * whether it was sustainable. `unit` names what a level counts (streams, or calls).
 */
export async function findMax(
  runAndJudge: (streams: number) => Promise<boolean>,
  limits: SearchLimits,
  deadlineMs: number,
  levelBoundS: (streams: number) => number,
  unit: 'streams' | 'calls' = 'streams',
): Promise<SearchOutcome> {
  const counted = (n: number) => `${n} ${n === 1 ? unit.slice(0, -1) : unit}`;
  const measured: MeasuredLevel[] = [];
  for (;;) {
    const streams = nextLevel(measured, limits);
    if (streams === null) {
      const best = largestSustainable(measured);
      const stoppedBecause =
        best >= limits.max
          ? `sustained --max-streams ${limits.max}`
          : best === 0
            ? `even ${counted(1)} was not sustainable`
            : `${counted(best)} sustained, ${best + 1} did not`;
      return { maxSustainableStreams: best, stoppedBecause };
    }
    if (performance.now() + levelBoundS(streams) * 1000 > deadlineMs) {
      return {
        maxSustainableStreams: largestSustainable(measured),
        stoppedBecause: `the next level (${counted(streams)}) could not finish within --max-wall; a lower bound`,
      };
    }
    measured.push({ streams, sustainable: await runAndJudge(streams) });
  }
}
