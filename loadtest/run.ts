// `npm run loadtest`: concurrent real-time streams of real speech against a /v1/listen
// endpoint, at one load level or, with --find-max, at as many levels as it takes to find the
// largest sustainable one; optionally autocannon against the HTTP endpoints. Writes
// report.json (every session's record and each level's summary derived from them),
// report.html (self-contained, with charts) and latency.png (the main chart), and prints a
// summary. Every run is bounded: streams, duration per level, and total wall-clock time.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { offlineWerOf } from './offline-wer.js';
import { repoRoot } from '../src/paths.js';
import type { ClientEncoding } from './audio-frames.js';
import type { Distribution } from './distribution.js';
import { findMax, judgeLevel, judgeOverload, type CapacityCriteria } from './find-max.js';
import { htmlReport, latencyVersusStreams } from './html-report.js';
import { runHttpBench } from './http-bench.js';
import { runLevel, type LevelOptions } from './load-run.js';
import { spreadLines, spreadOf } from './spread.js';
import { svgToPng } from './png-plot.js';
import type { JudgedLevel, LoadTestReport } from './report.js';
import { clipsFromFiles, clipsFromSets, longestProgramS } from './speech-source.js';

const MAX_STREAMS = 256;
const MAX_LEVEL_DURATION_S = 600;
const MAX_WALL_S = 4 * 3600;
const HANDSHAKE_S = 10;
const ENCODINGS: readonly ClientEncoding[] = ['linear16', 'mulaw', 'alaw', 'opus'];
const DEFAULT_SETS = 'librispeech-test-clean,librispeech-test-other';

