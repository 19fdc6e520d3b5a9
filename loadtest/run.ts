// `npm run loadtest`: concurrent real-time streams of real speech against a /v1/listen
// endpoint, or two-speaker calls (`--channels 2 --multichannel` on /v1/listen, or
// `--transport twilio` as Twilio Media Streams), at one load level or, with --find-max, at as
// many levels as it takes to find the largest sustainable one; optionally autocannon against
// the HTTP endpoints. Writes report.json (every session's record and each level's summary
// derived from them), report.html (self-contained, with charts) and latency.png (the main
// chart), and prints a summary. Every run is bounded: streams, duration per level, and total
// wall-clock time.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { offlineWerOf } from './offline-wer.js';
import { cpuClassLine } from '../src/engine/cpu-class.js';
import { repoRoot } from '../src/paths.js';
import type { ClientEncoding } from './audio-frames.js';
import type { Distribution } from './distribution.js';
import { findMax, judgeLevel, judgeOverload, type CapacityCriteria } from './find-max.js';
import { htmlReport, latencyVersusStreams } from './html-report.js';
import { runHttpBench } from './http-bench.js';
import { runLevel, type LevelOptions } from './load-run.js';
import { JsonlSinkTail } from './sink-tail.js';
import { spreadLines, spreadOf } from './spread.js';
import { svgToPng } from './png-plot.js';
import type { JudgedLevel, LoadTestReport } from './report.js';
import { clipsFromFiles, clipsFromSets, longestCallS, longestProgramS } from './speech-source.js';

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

/**
 * `ws://host:port` means the gateway's /v1/listen, or for Twilio calls /v1/twilio with the
 * key (`--token`) as the last path segment, as a TwiML `<Stream>` gives it; the HTTP endpoints
 * live at the same origin.
 */
function targetOf(raw: string, twilio: boolean, token: string | undefined): { url: string; httpBase: string } {
  const url = new URL(raw);
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error(`--url must be ws:// or wss://, got ${raw}`);
  if (url.pathname === '/') url.pathname = twilio ? '/v1/twilio' : '/v1/listen';
  if (twilio && token !== undefined && url.pathname.replace(/\/$/, '') === '/v1/twilio') url.pathname = `/v1/twilio/${encodeURIComponent(token)}`;
  return { url: url.toString(), httpBase: `${url.protocol === 'wss:' ? 'https' : 'http'}://${url.host}` };
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      /** repeatable: several gateways without a balancer, streams dealt round robin */
      url: { type: 'string', multiple: true, default: ['ws://127.0.0.1:8080/v1/listen'] },
      transport: { type: 'string', default: 'ws' },
      /** with --multichannel: each session is a call, one speaker per channel */
      channels: { type: 'string', default: '1' },
      multichannel: { type: 'boolean', default: false },
      /** the JSONL transcript sink the gateway writes (--transcript-sink), where Twilio calls' finals are read */
      'sink-file': { type: 'string' },
      /** the gateway's --twilio-auth-token: Twilio calls sign their upgrades with it */
      'twilio-auth-token': { type: 'string' },
      streams: { type: 'string', default: '1' },
      duration: { type: 'string', default: '30' },
      ramp: { type: 'string', default: '5' },
      /** default linear16 at 16000 Hz; Twilio's media are mulaw at 8000 Hz */
      encoding: { type: 'string' },
      rate: { type: 'string' },
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
    throw new Error('--transport webrtc is not supported yet (the gateway takes WebRTC, the load generator does not); use --transport ws');
  }
  if (values.transport !== 'ws' && values.transport !== 'twilio') throw new Error(`--transport must be ws or twilio, got ${values.transport}`);
  const twilio = values.transport === 'twilio';
  const calls = callsOf(values.channels!, values.multichannel!, twilio, values['sink-file']);
  const encoding = (values.encoding ?? (twilio ? 'mulaw' : 'linear16')) as ClientEncoding;
  const rate = numberOption('rate', values.rate ?? (twilio ? '8000' : '16000'), 8000, 48000, true);
  if (!ENCODINGS.includes(encoding)) throw new Error(`--encoding must be one of ${ENCODINGS.join(', ')}`);
  if (twilio && (encoding !== 'mulaw' || rate !== 8000)) throw new Error('Twilio Media Streams carry mulaw at 8000 Hz only');
  if (calls && encoding === 'opus') throw new Error('a multichannel call is raw interleaved audio: linear16, mulaw or alaw');
  if (values.sets && values.files) throw new Error('give --sets or --files, not both');
  const targets = values.url!.map((raw) => targetOf(raw, twilio, values.token));
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
    rate,
    token: values.token,
    clips,
    drainTimeoutS: numberOption('drain-timeout', values['drain-timeout']!, 1, 600),
  };
  if (twilio && level.speed !== 1) throw new Error('Twilio sends its media at real time: --speed must be 1');
  const longestS = calls ? longestCallS(clips, level.durationS) : longestProgramS(clips, level.durationS);
  const levelBoundS = () => level.rampS + longestS / level.speed + HANDSHAKE_S + level.drainTimeoutS;
  const httpBoundS = values['http-bench'] ? 3 * (httpDurationS + 5) : 0;
  const startedAt = new Date();
  const started = performance.now();
  const deadlineMs = started + (maxWallS - httpBoundS) * 1000;
  if (levelBoundS() > maxWallS - httpBoundS) {
    throw new Error(`one level can take up to ${Math.ceil(levelBoundS())} s, more than --max-wall ${maxWallS} s allows`);
  }

  const unit = calls ? 'calls' : 'streams';
  const cpu = await cpuClassLine();
  process.stdout.write(
    `loadtest: ${calls ? `two-speaker calls over ${calls.transport === 'twilio' ? 'Twilio Media Streams' : 'multichannel /v1/listen'}` : 'streams'}, ` +
      `${encoding} ${rate} Hz, ${audioSource}, against ${targets.map((t) => t.url).join(', ')}\n${cpu}\n`,
  );
  const sink = calls?.sinkFile ? await JsonlSinkTail.open(calls.sinkFile) : null;
  const levels: JudgedLevel[] = [];
  const runJudged = async (streams: number): Promise<boolean> => {
    process.stderr.write(`level: ${streams} ${unit}\n`);
    const measured = await runLevel({
      ...level,
      streams,
      ...(calls ? { calls: sink ? { transport: 'twilio' as const, sink, authToken: values['twilio-auth-token'] } : { transport: 'ws' as const } } : {}),
    });
    const offlineWer = values.offline ? offlineWerOf(values.offline, measured.sessions) : null;
    const judged: JudgedLevel = {
      ...measured,
      verdict: judgeLevel(measured.summary, criteria, offlineWer),
      offlineWer,
      ...(values.overload ? { overload: judgeOverload(measured.summary, criteria) } : {}),
    };
    levels.push(judged);
    process.stdout.write(levelLine(judged, unit) + '\n');
    const spread = spreadOf(judged.sessions);
    if (spread) process.stdout.write(['  spread over the gateways:', ...spreadLines(spread)].join('\n') + '\n');
    return (judged.overload ?? judged.verdict).sustainable;
  };
  const limits = {
    start: Math.min(startStreams, maxStreams),
    step: values.step === undefined ? null : numberOption('step', values.step, 1, MAX_STREAMS, true),
    max: maxStreams,
  };
  if (findMaxWanted && values.overload) throw new Error('give --find-max or --overload, not both');
  let search: Awaited<ReturnType<typeof findMax>> | null = null;
  try {
    if (findMaxWanted) search = await findMax(runJudged, limits, deadlineMs, levelBoundS, unit);
    else await runJudged(startStreams);
  } finally {
    await sink?.close();
  }

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
    cpu,
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
      ...(calls ? { calls } : {}),
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
  if (search) lines.push(`largest sustainable: ${search.maxSustainableStreams} ${unit} (${search.stoppedBecause})`);
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

