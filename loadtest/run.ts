// `npm run loadtest`: N concurrent real-time streams of real speech against a /v1/listen
// endpoint, with staggered starts. Each stream is one session that plays evaluation clips
// back to back (a second of silence between them, like turns in a call) until its duration
// is used up, then sends CloseStream. Prints and writes per-stream and overall figures:
// interim and final latency, time to first interim, flush latency, lag, errors, refusals, and
// the WER of the finals against the clips' transcripts.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadAudioFile } from '../src/audio/load.js';
import { clipsBySet, type EvalClip } from '../src/eval/manifest.js';
import { scoreWer } from '../src/eval/wer.js';
import { repoRoot } from '../src/paths.js';
import { framesFor, type ClientEncoding } from './audio-frames.js';
import { runStream } from './stream-client.js';
import { percentile, streamMetrics, type StreamMetrics } from './stream-metrics.js';

const MAX_STREAMS = 256;
const MAX_DURATION_S = 1800;
const GAP_S = 1;

interface StreamResult {
  stream: number;
  clips: string[];
  audioS: number;
  refused: number | null;
  closeCode: number | null;
  error: string | null;
  metrics: StreamMetrics;
  ref: string;
}

async function streamAudio(clips: EvalClip[], durationS: number): Promise<{ pcm: Float32Array; used: EvalClip[] }> {
  const parts: Float32Array[] = [];
  const used: EvalClip[] = [];
  let total = 0;
  for (let i = 0; total < durationS * 16000 && clips.length > 0; i++) {
    const clip = clips[i % clips.length];
    const audio = await loadAudioFile(clip.path);
    parts.push(audio.samples, new Float32Array(GAP_S * 16000));
    used.push(clip);
    total += audio.samples.length + GAP_S * 16000;
    if (i + 1 >= clips.length && total >= durationS * 16000) break;
  }
  const pcm = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    pcm.set(p, at);
    at += p.length;
  }
  return { pcm, used };
}

function summary(values: number[]): { n: number; p50: number | null; p95: number | null; max: number | null } {
  return {
    n: values.length,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    max: values.length ? Math.max(...values) : null,
  };
}

