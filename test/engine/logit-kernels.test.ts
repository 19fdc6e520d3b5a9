// The native vocabulary reductions (logitStats, topK through logit-filters.ts) against plain
// JavaScript on real rows: tiny.en's first-step log-probabilities for the JFK clip, as
// filtered by Whisper's rules at several points of a transcript, shifted, and with ties.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { argmax, LogitFilters, logSumExp, topK } from '../../src/engine/logit-filters.js';
import { loadNative } from '../../src/engine/native.js';
import { resolveModelDir } from '../../src/engine/whisper.js';
import { Tokenizer } from '../../src/text/tokenizer.js';
import { decodeF16, FIXTURES } from '../helpers.js';

const reference = JSON.parse(readFileSync(join(FIXTURES, 'reference', 'jfk.json'), 'utf8')) as {
  decoder_first_step: Record<'notimestamps' | 'timestamps', { log_softmax_f16_b64: string }>;
};
const tokenizer = Tokenizer.fromModelDir(resolveModelDir('tiny.en'));
const { timestampBegin: ts } = tokenizer.special;
const TEXT = 843;

/**
 * Float exp (about 2 ulp) and float partial sums in the kernel against double here: far below
 * a float ulp of the logsumexp of logits this size (2e-6 at 16).
 */
const LOG_SUM_EXP_TOLERANCE = 2e-6;

interface Stats {
  max: number;
  argmax: number;
  logSumExp: number;
}

function jsStats(row: Float32Array, from: number, to: number): Stats {
  let best = from;
  for (let t = from + 1; t < to; t++) if (row[t] > row[best]) best = t;
  const max = from < to ? row[best] : -Infinity;
  if (max === -Infinity) return { max, argmax: from < to ? from : -1, logSumExp: -Infinity };
  let total = 0;
  for (let t = from; t < to; t++) total += Math.exp(row[t] - max);
  return { max, argmax: best, logSumExp: max + Math.log(total) };
}

/** The indices by decreasing value, equal values by increasing index: top-k is a prefix. */
function jsOrder(row: Float32Array): number[] {
  return Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b);
}

function expectLogSumExp(got: number, want: number): void {
  if (want === -Infinity) expect(got).toBe(-Infinity);
  else expect(Math.abs(got - want)).toBeLessThanOrEqual(LOG_SUM_EXP_TOLERANCE);
}

function filters(withoutTimestamps: boolean): LogitFilters {
  return new LogitFilters(tokenizer, {
    withoutTimestamps,
    maxInitialTimestamp: 1.0,
    suppressIds: [50357, 50358],
    suppressIdsBegin: [220, tokenizer.special.eot],
    suppressBlank: true,
  });
}

/** Transcripts so far that make the filters mask text, timestamps, both or neither. */
const HISTORIES: number[][] = [[], [TEXT], [ts, TEXT], [ts, TEXT, ts + 100], [ts, TEXT, ts + 100, ts + 100]];

function realRows(): { name: string; row: Float32Array }[] {
  const rows: { name: string; row: Float32Array }[] = [];
  for (const prompt of ['notimestamps', 'timestamps'] as const) {
    const logProbs = decodeF16(reference.decoder_first_step[prompt].log_softmax_f16_b64);
    rows.push({ name: `${prompt} log-probabilities`, row: logProbs });
    rows.push({ name: `${prompt} shifted to logits`, row: logProbs.map((v) => v + 12.75) });
    rows.push({ name: `${prompt} rounded to halves (ties)`, row: logProbs.map((v) => Math.round(v * 2) / 2) });
    for (const withoutTimestamps of [false, true]) {
      for (const history of HISTORIES) {
        const row = logProbs.map((v) => v + 12.75);
        filters(withoutTimestamps).apply(row, history);
        rows.push({ name: `${prompt} filtered after [${history}]${withoutTimestamps ? ' without timestamps' : ''}`, row });
      }
    }
  }
  return rows;
}

describe('native vocabulary reductions against plain JavaScript', () => {
  const rows = realRows();
  const out = new Float64Array(6);

  it.each(rows)('logitStats: $name', ({ row }) => {
    for (const split of [ts, 0, row.length, 1234]) {
      loadNative().logitStats(row, split, out);
      const ranges = [jsStats(row, 0, split), jsStats(row, split, row.length)];
      ranges.forEach((want, r) => {
        expect(out[3 * r]).toBe(want.max);
        expect(out[3 * r + 1]).toBe(want.argmax);
        expectLogSumExp(out[3 * r + 2], want.logSumExp);
      });
    }
  });

  it.each(rows)('argmax, topK and logSumExp: $name', ({ row }) => {
    const whole = jsStats(row, 0, row.length);
    expect(argmax(row)).toBe(whole.argmax);
    expectLogSumExp(logSumExp(row), whole.logSumExp);
    const order = jsOrder(row);
    for (const k of [1, 5, 6, 16, 40]) expect(topK(row, k)).toEqual(order.slice(0, k));
  });

  it('the normaliser LogitFilters.apply returns is the logsumexp of the row it leaves', () => {
    for (const prompt of ['notimestamps', 'timestamps'] as const) {
      const logProbs = decodeF16(reference.decoder_first_step[prompt].log_softmax_f16_b64);
      for (const withoutTimestamps of [false, true]) {
        for (const history of HISTORIES) {
          const row = logProbs.map((v) => v + 12.75);
          const norm = filters(withoutTimestamps).apply(row, history);
          expectLogSumExp(norm, jsStats(row, 0, row.length).logSumExp);
        }
      }
    }
  });

  it('short rows, fewer entries than k, all -Infinity', () => {
    expect(topK(Float32Array.of(3, 9, 1, 7, 9.5), 3)).toEqual([4, 1, 3]);
    expect(topK(Float32Array.of(2, 2, 5), 8)).toEqual([2, 0, 1]);
    const masked = new Float32Array(37).fill(-Infinity);
    expect(argmax(masked)).toBe(0);
    expect(logSumExp(masked)).toBe(-Infinity);
    expect(topK(masked, 2)).toEqual([0, 1]);
    loadNative().logitStats(masked, 0, out);
    expect(Array.from(out)).toEqual([-Infinity, -1, -Infinity, -Infinity, 0, -Infinity]);
    expect(() => loadNative().logitStats(masked, 38, out)).toThrow(RangeError);
  });
});
