// Offline long-form transcription: 30 s windows that advance by the timestamps the model
// predicts, conditioning each window on the text before it, with temperature fallback when a
// window's output looks like a loop (compression ratio) or a guess (mean log-probability).
import type { AlignedWord } from './alignment.js';
import { promptRoom, WindowDecoder, type SearchOptions, type WindowResult, type WindowTask } from './decoder.js';
import { FRAMES_PER_SECOND, HOP_SAMPLES, logMelSpectrogram, melWindow, WINDOW_FRAMES } from './features.js';
import { cutRepetitionLoop, DEFAULT_GUARDS, isSilent, judgeWindow, type GuardOptions } from './guards.js';
import { promptWithKeyterms } from './keyterms.js';
import type { Urgency } from './scheduler-step.js';
import type { WhisperModel } from './whisper.js';

export interface TranscribeOptions extends GuardOptions {
  language: string | null;
  task: 'transcribe' | 'translate';
  beamSize: number;
  bestOf: number;
  patience: number;
  lengthPenalty: number | null;
  temperatures: number[];
  conditionOnPreviousText: boolean;
  /** previous text conditioning stops after a window decoded above this temperature */
  promptResetOnTemperature: number;
  initialPrompt: string | null;
  /** terms that lead every window's prompt (src/engine/keyterms.ts) */
  keyterms: readonly string[];
  withoutTimestamps: boolean;
  maxInitialTimestamp: number;
  suppressBlank: boolean;
  /** seeds the sampler so that runs are repeatable */
  seed: number;
  /** 'flush' when someone waits for this transcript now (a live utterance's finals) */
  urgency: Urgency;
  /** time each word by cross-attention alignment: every segment gets `words` */
  wordTimestamps: boolean;
  onProgress?: (doneSeconds: number, totalSeconds: number) => void;
}

export const DEFAULT_TRANSCRIBE_OPTIONS: TranscribeOptions = {
  language: null,
  task: 'transcribe',
  beamSize: 1,
  bestOf: 5,
  patience: 1,
  lengthPenalty: null,
  temperatures: [0, 0.2, 0.4, 0.6, 0.8, 1.0],
  ...DEFAULT_GUARDS,
  conditionOnPreviousText: true,
  promptResetOnTemperature: 0.5,
  initialPrompt: null,
  keyterms: [],
  withoutTimestamps: false,
  maxInitialTimestamp: 1.0,
  suppressBlank: true,
  seed: 0,
  urgency: 'live',
  wordTimestamps: false,
};

export interface Segment {
  start: number;
  end: number;
  text: string;
  tokens: number[];
  avgLogprob: number;
  noSpeechProb: number;
  compressionRatio: number;
  temperature: number;
  /** with `wordTimestamps`: seconds from the start of the audio, inside the segment's span */
  words?: AlignedWord[];
}

export interface Transcript {
  text: string;
  language: string | null;
  durationS: number;
  segments: Segment[];
}

