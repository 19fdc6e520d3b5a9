// Whisper's decoding rules, applied to one hypothesis' logits before choosing a token. The
// rules are here; the reductions over the vocabulary (max, logsumexp, top-k) are native
// kernels (kernels/src/logits_impl.h), called synchronously on the row itself.
import type { Tokenizer } from '../text/tokenizer.js';
import { loadNative } from './native.js';

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
    loadNative().logitStats(logits, this.tsBegin, stats);
    const textMax = stats[HEAD_MAX];
    const textNorm = stats[HEAD_LOG_SUM_EXP];
    const timeNorm = stats[TAIL_LOG_SUM_EXP];
    const total = addLogs(textNorm, timeNorm);
    if (timeNorm === -Infinity) return total;
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

// Results of the native calls, reused: these run for every hypothesis at every step.
/** [max, index of the max, logsumexp] of logits[0, split), then the same of logits[split, n) */
const stats = new Float64Array(6);
const HEAD_MAX = 0;
const HEAD_LOG_SUM_EXP = 2;
const TAIL_LOG_SUM_EXP = 5;
let indices = new Int32Array(16);

/** log of the softmax normaliser: logsumexp(logits). */
export function logSumExp(logits: Float32Array): number {
  loadNative().logitStats(logits, logits.length, stats);
  return stats[HEAD_LOG_SUM_EXP];
}

/** Index of the largest logit, the first one on ties. */
export function argmax(logits: Float32Array): number {
  return loadNative().topK(logits, 1, indices) === 1 ? indices[0] : 0;
}

/** Indices of the k largest logits, largest first, equal ones by lower index. */
export function topK(logits: Float32Array, k: number): number[] {
  if (indices.length < k) indices = new Int32Array(k);
  const count = loadNative().topK(logits, k, indices);
  return Array.from(indices.subarray(0, count));
}
