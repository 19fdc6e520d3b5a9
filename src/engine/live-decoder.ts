// The decodes a live session asks of the engine.
//
// A hypothesis continues an open utterance after the words already made final: they are forced
// as the transcript's start, so the model hears all of the utterance's audio but only decides
// what follows them. Hypotheses see a window only as long as the audio needs (rounded up, at
// least 10 s, since Whisper was trained on 30 s windows and degrades on much shorter ones).
// By default that window is the stream's StreamingWindow, grown by encoding only the audio
// since the last hop (src/engine/streaming-window.ts), and the utterance's last hypothesis
// reads it too; the `full` policy encodes every hypothesis' window afresh and the last one
// padded to 30 s (bench/live-policy.ts compares them). All are greedy, without timestamp
// tokens, with words timed by cross-attention and a token budget proportional to the audio.
//
// An utterance that ends before any of its words became final is decoded by the offline
// algorithm (30 s windows, timestamps, temperature fallback, guards), as file transcription.
import { words as normalizedWords } from '../text/normalize.js';
import { promptRoom, WindowDecoder } from './decoder.js';
import { FRAMES_PER_SECOND, HOP_SAMPLES, logMelSpectrogram, melWindow, SAMPLE_RATE, WINDOW_FRAMES, type LogMel } from './features.js';
import { cutRepetitionLoop, cutUnheardRun, DEFAULT_GUARDS, isSilent, judgeWindow, prefixEchoStart } from './guards.js';
import type { PromptCache } from './prompt-cache.js';
import type { Urgency } from './scheduler-step.js';
import type { StreamingWindow } from './streaming-window.js';
import { promptWithKeyterms } from './keyterms.js';
import { transcribe, type Segment } from './transcribe.js';
import type { WhisperModel } from './whisper.js';

export interface LiveDecodeRequest {
  /** 16 kHz mono audio of the utterance so far */
  pcm: Float32Array;
  /** text already final in this stream, conditioning the decode (bounded here) */
  previousText: string;
  language: string | null;
  /** the stream's keyterms, leading every prompt (src/engine/keyterms.ts) */
  keyterms?: readonly string[];
  /**
   * 'batch': no one waits for this decode live (a gone client's backlog owed to a transcript
   * sink), so it runs below every live stream's work; default: the decode's own urgency
   */
  urgency?: 'batch';
}

export interface HypothesisRequest extends LiveDecodeRequest {
  /** tokens of the utterance's words already final: the transcript must start with them */
  prefixTokens: readonly number[];
  /** seconds into pcm where the prefix's audio ends */
  prefixEndS: number;
  /**
   * The stream's own encoder window, grown hop by hop when the policy encodes incrementally;
   * originSample: the stream sample of pcm[0] (a new origin restarts the window).
   */
  stream?: { window: StreamingWindow; originSample: number };
  /**
   * 'live': served after flushes; 'final': the utterance's last hypothesis, served first (in a
   * padded 30 s window when the policy's finalWindow is 'padded').
   */
  purpose: 'live' | 'final';
}

export interface HypothesisWord {
  word: string;
  /** seconds from the start of the request's audio, from cross-attention alignment */
  start: number;
  end: number;
  confidence: number;
  /** the word's tokens, punctuation included, to extend a forced prefix with */
  tokens: number[];
  /** seconds from the start of the request's audio: its tokens' latest cross-attention peak */
  peak?: number;
}

/** The words after the request's prefix. */
export interface Hypothesis {
  confidence: number;
  words: HypothesisWord[];
}

/** Audio heard alone, judged: Whisper's no-speech probability and the start of a greedy decode. */
export interface SpeechJudgement {
  noSpeechProb: number;
  text: string;
}

export interface FinalTranscript {
  segments: Segment[];
  language: string | null;
}