/**
 * `--channels 2 --multichannel` or `--transport twilio`: each session is a two-speaker call.
 * Only two channels: a call is two parties, and with more the turn-taking would not be a call.
 */
function callsOf(channels: string, multichannel: boolean, twilio: boolean, sinkFile: string | undefined): NonNullable<LoadTestReport['settings']['calls']> | null {
  const count = numberOption('channels', channels, 1, 2, true);
  if (twilio) {
    if (sinkFile === undefined) {
      throw new Error('--transport twilio reads the finals from the gateway\'s JSONL sink: give --sink-file PATH (the gateway\'s --transcript-sink PATH)');
    }
    return { transport: 'twilio', channels: 2, sinkFile };
  }
  if (sinkFile !== undefined) throw new Error('--sink-file is for --transport twilio (a /v1/listen stream gets its finals on its socket)');
  if (count === 1 && !multichannel) return null;
  if (count !== 2 || !multichannel) {
    throw new Error('a call is --channels 2 --multichannel (mixed down to one channel, its two speakers could not be scored apart)');
  }
  return { transport: 'ws', channels: 2, sinkFile: null };
}

function levelLine(level: JudgedLevel, unit: 'streams' | 'calls'): string {
  const s = level.summary;
  const ms = (d: Distribution) => `p50 ${d.p50 === null ? '–' : Math.round(d.p50)} / p95 ${d.p95 === null ? '–' : Math.round(d.p95)} ms`;
  const pct = (wer: number | null) => (wer === null ? '–' : (wer * 100).toFixed(2) + ' %');
  const perChannel = s.channels.length > 1 ? ` (${s.channels.map((c) => `channel ${c.channel} ${pct(c.wer)} over ${c.refWords}`).join(', ')})` : '';
  return [
    `${level.streams} ${unit}: ${s.admitted} admitted, ${s.refused} refused, ${s.shed} shed, ${s.errored} errors, ${s.disconnected} disconnects`,
    `  final ${ms(s.finalLatencyMs)} (${s.finalLatencyMs.n} words), utterance final ${ms(s.utteranceFinalLatencyMs)}, ` +
      `interim ${ms(s.interimLatencyMs)}, first interim ${ms(s.timeToFirstInterimMs)}, flush ${ms(s.flushLatencyMs)}`,
    `  max lag ${s.maxLagS?.toFixed(2) ?? '–'} s, lag growth ${s.lagGrowthS?.toFixed(2) ?? '–'} s, ` +
      `WER ${pct(s.wer)} over ${s.refWords} words${perChannel}` +
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
