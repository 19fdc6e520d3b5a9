import { describe, expect, it } from 'vitest';

import { wordsFromAlignment, wordsFromSegment } from '../../src/stream/timestamps.js';

describe('wordsFromSegment', () => {
  it('shares the segment span among words by length and moves it to stream time', () => {
    const words = wordsFromSegment({ start: 1, end: 2.2, text: ' Ask not what', avgLogprob: Math.log(0.8) }, 10);
    expect(words.map((word) => word.word)).toEqual(['Ask', 'not', 'what']);
    // 3 + 3 + 4 characters over 1.2 s.
    const bounds = words.map((word) => [word.start, word.end]);
    [[11, 11.36], [11.36, 11.72], [11.72, 12.2]].forEach(([start, end], i) => {
      expect(bounds[i][0]).toBeCloseTo(start, 9);
      expect(bounds[i][1]).toBeCloseTo(end, 9);
    });
    expect(words.every((word) => Math.abs(word.confidence - 0.8) < 1e-9)).toBe(true);
  });

  it('gives no words for a segment without text', () => {
    expect(wordsFromSegment({ start: 0, end: 1, text: '  ', avgLogprob: 0 }, 0)).toEqual([]);
  });
});

describe('wordsFromAlignment', () => {
  it('moves aligned words to stream time, without their leading space', () => {
    const words = wordsFromAlignment(
      [
        { word: ' Ask', start: 0.5, end: 0.9, probability: 0.91234, tokens: [1] },
        { word: ' not,', start: 0.9, end: 1.26, probability: 0.5, tokens: [2, 3] },
      ],
      10,
    );
    expect(words).toEqual([
      { word: 'Ask', start: 10.5, end: 10.9, confidence: 0.912 },
      { word: 'not,', start: 10.9, end: 11.26, confidence: 0.5 },
    ]);
  });
});
