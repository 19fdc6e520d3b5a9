// Engine ops of two builds side by side in one process (the machine is shared and noisy):
// log-mel of 30 s, optionally a 30 s encode, decoder steps at batch 1, 8, 32 over 32 encoded
// windows. Repetitions alternate which build goes first; medians and ratios are printed.
// Each dist loads the chorus.node of its own package root, e.g. a copy of a baseline build:
//   node bench/ops-side-by-side.mjs /tmp/base/dist dist
const [baseDist, newDist] = process.argv.slice(2);
if (!baseDist || !newDist) throw new Error('usage: node bench/ops-side-by-side.mjs BASE_DIST NEW_DIST  (env SBS=mel,encode,decode REPS=n)');
const roots = { base: baseDist, new: newDist };
const which = (process.env.SBS ?? 'mel,decode').split(',');
const reps = Number(process.env.REPS ?? 5);
const models = {};
for (const [k, r] of Object.entries(roots)) {
  const { WhisperModel } = await import(`${r}/src/engine/whisper.js`);
  models[k] = await WhisperModel.load('tiny.en', { threads: 2, maxWindows: 33, maxSessions: 33 });
}
const res = {};
const add = (key, v) => ((res[key] ??= []).push(v));
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const pcm = new Float32Array(16000 * 30).map((_, i) => Math.sin(i * 0.05) * 0.3 + (Math.random() - 0.5) * 0.1);
const ctx = {};
for (const [k, m] of Object.entries(models)) {
  const n = m.native; const info = n.info();
  const windows = Array.from({ length: 32 }, () => n.createWindow());
  const mel = new Float32Array(info.nMels * 3000).map(() => Math.random() * 0.5);
  for (const w of windows) await n.encode(Int32Array.of(w), [mel], Int32Array.of(3000));
  ctx[k] = { n, info, windows };
}
for (let r = 0; r < reps; r++) {
  for (const k of r % 2 ? ['new', 'base'] : ['base', 'new']) {
    const { n, info, windows } = ctx[k];
    if (which.includes('mel')) {
      await n.logMel(pcm);
      const t = performance.now();
      for (let i = 0; i < 10; i++) await n.logMel(pcm);
      add(`${k} logmel 30s ms`, (performance.now() - t) / 10);
    }
    if (which.includes('encode')) {
      const mel = new Float32Array(info.nMels * 3000).map(() => Math.random() * 0.5);
      const t = performance.now();
      await n.encode(Int32Array.of(windows[0]), [mel], Int32Array.of(3000));
      add(`${k} encode 30s ms`, performance.now() - t);
    }
    if (which.includes('decode')) for (const b of [1, 8, 32]) {
      const sessions = Int32Array.from(windows.slice(0, b).map((w) => n.createSession(w)));
      const logits = new Float32Array(b * info.nVocab);
      await n.decode(sessions, new Int32Array(b), new Int32Array(b).fill(3), new Int32Array(3 * b).fill(50257), logits);
      const steps = 40; const t = performance.now();
      for (let s = 0; s < steps; s++) await n.decode(sessions, new Int32Array(b).fill(3 + s), new Int32Array(b).fill(1), new Int32Array(b).fill(262), logits);
      add(`${k} decode b${b} ms/step`, (performance.now() - t) / steps);
      for (const s of sessions) await n.releaseSession(s);
    }
  }
}
const keys = Object.keys(res);
for (const key of keys.filter((k) => k.startsWith('base'))) {
  const nk = key.replace(/^base/, 'new');
  const b = median(res[key]), v = median(res[nk]);
  console.log(`${key.slice(5).padEnd(22)} base ${b.toFixed(2).padStart(8)}  new ${v.toFixed(2).padStart(8)}  new/base ${(v / b).toFixed(3)}   (base ${res[key].map((x) => x.toFixed(1)).join(' ')} | new ${res[nk].map((x) => x.toFixed(1)).join(' ')})`);
}
for (const m of Object.values(models)) m.close();