export interface LiveWindowPolicy {
  /** shortest window a live hypothesis is encoded in, seconds (shorter ones lose accuracy) */
  minWindowS: number;
  /** live windows grow in steps of this many seconds */
  windowStepS: number;
  /** the last hypothesis of an utterance: a padded 30 s window, or one sized as live ones */
  finalWindow: 'padded' | 'live';
  /**
   * 'full': every hypothesis encodes its window afresh; 'incremental': live ones grow the
   * stream's StreamingWindow (only new audio is encoded; no padding to minWindowS).
   */
  encoder: 'full' | 'incremental';
  /** incremental: seconds of the newest audio encoded again at the next hop, with more after it */
  lookaheadS: number;
  /** incremental: the prompt (earlier text) is fed once per utterance, not every hop (src/engine/prompt-cache.ts) */
  reusePrompt: boolean;
  /**
   * incremental: seconds of digital silence after the audio that every hop encodes for real
   * (its log-mel is the floor, as the reference front end pads audio), attending over the
   * audio as a window encoded afresh would; past them the window holds a silent window's
   * states, which never heard this audio.
   */
  paddingS: number;
}

export const DEFAULT_LIVE_WINDOW: LiveWindowPolicy = {
  minWindowS: 10,
  windowStepS: 5,
  finalWindow: 'live',
  encoder: 'incremental',
  lookaheadS: 1,
  reusePrompt: true,
  paddingS: 2,
};

/** Every hypothesis encodes its window afresh, the last one padded to 30 s (the old default). */
export const FULL_ENCODE_LIVE_WINDOW: LiveWindowPolicy = { ...DEFAULT_LIVE_WINDOW, finalWindow: 'padded', encoder: 'full' };

/** The selectable window policies, by name (`npm run eval -- --live --window NAME`). */
export const LIVE_WINDOWS: Record<string, LiveWindowPolicy> = {
  default: DEFAULT_LIVE_WINDOW,
  'full-encode': FULL_ENCODE_LIVE_WINDOW,
  'final-padded': { ...DEFAULT_LIVE_WINDOW, finalWindow: 'padded' },
  /** the streaming window before paddingS: past the audio, only a silent window's states */
  'silent-states': { ...DEFAULT_LIVE_WINDOW, paddingS: 0 },
  'padding-1s': { ...DEFAULT_LIVE_WINDOW, paddingS: 1 },
  'padding-4s': { ...DEFAULT_LIVE_WINDOW, paddingS: 4 },
};

const TOKENS_PER_SECOND = 6;
/** Enough tokens for a speech check to show a phrase looping ("Great. Great. Great."). */
const SPEECH_CHECK_TOKENS = 12;
const PROMPT_WORDS = 60;

export class LiveDecoder {
  private readonly windowDecoder: WindowDecoder;

  constructor(
    private readonly model: WhisperModel,
    private readonly window: LiveWindowPolicy = DEFAULT_LIVE_WINDOW,
  ) {
    this.windowDecoder = new WindowDecoder(model);
  }

  async final(request: LiveDecodeRequest): Promise<FinalTranscript> {
    const result = await transcribe(this.model, request.pcm, {
      language: this.languageFor(request.language),
      initialPrompt: boundedPrompt(request.previousText),
      keyterms: request.keyterms ?? [],
      urgency: request.urgency ?? 'flush',
    });
    return { segments: result.segments, language: result.language };
  }

