// Whisper's decoding rules, applied to one hypothesis' logits before choosing a token.
import type { Tokenizer } from '../text/tokenizer.js';

export interface FilterOptions {
  withoutTimestamps: boolean;
  /** latest first timestamp allowed, in seconds (null: no limit) */
  maxInitialTimestamp: number | null;
  suppressIds: number[];
  suppressIdsBegin: number[];
  suppressBlank: boolean;
}

export class LogitFilters {
  private readonly suppress: Int32Array;
  private readonly suppressBegin: Int32Array;
  private readonly tsBegin: number;
  private readonly eot: number;
  private readonly noTimestamps: number;
  private readonly maxInitialIndex: number | null;

  constructor(
    tokenizer: Tokenizer,
    private readonly options: FilterOptions,
  ) {
    this.suppress = Int32Array.from(options.suppressIds);
    this.suppressBegin = Int32Array.from(options.suppressBlank ? options.suppressIdsBegin : []);
    this.tsBegin = tokenizer.special.timestampBegin;
    this.eot = tokenizer.special.eot;
    this.noTimestamps = tokenizer.special.noTimestamps;
    this.maxInitialIndex =
      options.maxInitialTimestamp === null ? null : Math.round(options.maxInitialTimestamp / 0.02);
  }

  /**
   * Applies every rule in place and returns logsumexp of the filtered logits, the normaliser
   * that turns them into log-probabilities. `generated` holds the tokens sampled so far.
   */
  apply(logits: Float32Array, generated: readonly number[]): number {
    const n = logits.length;
    if (generated.length === 0) for (const t of this.suppressBegin) logits[t] = -Infinity;
    for (const t of this.suppress) logits[t] = -Infinity;
    if (this.options.withoutTimestamps) {
      logits.fill(-Infinity, this.tsBegin);
      return logSumExp(logits);
    }
    logits[this.noTimestamps] = -Infinity;

    // Timestamps come in pairs (end of one segment, start of the next), except that a single
    // timestamp may end the text.
    const count = generated.length;
    const lastWasTimestamp = count >= 1 && generated[count - 1] >= this.tsBegin;
    const penultimateWasTimestamp = count < 2 || generated[count - 2] >= this.tsBegin;
    if (lastWasTimestamp) {
      if (penultimateWasTimestamp) logits.fill(-Infinity, this.tsBegin);
      else logits.fill(-Infinity, 0, this.eot);
    }
    // Time never goes backwards, and a segment lasts at least one step.
    for (let i = count - 1; i >= 0; i--) {
      if (generated[i] >= this.tsBegin) {
        const floor = lastWasTimestamp && !penultimateWasTimestamp ? generated[i] : generated[i] + 1;
        logits.fill(-Infinity, this.tsBegin, Math.min(floor, n));
        break;
      }
    }
    if (count === 0) {
      logits.fill(-Infinity, 0, this.tsBegin);
      if (this.maxInitialIndex !== null) logits.fill(-Infinity, this.tsBegin + this.maxInitialIndex + 1);
    }
    // When time is more likely than any single text token, emit a timestamp.
    const textNorm = logSumExp(logits, 0, this.tsBegin);
    const timeNorm = logSumExp(logits, this.tsBegin, n);
    const total = addLogs(textNorm, timeNorm);
    if (timeNorm === -Infinity) return total;
    let textMax = -Infinity;
    for (let t = 0; t < this.tsBegin; t++) if (logits[t] > textMax) textMax = logits[t];
    if (timeNorm > textMax) {
      logits.fill(-Infinity, 0, this.tsBegin);
      return timeNorm;
    }
    return total;
  }
}

function addLogs(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const max = Math.max(a, b);
  return max + Math.log(Math.exp(a - max) + Math.exp(b - max));
}

/** log of the softmax normaliser over [from, to): logsumexp(logits). */
export function logSumExp(logits: Float32Array, from = 0, to = logits.length): number {
  let max = -Infinity;
  for (let t = from; t < to; t++) if (logits[t] > max) max = logits[t];
  if (max === -Infinity) return -Infinity;
  let total = 0;
  for (let t = from; t < to; t++) {
    const v = logits[t];
    // Most of a filtered vocabulary is -Infinity; skipping it avoids the cost of exp.
    if (v !== -Infinity) total += Math.exp(v - max);
  }
  return Math.log(total) + max;
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let t = 1; t < logits.length; t++) if (logits[t] > logits[best]) best = t;
  return best;
}

/** Indices of the k largest logits, largest first. */
export function topK(logits: Float32Array, k: number): number[] {
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
