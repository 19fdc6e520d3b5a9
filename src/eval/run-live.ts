// `npm run eval -- --live`: the live transcript against the same build offline, on the same
// clips (src/eval/live.ts). For each mode (one clip per session, clips chained N per session)
// it prints per set the WER of finals, the offline WER, the gap, lost words, per-word final
// latency and words per final; it names every clip that lost 3 or more offline words, writes
// a JSON report and fails when a mode's gap over all its clips exceeds --max-gap points.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadAudioFile } from '../audio/load.js';
import { cpuClassLine } from '../engine/cpu-class.js';
import { LIVE_WINDOWS } from '../engine/live-decoder.js';
import { defaultEndpointingMs } from '../gateway/protocol.js';
import { transcribe } from '../engine/transcribe.js';
import { parsePrecision, WhisperModel } from '../engine/whisper.js';
import { DEFAULT_MODEL } from '../model/registry.js';
import { repoRoot } from '../paths.js';
import { COMMIT_POLICIES, commitPolicyFor, FINALS_MODES, finalsModeNamed } from '../stream/commit-policy.js';
import { chainClips, playStreams, scoreLive, type LiveClip, type LiveScore, type StreamResult } from './live.js';
import { loadManifest, evalDir } from './manifest.js';

/** The sets the live gap is held to (DESIGN.md live accuracy gap): read English speech. */
export const LIVE_SETS = ['librispeech-test-clean', 'librispeech-test-other', 'librispeech-dev-clean', 'ljspeech', 'longform'];

