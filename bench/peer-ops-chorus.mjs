// Chorus's column of bench/peer-ops.py: encoder ms per 30 s window and decoder ms per step at
// batch 1, 8 and 32, measured the same way as the peers, straight on the native engine
// (dist/src/engine). Development only; needs `npm run build`.
//
//   node bench/peer-ops-chorus.mjs --model tiny.en --threads 2 --reps 5 --steps 40 --batches 1,8,32 [--out FILE]
//
// Input: the first 30 s of the first `longform` clip of the eval manifest, log-mel by Chorus
// itself (normalised as its decoder does). Encoder: one warm-up, then --reps timed encodes of one
// window; median. Decoder: one encoded window per sequence (distinct window slots, as distinct
// streams would have), a 3-token prompt (4 for multilingual models) fed in one call, then
// --steps single-token steps at positions prompt, prompt+1, ... for all b sequences in one
// native decode call each; --reps passes after a warm-up pass; median of the per-pass means.
// The logits of every sequence are computed (vocabulary projection included); no sampling.
import { performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { WhisperModel } from '../dist/src/engine/whisper.js';
import { logMelSpectrogram, melWindow } from '../dist/src/engine/features.js';
import { loadAudioFile } from '../dist/src/audio/load.js';
import { clipsBySet } from '../dist/src/eval/manifest.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'tiny.en' },
    threads: { type: 'string', default: '2' },
    reps: { type: 'string', default: '5' },
    steps: { type: 'string', default: '40' },
    batches: { type: 'string', default: '1,8,32' },
    out: { type: 'string' },
  },
});
const threads = Number(values.threads), reps = Number(values.reps), steps = Number(values.steps);
const batches = values.batches.split(',').filter(Boolean).map(Number);
const maxB = Math.max(...batches);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };

const t0 = performance.now();
const model = await WhisperModel.load(values.model, { threads, maxWindows: maxB + 1, maxSessions: maxB + 1 });
const loadMs = performance.now() - t0;
const n = model.native, info = n.info();
const clip = clipsBySet(['longform'])[0];
const audio = await loadAudioFile(clip.path);
const mel = melWindow(await logMelSpectrogram(model, audio.samples.subarray(0, 30 * 16000)), 0);
const frames = Int32Array.of(3000);

const windows = Array.from({ length: maxB }, () => n.createWindow());
if (windows.some((w) => w < 0)) throw new Error('window pool exhausted');
await n.encode(Int32Array.of(windows[0]), [mel], frames); // warm-up
const encMs = [];
for (let i = 0; i < reps; i++) {
  const t = performance.now();
  await n.encode(Int32Array.of(windows[0]), [mel], frames);
  encMs.push(performance.now() - t);
}
for (const w of windows.slice(1)) await n.encode(Int32Array.of(w), [mel], frames);

const sp = model.tokenizer.special;
const prompt = [sp.sot, ...(model.multilingual ? [sp.languages.get('en'), sp.transcribe] : []), sp.noTimestamps];
const decoder = {};
for (const b of batches) {
  const passes = [];
  for (let r = 0; r < reps + 1; r++) {
    const sessions = Int32Array.from(windows.slice(0, b).map((w) => n.createSession(w)));
    if (sessions.some((s) => s < 0)) throw new Error('session pool exhausted');
    const logits = new Float32Array(b * info.nVocab);
    const promptTokens = new Int32Array(prompt.length * b);
    for (let i = 0; i < b; i++) promptTokens.set(prompt, i * prompt.length);
    await n.decode(sessions, new Int32Array(b), new Int32Array(b).fill(prompt.length), promptTokens, logits);
    const ones = new Int32Array(b).fill(1), toks = new Int32Array(b).fill(262);
    const t = performance.now();
    for (let s = 0; s < steps; s++) {
      await n.decode(sessions, new Int32Array(b).fill(prompt.length + s), ones, toks, logits);
    }
    if (r > 0) passes.push((performance.now() - t) / steps);
    for (const s of sessions) await n.releaseSession(s);
  }
  decoder[String(b)] = { step_ms: median(passes), best_step_ms: Math.min(...passes), pass_means_ms: passes };
}
model.close();
const doc = {
  key: 'chorus', engine: 'chorus', model: values.model, threads, load_ms: loadMs, clip: clip.id,
  encoder_ms: encMs, encoder_ms_median: median(encMs), encoder_ms_best: Math.min(...encMs), prompt_tokens: prompt.length, decode_steps: steps, decoder,
  loadavg_after: os.loadavg(),
};
const text = JSON.stringify(doc, null, 1);
if (values.out) writeFileSync(values.out, text + '\n');
console.log(text);
