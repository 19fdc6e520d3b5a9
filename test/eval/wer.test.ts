import { describe, expect, it } from 'vitest';

import { alignWords, scoreWer, werOf } from '../../src/eval/wer.js';

const split = (text: string) => text.split(' ').filter(Boolean);

function counts(ref: string, hyp: string) {
  const { substitutions, deletions, insertions, hits, refWords, hypWords } = alignWords(split(ref), split(hyp));
  return { S: substitutions, D: deletions, I: insertions, hits, N: refWords, hypWords };
}

describe('alignWords', () => {
  it('finds no errors in identical sequences', () => {
    expect(counts('the cat sat', 'the cat sat')).toEqual({ S: 0, D: 0, I: 0, hits: 3, N: 3, hypWords: 3 });
  });

  it('counts a substitution and a deletion', () => {
    // the cat sat->sit on [the] mat
    expect(counts('the cat sat on the mat', 'the cat sit on mat')).toEqual({ S: 1, D: 1, I: 0, hits: 4, N: 6, hypWords: 5 });
  });

  it('counts an insertion', () => {
    expect(counts('a b c', 'a x b c')).toEqual({ S: 0, D: 0, I: 1, hits: 3, N: 3, hypWords: 4 });
  });

  it('counts everything deleted or everything inserted', () => {
    expect(counts('a b c', '')).toEqual({ S: 0, D: 3, I: 0, hits: 0, N: 3, hypWords: 0 });
    expect(counts('', 'a b')).toEqual({ S: 0, D: 0, I: 2, hits: 0, N: 0, hypWords: 2 });
    expect(counts('', '')).toEqual({ S: 0, D: 0, I: 0, hits: 0, N: 0, hypWords: 0 });
  });

  it('mixes all three error kinds in one alignment', () => {
    // i love->loved new york [city] + extra word "today" at the front
    expect(counts('i love new york city', 'today i loved new york')).toEqual({ S: 1, D: 1, I: 1, hits: 3, N: 5, hypWords: 5 });
  });

  it('prefers substitutions over a deletion plus insertion of the same cost', () => {
    // "a b" -> "b a" costs 2 either as S+S or as D+I; the split is fixed, not arbitrary.
    expect(counts('a b', 'b a')).toMatchObject({ S: 2, D: 0, I: 0 });
  });

  it('finds the minimum over long shifted sequences', () => {
    const ref = 'one two three four five six seven eight nine ten';
    const hyp = 'zero one two three four five six seven eight nine';
    // Optimal: insert "zero", delete "ten" (cost 2), not ten substitutions.
    expect(counts(ref, hyp)).toMatchObject({ S: 0, D: 1, I: 1, hits: 9 });
  });
});

describe('werOf', () => {
  it('is (S + D + I) / N and may exceed 1', () => {
    expect(werOf(alignWords(['a'], ['b', 'c', 'd']))).toBe(3);
    expect(werOf(alignWords(['a', 'b', 'c', 'd'], ['a', 'x', 'c', 'd']))).toBe(0.25);
  });

  it('is 0 with no reference and no hypothesis words, null with hallucinated words only', () => {
    expect(werOf(alignWords([], []))).toBe(0);
    expect(werOf(alignWords([], ['thank', 'you']))).toBeNull();
  });
});

describe('scoreWer', () => {
  it('normalises both sides before aligning', () => {
    const score = scoreWer([{ ref: 'MISTER SMITH PAID FIVE DOLLARS IN NINETEEN SIXTY ONE', hyp: 'Mr. Smith paid $5 in 1961.' }]);
    expect(score).toMatchObject({ substitutions: 0, deletions: 0, insertions: 0, refWords: 9, wer: 0 });
  });

  it('sums errors over words across files instead of averaging per-file rates', () => {
    const score = scoreWer([
      { ref: 'hello', hyp: 'yellow' },
      { ref: 'one two three four five six seven eight nine', hyp: 'one two three four five six seven eight nine' },
    ]);
    expect(score.refWords).toBe(10);
    expect(score.substitutions).toBe(1);
    expect(score.wer).toBeCloseTo(0.1, 12); // a per-file average would say 0.5
    expect(score.perPair.map((pair) => werOf(pair))).toEqual([1, 0]);
  });

  it('counts insertions on non-speech clips while a corpus with speech keeps a finite rate', () => {
    const nonSpeechOnly = scoreWer([{ ref: '', hyp: 'Thank you.', language: null }, { ref: '', hyp: '', language: null }]);
    expect(nonSpeechOnly).toMatchObject({ insertions: 2, refWords: 0, wer: null });

    const mixed = scoreWer([{ ref: 'good morning', hyp: 'good morning' }, { ref: '', hyp: 'thank you' }]);
    expect(mixed).toMatchObject({ insertions: 2, refWords: 2, wer: 1 });
  });

  it('scores unspaced scripts per character', () => {
    const score = scoreWer([{ ref: '广州市房地产中介协会分析', hyp: '广州市房地产中介协会分', language: 'zh' }]);
    expect(score).toMatchObject({ refWords: 12, deletions: 1, substitutions: 0, insertions: 0 });
    expect(score.wer).toBeCloseTo(1 / 12, 12);
  });

  it('returns zeros for no pairs', () => {
    expect(scoreWer([])).toMatchObject({ refWords: 0, hypWords: 0, wer: 0, perPair: [] });
  });
});