export async function mainLive(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      live: { type: 'boolean' },
      model: { type: 'string', default: DEFAULT_MODEL },
      sets: { type: 'string', default: LIVE_SETS.join(',') },
      threads: { type: 'string', default: '2' },
      precision: { type: 'string' },
      chain: { type: 'string', default: '1,5' },
      clock: { type: 'string', default: 'virtual' },
      streams: { type: 'string', default: '1' },
      // --finals utterance: the policy and endpointing a stream asking finals=utterance gets
      finals: { type: 'string', default: 'early' },
      policy: { type: 'string' },
      window: { type: 'string', default: 'default' },
      // The gateway's default for the finals mode: what /v1/listen clients get.
      endpointing: { type: 'string' },
      'max-gap': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  const clock = values.clock === 'real' ? 'real' : 'virtual';
  if (values.clock !== clock) throw new Error(`--clock must be virtual or real, got ${values.clock}`);
  const finals = finalsModeNamed(values.finals!);
  if (!finals) throw new Error(`--finals must be one of ${FINALS_MODES.join(', ')}`);
  const policyName = values.policy ?? (finals === 'early' ? 'default' : 'endpoint-only');
  const commit = values.policy === undefined ? commitPolicyFor(finals) : COMMIT_POLICIES[values.policy];
  if (!commit) throw new Error(`--policy must be one of ${Object.keys(COMMIT_POLICIES).join(', ')}`);
  const endpointingMs = values.endpointing === undefined ? defaultEndpointingMs(finals) : Number(values.endpointing);
  const window = LIVE_WINDOWS[values.window!];
  if (!window) throw new Error(`--window must be one of ${Object.keys(LIVE_WINDOWS).join(', ')}`);
  const concurrency = Number(values.streams);
  const chains = values.chain!.split(',').map(Number);
  const maxGap = values['max-gap'] === undefined ? null : Number(values['max-gap']);
  const wanted = values.sets!.split(',').filter(Boolean);
  const manifest = loadManifest().filter((c) => wanted.includes(c.set) && c.language === 'en');

  const model = await WhisperModel.load(values.model!, {
    threads: Number(values.threads),
    precision: values.precision === undefined ? undefined : parsePrecision(values.precision, '--precision'),
    maxWindows: Math.max(4, concurrency + 2),
    maxSessions: Math.max(8, concurrency * 2),
    maxStreamingWindows: Math.max(2, concurrency),
  });
  const started = performance.now();
  const report: Record<string, unknown>[] = [];
  const failures: string[] = [];
  try {
    const clips: LiveClip[] = [];
    for (const clip of manifest) {
      const { samples } = await loadAudioFile(clip.path);
      const offline = (await transcribe(model, samples, { language: 'en' })).text.trim();
      clips.push({ id: clip.id, set: clip.set, text: clip.text, samples, offline });
      process.stderr.write(`\roffline ${clips.length}/${manifest.length}`.padEnd(40));
    }
    process.stderr.write('\n');
    const cpu = await cpuClassLine(model.info.isa);
    process.stdout.write(
      `live vs offline, ${values.model} ${model.info.precision}, ${cpu}, finals ${finals}, policy ${policyName}, window ${values.window}, endpointing ${endpointingMs} ms, ${clock} clock, ` +
        `${clock === 'real' ? `${concurrency} streams at once` : 'one stream at a time'}\n\n` +
        '| mode | set | streams | words | offline WER | live WER | gap | lost words | final latency p50 / p95 | words per final |\n' +
        '|---|---|---|---|---|---|---|---|---|---|\n',
    );
    for (const chain of chains) {
      const mode = chain === 1 ? 'one clip per session' : `${chain} clips per session`;
      const streams = chainClips(clips, chain);
      let done = 0;
      const results = await playStreams(model, streams, {
        clock,
        concurrency,
        commit,
        window,
        endpointingMs,
        onStream: (r) => {
          process.stderr.write(`\r${mode}: ${++done}/${streams.length}`.padEnd(50));
          if (values.verbose) logStream(r);
        },
      });
      process.stderr.write('\n');
      const sets = [...new Set(streams.map((s) => s.set)), 'all'];
      for (const set of sets) {
        const rows = results.filter((r) => set === 'all' || r.stream.set === set);
        const score = scoreLive(rows);
        process.stdout.write(`| ${mode} | ${set} | ${row(score)} |\n`);
        report.push({ mode, chain, set, ...summary(score) });
        if (set !== 'all') continue;
        for (const d of score.defects) {
          process.stdout.write(`\n${d.ids.join('+')} lost ${d.lost} offline words\n  offline: ${d.offline}\n  live:    ${d.live}\n`);
        }
        if (maxGap !== null && score.gapPoints > maxGap) {
          failures.push(`${mode}: live WER is ${score.gapPoints.toFixed(2)} points above offline (bound ${maxGap})`);
        }
      }
    }
  } finally {
    model.close();
  }
  const wallS = (performance.now() - started) / 1000;
  process.stdout.write(`\n${wallS.toFixed(0)} s\n`);
  const outPath = values.out ?? join(repoRoot(), 'bench', 'out', `eval-live-${values.model!.replace(/[^\w.-]/g, '_')}.json`);
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, JSON.stringify({ model: values.model, evalDir: evalDir(), clock, concurrency, finals, policy: policyName, endpointingMs, window: values.window, wallS, rows: report }, null, 2) + '\n');
  process.stdout.write(`report: ${outPath}\n`);
  for (const f of failures) process.stderr.write(`eval: ${f}\n`);
  return failures.length === 0 ? 0 : 1;
}

function pct(wer: number | null): string {
  return wer === null ? 'n/a' : `${(wer * 100).toFixed(2)} %`;
}

function row(s: LiveScore): string {
  return [
    s.streams,
    s.live.refWords,
    pct(s.offline.wer),
    pct(s.live.wer),
    `${s.gapPoints >= 0 ? '+' : ''}${s.gapPoints.toFixed(2)}`,
    `${s.lostWords} (${s.defects.length} streams with 3+)`,
    `${(s.latencyP50S * 1000).toFixed(0)} / ${(s.latencyP95S * 1000).toFixed(0)} ms`,
    s.wordsPerFinal.toFixed(1),
  ].join(' | ');
}

function summary(s: LiveScore) {
  return {
    streams: s.streams,
    refWords: s.live.refWords,
    offlineWer: s.offline.wer,
    liveWer: s.live.wer,
    gapPoints: s.gapPoints,
    lostWords: s.lostWords,
    defects: s.defects,
    latencyP50S: s.latencyP50S,
    latencyP95S: s.latencyP95S,
    wordsPerFinal: s.wordsPerFinal,
  };
}

function logStream(r: StreamResult): void {
  process.stderr.write(`\n${r.stream.ids.join('+')}\n  ref:     ${r.stream.ref}\n  offline: ${r.stream.offline}\n  live:    ${r.finals.join(' | ')}\n`);
}
