// Word timing from cross-attention. A few decoder heads (the model's "alignment heads") attend
// to the audio a token is being read from, so their attention rows, stacked token by token,
// form a tokens x frames matrix with a bright band from top-left to bottom-right. Dynamic time
// warping finds the cheapest monotonic path along that band, and the frame at which the path
// enters a token's row is when the token starts. This is the method openai-whisper introduced
// for word timestamps, implemented here from its description.
import { SECONDS_PER_TOKEN_STEP as SECONDS_PER_FRAME } from './features.js';

/** Frames a median filter spans: smooths single-frame attention spikes without blurring words. */
export const MEDIAN_FILTER_WIDTH = 7;

export interface TimedToken {
  id: number;
  /** the token's own spelling: where words begin, and by default how they are spelled */
  text: string;
  /** seconds from the start of the window */
  start: number;
  end: number;
  probability: number;
  /** seconds from the start of the window: the frame the token attends to most (attentionPeaks) */
  peak?: number;
}

export interface AlignedWord {
  /** with its leading space, as the model spelled it */
  word: string;
  start: number;
  end: number;
  /** mean probability of the word's spoken tokens */
  probability: number;
  /** the latest attention peak of its tokens, punctuation included, when they have one */
  peak?: number;
  /** the word's token ids, punctuation included; words partition the tokens in order */
  tokens: number[];
}

/**
 * Heads weigh frames on different scales and some prefer certain frames whatever the token,
 * so each frame (column) is standardised over the tokens before heads are compared.
 */
export function standardizeColumns(matrix: Float32Array, rows: number, cols: number): void {
  for (let c = 0; c < cols; c++) {
    let mean = 0;
    for (let r = 0; r < rows; r++) mean += matrix[r * cols + c];
    mean /= rows;
    let variance = 0;
    for (let r = 0; r < rows; r++) variance += (matrix[r * cols + c] - mean) ** 2;
    const std = Math.sqrt(variance / rows);
    for (let r = 0; r < rows; r++) matrix[r * cols + c] = std > 0 ? (matrix[r * cols + c] - mean) / std : 0;
  }
}

/** Mirrors an index that falls off either end back inside [0, n), the edge sample not repeated. */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const folded = ((i % period) + period) % period;
  return folded < n ? folded : period - folded;
}

/** Median over `width` (odd) neighbouring columns of each row, mirrored at the edges. */
export function medianFilterRows(matrix: Float32Array, rows: number, cols: number, width: number): Float32Array {
  if (width % 2 !== 1) throw new RangeError(`median filter width must be odd, got ${width}`);
  const out = new Float32Array(rows * cols);
  const half = (width - 1) / 2;
  const padded = new Float32Array(cols + 2 * half);
  // The window kept sorted as it slides: one value leaves and one enters per column, which
  // costs a few moves instead of a sort (this runs over every head, token and frame).
  const sorted = new Float32Array(width);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < padded.length; k++) padded[k] = matrix[r * cols + reflect(k - half, cols)];
    sorted.set(padded.subarray(0, width));
    sorted.sort();
    out[r * cols] = sorted[half];
    for (let c = 1; c < cols; c++) {
      const leaving = padded[c - 1];
      const entering = padded[c - 1 + width];
      let at = 0;
      while (sorted[at] !== leaving) at++;
      while (at + 1 < width && sorted[at + 1] < entering) {
        sorted[at] = sorted[at + 1];
        at++;
      }
      while (at > 0 && sorted[at - 1] > entering) {
        sorted[at] = sorted[at - 1];
        at--;
      }
      sorted[at] = entering;
      out[r * cols + c] = sorted[half];
    }
  }
  return out;
}

/**
 * The tokens x frames alignment matrix: each token's attention row holds [heads][stride]
 * weights of which the first `frames` are audio; heads are standardised, smoothed and averaged.
 * Columns before `firstFrame` are left out: audio that belongs to words aligned earlier.
 */
export function alignmentMatrix(
  attention: readonly Float32Array[],
  heads: number,
  stride: number,
  frames: number,
  filterWidth = MEDIAN_FILTER_WIDTH,
  firstFrame = 0,
): Float32Array {
  const tokens = attention.length;
  const cols = frames - firstFrame;
  const sum = new Float32Array(tokens * cols);
  const head = new Float32Array(tokens * cols);
  for (let h = 0; h < heads; h++) {
    attention.forEach((row, t) => head.set(row.subarray(h * stride + firstFrame, h * stride + frames), t * cols));
    standardizeColumns(head, tokens, cols);
    const smoothed = medianFilterRows(head, tokens, cols, filterWidth);
    for (let k = 0; k < sum.length; k++) sum[k] += smoothed[k];
  }
  for (let k = 0; k < sum.length; k++) sum[k] /= heads;
  return sum;
}

const DIAGONAL = 0;
const UP = 1;
const LEFT = 2;

/**
 * The monotonic path of least total cost from cell (0, 0) to (rows - 1, cols - 1), moving one
 * row, one column or both at each step; returns the row and column of every cell on it.
 */
