import { describe, expect, it } from 'vitest';
import { agree, DEFAULT_STABILIZER, NO_AGREEMENT, type StabilizerPolicy, type TailWord } from '../../src/stream/stabilizer.js';

/** Feeds hypotheses to `agree` one after another, as a session does within an utterance. */
function stabilizer(policy: Partial<StabilizerPolicy> = {}) {
  let state = NO_AGREEMENT;
  return {
    update(tail: TailWord[], audioEndS: number, mayCommit = true) {
      const out = agree(state, tail, audioEndS, mayCommit, { ...DEFAULT_STABILIZER, ...policy });
      state = out.state;
      return out;
    },
    reset() {
      state = NO_AGREEMENT;
    },
  };
}

/** Words one second apart ending at 1, 2, 3, ... seconds. */
const tail = (s: string, firstEnd = 1) => s.split(' ').map((word, i) => ({ word, end: firstEnd + i }));

describe('agree (LocalAgreement-n over the open tail)', () => {
  it('commits nothing on the first hypothesis', () => {
    const s = stabilizer();
    const out = s.update(tail('and so my'), 10);
    expect(out.commit).toBe(0);
    expect(out.stability).toEqual([1, 1, 1]);
  });

  it('commits the prefix two consecutive hypotheses spell alike, ignoring case, keeping the last word open', () => {
    const s = stabilizer();
    s.update(tail('And so, my fellow'), 10);
    const out = s.update(tail('and so, my fellow Americans'), 10);
    expect(out.commit).toBe(4);
    expect(out.stability).toEqual([2, 2, 2, 2, 1]);
  });

  it('does not commit a word whose punctuation changed: the mark stays with the word it follows', () => {
    const s = stabilizer();
    s.update(tail('the fat'), 10);
    // "fat" was the audio's last word; now a comma follows it, so the final must read "fat,".
    expect(s.update(tail('the fat, mutton'), 10).commit).toBe(1);
    expect(s.update(tail('fat, mutton-fattened sheep', 2), 10).commit).toBe(1);
  });

  it('never commits the hypothesis\' last word: what follows it may still attach to it', () => {
    const s = stabilizer();
    s.update(tail('ask not'), 10);
    expect(s.update(tail('ask not'), 10).commit).toBe(1);
  });

  it('with match "words", agrees on words whatever their punctuation (the earlier policy)', () => {
    const s = stabilizer({ match: 'words', holdLastWord: false });
    s.update(tail('And so my fellow'), 10);
    expect(s.update(tail('and so, my fellow Americans'), 10).commit).toBe(4);
  });

  it('LocalAgreement-3 waits for a third hypothesis', () => {
    const s = stabilizer({ agreement: 3 });
    s.update(tail('one two three'), 10);
    expect(s.update(tail('one two three'), 10).commit).toBe(0);
    expect(s.update(tail('one two three four'), 10).commit).toBe(3);
  });

  it('does not commit agreed words that end too close to the end of the audio', () => {
    const s = stabilizer({ rightGuardS: 0.5 });
    s.update(tail('ask not what you'), 4.3);
    // "you" stays open as the last word; "what" ends 1.3 s before the audio does.
    expect(s.update(tail('ask not what you'), 4.3).commit).toBe(3);
    s.reset();
    s.update(tail('ask not what'), 3.3);
    // Now "what" ends 0.3 s before the audio does: it may be cut off mid-word.
    expect(s.update(tail('ask not what you'), 3.3).commit).toBe(2);
  });

  it('compares the next hypothesis with what was left open, not with committed words', () => {
    const s = stabilizer();
    s.update(tail('ask not what your'), 10);
    expect(s.update(tail('ask not what your'), 10).commit).toBe(3);
    // The decoder now continues after "ask not what": its hypotheses cover only the open tail.
    expect(s.update(tail('your country can', 4), 10).commit).toBe(1);
    expect(s.update(tail('country can do', 5), 10).commit).toBe(2);
  });

  it('lets the open tail change freely and commits only after it settles', () => {
    const s = stabilizer();
    s.update(tail('the cat'), 10);
    expect(s.update(tail('the cap sat'), 10).commit).toBe(1);
    expect(s.update(tail('cat sat on'), 10).commit).toBe(0);
    expect(s.update(tail('cat sat on the'), 10).commit).toBe(3);
  });

  it('counts consecutive agreement as stability', () => {
    const s = stabilizer({ rightGuardS: 100 });
    s.update(tail('one two'), 10);
    s.update(tail('one two three'), 10);
    expect(s.update(tail('one two three four'), 10).stability).toEqual([3, 3, 2, 1]);
  });

  it('commits nothing from a hypothesis the caller marks unsafe, and keeps comparing against it', () => {
    const s = stabilizer();
    s.update(tail('what your country'), 10);
    expect(s.update(tail('what your country can'), 10, false).commit).toBe(0);
    expect(s.update(tail('what your country can do'), 10).commit).toBe(4);
  });

  it('commits nothing from an empty hypothesis', () => {
    const s = stabilizer();
    expect(s.update([], 10)).toMatchObject({ commit: 0, stability: [] });
  });

  it('starts over after reset', () => {
    const s = stabilizer();
    s.update(tail('first utterance here'), 10);
    s.reset();
    expect(s.update(tail('first utterance here'), 10).commit).toBe(0);
  });
});

describe('agree with an attention guard (AlignAtt)', () => {
  const alignAtt = { agreement: 1, rightGuardS: 0, attentionGuardS: 0.5 };
  /** Words whose attention peaks are at 0.8, 1.8, 2.8, ... seconds. */
  const read = (s: string) => tail(s).map((w) => ({ ...w, peak: w.end - 0.2 }));

  it('commits at the first hypothesis every word read from audio a margin before its end, the last word held', () => {
    const out = stabilizer(alignAtt).update(read('ask not what your country'), 3.5);
    // Peaks 0.8, 1.8, 2.8 are at least 0.5 s before 3.5; "your" (3.8) is not.
    expect(out.commit).toBe(3);
  });

  it('stops at the first word read too close to the end, even if later ones look earlier', () => {
    const words = read('ask not what your country');
    words[1] = { ...words[1], peak: 3.4 };
    expect(stabilizer(alignAtt).update(words, 3.5).commit).toBe(1);
  });

  it('commits nothing from a word with no peak on', () => {
    const words = read('ask not what your');
    delete (words[1] as { peak?: number }).peak;
    expect(stabilizer(alignAtt).update(words, 10).commit).toBe(1);
  });

  it('with LocalAgreement-2, needs both: two agreeing hypotheses and the margin', () => {
    const s = stabilizer({ attentionGuardS: 0.5 });
    s.update(read('ask not what your'), 3.5);
    expect(s.update(read('ask not what your country'), 3.5).commit).toBe(3);
  });
});