  /**
   * Continues the utterance after its final words: they are forced as the transcript's start,
   * so the model hears their audio as context but never revises them. null: no speech.
   */
  async hypothesis(request: HypothesisRequest): Promise<Hypothesis | null> {
    const { model } = this;
    const { pcm, prefixTokens, purpose } = request;
    const prefixEnd = Math.min(pcm.length, Math.round(request.prefixEndS * SAMPLE_RATE));
    if (isSilent(pcm, prefixEnd, pcm.length, DEFAULT_GUARDS)) return null;
    const silence = this.streamed(request) ? Math.round((this.window.paddingS * SAMPLE_RATE) / HOP_SAMPLES) * HOP_SAMPLES : 0;
    const mel = await logMelSpectrogram(model, silence > 0 ? followedBySilence(pcm, silence) : pcm);
    const content = mel.contentFrames - silence / HOP_SAMPLES;
    if (content > WINDOW_FRAMES) throw new RangeError('a live hypothesis covers at most one 30 s window');
    const urgency = request.urgency ?? (purpose === 'final' ? 'flush' : 'live');
    const { window, promptCache, done } = await this.encode(request, mel, content, urgency);
    try {
      const openSeconds = (pcm.length - prefixEnd) / SAMPLE_RATE;
      const result = await this.windowDecoder.decode(
        {
          window,
          previous: this.prompt(request),
          language: this.languageFor(request.language),
          task: 'transcribe',
          withoutTimestamps: true,
          maxInitialTimestamp: null,
          // After final words, ending at once is the right answer when nothing more was said.
          suppressBlank: prefixTokens.length === 0,
          sampleLen: Math.min(model.info.nTextCtx / 2, Math.ceil(openSeconds * TOKENS_PER_SECOND) + 8),
          urgency,
          wordTimestamps: true,
          contentFrames: content,
          forcedPrefix: prefixTokens,
          prefixEndS: prefixEnd / SAMPLE_RATE,
          promptCache,
        },
        { temperature: 0, beamSize: 1, bestOf: 1, patience: 1, lengthPenalty: null, random: Math.random },
      );
      if (judgeWindow({ ...result, exhaustedFallback: false }, DEFAULT_GUARDS) !== 'speech') return null;
      const tokens = cutRepetitionLoop(result.tokens);
      const words: HypothesisWord[] = [];
      let kept = 0;
      for (const w of result.words ?? []) {
        kept += w.tokens.length;
        if (kept > tokens.length) break;
        const word = w.word.trim();
        if (word) words.push({ word, start: w.start, end: w.end, confidence: w.probability, tokens: w.tokens, peak: w.peak });
      }
      return { confidence: Math.exp(result.avgLogprob), words: cutUnheardRun(withoutPrefixEcho(model, prefixTokens, words)) };
    } finally {
      await done();
    }
  }

  /**
   * Judges audio alone (an utterance that follows a kept context): encoded in a window of the
   * live minimum (10 s, a third of the offline algorithm's 30 s window), with the stream's
   * earlier text as prompt, one greedy decode of a few tokens. The no-speech probability is
   * read where Whisper reads it, before the first token.
   */
  async judgeSpeech(request: LiveDecodeRequest): Promise<SpeechJudgement> {
    const { model } = this;
    const { pcm } = request;
    if (isSilent(pcm, 0, pcm.length, DEFAULT_GUARDS)) return { noSpeechProb: 1, text: '' };
    const mel = await logMelSpectrogram(model, pcm);
    const content = Math.min(WINDOW_FRAMES, mel.contentFrames);
    const minFrames = Math.round(this.window.minWindowS * FRAMES_PER_SECOND);
    const step = Math.round(this.window.windowStepS * FRAMES_PER_SECOND);
    const frames = Math.min(WINDOW_FRAMES, Math.max(minFrames, Math.ceil(content / step) * step));
    const handle = model.native.createWindow();
    if (handle < 0) throw new Error('KV pool exhausted: no window slot for a speech check');
    try {
      // The audio's last 30 s when it is longer: what was heard most recently decides.
      const from = Math.max(0, mel.contentFrames - WINDOW_FRAMES);
      await model.scheduler.encode(handle, melWindow(mel, from, frames), frames, request.urgency ?? 'live');
      const result = await this.windowDecoder.decode(
        {
          window: handle,
          previous: this.prompt(request),
          language: this.languageFor(request.language),
          task: 'transcribe',
          withoutTimestamps: true,
          maxInitialTimestamp: null,
          suppressBlank: true,
          sampleLen: SPEECH_CHECK_TOKENS,
          urgency: request.urgency ?? 'live',
          wordTimestamps: false,
          contentFrames: content,
        },
        { temperature: 0, beamSize: 1, bestOf: 1, patience: 1, lengthPenalty: null, random: Math.random },
      );
      return { noSpeechProb: result.noSpeechProb, text: result.text };
    } finally {
      await model.native.releaseWindow(handle);
    }
  }

  /**
   * A final word's tokens, for forcing it as a later decode's prefix when the decode that
   * wrote it (the offline algorithm's segments) did not keep them: its text as Whisper spells
   * it after a space, which is how the model writes a word.
   */
  wordTokens(word: string): number[] {
    return this.model.tokenizer.encode(` ${word}`);
  }

