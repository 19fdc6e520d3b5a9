// What `npm run bench:capacity` reports, and the arithmetic on it: the shape of
// bench/out/capacity.json, memory per added stream, and the markdown table. Pure, so it is
// tested without a gateway.
import type { CapacityCriteria } from '../loadtest/find-max.js';
import type { DeviceUsage } from './device-usage.js';

export interface CapacityLevel {
  streams: number;
  sustainable: boolean;
  /** why not, one per criterion missed */
  reasons: string[];
  admitted: number;
  refused: number;
  p95FinalMs: number | null;
  lagGrowthS: number | null;
  /** the gateway's peak VmRSS while the level ran */
  peakRssBytes: number | null;
  /** what the level asked of the device (the gateway's /metrics); null when no audio arrived */
  device: DeviceUsage | null;
}

export interface ModeResult {
  /** `chorus serve` arguments beyond host and port */
  serveArgs: string[];
  maxStreams: number;
  stoppedBecause: string;
  /** VmRSS once the model is loaded, before any stream */
  idleRssBytes: number | null;
  /** slope of peak RSS over streams across the levels run (least squares, idle as 0 streams) */
  rssPerStreamBytes: number | null;
  levels: CapacityLevel[];
}

export interface OverCapacityResult {
  /** the gateway's --max-sessions: the batched capacity */
  capacity: number;
  requested: number;
  admitted: number;
  /** refused with 429 before the upgrade */
  refusedCleanly: number;
  /** sessions neither admitted and ok nor refused with 429 */
  failed: number;
  p95FinalMs: number | null;
  lagGrowthS: number | null;
  /** the admitted streams met the criteria and every other one got a clean 429 */
  passed: boolean;
  reasons: string[];
}

export interface CapacityReport {
  date: string;
  wallS: number;
  machine: { cpus: number; cpuModel: string };
  model: string;
  threads: number;
  audio: string;
  level: { durationS: number; rampS: number; speed: number; encoding: string; rate: number };
  criteria: CapacityCriteria;
  batched: ModeResult | null;
  unbatched: ModeResult | null;
  /** batched over unbatched max streams; null when either is missing or the baseline is 0 */
  ratio: number | null;
  overCapacity: OverCapacityResult | null;
}

/** Least-squares slope of y over x; null without two distinct x. */
export function slope(points: readonly { x: number; y: number }[]): number | null {
  if (new Set(points.map((p) => p.x)).size < 2) return null;
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxy = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return sxy / sxx;
}

/** Memory each added stream costs: peak RSS per level against its streams, idle as zero streams. */
export function rssPerStream(idleRssBytes: number | null, levels: readonly CapacityLevel[]): number | null {
  const points = levels.filter((l) => l.peakRssBytes !== null).map((l) => ({ x: l.streams, y: l.peakRssBytes! }));
  if (idleRssBytes !== null) points.push({ x: 0, y: idleRssBytes });
  return slope(points);
}

export function capacityRatio(batched: ModeResult | null, unbatched: ModeResult | null): number | null {
  if (!batched || !unbatched || unbatched.maxStreams === 0) return null;
  return batched.maxStreams / unbatched.maxStreams;
}

const mib = (bytes: number | null) => (bytes === null ? '–' : `${(bytes / 2 ** 20).toFixed(1)} MiB`);

export function formatDeviceUsage(usage: DeviceUsage | null): string {
  if (usage === null) return '–';
  const batch = usage.meanDecodeBatch === null ? '–' : usage.meanDecodeBatch.toFixed(1);
  return (
    `${usage.encodeMsPerAudioS.toFixed(1)} + ${usage.decodeMsPerAudioS.toFixed(1)} ms per audio s ` +
    `(encoder + decoder, mean decoder batch ${batch}), ${(usage.busy * 100).toFixed(0)} % busy`
  );
}

/** The device usage of the largest level sustained. */
function usageAtMax(mode: ModeResult): string {
  const top = mode.levels.find((l) => l.sustainable && l.streams === mode.maxStreams);
  return top ? formatDeviceUsage(top.device) : '–';
}

function levelsRun(mode: ModeResult): string {
  return mode.levels.map((l) => `${l.streams}${l.sustainable ? ' ✓' : ' ✗'}`).join(', ') || 'none';
}

export function markdownSummary(report: CapacityReport): string {
  const modes = [report.batched, report.unbatched];
  const cell = (read: (m: ModeResult) => string) => modes.map((m) => (m ? read(m) : 'not run'));
  const rows: [string, string[]][] = [
    ['max streams', cell((m) => String(m.maxStreams))],
    ['stopped because', cell((m) => m.stoppedBecause)],
    ['levels (streams ✓ sustained / ✗ not)', cell(levelsRun)],
    ['idle RSS', cell((m) => mib(m.idleRssBytes))],
    ['RSS per added stream', cell((m) => mib(m.rssPerStreamBytes))],
    ['device at the maximum', cell(usageAtMax)],
  ];
  const c = report.criteria;
  const lines = [
    `Capacity of ${report.model} on ${report.machine.cpus} × ${report.machine.cpuModel}, ${report.threads} threads; ` +
      `${report.audio}, ${report.level.durationS} s per level at ${report.level.speed}x, starts over ${report.level.rampS} s; ` +
      `sustainable: p95 final latency ≤ ${c.p95FinalMs} ms, lag growth ≤ ${c.maxLagGrowthS} s, errors ≤ ${(c.maxErrorRate * 100).toFixed(0)} %`,
    '',
    '| | batched | unbatched (--no-batching) |',
    '|---|---|---|',
    ...rows.map(([name, [a, b]]) => `| ${name} | ${a} | ${b} |`),
    '',
    `batched / unbatched: ${report.ratio === null ? '– (a run is missing or the baseline sustained 0 streams)' : `${report.ratio.toFixed(2)}x`}`,
  ];
  const o = report.overCapacity;
  if (o === null) {
    lines.push('over capacity: not run (skipped, or the batched run sustained 0 streams)');
  } else {
    lines.push(
      `over capacity (--max-sessions ${o.capacity}, ${o.requested} streams): ${o.admitted} admitted, ${o.refusedCleanly} refused with 429, ` +
        `${o.failed} failed; admitted p95 final ${o.p95FinalMs === null ? '–' : Math.round(o.p95FinalMs) + ' ms'}: ` +
        (o.passed ? 'passed' : `failed (${o.reasons.join('; ')})`),
    );
  }
  return lines.join('\n');
}
