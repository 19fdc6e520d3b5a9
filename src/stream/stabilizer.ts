/**
 * Which words of an open utterance may become final: LocalAgreement-n over the hypotheses of
 * the utterance's open tail. The session re-decodes the tail (after the words already final)
 * every hop; the word prefix on which the last n hypotheses agree is committed, except
 * words that end too close to the end of the audio heard so far (they may still be cut off
 * mid-word) and the hypothesis' last word (what follows it is unknown, so the punctuation
 * that Whisper attaches to a word, "fat," or "mutton-fattened", is not settled yet).
 * Committed words leave the tail: the decoder is forced to start with them, so they never
 * change again. With an attention guard (AlignAtt), commits also stop at the first word the
 * decoder read from too close to the audio's end.
 *
 * Agreement is positional over word spellings, not by times: alignment times move by a frame
 * or two between decodes, spellings of a settled word do not. By default spellings agree
 * with their punctuation (case ignored), so a final never carries a mark that a later word
 * would have moved; 'words' ignores punctuation too.
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
  /** seconds of stream audio: where the alignment heads read the word's tokens from, at the latest */
  peak?: number;
}

export interface Agreement {
  /** how many leading words of the hypothesis to commit now */
  commit: number;
  /** per word of the hypothesis, consecutive hypotheses that agreed on it: 1 = new */
  stability: number[];
}

export interface StabilizerPolicy {
  /** consecutive hypotheses that must agree on a word (LocalAgreement-n) */
  agreement: number;
  /** words ending closer than this to the audio's end stay open, seconds */
  rightGuardS: number;
  /** 'spelling': agree on the word with its punctuation (case ignored); 'words': punctuation ignored */
  match: 'spelling' | 'words';
  /** commit a word only when the hypothesis has another word after it */
  holdLastWord: boolean;
  /**
   * AlignAtt: commits stop at the first word whose cross-attention peak lies closer than this
   * to the audio's end (a word without a peak counts as too close); null: not used
   */
  attentionGuardS: number | null;
}

/** Words ending closer than this to the audio's end may be cut off mid-word. */
export const DEFAULT_RIGHT_GUARD_S = 0.2;

export const DEFAULT_STABILIZER: StabilizerPolicy = {
  agreement: 2,
  rightGuardS: DEFAULT_RIGHT_GUARD_S,
  match: 'spelling',
  holdLastWord: true,
  attentionGuardS: null,
};

export function agreementKey(word: string, match: StabilizerPolicy['match']): string {
  return match === 'words' ? normalizeBasic(word) : word.trim().toLowerCase();
}

/** What the last hypothesis left open: its words' agreement keys and how many agreed on each. */
export interface AgreementState {
  keys: readonly string[];
  runs: readonly number[];
}

/** Before the first hypothesis of an utterance. */
export const NO_AGREEMENT: AgreementState = { keys: [], runs: [] };

/**
 * Takes the next hypothesis of the open tail, heard up to audioEndS, and decides commits;
 * none when the caller knows the hypothesis is unsafe to commit from (mayCommit false). The
 * returned state is what the next hypothesis is compared with.
 */
export function agree(
  previous: AgreementState,
  tail: readonly TailWord[],
  audioEndS: number,
  mayCommit: boolean,
  policy: StabilizerPolicy,
): Agreement & { state: AgreementState } {
  const { agreement, rightGuardS, match, holdLastWord, attentionGuardS } = policy;
  const keys = tail.map((w) => agreementKey(w.word, match));
  let agreed = 0;
  while (agreed < keys.length && agreed < previous.keys.length && keys[agreed] === previous.keys[agreed]) agreed++;
  const stability = keys.map((_, i) => (i < agreed ? (previous.runs[i] ?? 1) + 1 : 1));
  let commit = 0;
  if (mayCommit) while (commit < keys.length && stability[commit] >= agreement) commit++;
  if (holdLastWord) commit = Math.max(0, Math.min(commit, keys.length - 1));
  if (attentionGuardS !== null) {
    let read = 0;
    while (read < commit && (tail[read].peak ?? Infinity) <= audioEndS - attentionGuardS) read++;
    commit = read;
  }
  while (commit > 0 && tail[commit - 1].end > audioEndS - rightGuardS) commit--;
  return { commit, stability, state: { keys: keys.slice(commit), runs: stability.slice(commit) } };
}