/** Small deterministic generator (mulberry32) so sampling fallbacks are reproducible. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function transcribe(
  model: WhisperModel,
  pcm: Float32Array,
  overrides: Partial<TranscribeOptions> = {},
): Promise<Transcript> {
  const opts: TranscribeOptions = { ...DEFAULT_TRANSCRIBE_OPTIONS, ...overrides };
  const { tokenizer } = model;
  const special = tokenizer.special;
  const durationS = pcm.length / 16000;
  const mel = await logMelSpectrogram(model, pcm);
  const contentFrames = mel.contentFrames;
  const decoder = new WindowDecoder(model);
  const random = seededRandom(opts.seed);
  const window = model.native.createWindow();
  if (window < 0) throw new Error('KV pool exhausted: no window slot for encoding');

  const segments: Segment[] = [];
  const allTokens: number[] = opts.initialPrompt ? tokenizer.encode(' ' + opts.initialPrompt.trim()) : [];
  let promptResetSince = 0;
  let language = opts.language;
  let seek = 0;
  try {
    while (seek < contentFrames) {
      const timeOffset = seek / FRAMES_PER_SECOND;
      const segmentFrames = Math.min(WINDOW_FRAMES, contentFrames - seek);
      const segmentDuration = segmentFrames / FRAMES_PER_SECOND;
      const advanceWithoutText = () => {
        seek += segmentFrames;
        opts.onProgress?.(Math.min(durationS, seek / FRAMES_PER_SECOND), durationS);
      };
      if (isSilent(pcm, seek * HOP_SAMPLES, (seek + segmentFrames) * HOP_SAMPLES, opts)) {
        advanceWithoutText();
        continue;
      }
      const windowMel = melWindow(mel, seek);
      await model.scheduler.encode(window, windowMel, WINDOW_FRAMES, opts.urgency);

      const history = opts.conditionOnPreviousText || opts.initialPrompt ? allTokens.slice(promptResetSince) : [];
      const previous = promptWithKeyterms(tokenizer, opts.keyterms, history, promptRoom(model));
      const result = await decodeWithFallback(decoder, opts, random, {
        window,
        previous,
        language,
        task: opts.task,
        withoutTimestamps: opts.withoutTimestamps,
        maxInitialTimestamp: opts.maxInitialTimestamp,
        suppressBlank: opts.suppressBlank,
        sampleLen: Math.floor(model.info.nTextCtx / 2),
        urgency: opts.urgency,
        wordTimestamps: opts.wordTimestamps,
        contentFrames: segmentFrames,
      });
      language ??= result.language;

      if (judgeWindow(result, opts) !== 'speech') {
        advanceWithoutText();
        continue;
      }

      const tokens = cutRepetitionLoop(result.tokens);
      const isTs = tokens.map((t) => t >= special.timestampBegin);
      const singleTimestampEnding = tokens.length >= 2 && !isTs[tokens.length - 2] && isTs[tokens.length - 1];
      const pairs: number[] = [];
      for (let i = 1; i < tokens.length; i++) if (isTs[i] && isTs[i - 1]) pairs.push(i);

      // Words partition the window's text tokens in order; a segment takes those that begin in it.
      const words = result.words ?? [];
      const firstTextToken: number[] = [];
      let wordTokens = 0;
      for (const word of words) {
        firstTextToken.push(wordTokens);
        wordTokens += word.tokens.length;
      }
      let textTokensBefore = 0;
      const wordsWithin = (start: number, end: number, from: number, to: number): AlignedWord[] =>
        words
          .filter((_, k) => firstTextToken[k] >= from && firstTextToken[k] < to)
          .map((w) => ({ ...w, start: clamp(timeOffset + w.start, start, end), end: clamp(timeOffset + w.end, start, end) }));

      const pushSegment = (start: number, end: number, segTokens: number[]) => {
        const textTokens = segTokens.filter((t) => t < special.eot);
        const text = tokenizer.decode(textTokens);
        const from = textTokensBefore;
        textTokensBefore += textTokens.length;
        if (text.trim() === '') return;
        // The next window is conditioned on segments as Whisper wrote them, timestamps included:
        // a prompt of bare text leads the model to drop timestamps and run whole windows together.
        if (start !== end) allTokens.push(...segTokens);
        segments.push({
          start,
          end,
          text,
          tokens: textTokens,
          avgLogprob: result.avgLogprob,
          noSpeechProb: result.noSpeechProb,
          compressionRatio: result.compressionRatio,
          temperature: result.temperature,
          ...(result.words ? { words: wordsWithin(start, end, from, textTokensBefore) } : {}),
        });
      };

      if (pairs.length > 0) {
        const slices = singleTimestampEnding ? [...pairs, tokens.length] : pairs;
        let last = 0;
        for (const current of slices) {
          const sliced = tokens.slice(last, current);
          pushSegment(
            timeOffset + tokenizer.timestampSeconds(sliced[0]),
            timeOffset + tokenizer.timestampSeconds(sliced[sliced.length - 1]),
            sliced,
          );
          last = current;
        }
        if (singleTimestampEnding) {
          seek += segmentFrames;
        } else {
          // Resume at the last complete segment's end: what follows was cut off by the window.
          const lastTimestampStep = tokens[last - 1] - special.timestampBegin;
          seek += lastTimestampStep * 2;
        }
      } else {
        let duration = segmentDuration;
        const stamps = tokens.filter((t) => t >= special.timestampBegin);
        if (stamps.length > 0 && stamps[stamps.length - 1] !== special.timestampBegin) {
          duration = tokenizer.timestampSeconds(stamps[stamps.length - 1]);
        }
        pushSegment(timeOffset, timeOffset + duration, tokens);
        seek += segmentFrames;
      }
      if (!opts.conditionOnPreviousText || result.temperature > opts.promptResetOnTemperature) {
        promptResetSince = allTokens.length;
      }
      opts.onProgress?.(Math.min(durationS, seek / FRAMES_PER_SECOND), durationS);
    }
  } finally {
    await model.native.releaseWindow(window);
  }
  return {
    text: segments.map((s) => s.text).join(''),
    language,
    durationS,
    segments,
  };
}

async function decodeWithFallback(
  decoder: WindowDecoder,
  opts: TranscribeOptions,
  random: () => number,
  task: WindowTask,
): Promise<WindowResult & { exhaustedFallback: boolean }> {
  const attempts: WindowResult[] = [];
  for (const temperature of opts.temperatures) {
    const search: SearchOptions = {
      temperature,
      beamSize: temperature === 0 ? opts.beamSize : 1,
      bestOf: temperature > 0 ? opts.bestOf : 1,
      patience: opts.patience,
      lengthPenalty: opts.lengthPenalty,
      random,
    };
    const result = await decoder.decode(task, search);
    const tooRepetitive =
      opts.compressionRatioThreshold !== null && result.compressionRatio > opts.compressionRatioThreshold;
    const tooUnlikely = opts.logProbThreshold !== null && result.avgLogprob < opts.logProbThreshold;
    const silent = opts.noSpeechThreshold !== null && result.noSpeechProb > opts.noSpeechThreshold;
    // An unlikely decode of silence is expected: the window will be skipped, not retried.
    if (!(tooRepetitive || tooUnlikely) || (silent && tooUnlikely)) return { ...result, exhaustedFallback: false };
    attempts.push(result);
  }
  // Every temperature failed: prefer the most likely decode that is not a loop.
  const candidates = attempts.filter(
    (r) => opts.compressionRatioThreshold === null || r.compressionRatio <= opts.compressionRatioThreshold,
  );
  const pool = candidates.length > 0 ? candidates : attempts;
  return { ...pool.reduce((best, r) => (r.avgLogprob > best.avgLogprob ? r : best)), exhaustedFallback: true };
}

function clamp(x: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, x));
}
