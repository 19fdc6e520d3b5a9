import { describe, expect, it } from 'vitest';
import {
  attentionPeaks,
  alignmentMatrix,
  dtwPath,
  medianFilterRows,
  mergeWords,
  rowSpans,
  standardizeColumns,
  type TimedToken,
} from '../../src/engine/alignment.js';

/** Attention rows [heads][stride] for tokens that each hold `width` frames, one after another. */
function bandAttention(tokens: number, width: number, heads: number, stride: number, head: (t: number, f: number, h: number) => number) {
  return Array.from({ length: tokens }, (_, t) => {
    const row = new Float32Array(heads * stride);
    for (let h = 0; h < heads; h++) for (let f = 0; f < tokens * width; f++) row[h * stride + f] = head(t, f, h);
    return row;
  });
}

describe('standardizeColumns', () => {
  it('gives every column zero mean and unit deviation over the rows, and a constant column zeros', () => {
    const m = Float32Array.from([1, 4, 2, 4, 6, 4]); // 3 rows x 2 columns
    standardizeColumns(m, 3, 2);
    const column = (c: number) => [m[c], m[2 + c], m[4 + c]];
    const first = column(0);
    expect(first.reduce((s, x) => s + x, 0)).toBeCloseTo(0, 6);
    expect(Math.sqrt(first.reduce((s, x) => s + x * x, 0) / 3)).toBeCloseTo(1, 6);
    // Population deviation (over the rows present), not the sample one.
    expect(first[0]).toBeCloseTo((1 - 3) / Math.sqrt(14 / 3), 5);
    expect(column(1)).toEqual([0, 0, 0]);
  });
});

