// Guards against Whisper's failure modes on audio without speech: it names silence "you",
// loops on music, and answers noise with confident filler. Each guard is a pure function of
// the audio or of a window's decode statistics, shared by offline and streaming decoding.

export interface GuardOptions {
  /** Whisper's own gate: no-speech probability above this ... */
  noSpeechThreshold: number | null;
  /** ... and mean token log-probability below this, skip the window */
  logProbThreshold: number | null;
  /** output that compresses better than this is a repetition loop */
  compressionRatioThreshold: number | null;
  /**
   * When the model leans towards no speech (above this) and could not decode the window
   * deterministically (temperature fallback was needed), the window is treated as no speech:
   * two independent weak signals that agree.
   */
  noSpeechAfterFallbackThreshold: number | null;
  /** windows whose audio RMS is below this level (dB full scale) are not decoded at all */
  silenceDbfs: number | null;
}

export const DEFAULT_GUARDS: GuardOptions = {
  noSpeechThreshold: 0.6,
  logProbThreshold: -1.0,
  compressionRatioThreshold: 2.4,
  noSpeechAfterFallbackThreshold: 0.5,
  silenceDbfs: -70,
};

export interface WindowStats {
  noSpeechProb: number;
  avgLogprob: number;
  compressionRatio: number;
  temperature: number;
  /** no temperature gave an acceptable decode */
  exhaustedFallback: boolean;
}

export type WindowVerdict = 'speech' | 'no-speech' | 'loop';

export function rmsDbfs(pcm: Float32Array, start = 0, end = pcm.length): number {
  let sum = 0;
  const from = Math.max(0, start);
  const to = Math.min(pcm.length, end);
  for (let i = from; i < to; i++) sum += pcm[i] * pcm[i];
  const rms = to > from ? Math.sqrt(sum / (to - from)) : 0;
  return rms > 0 ? 20 * Math.log10(rms) : -Infinity;
}

export function isSilent(pcm: Float32Array, start: number, end: number, guards: GuardOptions): boolean {
  return guards.silenceDbfs !== null && rmsDbfs(pcm, start, end) < guards.silenceDbfs;
}

export function judgeWindow(stats: WindowStats, guards: GuardOptions): WindowVerdict {
  const leansSilent = guards.noSpeechThreshold !== null && stats.noSpeechProb > guards.noSpeechThreshold;
  const unlikely = guards.logProbThreshold !== null && stats.avgLogprob < guards.logProbThreshold;
  if (leansSilent && unlikely) return 'no-speech';
  if (
    guards.noSpeechAfterFallbackThreshold !== null &&
    stats.noSpeechProb > guards.noSpeechAfterFallbackThreshold &&
    (stats.temperature > 0 || stats.exhaustedFallback)
  ) {
    return 'no-speech';
  }
  if (
    stats.exhaustedFallback &&
    guards.compressionRatioThreshold !== null &&
    stats.compressionRatio > guards.compressionRatioThreshold
  ) {
    return 'loop';
  }
  return 'speech';
}

/**
 * Cuts a repetition loop at the end of a token sequence: when the tail is the same block of
 * up to maxBlock tokens repeated at least minRepeats times, one copy is kept.
 */
export function cutRepetitionLoop(tokens: readonly number[], maxBlock = 12, minRepeats = 4): number[] {
  for (let block = 1; block <= maxBlock; block++) {
    let repeats = 1;
    let start = tokens.length - block;
    while (start - block >= 0 && sameBlock(tokens, start - block, start, block)) {
      repeats++;
      start -= block;
    }
    if (repeats >= minRepeats) return tokens.slice(0, start + block);
  }
  return [...tokens];
}

function sameBlock(tokens: readonly number[], a: number, b: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (tokens[a + i] !== tokens[b + i]) return false;
  return true;
}

/**
 * Where a continuation starts restating the end of the text it was forced to continue (a run
 * of at least minWords words equal to the prefix's last words), or -1: after its final words,
 * the model sometimes reads the utterance again instead of ending it.
 */
export function prefixEchoStart(prefixWords: readonly string[], continuationWords: readonly string[], minWords = 4): number {
  for (let k = Math.min(prefixWords.length, continuationWords.length); k >= minWords; k--) {
    const tail = prefixWords.slice(prefixWords.length - k);
    for (let i = 0; i + k <= continuationWords.length; i++) {
      if (tail.every((w, j) => w === continuationWords[i + j])) return i;
    }
  }
  return -1;
}

/**
 * The words before the first run of at least minRun consecutive words that each last less
 * than minSeconds: words the decoder wrote without audio to carry them. Cross-attention
 * alignment gives a spoken word at least a frame or two; when Whisper loops ("modern, in being
 * comparatively modern, in being comparatively ...") or restates its forced words past the
 * audio ("Ask not." again at the last frame), the extra words pile up on one frame. A single
 * short word is common ("a", "in"); two in a row on no audio are not, and what a cut drops
 * wrongly the utterance's second look decodes again (src/stream/session.ts).
 */
export function cutUnheardRun<W extends { start: number; end: number }>(words: readonly W[], minRun = 2, minSeconds = 0.03): W[] {
  let run = 0;
  for (let i = 0; i < words.length; i++) {
    run = words[i].end - words[i].start < minSeconds ? run + 1 : 0;
    if (run >= minRun) return words.slice(0, i + 1 - run);
  }
  return [...words];
}
