/**
 * Interim stabilisation by LocalAgreement-2: the session re-decodes the open utterance every
 * hop, and the word prefix on which two consecutive hypotheses agree is settled. A settled
 * word is shown unchanged in every later interim of the utterance, so partial captions do not
 * flicker; only the tail after it may change. The final decode of the utterance replaces all
 * of it.
 *
 * Agreement is positional over whole-utterance hypotheses, not by word times: Whisper gives
 * times per segment only, and spreading them over words moves every word as the utterance
 * grows, which would make time-based matching drop or repeat words.
 */
import { normalizeBasic } from '../text/normalize.js';

export interface Word {
  word: string;
  /** Seconds of stream audio. */
  start: number;
  end: number;
  confidence: number;
}

export interface StabilizedWord {
  text: string;
  /** consecutive hypotheses that agreed on this word: 1 = new in this hypothesis */
  stability: number;
}

export class HypothesisStabilizer {
  private previous: string[] = [];
  private agreedRuns: number[] = [];
  private settled: string[] = [];

  /** Words settled so far: they will appear unchanged in every later interim. */
  get settledCount(): number {
    return this.settled.length;
  }

  /** Takes the next hypothesis of the whole utterance and returns what to show. */
  update(hypothesis: readonly string[]): StabilizedWord[] {
    const keys = hypothesis.map((w) => normalizeBasic(w));
    let agreed = 0;
    while (agreed < keys.length && agreed < this.previous.length && keys[agreed] === this.previous[agreed]) agreed++;
    if (agreed > this.settled.length) this.settled = hypothesis.slice(0, agreed);
    this.agreedRuns = keys.map((_, i) => (i < agreed ? (this.agreedRuns[i] ?? 1) + 1 : 1));
    this.previous = keys;
    const shown = [...this.settled, ...hypothesis.slice(this.settled.length)];
    return shown.map((text, i) => ({
      text,
      stability: i < this.settled.length ? Math.max(2, this.agreedRuns[i] ?? 2) : (this.agreedRuns[i] ?? 1),
    }));
  }

  /** The utterance ended: the next hypothesis starts a new one. */
  reset(): void {
    this.previous = [];
    this.agreedRuns = [];
    this.settled = [];
  }
}