describe('medianFilterRows', () => {
  it('removes a one-frame spike and keeps a step where it is', () => {
    const row = Float32Array.from([0, 0, 9, 0, 0, 1, 1, 1, 1]);
    expect(Array.from(medianFilterRows(row, 1, 9, 3))).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it('mirrors the row at its edges without repeating the edge value', () => {
    // Width 5 at column 0 sees [x2, x1, x0, x1, x2] = [3, 7, 1, 7, 3] -> 3.
    const row = Float32Array.from([1, 7, 3, 0, 0]);
    expect(medianFilterRows(row, 1, 5, 5)[0]).toBe(3);
    // At column 4 it sees [x2, x3, x4, x3, x2] = [3, 0, 0, 0, 3] -> 0.
    expect(medianFilterRows(row, 1, 5, 5)[4]).toBe(0);
  });

  it('filters each row on its own and refuses an even width', () => {
    const m = Float32Array.from([1, 1, 1, 5, 5, 5]);
    expect(Array.from(medianFilterRows(m, 2, 3, 3))).toEqual([1, 1, 1, 5, 5, 5]);
    expect(() => medianFilterRows(m, 2, 3, 4)).toThrow(/odd/);
  });
});

describe('dtwPath', () => {
  it('follows the cheap cells from the first to the last corner, never going back', () => {
    // The cheap cells (0) run along row 0 for three columns, then down and across.
    const cost = Float32Array.from([
      0, 0, 0, 9, 9,
      9, 9, 0, 9, 9,
      9, 9, 9, 0, 0,
    ]);
    const path = dtwPath(cost, 3, 5);
    const cells = path.rows.map((r, k) => [r, path.cols[k]]);
    expect(cells).toEqual([
      [0, 0],
      [0, 1],
      [1, 2],
      [2, 3],
      [2, 4],
    ]);
  });

  it('covers every row and every column when the matrix is taller than wide', () => {
    const cost = new Float32Array(6 * 3).fill(1);
    const path = dtwPath(cost, 6, 3);
    expect(new Set(path.rows).size).toBe(6);
    expect(new Set(path.cols).size).toBe(3);
    for (let k = 1; k < path.rows.length; k++) {
      expect(path.rows[k] - path.rows[k - 1]).toBeGreaterThanOrEqual(0);
      expect(path.cols[k] - path.cols[k - 1]).toBeGreaterThanOrEqual(0);
      expect(path.rows[k] - path.rows[k - 1] + path.cols[k] - path.cols[k - 1]).toBeGreaterThan(0);
    }
  });
});

describe('alignment of synthetic attention', () => {
  const tokens = 5;
  const width = 12;
  const frames = tokens * width;
  const stride = 80; // frames past the audio, as in a padded window, must be ignored

  it('finds when each token starts, despite spikes, frame biases and different head scales', () => {
    const attention = bandAttention(tokens, width, 3, stride, (t, f, h) => {
      const inBand = Math.floor(f / width) === t;
      if (h === 0) return inBand ? 0.5 : 0.01;
      // A spiky head: isolated bright frames outside the band, which the median filter removes.
      if (h === 1) return inBand ? 0.3 : f % 7 === 3 ? 0.9 : 0.02;
      // A head on another scale that also likes every 4th frame whatever the token.
      return (inBand ? 40 : 2) + (f % 4 === 0 ? 30 : 0);
    });
    for (const row of attention) row.fill(1, 3 * stride - 10, 3 * stride); // padding noise beyond `frames`
    const matrix = alignmentMatrix(attention, 3, stride, frames);
    const spans = rowSpans(matrix, tokens, frames);
    expect(spans.map((s) => +s.start.toFixed(3))).toEqual([0, 0.24, 0.48, 0.72, 0.96]);
    expect(spans.map((s) => +s.end.toFixed(3))).toEqual([0.24, 0.48, 0.72, 0.96, 1.2]);
  });

  it('needs the median filter against one-frame spikes scattered over every token', () => {
    const attention = bandAttention(tokens, width, 1, stride, (t, f) => {
      const inBand = Math.floor(f / width) === t;
      return inBand ? 0.3 : (3 * f + 5 * t) % 7 === 0 ? 0.9 : 0.02;
    });
    const starts = (filterWidth: number) =>
      rowSpans(alignmentMatrix(attention, 1, stride, frames, filterWidth), tokens, frames).map((s) => +s.start.toFixed(3));
    expect(starts(1)).not.toEqual([0, 0.24, 0.48, 0.72, 0.96]);
    expect(starts(7)).toEqual([0, 0.24, 0.48, 0.72, 0.96]);
  });

  it('reads each token\'s attention peak from the frame it weighs most', () => {
    // Each token's band is brightest at its 9th frame; outside it, tokens differ a little.
    const attention = bandAttention(tokens, width, 2, stride, (t, f) => (Math.floor(f / width) === t ? (f % width === 8 ? 0.8 : 0.4) : 0.01 * (t + 1)));
    const matrix = alignmentMatrix(attention, 2, stride, frames, 1);
    expect(attentionPeaks(matrix, tokens, frames)).toEqual([8, 20, 32, 44, 56]);
  });
});

describe('mergeWords', () => {
  const token = (id: number, text: string, start: number, end: number, probability = 1): TimedToken => ({
    id,
    text,
    start,
    end,
    probability,
  });

  it('starts a word at each leading space and joins the pieces of a word', () => {
    const words = mergeWords([
      token(1, ' And', 0, 0.5, 0.6),
      token(2, ' Amer', 0.5, 0.8, 0.8),
      token(3, 'icans', 0.8, 1.2, 0.4),
    ]);
    expect(words).toEqual([
      { word: ' And', start: 0, end: 0.5, probability: 0.6, tokens: [1] },
      { word: ' Americans', start: 0.5, end: 1.2, probability: expect.closeTo(0.6, 9), tokens: [2, 3] },
    ]);
  });

  it('attaches punctuation to the word before it, or after an opening space to the word after it', () => {
    const words = mergeWords([
      token(1, ' you', 0, 0.4, 0.9),
      token(2, ',', 0.4, 1.5, 0.1),
      token(3, ' "', 1.5, 1.6),
      token(4, ' ask', 1.6, 2.0),
      token(5, '."', 2.0, 3.0),
    ]);
    expect(words.map((w) => w.word)).toEqual([' you,', ' " ask."']);
    // Punctuation adds neither time (the silence after "you") nor probability.
    expect(words[0]).toMatchObject({ start: 0, end: 0.4, probability: 0.9, tokens: [1, 2] });
    expect(words[1]).toMatchObject({ start: 1.6, end: 2.0, tokens: [3, 4, 5] });
  });

  it('spells words with the given function, so split characters decode whole', () => {
    const words = mergeWords([token(7, ' caf', 0, 0.2), token(8, '\ufffd', 0.2, 0.3), token(9, '\ufffd', 0.3, 0.4)], (word) =>
      word.map((t) => t.id).join('+'),
    );
    expect(words).toEqual([{ word: '7+8+9', start: 0, end: 0.4, probability: 1, tokens: [7, 8, 9] }]);
  });

  it('gives a word the latest attention peak of its tokens, its punctuation included', () => {
    const [word] = mergeWords([
      { ...token(1, ' fat', 0, 0.3), peak: 0.2 },
      { ...token(2, ',', 0.3, 0.3), peak: 0.9 },
    ]);
    expect(word.peak).toBe(0.9);
    expect(mergeWords([token(1, ' fat', 0, 0.3)])[0]).not.toHaveProperty('peak');
  });

  it('gives no words for punctuation alone', () => {
    expect(mergeWords([token(1, '...', 0, 1)])).toEqual([]);
  });
});
