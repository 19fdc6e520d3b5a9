import { describe, expect, it } from 'vitest';
import { argmax, LogitFilters, logSumExp, topK } from '../../src/engine/logit-filters.js';
import { Tokenizer } from '../../src/text/tokenizer.js';
import { resolveModelDir } from '../../src/engine/whisper.js';

const tokenizer = Tokenizer.fromModelDir(resolveModelDir('tiny.en'));
const { eot, timestampBegin: ts, noTimestamps } = tokenizer.special;
const V = tokenizer.vocabSize;
const TEXT = 843;

function filters(withoutTimestamps = false) {
  return new LogitFilters(tokenizer, {
    withoutTimestamps,
    maxInitialTimestamp: 1.0,
    suppressIds: [50357, 50358],
    suppressIdsBegin: [220, eot],
    suppressBlank: true,
  });
}

function flat(): Float32Array {
  return new Float32Array(V);
}

describe('LogitFilters', () => {
  it('suppresses blank and end-of-text only at the first step', () => {
    const f = filters(true);
    const first = flat();
    f.apply(first, []);
    expect(first[220]).toBe(-Infinity);
    expect(first[eot]).toBe(-Infinity);
    const later = flat();
    f.apply(later, [TEXT]);
    expect(later[220]).toBe(0);
    expect(later[eot]).toBe(0);
    expect(later[50357]).toBe(-Infinity);
  });

  it('forbids every timestamp without timestamps', () => {
    const l = flat();
    filters(true).apply(l, [TEXT]);
    expect(l[ts]).toBe(-Infinity);
    expect(l[V - 1]).toBe(-Infinity);
  });

  it('starts with a timestamp no later than the initial limit', () => {
    const l = flat();
    filters().apply(l, []);
    expect(l[TEXT]).toBe(-Infinity);
    expect(l[ts]).toBe(0);
    expect(l[ts + 50]).toBe(0);
    expect(l[ts + 51]).toBe(-Infinity);
    expect(l[noTimestamps]).toBe(-Infinity);
  });

  it('pairs timestamps: after text + timestamp, only a timestamp or end may follow', () => {
    const l = flat();
    l[eot] = 10;
    filters().apply(l, [ts, TEXT, ts + 100]);
    expect(l[TEXT]).toBe(-Infinity);
    expect(l[ts + 100]).toBe(0); // the next segment may start where this one ended
    expect(l[ts + 99]).toBe(-Infinity); // but time never goes backwards
    expect(l[eot]).toBe(10);
  });

  it('after two timestamps in a row, text must follow', () => {
    const l = flat();
    l[TEXT] = 5;
    filters().apply(l, [ts, TEXT, ts + 100, ts + 100]);
    expect(l[ts + 150]).toBe(-Infinity);
    expect(l[TEXT]).toBe(5);
  });

  it('segments last at least one step', () => {
    const l = flat();
    l[TEXT] = 5;
    filters().apply(l, [ts + 10]);
    expect(l[ts + 10]).toBe(-Infinity);
  });

  it('emits a timestamp when time is likelier in total than any text token', () => {
    const l = flat();
    l.fill(-30);
    l[TEXT] = 0;
    for (let t = ts + 20; t < ts + 60; t++) l[t] = -1; // 40 timestamps each less likely than TEXT
    filters().apply(l, [ts, TEXT]);
    expect(l[TEXT]).toBe(-Infinity);
    expect(argmax(l)).toBeGreaterThanOrEqual(ts + 20);
  });
});

describe('logit helpers', () => {
  it('logSumExp is stable and exact for equal logits', () => {
    expect(logSumExp(Float32Array.of(1000, 1000))).toBeCloseTo(1000 + Math.log(2), 5);
  });
  it('topK returns the largest first', () => {
    expect(topK(Float32Array.of(3, 9, 1, 7, 9.5), 3)).toEqual([4, 1, 3]);
  });
});
