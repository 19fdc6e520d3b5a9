/**
 * Word error rate: minimum-edit alignment of hypothesis words against reference words.
 *
 * Corpus WER is total errors over total reference words. Averaging per-file rates instead
 * would let a two-word clip weigh as much as a two-minute one, so totals are always summed.
 */
import { normalizeFor } from '../text/normalize.js';

export interface WordErrorCounts {
  substitutions: number;
  deletions: number;
  insertions: number;
  /** Reference words that the alignment matched exactly. */
  hits: number;
  /** N, the denominator of WER. */
  refWords: number;
  hypWords: number;
}

export interface WerScore extends WordErrorCounts {
  /** (S + D + I) / N. With N = 0 it is 0 if the hypothesis is empty too, else null (undefined rate;
   * read `insertions`, e.g. for hallucinations on non-speech clips). */
  wer: number | null;
  /** Counts per input pair, in input order, for finding the worst files. */
  perPair: WordErrorCounts[];
}

export interface WerPair {
  ref: string;
  hyp: string;
  /** Chooses the normaliser; null/absent means English. */
  language?: string | null;
}

/**
 * Aligns two token sequences with unit-cost substitutions, deletions and insertions.
 * The total error count is always the minimum; when several alignments reach it, each DP cell
 * prefers match/substitution, then deletion, then insertion, so the S/D/I split is deterministic.
 */
export function alignWords(ref: readonly string[], hyp: readonly string[]): WordErrorCounts {
  const columns = hyp.length + 1;
  // Rolling DP rows: for each prefix pair, the cheapest edit count and how it splits into S/D/I.
  let cost = new Int32Array(columns);
  let subs = new Int32Array(columns);
  let dels = new Int32Array(columns);
  let ins = new Int32Array(columns);
  let nextCost = new Int32Array(columns);
  let nextSubs = new Int32Array(columns);
  let nextDels = new Int32Array(columns);
  let nextIns = new Int32Array(columns);

  for (let j = 0; j < columns; j++) {
    cost[j] = j;
    ins[j] = j;
  }
  for (let i = 1; i <= ref.length; i++) {
    nextCost[0] = i;
    nextSubs[0] = 0;
    nextDels[0] = i;
    nextIns[0] = 0;
    for (let j = 1; j < columns; j++) {
      const mismatch = ref[i - 1] === hyp[j - 1] ? 0 : 1;
      const diagonal = cost[j - 1] + mismatch;
      const deletion = cost[j] + 1;
      const insertion = nextCost[j - 1] + 1;
      if (diagonal <= deletion && diagonal <= insertion) {
        nextCost[j] = diagonal;
        nextSubs[j] = subs[j - 1] + mismatch;
        nextDels[j] = dels[j - 1];
        nextIns[j] = ins[j - 1];
      } else if (deletion <= insertion) {
        nextCost[j] = deletion;
        nextSubs[j] = subs[j];
        nextDels[j] = dels[j] + 1;
        nextIns[j] = ins[j];
      } else {
        nextCost[j] = insertion;
        nextSubs[j] = nextSubs[j - 1];
        nextDels[j] = nextDels[j - 1];
        nextIns[j] = nextIns[j - 1] + 1;
      }
    }
    [cost, nextCost] = [nextCost, cost];
    [subs, nextSubs] = [nextSubs, subs];
    [dels, nextDels] = [nextDels, dels];
    [ins, nextIns] = [nextIns, ins];
  }

  const last = hyp.length;
  return {
    substitutions: subs[last],
    deletions: dels[last],
    insertions: ins[last],
    hits: ref.length - subs[last] - dels[last],
    refWords: ref.length,
    hypWords: hyp.length,
  };
}

function tokens(text: string, language: string | null | undefined): string[] {
  return normalizeFor(language, text)
    .split(' ')
    .filter((token) => token.length > 0);
}

export function werOf(counts: WordErrorCounts): number | null {
  const errors = counts.substitutions + counts.deletions + counts.insertions;
  if (counts.refWords === 0) return errors === 0 ? 0 : null;
  return errors / counts.refWords;
}

/** Normalises each pair for its language, aligns it, and sums the counts over all pairs. */
export function scoreWer(pairs: readonly WerPair[]): WerScore {
  const perPair = pairs.map(({ ref, hyp, language }) => alignWords(tokens(ref, language), tokens(hyp, language)));
  const totals: WordErrorCounts = { substitutions: 0, deletions: 0, insertions: 0, hits: 0, refWords: 0, hypWords: 0 };
  for (const counts of perPair) {
    totals.substitutions += counts.substitutions;
    totals.deletions += counts.deletions;
    totals.insertions += counts.insertions;
    totals.hits += counts.hits;
    totals.refWords += counts.refWords;
    totals.hypWords += counts.hypWords;
  }
  return { ...totals, wer: werOf(totals), perPair };
}
