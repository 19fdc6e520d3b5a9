// When a live session's words become final, and what an ended utterance leaves in the
// decoder's window. The measurements that chose the default are in bench/RESULTS.md ("Live
// finals against offline"); every policy here stays selectable for `npm run eval -- --live
// --policy NAME` and bench/live-policy.ts.
import { DEFAULT_STABILIZER, type StabilizerPolicy } from './stabilizer.js';

export interface CommitPolicy extends StabilizerPolicy {
  /** new audio between hypotheses of an open utterance: commits wait about two hops */
  hopS: number;
  /**
   * Past this much audio, final words leave the decoding window (they still prompt it): it
   * bounds what each hop encodes.
   */
  maxWindowS: number;
  /**
   * Keep an ended utterance in the window as the next one's context, until a pause of
   * CONTEXT_PAUSE_S (src/stream/session-step.ts): Whisper decodes a sentence better with the
   * speech before it in its window, as offline it always has.
   */
  keepContext: boolean;
  /**
   * An utterance that follows a kept context commits nothing until its own audio, judged alone,
   * is speech (src/stream/session-step.ts, "speech check").
   */
  checkSpeech: boolean;
}

export const DEFAULT_COMMIT_POLICY: CommitPolicy = { ...DEFAULT_STABILIZER, hopS: 0.4, maxWindowS: 20, keepContext: true, checkSpeech: false };

const UTTERANCE_COMMIT_POLICY: CommitPolicy = { ...DEFAULT_COMMIT_POLICY, rightGuardS: Infinity };

/** The selectable commit policies, by name. */
export const COMMIT_POLICIES: Record<string, CommitPolicy> = {
  default: DEFAULT_COMMIT_POLICY,
  /** the policy before exact spellings: punctuation ignored, the last word committable */
  'la2-words': { ...DEFAULT_COMMIT_POLICY, match: 'words', holdLastWord: false },
  /** exact spellings, but the hypothesis' last word may commit */
  'la2-last-word': { ...DEFAULT_COMMIT_POLICY, holdLastWord: false },
  'guard-0s': { ...DEFAULT_COMMIT_POLICY, rightGuardS: 0 },
  'hop-0.3s': { ...DEFAULT_COMMIT_POLICY, hopS: 0.3 },
  /** the hop before session 7: 0.1 points closer to offline, 120 ms later */
  'hop-0.5s': { ...DEFAULT_COMMIT_POLICY, hopS: 0.5 },
  /** every endpoint empties the window: the next utterance hears none of the one before */
  'no-context': { ...DEFAULT_COMMIT_POLICY, keepContext: false },
  /**
   * an utterance after the context commits only once its own audio, judged alone, is speech:
   * the same WER and no fewer words over noise on the sets and the noise fixtures measured,
   * at about a quarter more encoder work and 40 ms more p95 (bench/RESULTS.md)
   */
  'speech-check': { ...DEFAULT_COMMIT_POLICY, checkSpeech: true },
  la3: { ...DEFAULT_COMMIT_POLICY, agreement: 3 },
  'guard-0.5s': { ...DEFAULT_COMMIT_POLICY, rightGuardS: 0.5 },
  'guard-1s': { ...DEFAULT_COMMIT_POLICY, rightGuardS: 1 },
  'la3-guard-0.5s': { ...DEFAULT_COMMIT_POLICY, agreement: 3, rightGuardS: 0.5 },
  /**
   * AlignAtt (attention-guided emission, as Simul-Whisper and SimulStreaming do it): a word is
   * final at its first hypothesis once the alignment heads read it from audio at least the
   * margin before the audio's end (SimulStreaming's usual margin is 25 frames, 0.5 s); no
   * agreement between hops and no time guard
   */
  'alignatt-0.5s': { ...DEFAULT_COMMIT_POLICY, agreement: 1, rightGuardS: 0, attentionGuardS: 0.5 },
  'alignatt-1s': { ...DEFAULT_COMMIT_POLICY, agreement: 1, rightGuardS: 0, attentionGuardS: 1 },
  /** both: two hops agree and the attention is a margin away from the audio's end */
  'la2-alignatt-0.5s': { ...DEFAULT_COMMIT_POLICY, attentionGuardS: 0.5 },
  /** nothing final before the utterance ends: the accuracy bound of the utterance decode */
  'endpoint-only': UTTERANCE_COMMIT_POLICY,
};

/**
 * What a client trades, by name (the `finals` parameter, docs/protocol.md). `early`: each word
 * is final about half a second after it is spoken, once the default policy is sure of it.
 * `utterance`: the words of an utterance are final together at its endpoint, from a decode
 * that heard all of it. On LibriSpeech readers no policy was tuned on, early finals are about
 * 7 points of WER above offline and utterance finals within 1 (bench/RESULTS.md, "Finals per
 * utterance"): Whisper's small models guess a word differently once they hear the words after
 * it, and early finals cannot wait for those.
 */
export type FinalsMode = 'early' | 'utterance';
export const FINALS_MODES: readonly FinalsMode[] = ['early', 'utterance'];

/** The mode a parameter names, in any case; undefined for anything else. */
export function finalsModeNamed(value: string): FinalsMode | undefined {
  return FINALS_MODES.find((mode) => mode === value.toLowerCase());
}

export function commitPolicyFor(finals: FinalsMode): CommitPolicy {
  return finals === 'utterance' ? UTTERANCE_COMMIT_POLICY : DEFAULT_COMMIT_POLICY;
}