function numberOption(name: string, raw: string, min: number, max: number, integer = false): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** `ws://host:port` means the gateway's /v1/listen; the HTTP endpoints live at the same origin. */
function targetOf(raw: string): { url: string; httpBase: string } {
  const url = new URL(raw);
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error(`--url must be ws:// or wss://, got ${raw}`);
  if (url.pathname === '/') url.pathname = '/v1/listen';
  return { url: url.toString(), httpBase: `${url.protocol === 'wss:' ? 'https' : 'http'}://${url.host}` };
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      /** repeatable: several gateways without a balancer, streams dealt round robin */
      url: { type: 'string', multiple: true, default: ['ws://127.0.0.1:8080/v1/listen'] },
      transport: { type: 'string', default: 'ws' },
      streams: { type: 'string', default: '1' },
      duration: { type: 'string', default: '30' },
      ramp: { type: 'string', default: '5' },
      encoding: { type: 'string', default: 'linear16' },
      rate: { type: 'string', default: '16000' },
      speed: { type: 'string', default: '1' },
      sets: { type: 'string' },
      files: { type: 'string' },
      token: { type: 'string' },
      'drain-timeout': { type: 'string', default: '30' },
      'find-max': { type: 'boolean', default: false },
      /** past capacity: judge each level by how it degrades (judgeOverload), not by whether it is sustainable */
      overload: { type: 'boolean', default: false },
      'max-streams': { type: 'string', default: '64' },
      step: { type: 'string' },
      'p95-final-ms': { type: 'string', default: '1500' },
      'max-wer-gap': { type: 'string', default: '1' },
      'max-error-rate': { type: 'string', default: '0.01' },
      'max-lag-growth': { type: 'string', default: '1' },
      'max-wall': { type: 'string', default: '1800' },
      'http-bench': { type: 'boolean', default: false },
      'http-duration': { type: 'string', default: '10' },
      'http-connections': { type: 'string', default: '4' },
      'http-file': { type: 'string', default: join(repoRoot(), 'test', 'fixtures', 'audio', '1221-135766-0002.wav') },
      'report-dir': { type: 'string' },
      /** an `npm run eval` report: scores its offline hypotheses of the same clips beside ours */
      offline: { type: 'string' },
    },
  });
  if (values.transport === 'webrtc') {
    throw new Error('--transport webrtc is not supported yet (WebRTC ingest is a later issue); use --transport ws');
  }
  if (values.transport !== 'ws') throw new Error(`--transport must be ws or webrtc, got ${values.transport}`);
  const encoding = values.encoding as ClientEncoding;
  if (!ENCODINGS.includes(encoding)) throw new Error(`--encoding must be one of ${ENCODINGS.join(', ')}`);
  if (values.sets && values.files) throw new Error('give --sets or --files, not both');
  const targets = values.url!.map(targetOf);
  const target = targets[0];
  const findMaxWanted = values['find-max']!;
  const maxStreams = numberOption('max-streams', values['max-streams']!, 1, MAX_STREAMS, true);
  const startStreams = numberOption('streams', values.streams!, 1, MAX_STREAMS, true);
  const criteria: CapacityCriteria = {
    p95FinalMs: numberOption('p95-final-ms', values['p95-final-ms']!, 1, 600_000),
    maxErrorRate: numberOption('max-error-rate', values['max-error-rate']!, 0, 1),
    maxLagGrowthS: numberOption('max-lag-growth', values['max-lag-growth']!, 0, 3600),
    // DESIGN.md's capacity holds the finals to offline + 1.0 point when offline is known.
    maxWerGapPoints: values.offline ? numberOption('max-wer-gap', values['max-wer-gap']!, 0, 100) : null,
  };
  const maxWallS = numberOption('max-wall', values['max-wall']!, 1, MAX_WALL_S);
  const httpDurationS = numberOption('http-duration', values['http-duration']!, 1, 120, true);
  const httpConnections = numberOption('http-connections', values['http-connections']!, 1, 64, true);
  const sets = values.sets ?? DEFAULT_SETS;
  const audioSource = values.files ? `files ${values.files}` : `sets ${sets}`;
  const clips = values.files ? await clipsFromFiles(values.files.split(',')) : clipsFromSets(sets.split(','));
  if (clips.length === 0) throw new Error(`no clips in ${audioSource}`);

  const level: Omit<LevelOptions, 'streams'> = {
    url: target.url,
    ...(targets.length > 1 ? { urls: targets.map((t) => t.url) } : {}),
    durationS: numberOption('duration', values.duration!, 0.1, MAX_LEVEL_DURATION_S),
    rampS: numberOption('ramp', values.ramp!, 0, MAX_LEVEL_DURATION_S),
    speed: numberOption('speed', values.speed!, 0.1, 100),
    encoding,
    rate: numberOption('rate', values.rate!, 8000, 48000, true),
    token: values.token,
    clips,
    drainTimeoutS: numberOption('drain-timeout', values['drain-timeout']!, 1, 600),
  };
  const levelBoundS = () => level.rampS + longestProgramS(clips, level.durationS) / level.speed + HANDSHAKE_S + level.drainTimeoutS;
  const httpBoundS = values['http-bench'] ? 3 * (httpDurationS + 5) : 0;
  const startedAt = new Date();
  const started = performance.now();
  const deadlineMs = started + (maxWallS - httpBoundS) * 1000;
  if (levelBoundS() > maxWallS - httpBoundS) {
    throw new Error(`one level can take up to ${Math.ceil(levelBoundS())} s, more than --max-wall ${maxWallS} s allows`);
  }

  const levels: JudgedLevel[] = [];
  const runJudged = async (streams: number): Promise<boolean> => {
    process.stderr.write(`level: ${streams} streams\n`);
    const measured = await runLevel({ ...level, streams });
    const offlineWer = values.offline ? offlineWerOf(values.offline, measured.sessions) : null;
    const judged: JudgedLevel = {
      ...measured,
      verdict: judgeLevel(measured.summary, criteria, offlineWer),
      offlineWer,
      ...(values.overload ? { overload: judgeOverload(measured.summary, criteria) } : {}),
    };
    levels.push(judged);
    process.stdout.write(levelLine(judged) + '\n');
    const spread = spreadOf(judged.sessions);
    if (spread) process.stdout.write(['  spread over the gateways:', ...spreadLines(spread)].join('\n') + '\n');
    return (judged.overload ?? judged.verdict).sustainable;
  };
  const limits = {
    start: Math.min(startStreams, maxStreams),
    step: values.step === undefined ? null : numberOption('step', values.step, 1, MAX_STREAMS, true),
    max: maxStreams,
  };
  const search = findMaxWanted ? await findMax(runJudged, limits, deadlineMs, levelBoundS) : null;
  if (findMaxWanted && values.overload) throw new Error('give --find-max or --overload, not both');
  if (!findMaxWanted) await runJudged(startStreams);

  const http = values['http-bench']
    ? await runHttpBench({
        baseUrl: target.httpBase,
        connections: httpConnections,
        durationS: httpDurationS,
        wavPath: resolve(values['http-file']!),
        token: values.token,
      })
    : null;

  const report: LoadTestReport = {
    date: startedAt.toISOString(),
    wallS: (performance.now() - started) / 1000,
    target,
    settings: {
      encoding,
      rate: level.rate,
      speed: level.speed,
      durationS: level.durationS,
      rampS: level.rampS,
      drainTimeoutS: level.drainTimeoutS,
      audio: audioSource,
    },
    criteria,
    levels,
    findMax: search ? { ...search, ...limits } : null,
    http,
  };
  const dir = resolve(values['report-dir'] ?? join(repoRoot(), 'loadtest', 'out', report.date.replace(/[:.]/g, '-')));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(dir, 'report.html'), htmlReport(report));
  writeFileSync(join(dir, 'latency.png'), svgToPng(latencyVersusStreams(report)));

  const lines: string[] = [];
  if (search) lines.push(`largest sustainable: ${search.maxSustainableStreams} streams (${search.stoppedBecause})`);
  for (const t of http?.targets ?? []) {
    lines.push(
      `${t.method} ${t.path}: ${t.requestsPerS.toFixed(1)} req/s, p50 ${t.latencyMs.p50} ms, p99 ${t.latencyMs.p99} ms, ` +
        `${t.non2xx} non-2xx, ${t.errors} errors (${t.connections} connections, ${t.durationS} s)`,
    );
  }
  lines.push(`report: ${join(dir, 'report.html')} (data in report.json, plot in latency.png)`);
  process.stdout.write(lines.join('\n') + '\n');
  return search || levels.every((l) => (l.overload ?? l.verdict).sustainable) ? 0 : 1;
}