  /**
   * Encodes a hypothesis' window: the stream's StreamingWindow grown by its new audio (with
   * the stream's prompt cache), or a window of its own. `done` hands the stream's window on,
   * or releases the own one.
   */
  private async encode(
    request: HypothesisRequest,
    mel: LogMel,
    content: number,
    urgency: Urgency,
  ): Promise<{ window: number; promptCache?: PromptCache; done: () => Promise<void> }> {
    const { model, window: policy } = this;
    const minFrames = Math.round(policy.minWindowS * FRAMES_PER_SECOND);
    const step = Math.round(policy.windowStepS * FRAMES_PER_SECOND);
    const liveFrames = Math.min(WINDOW_FRAMES, Math.max(minFrames, Math.ceil(content / step) * step));
    const stream = this.streamed(request) ? request.stream : undefined;
    if (stream) {
      const handOn = await stream.window.acquire();
      try {
        // The audio and the silence after it that mel holds (paddingS), in whole encoder frames.
        const computed = Math.min(WINDOW_FRAMES, mel.contentFrames);
        const frames = computed + (computed % 2);
        const keep = Math.floor((content - policy.lookaheadS * FRAMES_PER_SECOND) / 2);
        const handle = await stream.window.encode(
          model,
          melWindow(mel, 0, frames),
          frames,
          stream.originSample,
          Math.max(frames, liveFrames) / 2,
          keep,
          urgency,
        );
        const promptCache = policy.reusePrompt ? stream.window.prompt : undefined;
        return { window: handle, promptCache, done: async () => handOn() };
      } catch (error) {
        handOn();
        throw error;
      }
    }
    const frames = request.purpose === 'final' && policy.finalWindow === 'padded' ? WINDOW_FRAMES : liveFrames;
    const handle = model.native.createWindow();
    if (handle < 0) throw new Error('KV pool exhausted: no window slot for a live decode');
    try {
      await model.scheduler.encode(handle, melWindow(mel, 0, frames), frames, urgency);
    } catch (error) {
      await model.native.releaseWindow(handle);
      throw error;
    }
    return { window: handle, done: () => model.native.releaseWindow(handle) };
  }

  /** Whether a hypothesis grows the stream's own window rather than encoding one afresh. */
  private streamed(request: HypothesisRequest): boolean {
    const padded = request.purpose === 'final' && this.window.finalWindow === 'padded';
    return !padded && this.window.encoder === 'incremental' && request.stream !== undefined;
  }

  /** The decode's previous-text tokens: the keyterms, then the stream's recent text. */
  private prompt(request: LiveDecodeRequest): number[] {
    const text = boundedPrompt(request.previousText);
    const history = text ? this.model.tokenizer.encode(' ' + text) : [];
    return promptWithKeyterms(this.model.tokenizer, request.keyterms ?? [], history, promptRoom(this.model));
  }

  private languageFor(requested: string | null): string | null {
    return this.model.multilingual ? requested : 'en';
  }
}

/** The words before any restatement of the forced prefix's end (see prefixEchoStart). */
function withoutPrefixEcho(model: WhisperModel, prefixTokens: readonly number[], words: HypothesisWord[]): HypothesisWord[] {
  if (prefixTokens.length === 0 || words.length === 0) return words;
  // Normalised words, each remembering the hypothesis word it came from.
  const said: string[] = [];
  const owner: number[] = [];
  words.forEach((w, i) => {
    for (const n of normalizedWords(w.word)) {
      said.push(n);
      owner.push(i);
    }
  });
  const echo = prefixEchoStart(normalizedWords(model.tokenizer.decode([...prefixTokens])), said);
  return echo < 0 ? words : words.slice(0, owner[echo]);
}

function followedBySilence(pcm: Float32Array, samples: number): Float32Array {
  const out = new Float32Array(pcm.length + samples);
  out.set(pcm);
  return out;
}

function boundedPrompt(text: string): string {
  const words = text.trim().split(/\s+/).filter(Boolean);
  return words.slice(-PROMPT_WORDS).join(' ');
}
