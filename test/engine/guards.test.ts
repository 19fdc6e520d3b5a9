import { describe, expect, it } from 'vitest';
import { cutRepetitionLoop, cutUnheardRun, prefixEchoStart } from '../../src/engine/guards.js';

const words = (text: string) => text.split(' ');

describe('prefixEchoStart', () => {
  const prefix = words("tis a strange change and i'm very sorry for it but i'll swear i know not how to help");

  it('finds where a continuation starts reading the forced prefix again', () => {
    expect(prefixEchoStart(prefix, words('it and then i know not how to help it'))).toBe(3);
    expect(prefixEchoStart(prefix, words('not how to help'))).toBe(0);
    // The longest restatement wins: here the prefix's last nine words, from the start.
    expect(prefixEchoStart(prefix, words("it but i'll swear i know not how to help it"))).toBe(0);
  });

  it('leaves continuations alone that share fewer than four words with the end of the prefix', () => {
    expect(prefixEchoStart(prefix, words('it and then how to help'))).toBe(-1);
    expect(prefixEchoStart(prefix, words('it'))).toBe(-1);
    // Words of the prefix that are not its end are a new sentence, not an echo.
    expect(prefixEchoStart(prefix, words("it i'm very sorry for it"))).toBe(-1);
  });
});

describe('cutRepetitionLoop', () => {
  it('keeps one copy of a block repeated at least four times at the end', () => {
    expect(cutRepetitionLoop([1, 2, 3, 4, 3, 4, 3, 4, 3, 4])).toEqual([1, 2, 3, 4]);
    expect(cutRepetitionLoop([1, 2, 3, 4, 3, 4, 3, 4])).toEqual([1, 2, 3, 4, 3, 4, 3, 4]);
  });
});

describe('cutUnheardRun', () => {
  const timed = (spec: Array<[string, number, number]>) => spec.map(([word, start, end]) => ({ word, start, end }));

  it('cuts where words in a row were aligned to no audio (a loop written on one frame)', () => {
    const hypothesis = timed([
      ['modern,', 11.88, 12.66],
      ['in', 12.68, 12.68],
      ['being', 12.68, 12.68],
      ['comparatively', 12.68, 12.68],
      ['modern,', 12.68, 12.68],
    ]);
    expect(cutUnheardRun(hypothesis).map((w) => w.word)).toEqual(['modern,']);
  });

  it('cuts a restatement of the forced words written on the audio\'s last frame', () => {
    const hypothesis = timed([
      ['not.', 3.88, 4.52],
      ['Ask', 4.7, 4.7],
      ['not.', 4.7, 4.7],
    ]);
    expect(cutUnheardRun(hypothesis).map((w) => w.word)).toEqual(['not.']);
  });

  it('keeps short words that are heard between longer ones, and a phrase said twice', () => {
    const hypothesis = timed([
      ['tear', 1.0, 1.2],
      ['a', 1.2, 1.2],
      ['fence', 1.2, 1.6],
      ['tear', 1.7, 1.9],
      ['down', 1.9, 2.1],
      ['the', 2.1, 2.14],
      ['a', 2.14, 2.14],
      ['fence', 2.14, 2.5],
    ]);
    expect(cutUnheardRun(hypothesis)).toEqual(hypothesis);
  });
});
