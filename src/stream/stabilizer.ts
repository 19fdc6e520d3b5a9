/**
 * Which words of an open utterance may become final: LocalAgreement-2 over the hypotheses of
 * the utterance's open tail. The session re-decodes the tail (after the words already final)
 * every hop; the word prefix on which two consecutive hypotheses agree is committed, except
 * words that end too close to the end of the audio heard so far, which may still be cut off
 * mid-word. Committed words leave the tail: the decoder is forced to start with them, so they
 * never change again.
 *
 * Agreement is positional over word spellings (case and punctuation ignored), not by times:
 * alignment times move by a frame or two between decodes, spellings of a settled word do not.
 */
import { normalizeBasic } from '../text/normalize.js';

export interface Word {
  word: string;
  /** Seconds of stream audio. */
  start: number;
  end: number;
  confidence: number;
}

export interface TailWord {
  word: string;
  /** seconds of stream audio where the word ends */
  end: number;
}

export interface Agreement {
  /** how many leading words of the hypothesis to commit now */
  commit: number;
  /** per word of the hypothesis, consecutive hypotheses that agreed on it: 1 = new */
  stability: number[];
}

/** Words ending closer than this to the audio's end may be cut off mid-word. */
export const DEFAULT_RIGHT_GUARD_S = 0.2;

export class HypothesisStabilizer {
  private previous: string[] = [];
  private agreedRuns: number[] = [];

  constructor(private readonly rightGuardS = DEFAULT_RIGHT_GUARD_S) {}

  /**
   * Takes the next hypothesis of the open tail, heard up to audioEndS, and decides commits;
   * none when the caller knows the hypothesis is unsafe to commit from (mayCommit false).
   */
  update(tail: readonly TailWord[], audioEndS: number, mayCommit = true): Agreement {
    const keys = tail.map((w) => normalizeBasic(w.word));
    let agreed = 0;
    while (agreed < keys.length && agreed < this.previous.length && keys[agreed] === this.previous[agreed]) agreed++;
    let commit = mayCommit ? agreed : 0;
    while (commit > 0 && tail[commit - 1].end > audioEndS - this.rightGuardS) commit--;
    const stability = keys.map((_, i) => (i < agreed ? (this.agreedRuns[i] ?? 1) + 1 : 1));
    this.previous = keys.slice(commit);
    this.agreedRuns = stability.slice(commit);
    return { commit, stability };
  }

  /** The utterance ended: the next hypothesis starts a new one. */
  reset(): void {
    this.previous = [];
    this.agreedRuns = [];
  }
}
