import { describe, expect, it } from 'vitest';
import { HypothesisStabilizer } from '../../src/stream/stabilizer.js';

const words = (s: string) => s.split(' ');
const texts = (out: { text: string }[]) => out.map((w) => w.text).join(' ');

describe('HypothesisStabilizer (LocalAgreement-2 over whole-utterance hypotheses)', () => {
  it('settles nothing on the first hypothesis', () => {
    const s = new HypothesisStabilizer();
    const out = s.update(words('and so my'));
    expect(texts(out)).toBe('and so my');
    expect(out.every((w) => w.stability === 1)).toBe(true);
    expect(s.settledCount).toBe(0);
  });

  it('settles the prefix two consecutive hypotheses agree on, ignoring case and punctuation', () => {
    const s = new HypothesisStabilizer();
    s.update(words('And so my fellow'));
    const out = s.update(words('and so, my fellow Americans'));
    expect(s.settledCount).toBe(4);
    expect(out.map((w) => w.stability)).toEqual([2, 2, 2, 2, 1]);
  });

  it('keeps settled words unchanged when a later hypothesis wavers on them', () => {
    const s = new HypothesisStabilizer();
    s.update(words('ask not what'));
    s.update(words('ask not what your'));
    const out = s.update(words('ask knot what your country'));
    expect(texts(out)).toBe('ask not what your country');
    expect(s.settledCount).toBe(3);
  });

  it('lets the unsettled tail change freely', () => {
    const s = new HypothesisStabilizer();
    s.update(words('the cat'));
    s.update(words('the cat sad'));
    expect(texts(s.update(words('the cat sat on')))).toBe('the cat sat on');
  });

  it('counts consecutive agreement as stability', () => {
    const s = new HypothesisStabilizer();
    s.update(words('one two'));
    s.update(words('one two three'));
    const out = s.update(words('one two three four'));
    expect(out.map((w) => w.stability)).toEqual([3, 3, 2, 1]);
  });

  it('starts over after reset', () => {
    const s = new HypothesisStabilizer();
    s.update(words('first utterance'));
    s.update(words('first utterance'));
    s.reset();
    expect(texts(s.update(words('second')))).toBe('second');
    expect(s.settledCount).toBe(0);
  });
});
