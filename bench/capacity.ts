// `npm run bench:capacity`: the issue's capacity figure in one run. A real `chorus serve`
// child on loopback, load from the load-test harness (concurrent real-time streams of
// evaluation speech, staggered starts, --find-max judged by DESIGN.md's capacity criteria),
// first with cross-session batching, then restarted with --no-batching as the baseline; the
// gateway's RSS is sampled at every level for the memory each added stream costs. Then, at
// twice the batched capacity against a gateway limited to it, the admitted streams must keep
// within the criteria and the rest must be refused with 429.
// Writes bench/out/capacity.json (and a load-test report per mode beside it) and prints a
// markdown table. Every phase is bounded by --max-wall.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { findMax, judgeLevel, type CapacityCriteria, type SearchLimits } from '../loadtest/find-max.js';
import { htmlReport, latencyVersusStreams } from '../loadtest/html-report.js';
import { runLevel, type LevelOptions } from '../loadtest/load-run.js';
import { offlineWerOf } from '../loadtest/offline-wer.js';
import { svgToPng } from '../loadtest/png-plot.js';
import type { JudgedLevel, LoadTestReport } from '../loadtest/report.js';
import { clipsFromFiles, clipsFromSets, longestProgramS } from '../loadtest/speech-source.js';
import { describeCpu, formatCpuLine, type CpuDescription } from '../src/engine/cpu-class.js';
import { defaultPrecision } from '../src/engine/whisper.js';
import { repoRoot } from '../src/paths.js';
import { residentBytes, sampleResidentPeak, startGateway } from './capacity-gateway.js';
import { deviceUsage, scrapeDeviceCounters } from './device-usage.js';
import {
  capacityRatio,
  formatDeviceUsage,
  markdownSummary,
  rssPerStream,
  type CapacityLevel,
  type CapacityReport,
  type ModeResult,
  type OverCapacityResult,
} from './capacity-report.js';

const DEFAULT_SETS = 'librispeech-test-clean,librispeech-test-other';
/** Loading the model and tearing the gateway down, per gateway started. */
const GATEWAY_START_S = 30;
const HANDSHAKE_S = 10;
/** The acceptance figure needs at least this much audio per stream and level. */
const ACCEPTANCE_DURATION_S = 60;

function numberOption(name: string, raw: string, min: number, max: number, integer = false): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return value;
}

