// The two decodes a live session asks of the engine. A final decode is the offline algorithm
// over the utterance's audio (30 s windows, timestamps, temperature fallback, guards), so
// finals are as accurate as file transcription. An interim decode trades accuracy for cost:
// one window only as long as the audio needs (rounded up, at least 10 s, since Whisper was
// trained on 30 s windows and degrades on much shorter ones), greedy, no timestamps, a token
// budget proportional to the audio, no fallback.
import { WindowDecoder } from './decoder.js';
import { logMelSpectrogram, melWindow, WINDOW_FRAMES, FRAMES_PER_SECOND } from './features.js';
import { cutRepetitionLoop, DEFAULT_GUARDS, isSilent, judgeWindow } from './guards.js';
import { transcribe, type Segment } from './transcribe.js';
import type { WhisperModel } from './whisper.js';

export interface LiveDecodeRequest {
  /** 16 kHz mono audio of the utterance so far */
  pcm: Float32Array;
  /** text already final in this stream, conditioning the decode (bounded here) */
  previousText: string;
  language: string | null;
}

export interface InterimWord {
  word: string;
  /** seconds from the start of the request's audio, from cross-attention alignment */
  start: number;
  end: number;
  confidence: number;
}

export interface InterimHypothesis {
  text: string;
  confidence: number;
  words: InterimWord[];
}

export interface FinalTranscript {
  segments: Segment[];
  language: string | null;
}

const INTERIM_MIN_FRAMES = 10 * FRAMES_PER_SECOND;
const INTERIM_FRAME_BUCKET = 5 * FRAMES_PER_SECOND;
const INTERIM_TOKENS_PER_SECOND = 6;
const PROMPT_WORDS = 60;

export class LiveDecoder {
  private readonly windowDecoder: WindowDecoder;

  constructor(private readonly model: WhisperModel) {
    this.windowDecoder = new WindowDecoder(model);
  }

  async final(request: LiveDecodeRequest): Promise<FinalTranscript> {
    const result = await transcribe(this.model, request.pcm, {
      language: this.languageFor(request.language),
      initialPrompt: boundedPrompt(request.previousText),
      urgency: 'flush',
    });
    return { segments: result.segments, language: result.language };
  }

  async interim(request: LiveDecodeRequest): Promise<InterimHypothesis | null> {
    const { model } = this;
    if (isSilent(request.pcm, 0, request.pcm.length, DEFAULT_GUARDS)) return null;
    const mel = await logMelSpectrogram(model, request.pcm);
    const content = Math.min(WINDOW_FRAMES, mel.contentFrames);
    const frames = Math.min(
      WINDOW_FRAMES,
      Math.max(INTERIM_MIN_FRAMES, Math.ceil(content / INTERIM_FRAME_BUCKET) * INTERIM_FRAME_BUCKET),
    );
    const window = model.native.createWindow();
    if (window < 0) throw new Error('KV pool exhausted: no window slot for an interim decode');
    try {
      // The newest audio matters most for an interim: past 30 s, decode the last 30 s.
      const start = Math.max(0, mel.contentFrames - WINDOW_FRAMES);
      await model.scheduler.encode(window, melWindow(mel, start, frames), frames, 'live');
      const prompt = boundedPrompt(request.previousText);
      const seconds = content / FRAMES_PER_SECOND;
      const result = await this.windowDecoder.decode(
        {
          window,
          previous: prompt ? model.tokenizer.encode(' ' + prompt) : [],
          language: this.languageFor(request.language),
          task: 'transcribe',
          withoutTimestamps: true,
          maxInitialTimestamp: null,
          suppressBlank: true,
          sampleLen: Math.min(model.info.nTextCtx / 2, Math.ceil(seconds * INTERIM_TOKENS_PER_SECOND) + 8),
          urgency: 'live',
          wordTimestamps: true,
          contentFrames: Math.min(frames, mel.contentFrames - start),
        },
        { temperature: 0, beamSize: 1, bestOf: 1, patience: 1, lengthPenalty: null, random: Math.random },
      );
      if (judgeWindow({ ...result, exhaustedFallback: false }, DEFAULT_GUARDS) !== 'speech') return null;
      const tokens = cutRepetitionLoop(result.tokens);
      const offsetS = start / FRAMES_PER_SECOND;
      const words: InterimWord[] = [];
      let kept = 0;
      for (const w of result.words ?? []) {
        kept += w.tokens.length;
        if (kept > tokens.length) break;
        const word = w.word.trim();
        if (word) words.push({ word, start: offsetS + w.start, end: offsetS + w.end, confidence: w.probability });
      }
      return { text: model.tokenizer.decode(tokens), confidence: Math.exp(result.avgLogprob), words };
    } finally {
      await model.native.releaseWindow(window);
    }
  }

  private languageFor(requested: string | null): string | null {
    return this.model.multilingual ? requested : 'en';
  }
}

function boundedPrompt(text: string): string {
  const words = text.trim().split(/\s+/).filter(Boolean);
  return words.slice(-PROMPT_WORDS).join(' ');
}
