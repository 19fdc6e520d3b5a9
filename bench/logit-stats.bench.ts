/**
 * Per-row cost of the vocabulary reductions a decoder step runs for every hypothesis, at
 * Whisper's 51864 logits (timestamps from 50363): the JavaScript they replaced against the
 * native kernels (kernels/src/logits_impl.h) as logit-filters.ts calls them, in one process.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/logit-stats.bench.js
 */
import { argmax, logSumExp, topK } from '../src/engine/logit-filters.js';
import { loadNative } from '../src/engine/native.js';

const N_VOCAB = 51864;
const TIMESTAMP_BEGIN = 50363;
const BEAM_TOP_K = 6;
const ROUNDS = 5;
const MIN_ROUND_SECONDS = 0.2;

// ---- the JavaScript path, as logit-filters.ts had it ----

function jsLogSumExp(logits: Float32Array, from = 0, to = logits.length): number {
  let max = -Infinity;
  for (let t = from; t < to; t++) if (logits[t] > max) max = logits[t];
  if (max === -Infinity) return -Infinity;
  let total = 0;
  for (let t = from; t < to; t++) {
    const v = logits[t];
    if (v !== -Infinity) total += Math.exp(v - max);
  }
  return Math.log(total) + max;
}

function jsApplyReductions(logits: Float32Array): number {
  const textNorm = jsLogSumExp(logits, 0, TIMESTAMP_BEGIN);
  const timeNorm = jsLogSumExp(logits, TIMESTAMP_BEGIN, logits.length);
  let textMax = -Infinity;
  for (let t = 0; t < TIMESTAMP_BEGIN; t++) if (logits[t] > textMax) textMax = logits[t];
  return textNorm + timeNorm + textMax;
}

function jsArgmax(logits: Float32Array): number {
  let best = 0;
  for (let t = 1; t < logits.length; t++) if (logits[t] > logits[best]) best = t;
  return best;
}

function jsTopK(logits: Float32Array, k: number): number[] {
  const best: number[] = [];
  for (let t = 0; t < logits.length; t++) {
    const v = logits[t];
    if (best.length === k && v <= logits[best[k - 1]]) continue;
    let i = best.length < k ? best.length : k - 1;
    if (best.length < k) best.push(t);
    while (i > 0 && logits[best[i - 1]] < v) {
      best[i] = best[i - 1];
      i--;
    }
    best[i] = t;
  }
  return best;
}

// ---- the native path ----

const stats = new Float64Array(6);

function nativeApplyReductions(logits: Float32Array): number {
  loadNative().logitStats(logits, TIMESTAMP_BEGIN, stats);
  return stats[2] + stats[5] + stats[0];
}

// ---- rows and timing ----

/** Logits spread like a decoder's (normal, sd 3, via a fixed LCG and Box-Muller) with one clear winner. */
function logitRow(): Float32Array {
  let seed = 12345;
  const uniform = () => ((seed = (seed * 1103515245 + 12345) >>> 0) + 1) / 2 ** 32;
  const row = new Float32Array(N_VOCAB);
  for (let i = 0; i < row.length; i++) row[i] = 3 * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  row[1234] = 25;
  return row;
}

/** Every result is added here, a store the JIT cannot drop, so no timed call is optimised away. */
let sink = 0;

/** Microseconds per call: the best of several rounds, each long enough to be timed well. */
function microseconds(fn: () => unknown): number {
  let calls = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) sink += Number(fn());
    if (Number(process.hrtime.bigint() - start) / 1e9 >= MIN_ROUND_SECONDS) break;
    calls *= 2;
  }
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) sink += Number(fn());
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e3 / calls);
  }
  return best;
}

const row = logitRow();
const textMasked = row.slice().fill(-Infinity, 0, TIMESTAMP_BEGIN);
const cases: [string, () => unknown, () => unknown][] = [
  ['apply: text + time logsumexp, text max', () => jsApplyReductions(row), () => nativeApplyReductions(row)],
  ['  the same, text masked', () => jsApplyReductions(textMasked), () => nativeApplyReductions(textMasked)],
  ['logSumExp (softmaxAt)', () => jsLogSumExp(row), () => logSumExp(row)],
  ['argmax (greedy step)', () => jsArgmax(row), () => argmax(row)],
  [`topK ${BEAM_TOP_K} (beam 5 step)`, () => jsTopK(row, BEAM_TOP_K)[0], () => topK(row, BEAM_TOP_K)[0]],
];

console.log(`vocabulary reductions, ${N_VOCAB} logits, isa ${loadNative().isa()}, us per row (best of ${ROUNDS})`);
console.log(`${'operation'.padEnd(40)}${'js'.padStart(10)}${'native'.padStart(10)}${'ratio'.padStart(10)}`);
for (const [name, js, native] of cases) {
  const tJs = microseconds(js);
  const tNative = microseconds(native);
  console.log(`${name.padEnd(40)}${tJs.toFixed(1).padStart(10)}${tNative.toFixed(2).padStart(10)}${(tJs / tNative).toFixed(1).padStart(9)}x`);
}
