// Engine operations per weight precision, side by side in one process: encoder milliseconds
// per 30 s window and decoder milliseconds per step at batch 1, 8 and 32 (sessions over
// distinct encoded windows, one fixed token per step). Every precision is loaded up front and
// the rounds interleave them, so load from other processes falls on all of them alike; the
// table shows the median round and the ratio to the first precision listed.
//   npm run bench:ops -- [--model tiny.en] [--precision fp32,bf16,int8] [--threads 2] [--rounds 5]
import { parseArgs } from 'node:util';
import { parsePrecision, WhisperModel, type Precision } from '../src/engine/whisper.js';
import { DEFAULT_MODEL } from '../src/model/registry.js';

const BATCHES = [1, 8, 32];
const ENCODES_PER_ROUND = 2;
const STEPS_PER_ROUND = 30;
const MEL_FRAMES = 3000;

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: DEFAULT_MODEL },
    precision: { type: 'string', default: 'fp32,bf16,int8' },
    threads: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '5' },
  },
});
const precisions = values.precision!.split(',').filter(Boolean).map((p) => parsePrecision(p, '--precision'));
const rounds = Number(values.rounds);
const maxBatch = Math.max(...BATCHES);

interface Loaded {
  precision: Precision;
  model: WhisperModel;
  windows: number[];
  /** milliseconds per operation, one entry per round */
  samples: Map<string, number[]>;
}

function melWindow(nMels: number): Float32Array {
  // A fixed pseudo-random log-mel: the work per window does not depend on its values.
  const mel = new Float32Array(nMels * MEL_FRAMES);
  let seed = 1;
  for (let i = 0; i < mel.length; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    mel[i] = (seed / 2 ** 31) * 0.5;
  }
  return mel;
}

async function loadAll(): Promise<Loaded[]> {
  const out: Loaded[] = [];
  for (const precision of precisions) {
    const model = await WhisperModel.load(values.model!, {
      threads: Number(values.threads),
      precision,
      maxWindows: maxBatch + 1,
      maxSessions: maxBatch,
    });
    const n = model.native;
    const mel = melWindow(model.info.nMels);
    const windows = Array.from({ length: maxBatch + 1 }, () => n.createWindow());
    for (const w of windows) await n.encode(Int32Array.of(w), [mel], Int32Array.of(MEL_FRAMES));
    out.push({ precision, model, windows, samples: new Map() });
  }
  return out;
}

function record(l: Loaded, op: string, ms: number): void {
  const list = l.samples.get(op) ?? [];
  list.push(ms);
  l.samples.set(op, list);
}

async function round(l: Loaded, mel: Float32Array): Promise<void> {
  const n = l.model.native;
  let t = performance.now();
  for (let i = 0; i < ENCODES_PER_ROUND; i++) await n.encode(Int32Array.of(l.windows[0]), [mel], Int32Array.of(MEL_FRAMES));
  record(l, 'encoder 30 s', (performance.now() - t) / ENCODES_PER_ROUND);

  for (const batch of BATCHES) {
    const sessions = Int32Array.from(l.windows.slice(1, batch + 1).map((w) => n.createSession(w)));
    const logits = new Float32Array(batch * l.model.info.nVocab);
    const sot = l.model.tokenizer.special.sot;
    // A three-token prompt first, then single-token steps as greedy decoding issues them.
    await n.decode(sessions, new Int32Array(batch), new Int32Array(batch).fill(3), new Int32Array(3 * batch).fill(sot), logits);
    const counts = new Int32Array(batch).fill(1);
    const tokens = new Int32Array(batch).fill(262);
    t = performance.now();
    for (let s = 0; s < STEPS_PER_ROUND; s++) {
      await n.decode(sessions, new Int32Array(batch).fill(3 + s), counts, tokens, logits);
    }
    record(l, `decoder step, batch ${batch}`, (performance.now() - t) / STEPS_PER_ROUND);
    for (const s of sessions) await n.releaseSession(s);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const loaded = await loadAll();
const mel = melWindow(loaded[0].model.info.nMels);
for (let r = 0; r < rounds; r++) {
  for (const l of loaded) await round(l, mel);
}

const base = loaded[0];
const ops = [...base.samples.keys()];
const info = base.model.info;
process.stdout.write(
  `${values.model}, ${values.threads} threads, ${info.device}; median of ${rounds} interleaved rounds, ms (x speed-up vs ${base.precision})\n\n`,
);
process.stdout.write(`| operation | ${loaded.map((l) => l.precision).join(' | ')} |\n|---|${loaded.map(() => '---:').join('|')}|\n`);
for (const op of ops) {
  const baseMs = median(base.samples.get(op)!);
  const cells = loaded.map((l) => {
    const ms = median(l.samples.get(op)!);
    return l === base ? ms.toFixed(2) : `${ms.toFixed(2)} (x${(baseMs / ms).toFixed(2)})`;
  });
  process.stdout.write(`| ${op} | ${cells.join(' | ')} |\n`);
}
process.stdout.write(`| weight MiB | ${loaded.map((l) => (l.model.info.weightBytes / 2 ** 20).toFixed(1)).join(' | ')} |\n`);
for (const l of loaded) l.model.close();