export function dtwPath(cost: Float32Array, rows: number, cols: number): { rows: number[]; cols: number[] } {
  const width = cols + 1;
  // total[i][j]: cheapest path to cell (i - 1, j - 1); row and column 0 are the unreachable border.
  const total = new Float64Array((rows + 1) * width).fill(Infinity);
  const move = new Uint8Array((rows + 1) * width);
  total[0] = 0;
  for (let i = 1; i <= rows; i++) {
    for (let j = 1; j <= cols; j++) {
      const diagonal = total[(i - 1) * width + j - 1];
      const up = total[(i - 1) * width + j];
      const left = total[i * width + j - 1];
      let best = diagonal;
      let step = DIAGONAL;
      if (up < best) {
        best = up;
        step = UP;
      }
      if (left < best) {
        best = left;
        step = LEFT;
      }
      total[i * width + j] = cost[(i - 1) * cols + j - 1] + best;
      move[i * width + j] = step;
    }
  }
  const pathRows: number[] = [];
  const pathCols: number[] = [];
  let i = rows;
  let j = cols;
  while (i > 0 && j > 0) {
    pathRows.push(i - 1);
    pathCols.push(j - 1);
    const step = move[i * width + j];
    if (step !== LEFT) i--;
    if (step !== UP) j--;
  }
  return { rows: pathRows.reverse(), cols: pathCols.reverse() };
}

/**
 * The column each row of an alignment matrix weighs most: where in the audio the alignment
 * heads read a token from. AlignAtt (Papi et al., 2023; Simul-Whisper, SimulStreaming) stops
 * emitting at the first token whose peak is too close to the end of the audio heard, since
 * the model may be reading it from audio that is still arriving.
 */
export function attentionPeaks(matrix: Float32Array, rows: number, cols: number): number[] {
  const peaks: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (matrix[r * cols + c] > matrix[r * cols + best]) best = c;
    peaks.push(best);
  }
  return peaks;
}

/**
 * Start and end (seconds) of every row of an alignment matrix: a row starts at the frame where
 * the path enters it and ends where the next row starts; the last row ends with the audio.
 */
export function rowSpans(matrix: Float32Array, rows: number, frames: number): { start: number; end: number }[] {
  if (rows === 0 || frames === 0) return Array.from({ length: rows }, () => ({ start: 0, end: 0 }));
  const negated = matrix.map((v) => -v);
  const path = dtwPath(negated, rows, frames);
  const entry = new Array<number>(rows).fill(-1);
  path.rows.forEach((r, k) => {
    if (entry[r] < 0) entry[r] = path.cols[k];
  });
  return entry.map((frame, r) => ({
    start: frame * SECONDS_PER_FRAME,
    end: (r + 1 < rows ? entry[r + 1] : frames) * SECONDS_PER_FRAME,
  }));
}

// Punctuation and the symbols written next to words; not \p{So}, which holds U+FFFD, the
// spelling of a token that carries part of a character.
const PUNCTUATION_ONLY = /^[\p{P}\p{Sm}\p{Sc}\p{Sk}]+$/u;

/**
 * Groups timed tokens into words: a token that begins with a space begins a word. Punctuation
 * carries no speech, so it only adds to a word's spelling, never to its time or probability:
 * it joins the word before it, or, with a space in front (an opening quote or bracket), the
 * word after it. `spell` turns a word's tokens into text (byte-level BPE splits some
 * characters over several tokens, which only decode together).
 */
export function mergeWords(
  tokens: readonly TimedToken[],
  spell: (tokens: TimedToken[]) => string = (word) => word.map((t) => t.text).join(''),
): AlignedWord[] {
  const words: { all: TimedToken[]; spoken: TimedToken[] }[] = [];
  let opening: TimedToken[] = [];
  for (const token of tokens) {
    const current = words[words.length - 1];
    const startsWithSpace = token.text.startsWith(' ');
    if (PUNCTUATION_ONLY.test(token.text.trim())) {
      if (current && !startsWithSpace && opening.length === 0) current.all.push(token);
      else opening.push(token);
    } else if (!current || startsWithSpace || opening.length > 0) {
      words.push({ all: [...opening, token], spoken: [token] });
      opening = [];
    } else {
      current.all.push(token);
      current.spoken.push(token);
    }
  }
  // Punctuation with no word after it belongs to the last word.
  if (opening.length > 0 && words.length > 0) words[words.length - 1].all.push(...opening);
  return words.map(({ all, spoken }) => {
    const peaks = all.flatMap((t) => (t.peak === undefined ? [] : [t.peak]));
    return {
      word: spell(all),
      start: spoken[0].start,
      end: spoken[spoken.length - 1].end,
      probability: spoken.reduce((sum, t) => sum + t.probability, 0) / spoken.length,
      tokens: all.map((t) => t.id),
      ...(peaks.length > 0 ? { peak: Math.max(...peaks) } : {}),
    };
  });
}
