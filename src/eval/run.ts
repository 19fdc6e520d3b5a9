// `npm run eval`: offline accuracy of the engine over the shared evaluation set. Prints WER
// per set (and against a reference system's hypotheses when given), checks that non-speech
// clips produce no words, writes a JSON report, and fails when a guard is crossed.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadAudioFile } from '../audio/load.js';
import { cpuClassLine } from '../engine/cpu-class.js';
import { transcribe } from '../engine/transcribe.js';
import { parsePrecision, WhisperModel } from '../engine/whisper.js';
import { DEFAULT_MODEL } from '../model/registry.js';
import { repoRoot } from '../paths.js';
import { words } from '../text/normalize.js';
import { loadManifest, evalDir, type EvalClip } from './manifest.js';
import { mainLive } from './run-live.js';
import { scoreWer, type WerPair } from './wer.js';

interface ClipResult {
  id: string;
  set: string;
  language: string | null;
  durationS: number;
  elapsedS: number;
  ref: string;
  hyp: string;
}

/** Sets whose WER must stay under a loose ceiling, so that a broken engine fails CI. */
const WER_CEILINGS: Record<string, number> = {
  'librispeech-test-clean': 0.12,
  'librispeech-test-other': 0.25,
  jfk: 0.05,
};

function readReference(path: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const row = JSON.parse(line) as { id?: string; text?: string; summary?: boolean };
    if (row.summary || !row.id) continue;
    out.set(row.id, row.text ?? '');
  }
  return out;
}

function percent(wer: number | null): string {
  return wer === null ? '   n/a' : `${(wer * 100).toFixed(2).padStart(6)}`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: DEFAULT_MODEL },
      sets: { type: 'string' },
      threads: { type: 'string', default: '2' },
      precision: { type: 'string' },
      'beam-size': { type: 'string', default: '1' },
      reference: { type: 'string', multiple: true },
      out: { type: 'string' },
    },
  });
  const model = await WhisperModel.load(values.model!, {
    threads: Number(values.threads),
    precision: values.precision === undefined ? undefined : parsePrecision(values.precision, '--precision'),
    maxWindows: 1,
    maxSessions: 5,
  });
  const wanted = values.sets?.split(',').filter(Boolean);
  let clips: EvalClip[] = loadManifest();
  if (wanted) clips = clips.filter((c) => wanted.includes(c.set));
  const skipped = clips.filter((c) => c.language !== null && c.language !== 'en' && !model.multilingual);
  clips = clips.filter((c) => !skipped.includes(c));

  const results: ClipResult[] = [];
  const started = performance.now();
  try {
    for (const clip of clips) {
      const t0 = performance.now();
      const audio = await loadAudioFile(clip.path);
      const out = await transcribe(model, audio.samples, {
        language: model.multilingual ? clip.language : 'en',
        beamSize: Number(values['beam-size']),
      });
      results.push({
        id: clip.id,
        set: clip.set,
        language: clip.language,
        durationS: audio.durationS,
        elapsedS: (performance.now() - t0) / 1000,
        ref: clip.text,
        hyp: out.text.trim(),
      });
      process.stderr.write(`\r${results.length}/${clips.length} ${clip.id}`.padEnd(60));
    }
  } finally {
    model.close();
  }
  process.stderr.write('\n');
  const wallS = (performance.now() - started) / 1000;

  const references = (values.reference ?? []).map((path) => ({ path, hyps: readReference(resolve(path)) }));
  const sets = [...new Set(results.map((r) => r.set))];
  const report: Record<string, unknown>[] = [];
  const failures: string[] = [];
  const header = ['set', 'clips', 'words', 'chorus WER %', ...references.map((r) => `${r.path.split('/').pop()} WER %`)];
  process.stdout.write(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|\n`);
  for (const set of [...sets, 'all-librispeech']) {
    const rows = results.filter((r) =>
      set === 'all-librispeech' ? r.set.startsWith('librispeech-') : r.set === set,
    );
    if (rows.length === 0) continue;
    const pairs: WerPair[] = rows.map((r) => ({ ref: r.ref, hyp: r.hyp, language: r.language }));
    const score = scoreWer(pairs);
    const refScores = references.map((ref) => {
      const covered = rows.filter((r) => ref.hyps.has(r.id));
      if (covered.length !== rows.length) return null;
      return scoreWer(covered.map((r) => ({ ref: r.ref, hyp: ref.hyps.get(r.id)!, language: r.language })));
    });
    const insertedWords = rows.filter((r) => r.ref === '').reduce((n, r) => n + words(r.hyp).length, 0);
    const cells = [
      set,
      String(rows.length),
      String(score.refWords),
      set === 'nonspeech' ? `${insertedWords} words` : percent(score.wer),
      ...refScores.map((s) => (s ? percent(s.wer) : 'n/a')),
    ];
    process.stdout.write(`| ${cells.join(' | ')} |\n`);
    report.push({
      set,
      clips: rows.length,
      refWords: score.refWords,
      wer: score.wer,
      substitutions: score.substitutions,
      deletions: score.deletions,
      insertions: score.insertions,
      references: Object.fromEntries(references.map((ref, i) => [ref.path, refScores[i]?.wer ?? null])),
    });
    const ceiling = WER_CEILINGS[set];
    if (ceiling !== undefined && (score.wer ?? 1) > ceiling) {
      failures.push(`${set}: WER ${percent(score.wer)}% is above the ${ceiling * 100}% guard`);
    }
    if (set === 'nonspeech' && insertedWords > 0) {
      const noisy = rows.filter((r) => r.hyp !== '').map((r) => `${r.id}: "${r.hyp}"`);
      failures.push(`nonspeech clips produced words: ${noisy.join('; ')}`);
    }
  }
  const audioS = results.reduce((n, r) => n + r.durationS, 0);
  process.stdout.write(
    `\n${results.length} clips, ${audioS.toFixed(1)} s of audio in ${wallS.toFixed(1)} s (${(audioS / wallS).toFixed(1)}x real time, model ${values.model} ${model.info.precision}, ${values.threads} threads)\n${await cpuClassLine(model.info.isa)}\n`,
  );
  if (skipped.length > 0) process.stdout.write(`skipped ${skipped.length} non-English clips: ${values.model} is English-only\n`);

  const outPath = values.out ?? join(repoRoot(), 'bench', 'out', `eval-${values.model!.replace(/[^\w.-]/g, '_')}.json`);
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(
    outPath,
    JSON.stringify({ model: values.model, precision: model.info.precision, evalDir: evalDir(), wallS, audioS, sets: report, clips: results }, null, 2) + '\n',
  );
  process.stdout.write(`report: ${outPath}\n`);
  for (const f of failures) process.stderr.write(`eval: ${f}\n`);
  return failures.length === 0 ? 0 : 1;
}

const run = process.argv.includes('--live') ? () => mainLive(process.argv.slice(2)) : main;
run().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`eval: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