/** WER of an eval report's offline hypotheses over exactly the clips the streams played. */
function offlineWerOf(path: string, streams: StreamResult[]): number | null {
  const report = JSON.parse(readFileSync(path, 'utf8')) as { clips: { id: string; ref: string; hyp: string }[] };
  const byId = new Map(report.clips.map((c) => [c.id, c]));
  if (!streams.every((s) => s.clips.every((id) => byId.has(id)))) return null;
  return scoreWer(
    streams.map((s) => ({
      ref: s.clips.map((id) => byId.get(id)!.ref).join(' '),
      hyp: s.clips.map((id) => byId.get(id)!.hyp).join(' '),
    })),
  ).wer;
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string', default: 'ws://127.0.0.1:8080/v1/listen' },
      streams: { type: 'string', default: '1' },
      duration: { type: 'string', default: '30' },
      ramp: { type: 'string', default: '2' },
      encoding: { type: 'string', default: 'linear16' },
      rate: { type: 'string', default: '16000' },
      speed: { type: 'string', default: '1' },
      sets: { type: 'string', default: 'librispeech-test-clean,librispeech-test-other' },
      token: { type: 'string' },
      out: { type: 'string' },
      /** an `npm run eval` report: scores its offline hypotheses of the same clips beside ours */
      offline: { type: 'string' },
    },
  });
  const streams = Number(values.streams);
  const durationS = Number(values.duration);
  const rampS = Number(values.ramp);
  const speed = Number(values.speed);
  const rate = Number(values.rate);
  if (!Number.isInteger(streams) || streams < 1 || streams > MAX_STREAMS) throw new Error(`--streams must be 1..${MAX_STREAMS}`);
  if (!(durationS > 0 && durationS <= MAX_DURATION_S)) throw new Error(`--duration must be in (0, ${MAX_DURATION_S}] seconds`);
  const encoding = values.encoding as ClientEncoding;
  const clips = clipsBySet(values.sets!.split(','));
  if (clips.length === 0) throw new Error(`no clips in sets ${values.sets}`);

  const started = Date.now();
  const runs = Array.from({ length: streams }, async (_, i): Promise<StreamResult> => {
    const rotated = [...clips.slice((i * 7) % clips.length), ...clips.slice(0, (i * 7) % clips.length)];
    const { pcm, used } = await streamAudio(rotated, durationS);
    const audio = framesFor(pcm, encoding, rate);
    await new Promise((resolve) => setTimeout(resolve, i * rampS * 1000));
    const record = await runStream({
      url: values.url!,
      params: { encoding, sample_rate: rate, interim_results: true, lag: true },
      audio,
      speed,
      headers: values.token ? { Authorization: `Token ${values.token}` } : undefined,
      timeoutMs: 120_000,
    });
    return {
      stream: i,
      clips: used.map((c) => c.id),
      audioS: audio.durationS,
      refused: record.refusedStatus,
      closeCode: record.closeCode,
      error: record.error,
      metrics: streamMetrics(record),
      ref: used.map((c) => c.text).join(' '),
    };
  });
  const results = await Promise.all(runs);
  const admitted = results.filter((r) => r.refused === null);
  const wer = scoreWer(admitted.map((r) => ({ ref: r.ref, hyp: r.metrics.finalText })));
  const offlineWer = values.offline ? offlineWerOf(values.offline, admitted) : null;
  const report = {
    date: new Date(started).toISOString(),
    url: values.url,
    streams,
    durationS,
    rampS,
    speed,
    encoding,
    rate,
    sets: values.sets,
    wallS: (Date.now() - started) / 1000,
    admitted: admitted.length,
    refused: results.length - admitted.length,
    errors: admitted.reduce((n, r) => n + r.metrics.errors.length + (r.error ? 1 : 0), 0),
    abnormalCloses: admitted.filter((r) => r.closeCode !== 1000).length,
    wer: wer.wer,
    offlineWer,
    refWords: wer.refWords,
    finalLatencyMs: summary(admitted.flatMap((r) => r.metrics.finalLatencyMs)),
    interimLatencyMs: summary(admitted.flatMap((r) => r.metrics.interimLatencyMs)),
    timeToFirstInterimMs: summary(admitted.map((r) => r.metrics.timeToFirstInterimMs).filter((v): v is number => v !== null)),
    flushLatencyMs: summary(admitted.map((r) => r.metrics.flushLatencyMs).filter((v): v is number => v !== null)),
    maxLagS: Math.max(0, ...admitted.map((r) => r.metrics.maxLagS ?? 0)),
    perStream: results.map(({ ref: _ref, ...rest }) => rest),
  };
  const out = values.out ?? join(repoRoot(), 'loadtest', 'out', `loadtest-${streams}x-${Date.now()}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  const fmt = (s: { p50: number | null; p95: number | null }) =>
    `p50 ${s.p50 === null ? 'n/a' : Math.round(s.p50)} ms, p95 ${s.p95 === null ? 'n/a' : Math.round(s.p95)} ms`;
  process.stdout.write(
    [
      `streams ${streams} (${report.admitted} admitted, ${report.refused} refused), ${durationS} s each, ${encoding} ${rate} Hz, speed ${speed}x`,
      `final latency   ${fmt(report.finalLatencyMs)} over ${report.finalLatencyMs.n} words`,
      `interim latency ${fmt(report.interimLatencyMs)} over ${report.interimLatencyMs.n} words`,
      `first interim   ${fmt(report.timeToFirstInterimMs)}`,
      `flush latency   ${fmt(report.flushLatencyMs)}`,
      `max lag ${report.maxLagS.toFixed(2)} s, errors ${report.errors}, abnormal closes ${report.abnormalCloses}`,
      `WER of finals ${wer.wer === null ? 'n/a' : (wer.wer * 100).toFixed(2) + ' %'} over ${wer.refWords} words` +
        (offlineWer === null ? '' : ` (offline transcription of the same clips: ${(offlineWer * 100).toFixed(2)} %)`),
      `report: ${out}`,
    ].join('\n') + '\n',
  );
  return report.errors === 0 && report.abnormalCloses === 0 ? 0 : 1;
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