function levelLine(level: JudgedLevel): string {
  const s = level.summary;
  const ms = (d: Distribution) => `p50 ${d.p50 === null ? '–' : Math.round(d.p50)} / p95 ${d.p95 === null ? '–' : Math.round(d.p95)} ms`;
  return [
    `${level.streams} streams: ${s.admitted} admitted, ${s.refused} refused, ${s.shed} shed, ${s.errored} errors, ${s.disconnected} disconnects`,
    `  final ${ms(s.finalLatencyMs)} (${s.finalLatencyMs.n} words), utterance final ${ms(s.utteranceFinalLatencyMs)}, ` +
      `interim ${ms(s.interimLatencyMs)}, first interim ${ms(s.timeToFirstInterimMs)}, flush ${ms(s.flushLatencyMs)}`,
    `  max lag ${s.maxLagS?.toFixed(2) ?? '–'} s, lag growth ${s.lagGrowthS?.toFixed(2) ?? '–'} s, ` +
      `WER ${s.wer === null ? '–' : (s.wer * 100).toFixed(2) + ' %'} over ${s.refWords} words` +
      (level.offlineWer === null ? '' : ` (offline ${(level.offlineWer * 100).toFixed(2)} %)`),
    `  kept to the end: ${s.ok}, final ${ms(s.kept.finalLatencyMs)} (${s.kept.finalLatencyMs.n} words), lag growth ${s.kept.lagGrowthS?.toFixed(2) ?? '–'} s`,
    `  ${level.verdict.sustainable ? 'sustainable' : 'not sustainable: ' + level.verdict.reasons.join('; ')}`,
    ...(level.overload
      ? [`  past capacity: ${level.overload.sustainable ? 'degrades gracefully' : 'does not degrade gracefully: ' + level.overload.reasons.join('; ')}`]
      : []),
  ].join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`loadtest: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
