/**
 * Word timings in stream time, from either of two things the engine gives:
 *
 * - aligned words (`transcribe` with `wordTimestamps`): each word timed by cross-attention
 *   alignment, within a few frames of the reference implementation; `wordsFromAlignment`
 *   only moves them to stream time;
 * - segments alone, each with window-relative start and end from Whisper's timestamp tokens:
 *   `wordsFromSegment` shares a segment's span among its words in proportion to their length
 *   in characters, which tracks speaking time better than an even split (long words take
 *   longer to say). Expect errors of a few hundred milliseconds per word; the segment ends
 *   themselves stay exact.
 */
import type { AlignedWord } from '../engine/alignment.js';
import type { Word } from './stabilizer.js';

export interface TimedSegment {
  /** Seconds from the start of the window. */
  start: number;
  end: number;
  text: string;
  /** Mean log-probability of the segment's tokens, as the decoder reports it. */
  avgLogprob: number;
}

export function wordsFromSegment(segment: TimedSegment, windowStartS: number): Word[] {
  const spellings = segment.text.split(/\s+/).filter((spelling) => spelling.length > 0);
  const totalCharacters = spellings.reduce((sum, spelling) => sum + spelling.length, 0);
  const duration = Math.max(0, segment.end - segment.start);
  // Per-token probabilities are not kept per word yet; the segment's mean is the best estimate.
  const confidence = round(Math.exp(segment.avgLogprob));
  let charactersBefore = 0;
  return spellings.map((spelling) => {
    const start = windowStartS + segment.start + (duration * charactersBefore) / totalCharacters;
    charactersBefore += spelling.length;
    const end = windowStartS + segment.start + (duration * charactersBefore) / totalCharacters;
    return { word: spelling, start: round(start), end: round(end), confidence };
  });
}

/** Aligned words, timed from the start of the decoded audio, in stream time. */
export function wordsFromAlignment(words: readonly AlignedWord[], windowStartS: number): Word[] {
  return words.map((w) => ({
    word: w.word.trim(),
    start: round(windowStartS + w.start),
    end: round(windowStartS + w.end),
    confidence: round(w.probability),
  }));
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
