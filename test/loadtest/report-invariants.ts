// What must hold for any load-test report: the aggregates are what the per-session records
// give, counts add up, and every percentile lies within its samples' range.
import type { Distribution } from '../../loadtest/distribution.js';
import { judgeLevel, largestSustainable } from '../../loadtest/find-max.js';
import { summarizeLevel } from '../../loadtest/level-summary.js';
import type { LoadTestReport } from '../../loadtest/report.js';

function distributionProblems(name: string, d: Distribution, samples: number[]): string[] {
  const problems: string[] = [];
  if (d.n !== samples.length) problems.push(`${name}: n ${d.n} but ${samples.length} samples`);
  if (d.n === 0) return problems;
  const order = [d.min!, d.p50!, d.p90!, d.p95!, d.p99!, d.max!];
  if (order.some((v, i) => i > 0 && v < order[i - 1])) problems.push(`${name}: percentiles out of order ${order.join(', ')}`);
  if (d.min !== Math.min(...samples) || d.max !== Math.max(...samples)) problems.push(`${name}: min/max differ from the samples`);
  if (d.mean! < d.min! || d.mean! > d.max!) problems.push(`${name}: mean outside min..max`);
  return problems;
}

export function reportInconsistencies(report: LoadTestReport): string[] {
  const problems: string[] = [];
  for (const level of report.levels) {
    const at = `level ${level.streams}`;
    const s = level.summary;
    const admitted = level.sessions.filter((x) => x.outcome !== 'refused');
    if (level.sessions.length !== level.streams) problems.push(`${at}: ${level.sessions.length} sessions`);
    if (s.requested !== level.streams) problems.push(`${at}: requested ${s.requested}`);
    if (s.admitted + s.refused !== s.requested) problems.push(`${at}: admitted + refused != requested`);
    if (s.ok + s.shed + s.errored + s.disconnected + s.refused !== s.requested) problems.push(`${at}: outcomes do not add up`);
    if (Math.abs(s.errorRate - (s.requested - s.ok) / s.requested) > 1e-12) problems.push(`${at}: error rate`);
    if (s.refWords > 0 && Math.abs(s.wer! - s.wordErrors / s.refWords) > 1e-12) problems.push(`${at}: WER`);
    const channelWords = s.channels.reduce((n, c) => n + c.refWords, 0);
    if (admitted.every((x) => x.refWords !== null) && channelWords !== s.refWords) problems.push(`${at}: channels' reference words do not add up`);
    problems.push(
      ...distributionProblems(`${at} final`, s.finalLatencyMs, admitted.flatMap((x) => x.finalLatencyMs)),
      ...distributionProblems(`${at} interim`, s.interimLatencyMs, admitted.flatMap((x) => x.interimLatencyMs)),
      ...distributionProblems(`${at} utterance`, s.utteranceFinalLatencyMs, admitted.flatMap((x) => x.utteranceFinalLatencyMs)),
      ...distributionProblems(
        `${at} first interim`,
        s.timeToFirstInterimMs,
        admitted.flatMap((x) => (x.timeToFirstInterimMs === null ? [] : [x.timeToFirstInterimMs])),
      ),
    );
    for (const x of level.sessions) {
      const sum = (pick: (c: (typeof x.channels)[number]) => number | null) =>
        x.channels.some((c) => pick(c) === null) ? null : x.channels.reduce((n, c) => n + pick(c)!, 0);
      if (sum((c) => c.refWords) !== x.refWords || sum((c) => c.wordErrors) !== x.wordErrors) {
        problems.push(`${at} stream ${x.stream}: WER counts differ from its channels'`);
      }
      if (x.channels.some((c, i) => c.channel !== i)) problems.push(`${at} stream ${x.stream}: channels out of order`);
      if (x.interimLatencyMs.length > x.finalLatencyMs.length) problems.push(`${at} stream ${x.stream}: more interim than final words`);
      if (x.utteranceFinalLatencyMs.length > x.finals) problems.push(`${at} stream ${x.stream}: more utterances than finals`);
      if (x.outcome === 'refused' && (x.refusedStatus === null || x.finalLatencyMs.length > 0)) problems.push(`${at} stream ${x.stream}: refused yet measured`);
    }
    if (JSON.stringify(summarizeLevel(level.sessions)) !== JSON.stringify(s)) problems.push(`${at}: summary not derivable from sessions`);
    if (JSON.stringify(judgeLevel(s, report.criteria, level.offlineWer)) !== JSON.stringify(level.verdict)) problems.push(`${at}: verdict does not follow the criteria`);
  }
  if (report.findMax) {
    const best = largestSustainable(report.levels.map((l) => ({ streams: l.streams, sustainable: l.verdict.sustainable })));
    if (report.findMax.maxSustainableStreams !== best) problems.push(`find-max says ${report.findMax.maxSustainableStreams}, levels say ${best}`);
  }
  return problems;
}