const say = (line: string) => process.stderr.write(`bench:capacity: ${line}\n`);

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: 'tiny.en' },
      threads: { type: 'string', default: '2' },
      duration: { type: 'string', default: String(ACCEPTANCE_DURATION_S) },
      ramp: { type: 'string', default: '10' },
      'max-streams': { type: 'string', default: '32' },
      'p95-final-ms': { type: 'string', default: process.env.CHORUS_BENCH_P95_FINAL_MS ?? '1500' },
      'max-lag-growth': { type: 'string', default: '1' },
      'max-error-rate': { type: 'string', default: '0.01' },
      'max-wer-gap': { type: 'string', default: '1' },
      offline: { type: 'string', default: join(repoRoot(), 'bench', 'out', 'eval-tiny.en.json') },
      'drain-timeout': { type: 'string', default: '30' },
      'max-wall': { type: 'string', default: '3600' },
      sets: { type: 'string' },
      files: { type: 'string' },
      'skip-over-capacity': { type: 'boolean', default: false },
      out: { type: 'string', default: join(repoRoot(), 'bench', 'out', 'capacity.json') },
    },
  });
  const criteria: CapacityCriteria = {
    p95FinalMs: numberOption('p95-final-ms', values['p95-final-ms']!, 1, 600_000),
    maxErrorRate: numberOption('max-error-rate', values['max-error-rate']!, 0, 1),
    maxLagGrowthS: numberOption('max-lag-growth', values['max-lag-growth']!, 0, 3600),
    maxWerGapPoints: numberOption('max-wer-gap', values['max-wer-gap']!, 0, 100),
  };
  // DESIGN.md's capacity: a level is sustainable only if its finals stay within
  // --max-wer-gap points of the offline WER of the same clips, from an `npm run eval` report.
  const offlineReport = resolve(values.offline!);
  if (!existsSync(offlineReport)) throw new Error(`${offlineReport} is missing: run npm run eval first (or give --offline EVAL.json)`);
  const threads = numberOption('threads', values.threads!, 0, 1024, true);
  const maxStreams = numberOption('max-streams', values['max-streams']!, 1, 256, true);
  const maxWallS = numberOption('max-wall', values['max-wall']!, 1, 24 * 3600);
  if (values.sets && values.files) throw new Error('give --sets or --files, not both');
  const audio = values.files ? `files ${values.files}` : `sets ${values.sets ?? DEFAULT_SETS}`;
  const clips = values.files ? await clipsFromFiles(values.files.split(',')) : clipsFromSets((values.sets ?? DEFAULT_SETS).split(','));
  if (clips.length === 0) throw new Error(`no clips in ${audio}`);
  const level: Omit<LevelOptions, 'streams' | 'url'> = {
    durationS: numberOption('duration', values.duration!, 1, 600),
    rampS: numberOption('ramp', values.ramp!, 0, 600),
    speed: 1,
    encoding: 'linear16',
    rate: 16000,
    clips,
    drainTimeoutS: numberOption('drain-timeout', values['drain-timeout']!, 1, 600),
  };
  if (level.durationS < ACCEPTANCE_DURATION_S) say(`--duration ${level.durationS} s is a smoke run: the acceptance figure needs ${ACCEPTANCE_DURATION_S} s`);

  const outPath = resolve(values.out!);
  const outDir = dirname(outPath);
  mkdirSync(outDir, { recursive: true });
  const levelBoundS = level.rampS + longestProgramS(clips, level.durationS) / level.speed + HANDSHAKE_S + level.drainTimeoutS;
  const overCapacityReserveS = values['skip-over-capacity'] ? 0 : GATEWAY_START_S + levelBoundS;
  const modeMinimumS = GATEWAY_START_S + levelBoundS;
  if (2 * modeMinimumS + overCapacityReserveS > maxWallS) {
    throw new Error(`--max-wall ${maxWallS} s cannot fit one level per mode (${Math.ceil(2 * modeMinimumS + overCapacityReserveS)} s needed)`);
  }
  // Every figure says which CPU class and kernel path produced it (issue 21). The gateway is
  // a child on this machine with this environment (CHORUS_ISA included), so the addon's
  // choice here is its choice.
  const cpu = await describeCpu();
  const cpuLine = `${formatCpuLine(cpu)}${cpu.kernels.startsWith('unknown') ? '' : `, default precision ${defaultPrecision(cpu.kernels)}`}`;
  say(cpuLine);
  const started = performance.now();
  const startedAt = new Date();
  const endMs = started + maxWallS * 1000;
  const commonArgs = ['--model', values.model!, '--threads', String(threads)];

  const measureMode = async (name: 'batched' | 'unbatched', extraArgs: string[], deadlineMs: number): Promise<ModeResult> => {
    // Admission by lag is off while searching, so that each level is judged by its latency
    // and lag rather than cut short by refusals; the over-capacity phase turns it back on.
    const serveArgs = [...commonArgs, '--max-sessions', String(maxStreams), '--max-lag-s', '3600', ...extraArgs];
    say(`${name}: starting chorus serve ${serveArgs.join(' ')}`);
    const gateway = await startGateway(serveArgs, join(outDir, `capacity-${name}-gateway.log`));
    try {
      const idleRssBytes = residentBytes(gateway.pid);
      const levels: CapacityLevel[] = [];
      const judged: JudgedLevel[] = [];
      const limits: SearchLimits = { start: 1, step: null, max: maxStreams };
      const search = await findMax(
        async (streams) => {
          say(`${name}: ${streams} streams`);
          const rss = sampleResidentPeak(gateway.pid);
          const countersBefore = await scrapeDeviceCounters(gateway.httpBase);
          const levelStarted = performance.now();
          const measured = await runLevel({ ...level, url: gateway.listenUrl, streams });
          const device = deviceUsage(countersBefore, await scrapeDeviceCounters(gateway.httpBase), (performance.now() - levelStarted) / 1000);
          const peakRssBytes = rss.stop();
          const offlineWer = offlineWerOf(offlineReport, measured.sessions);
          const verdict = judgeLevel(measured.summary, criteria, offlineWer);
          const s = measured.summary;
          judged.push({ ...measured, verdict, offlineWer });
          levels.push({
            streams,
            sustainable: verdict.sustainable,
            reasons: verdict.reasons,
            admitted: s.admitted,
            refused: s.refused,
            p95FinalMs: s.finalLatencyMs.p95,
            lagGrowthS: s.lagGrowthS,
            peakRssBytes,
            device,
          });
          say(
            `${name}: ${streams} streams: p95 final ${s.finalLatencyMs.p95 === null ? '–' : Math.round(s.finalLatencyMs.p95)} ms, ` +
              `lag growth ${s.lagGrowthS?.toFixed(2) ?? '–'} s, peak RSS ${peakRssBytes === null ? '–' : Math.round(peakRssBytes / 2 ** 20)} MiB, ` +
              `device ${formatDeviceUsage(device)}: ` +
              (verdict.sustainable ? 'sustainable' : verdict.reasons.join('; ')),
          );
          return verdict.sustainable;
        },
        limits,
        deadlineMs,
        () => levelBoundS,
      );
      writeModeReport(join(outDir, `capacity-${name}`), {
        date: startedAt.toISOString(),
        wallS: (performance.now() - started) / 1000,
        target: { url: gateway.listenUrl, httpBase: gateway.httpBase },
        settings: {
          encoding: level.encoding,
          rate: level.rate,
          speed: level.speed,
          durationS: level.durationS,
          rampS: level.rampS,
          drainTimeoutS: level.drainTimeoutS,
          audio,
        },
        criteria,
        levels: judged,
        findMax: { ...search, ...limits },
        http: null,
      });
      return {
        serveArgs,
        maxStreams: search.maxSustainableStreams,
        stoppedBecause: search.stoppedBecause,
        idleRssBytes,
        rssPerStreamBytes: rssPerStream(idleRssBytes, levels),
        levels,
      };
    } finally {
      await gateway.stop();
    }
  };

  const overCapacity = async (capacity: number): Promise<OverCapacityResult> => {
    const serveArgs = [...commonArgs, '--max-sessions', String(capacity)];
    say(`over capacity: ${2 * capacity} streams against chorus serve ${serveArgs.join(' ')}`);
    const gateway = await startGateway(serveArgs, join(outDir, 'capacity-over-gateway.log'));
    try {
      const measured = await runLevel({ ...level, url: gateway.listenUrl, streams: 2 * capacity });
      const s = measured.summary;
      const refusedCleanly = measured.sessions.filter((x) => x.refusedStatus === 429).length;
      const failed = measured.sessions.filter((x) => x.outcome !== 'ok' && x.refusedStatus !== 429).length;
      const reasons = judgeLevel(
        { ...s, errorRate: s.admitted === 0 ? 0 : (s.admitted - s.ok) / s.admitted },
        criteria,
        offlineWerOf(offlineReport, measured.sessions),
      ).reasons;
      if (failed > 0) reasons.push(`${failed} sessions neither completed nor were refused with 429`);
      if (s.admitted === 0) reasons.push('no session was admitted');
      return {
        capacity,
        requested: 2 * capacity,
        admitted: s.admitted,
        refusedCleanly,
        failed,
        p95FinalMs: s.finalLatencyMs.p95,
        lagGrowthS: s.lagGrowthS,
        passed: reasons.length === 0,
        reasons,
      };
    } finally {
      await gateway.stop();
    }
  };

  const batched = await measureMode('batched', [], started + ((maxWallS - overCapacityReserveS) / 2) * 1000);
  const unbatched =
    performance.now() + modeMinimumS * 1000 <= endMs - overCapacityReserveS * 1000
      ? await measureMode('unbatched', ['--no-batching'], endMs - overCapacityReserveS * 1000)
      : null;
  const over = !values['skip-over-capacity'] && batched.maxStreams > 0 ? await overCapacity(batched.maxStreams) : null;

  const cpuList = cpus();
  const report: CapacityReport & { cpu: CpuDescription } = {
    date: startedAt.toISOString(),
    wallS: (performance.now() - started) / 1000,
    machine: { cpus: availableParallelism(), cpuModel: cpuList[0]?.model.trim() ?? 'unknown' },
    cpu,
    model: values.model!,
    threads,
    audio,
    level: { durationS: level.durationS, rampS: level.rampS, speed: level.speed, encoding: level.encoding, rate: level.rate },
    criteria,
    batched,
    unbatched,
    ratio: capacityRatio(batched, unbatched),
    overCapacity: over,
  };
  writeFileSync(outPath, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(`${cpuLine}\n\n${markdownSummary(report)}\n\ndata: ${outPath}\n`);
  return 0;
}

function writeModeReport(dir: string, report: LoadTestReport): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(dir, 'report.html'), htmlReport(report));
  if (report.levels.length > 0) writeFileSync(join(dir, 'latency.png'), svgToPng(latencyVersusStreams(report)));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      say(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    },
  );
}
