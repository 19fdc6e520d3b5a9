// One live stream's pipeline after codec decoding. The VAD finds utterances. While one is
// open the session re-decodes its open tail every hop: words on which two consecutive
// hypotheses agree become final at once (mid-utterance), the rest go out as interim results.
// At the utterance's end (endpoint silence, Finalize, CloseStream, or a length cap) the
// remaining words are decoded once more and go out as finals, and any speech left after the
// last word is decoded on its own. The session owns a StreamingWindow, the encoder window its
// decodes grow hop by hop, and gives it back when it closes.
//
// Final words are never revised: later decodes are forced to start with them and continue
// from there, while still hearing their audio, so early finals cost no cutting of audio at
// uncertain word boundaries. With the `context` policy an ended utterance stays in the window
// in the same way, as the next one's context, until a long pause or the window's length
// budget moves its words into the prompt; by default its words become prompt text at once.
// An utterance that ends before any of its words became final is decoded on its own audio by
// the offline algorithm, as a file would be.
//
// State (one async worker per session; a hop in flight is dropped when a flush overtakes it):
//   idle ──speech──▶ in utterance (hops: commits + interims) ──endpoint/Finalize/cap──▶ flushing ──▶ idle
//     └──────────────────────────────────── close ────────────────────────────────────────────▶ closed
import { DEFAULT_GUARDS } from '../engine/guards.js';
import type { HypothesisWord, LiveDecoder } from '../engine/live-decoder.js';
import type { Segment } from '../engine/transcribe.js';
import { StreamingWindow } from '../engine/streaming-window.js';
import type { LiveSession, ResultWord, SessionEvent, SessionEventSink, SessionOptions } from './session-contract.js';
import { DEFAULT_STABILIZER, HypothesisStabilizer, type StabilizerPolicy } from './stabilizer.js';
import { wordsFromSegment } from './timestamps.js';
import { VoiceActivityDetector } from './vad.js';

const SAMPLE_RATE = 16000;
export interface CommitPolicy extends StabilizerPolicy {
  /** new audio between hypotheses of an open utterance: commits wait about two hops */
  hopS: number;
  /**
   * Past this much audio, final words leave the decoding window (they still prompt it): it
   * bounds what each hop encodes.
   */
  maxWindowS: number;
  /**
   * Keep an ended utterance in the window as the next one's context (CONTEXT_PAUSE_S). Off by
   * default until hypotheses after it can tell noise from speech: with the context in the
   * window, applause after the last word was committed as "See you next week." in one run of
   * three of the browser test.
   */
  keepContext: boolean;
}

export const DEFAULT_COMMIT_POLICY: CommitPolicy = { ...DEFAULT_STABILIZER, hopS: 0.4, maxWindowS: 20, keepContext: false };

/**
 * The selectable commit policies, by name (`npm run eval -- --live --policy NAME`); the
 * measurements that chose the default are in bench/RESULTS.md.
 */
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
  /** ended utterances stay in the window as context (long-form +0.31 against +1.65 at hop 0.5 s) */
  context: { ...DEFAULT_COMMIT_POLICY, keepContext: true },
  la3: { ...DEFAULT_COMMIT_POLICY, agreement: 3 },
  'guard-0.5s': { ...DEFAULT_COMMIT_POLICY, rightGuardS: 0.5 },
  'guard-1s': { ...DEFAULT_COMMIT_POLICY, rightGuardS: 1 },
  'la3-guard-0.5s': { ...DEFAULT_COMMIT_POLICY, agreement: 3, rightGuardS: 0.5 },
  /** nothing final before the utterance ends: the accuracy bound of the utterance decode */
  'endpoint-only': { ...DEFAULT_COMMIT_POLICY, rightGuardS: Infinity },
};

/** Audio kept before a detected speech start: detection lags onset by the minimum speech time. */
const PREROLL_S = 0.5;
/**
 * An ended utterance stays in the decoding window (its words forced, its audio heard) as the
 * next utterance's context until a pause this long; then its words become prompt text. Whisper
 * decodes a sentence better with the speech before it in its window, as offline it always has:
 * dropping the window at every endpoint made live accuracy depend on the client's
 * `endpointing` (bench/RESULTS.md).
 */
const CONTEXT_PAUSE_S = 5;
/** A stream's opening audio kept until its first speech is found (see dropSilenceBefore). */
const STREAM_OPENING_S = 3;
/** Speech before a hypothesis' first word beyond this means the decoder skipped words. */
const MAX_SKIPPED_SPEECH_S = 0.5;
/** Alignment may start a word a little after its onset. */
const WORD_ONSET_SLACK_S = 0.2;
/** Speech heard after an utterance's last word beyond this is decoded again on its own. */
const MIN_UNCOVERED_SPEECH_S = 0.4;
/** Alignment may end a word a little before its audio does. */
const WORD_END_SLACK_S = 0.2;
/** An utterance longer than this is finalised at its last complete segment. */
const MAX_UTTERANCE_S = 25;
/** Endpointing used only to find utterance boundaries when the client disabled endpointing. */
const SILENT_SPLIT_MS = 800;

type Flush = { kind: 'endpoint' } | { kind: 'finalize'; done: Array<() => void> } | { kind: 'cap' };

export class StreamingSession implements LiveSession {
  private buffer = new Float32Array(SAMPLE_RATE * 32);
  private bufferLength = 0;
  /** stream sample index of buffer[0] */
  private bufferStart = 0;
  private received = 0;
  private readonly vad: VoiceActivityDetector;
  private inUtterance = false;
  /** the VAD has found speech in this stream */
  private heardSpeech = false;
  /** stream samples at which endpoints were detected and not yet flushed, oldest first */
  private endpoints: number[] = [];
  private finalizeWaiters: Array<() => void> = [];
  private lastHopAt = 0;
  /** the open utterance's final words, which every later decode of it must start with */
  private committed: Array<{ word: ResultWord; tokens: number[] }> = [];
  /** how many of `committed` are ended utterances' words, kept as context (CONTEXT_PAUSE_S) */
  private contextWords = 0;
  /** where the next word is believed to start, from the latest hypothesis (stream samples) */
  private openTailStart: number | null = null;
  private emittedUntil = 0;
  private finalText = '';
  private readonly stabilizer: HypothesisStabilizer;
  /** the stream's encoder window, when the decoder's policy grows one hop by hop */
  private readonly liveWindow = new StreamingWindow();
  private lastWordEnd: number | null = null;
  private utteranceEndSent = true;
  private working = false;
  /** bumped by every flush, so that a hop decoded before it is recognised as stale */
  private generation = 0;
  /** a hop's decode is on the device (possibly stale after a flush preempted it) */
  private hopInFlight = false;
  /** wakes the worker from waiting on a hop when a flush is requested */
  private flushRequested: (() => void) | null = null;
  private closed = false;
  private failure: Error | null = null;

  constructor(
    private readonly decoder: LiveDecoder,
    private readonly options: SessionOptions,
    private readonly emit: SessionEventSink,
    private readonly onError: (error: Error) => void = () => {},
    private readonly policy: CommitPolicy = DEFAULT_COMMIT_POLICY,
  ) {
    this.stabilizer = new HypothesisStabilizer(policy);
    this.vad = new VoiceActivityDetector({ endpointingMs: options.endpointingMs ?? SILENT_SPLIT_MS });
  }

  get receivedSeconds(): number {
    return this.received / SAMPLE_RATE;
  }

  get lagSeconds(): number {
    const pending = this.inUtterance || this.endpoints.length > 0 || this.working;
    return pending ? Math.max(0, (this.received - this.emittedUntil) / SAMPLE_RATE) : 0;
  }

  pushAudio(samples: Float32Array): void {
    if (this.closed || samples.length === 0) return;
    this.append(samples);
    for (const event of this.vad.process(samples)) {
      if (event.type === 'speech_start') {
        this.inUtterance = true;
        this.heardSpeech = true;
        this.utteranceEndSent = true;
        if (this.options.vadEvents) this.emit({ type: 'speech_started', timestamp: round(event.atS) });
      } else if (this.inUtterance) {
        // Cut where the endpoint was known, not where this chunk ends: the next utterance may
        // already have started in the rest of the chunk, or by the time the flush runs.
        this.endpoints.push(Math.min(this.received, Math.round(event.detectedAtS * SAMPLE_RATE)));
      }
    }
    if (!this.inUtterance && this.endpoints.length === 0 && !this.working) this.dropSilenceBefore(this.received);
    this.checkUtteranceEnd();
    this.pump();
  }

  finalize(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.finalizeWaiters.push(resolve);
      this.pump();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.finalize();
    this.closed = true;
    await this.liveWindow.release();
  }

  async abort(): Promise<void> {
    // The client is gone but its audio is not: finals still reach the transport's sink.
    await this.close();
  }

  private append(samples: Float32Array): void {
    if (this.bufferLength + samples.length > this.buffer.length) {
      const grown = new Float32Array(Math.max(this.buffer.length * 2, this.bufferLength + samples.length));
      grown.set(this.buffer.subarray(0, this.bufferLength));
      this.buffer = grown;
    }
    this.buffer.set(samples, this.bufferLength);
    this.bufferLength += samples.length;
    this.received += samples.length;
  }

  /** Final words leave the window: they become prompt text, as Whisper's earlier text. */
  private releaseContext(): void {
    this.contextWords = 0;
    if (this.committed.length === 0) return;
    this.finalText = appendText(this.finalText, this.committed.map((c) => c.word.word));
    this.committed = [];
  }

  /** Forgets audio before `sample`, keeping a pre-roll so the next utterance's onset survives. */
  private dropSilenceBefore(sample: number): void {
    if (this.committed.length > 0) {
      if (sample - this.committedEnd() < CONTEXT_PAUSE_S * SAMPLE_RATE) return;
      this.releaseContext();
    }
    // Until the first speech the VAD is still learning the background from the stream's
    // first frames, and a talker heard from the first frame on is taken for it until a pause:
    // the opening seconds stay, so that the first utterance's decode hears its first words.
    if (!this.heardSpeech && sample <= STREAM_OPENING_S * SAMPLE_RATE) return;
    const keepFrom = Math.max(this.bufferStart, sample - PREROLL_S * SAMPLE_RATE);
    this.trimTo(keepFrom);
    this.emittedUntil = Math.max(this.emittedUntil, keepFrom);
  }

  private trimTo(sample: number): void {
    const drop = Math.min(this.bufferLength, Math.max(0, Math.floor(sample - this.bufferStart)));
    if (drop === 0) return;
    this.buffer.copyWithin(0, drop, this.bufferLength);
    this.bufferLength -= drop;
    this.bufferStart += drop;
    this.vad.forgetBefore(this.bufferStart / SAMPLE_RATE);
  }

  private checkUtteranceEnd(): void {
    const gapMs = this.options.utteranceEndMs;
    if (gapMs === null || this.utteranceEndSent || this.lastWordEnd === null || this.vad.isSpeech) return;
    if (this.received / SAMPLE_RATE - this.lastWordEnd >= gapMs / 1000) {
      this.utteranceEndSent = true;
      this.emit({ type: 'utterance_end', lastWordEnd: round(this.lastWordEnd) });
    }
  }

  private nextFlushDue(): boolean {
    return (
      this.finalizeWaiters.length > 0 ||
      this.endpoints.length > 0 ||
      (this.inUtterance && this.bufferLength > MAX_UTTERANCE_S * SAMPLE_RATE)
    );
  }

  private nextFlush(): Flush | null {
    if (this.finalizeWaiters.length > 0) {
      const done = this.finalizeWaiters;
      this.finalizeWaiters = [];
      return { kind: 'finalize', done };
    }
    if (this.endpoints.length > 0) return { kind: 'endpoint' };
    if (this.inUtterance && this.bufferLength > MAX_UTTERANCE_S * SAMPLE_RATE) return { kind: 'cap' };
    return null;
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = err instanceof Error ? err : new Error(String(err));
    for (const done of this.finalizeWaiters.splice(0)) done();
    this.onError(this.failure);
  }

  private pump(): void {
    if (this.nextFlushDue()) this.flushRequested?.();
    if (this.working || this.failure) return;
    this.working = true;
    void this.work()
      .catch((err: unknown) => this.fail(err))
      .finally(() => {
        this.working = false;
        // Work may have arrived between the loop's last check and now.
        if (!this.failure && this.nextFlushDue()) this.pump();
      });
  }

  private async work(): Promise<void> {
    for (;;) {
      const flush = this.nextFlush();
      if (flush) {
        await this.flushUtterance(flush);
        if (flush.kind === 'finalize') for (const done of flush.done) done();
        continue;
      }
      const dueForHop = this.inUtterance && this.received - this.lastHopAt >= this.policy.hopS * SAMPLE_RATE;
      // One hop at a time per session, stale ones included, so a stream never holds more
      // engine slots than admission accounted for; the next pump starts the next one.
      if (!dueForHop || this.hopInFlight) return;
      // A flush (someone waits for finals) need not wait for a hop already on the device:
      // it starts at once and the scheduler serves it first; the stale hop is dropped.
      const hop = this.hop(this.generation);
      this.hopInFlight = true;
      void hop
        .catch((err: unknown) => this.fail(err))
        .finally(() => {
          this.hopInFlight = false;
          this.pump();
        });
      await Promise.race([hop.catch(() => {}), new Promise<void>((resolve) => (this.flushRequested = resolve))]);
      this.flushRequested = null;
    }
  }

  private snapshot(until = Infinity): { pcm: Float32Array; start: number; end: number } {
    const length = Math.max(0, Math.min(this.bufferLength, until - this.bufferStart));
    return {
      pcm: this.buffer.slice(0, length),
      start: this.bufferStart,
      end: this.bufferStart + length,
    };
  }

  /** Stream sample where the final words' audio ends (the utterance's start when none are). */
  private committedEnd(): number {
    const last = this.committed[this.committed.length - 1];
    return last ? Math.max(this.bufferStart, Math.round(last.word.end * SAMPLE_RATE)) : this.bufferStart;
  }

  private decodeOpenTail(pcm: Float32Array, start: number, purpose: 'live' | 'final') {
    return this.decoder.hypothesis({
      pcm,
      previousText: this.finalText,
      language: this.options.language,
      prefixTokens: this.committed.flatMap((c) => c.tokens),
      prefixEndS: (this.committedEnd() - start) / SAMPLE_RATE,
      purpose,
      stream: { window: this.liveWindow, originSample: start },
    });
  }

  private async hop(generation: number): Promise<void> {
    this.slideWindow();
    const { pcm, start, end } = this.snapshot();
    this.lastHopAt = end;
    const hypothesis = await this.decodeOpenTail(pcm, start, 'live');
    // A flush that started meanwhile finalised this audio: the hypothesis is stale.
    if (!hypothesis || this.closed || generation !== this.generation || hypothesis.words.length === 0) return;
    const words = hypothesis.words.map((w) => toStreamWord(w, start));
    // Whisper sometimes drops the first words after a pause; once the words after them were
    // final, nothing could bring them back. A hypothesis whose first word starts after speech
    // the VAD heard since the last final word commits nothing: a later one, or the
    // utterance's last decode, covers that speech.
    const skipped = this.vad.speechSecondsIn(this.committedEnd() / SAMPLE_RATE, words[0].start - WORD_ONSET_SLACK_S);
    const { commit, stability } = this.stabilizer.update(words, end / SAMPLE_RATE, skipped <= MAX_SKIPPED_SPEECH_S);
    this.emittedUntil = Math.max(this.emittedUntil, end);
    if (commit > 0) {
      const spanStart = Math.min(this.committedEnd(), Math.round(words[0].start * SAMPLE_RATE));
      for (let i = 0; i < commit; i++) this.committed.push({ word: words[i], tokens: hypothesis.words[i].tokens });
      const finals = words.slice(0, commit);
      this.lastWordEnd = finals[finals.length - 1].end;
      this.emitResults(finals, {
        isFinal: true,
        speechFinal: false,
        fromFinalize: false,
        start: spanStart,
        end: this.committedEnd(),
      });
    }
    const open = words.slice(commit).map((w, i) => ({ ...w, stability: stability[commit + i] }));
    this.openTailStart = open.length > 0 ? Math.round(open[0].start * SAMPLE_RATE) : null;
    if (open.length === 0 || !this.options.interimResults) return;
    this.lastWordEnd = open[open.length - 1].end;
    const openStart = Math.min(this.committedEnd(), Math.round(open[0].start * SAMPLE_RATE));
    this.emitResults(open, { isFinal: false, speechFinal: false, fromFinalize: false, start: openStart, end });
  }

  /**
   * Keeps a long utterance's decoding window bounded: final words older than the window's
   * budget leave it (cut where the next word starts) and become prompt text.
   */
  private slideWindow(): void {
    if (this.bufferLength <= this.policy.maxWindowS * SAMPLE_RATE || this.committed.length === 0) return;
    const cut = Math.min(this.openTailStart ?? this.committedEnd(), this.committedEnd() + 0.1 * SAMPLE_RATE);
    this.releaseContext();
    this.trimTo(cut);
    this.emittedUntil = Math.max(this.emittedUntil, cut);
  }

  private async flushUtterance(flush: Flush): Promise<void> {
    this.generation++;
    this.slideWindow();
    const { pcm, start, end } = this.snapshot(flush.kind === 'endpoint' ? this.endpoints[0] : Infinity);
    let spanStart = this.committedEnd();
    const speech = this.vad.containsSpeech(spanStart / SAMPLE_RATE, end / SAMPLE_RATE);
    let words: ResultWord[] = [];
    let cutAt = end;
    if (this.committed.length > this.contextWords) {
      // Final words hold the window's start: the rest must fit one window after them.
      if (speech && end > spanStart) {
        const hypothesis = await this.decodeOpenTail(pcm, start, 'final');
        words = (hypothesis?.words ?? []).map((w) => toStreamWord(w, start));
        if (words.length > 0) spanStart = Math.min(spanStart, Math.round(words[0].start * SAMPLE_RATE));
      }
    } else if (speech && pcm.length > 0) {
      // Nothing of this utterance is final yet: it is decoded on its own audio by the offline
      // algorithm, whose no-speech judgement sees only it (with the context in the window,
      // noise after speech, such as applause, reads as speech and comes back as "See you next
      // week."); the context's words are its prompt.
      const own = Math.max(0, Math.min(pcm.length, spanStart - start));
      const ownPcm = pcm.subarray(own);
      const previousText = appendText(this.finalText, this.committed.map((c) => c.word.word));
      let { segments } = await this.decoder.final({ pcm: ownPcm, previousText, language: this.options.language });
      // Right after speech, what follows is as often applause or a room as a new sentence: a
      // segment stays only where no-speech probability alone says speech, as in the second
      // look below ("Thank you." on the crowd after JFK's last word: 0.74).
      if (this.committed.length > 0) segments = heardAsSpeech(segments);
      const ownStart = start + own;
      if (flush.kind === 'cap' && segments.length > 1) {
        // Keep the last segment's audio: the window may have cut it off mid-sentence.
        segments = segments.slice(0, -1);
        cutAt = ownStart + Math.round(segments[segments.length - 1].end * SAMPLE_RATE);
      }
      words = withinAudio(segments.flatMap((s) => wordsFromSegment(s, ownStart / SAMPLE_RATE)), cutAt);
    }
    words = [...words, ...(await this.decodeUncovered(pcm, start, cutAt, [...this.committed.map((c) => c.word), ...words]))];
    const fromFinalize = flush.kind === 'finalize';
    if (words.length > 0 || fromFinalize) {
      this.emitResults(words, {
        isFinal: true,
        speechFinal: flush.kind === 'endpoint',
        fromFinalize,
        start: spanStart,
        end: cutAt,
      });
    }
    const utterance = [...this.committed.map((c) => c.word), ...words];
    if (utterance.length > 0) {
      this.lastWordEnd = utterance[utterance.length - 1].end;
      this.utteranceEndSent = false;
    }
    if (flush.kind === 'cap' || !this.policy.keepContext) {
      this.releaseContext();
      this.finalText = appendText(this.finalText, words.map((w) => w.word));
      this.trimTo(cutAt);
    } else {
      // The utterance stays in the window as the next one's context: its words become the
      // forced prefix and its audio stays, so an endpoint ends a result, not what the decoder
      // hears (see CONTEXT_PAUSE_S).
      for (const w of words) this.committed.push({ word: w, tokens: this.decoder.wordTokens(w.word) });
    }
    this.contextWords = this.committed.length;
    this.openTailStart = null;
    this.emittedUntil = Math.max(this.emittedUntil, cutAt);
    this.stabilizer.reset();
    this.lastHopAt = cutAt;
    if (flush.kind !== 'cap') {
      // Endpoints detected after this flush's audio belong to the utterances that follow.
      this.endpoints = this.endpoints.filter((at) => at > end);
      // A pause inside the next utterance is not its end: only an endpoint ends it.
      this.inUtterance = this.vad.inUtterance || this.endpoints.length > 0;
    }
    this.checkUtteranceEnd();
  }

  /**
   * No speech is dropped at an utterance's end: when the utterance's words (final ones and
   * those of its last decode) stop short of speech that the VAD heard before `cutAt` (the
   * decoder ended early, after a sentence's full stop; a repeated phrase was taken for an
   * echo of the forced words), the audio after the last word is decoded again on its own, by
   * the offline algorithm, with the utterance so far as prompt. Whatever that decode judges
   * to be no speech, or whose no-speech probability alone leans to silence, is the stated
   * non-speech decision for that audio.
   */
  private async decodeUncovered(pcm: Float32Array, start: number, cutAt: number, said: ResultWord[]): Promise<ResultWord[]> {
    const last = said.at(-1);
    const coveredUntil = last ? Math.round(last.end * SAMPLE_RATE) : this.bufferStart;
    const uncovered = this.vad.speechSecondsIn(coveredUntil / SAMPLE_RATE + WORD_END_SLACK_S, cutAt / SAMPLE_RATE);
    if (uncovered < MIN_UNCOVERED_SPEECH_S) return [];
    // One look, over all of it: a second would only restate what the first timed loosely.
    const from = Math.max(start, coveredUntil);
    const rest = pcm.subarray(from - start, cutAt - start);
    const previousText = appendText(this.finalText, said.map((w) => w.word));
    const { segments } = await this.decoder.final({ pcm: rest, previousText, language: this.options.language });
    // A second look at audio that the utterance's decode passed over is weaker evidence than
    // a first (noise after a last word otherwise comes back as "Thank you.").
    return withinAudio(heardAsSpeech(segments).flatMap((seg) => wordsFromSegment(seg, from / SAMPLE_RATE)), cutAt);
  }

  private emitResults(
    words: ResultWord[],
    span: { isFinal: boolean; speechFinal: boolean; fromFinalize: boolean; start: number; end: number },
  ): void {
    const event: SessionEvent = {
      type: 'results',
      isFinal: span.isFinal,
      speechFinal: span.speechFinal,
      fromFinalize: span.fromFinalize,
      start: round(span.start / SAMPLE_RATE),
      duration: round((span.end - span.start) / SAMPLE_RATE),
      transcript: words.map((w) => w.word).join(' '),
      confidence: words.length > 0 ? round(words.reduce((s, w) => s + w.confidence, 0) / words.length) : 0,
      words,
      lag: round(this.lagSeconds),
    };
    this.emit(event);
  }
}

/**
 * The segments whose no-speech probability alone says speech: the stricter gate for decodes
 * that weaker evidence started (a second look, an utterance right after speech), where
 * Whisper's own gate (no-speech and a low log-probability together) lets applause through.
 */
function heardAsSpeech(segments: Segment[]): Segment[] {
  const threshold = DEFAULT_GUARDS.noSpeechThreshold ?? 1;
  return segments.filter((seg) => seg.noSpeechProb <= threshold);
}

/**
 * Words timed from segments, kept inside the audio that was decoded: a segment's closing
 * timestamp can lie past the audio's end (Whisper times a window's last segment against the
 * padded window), and a final word timed in the future would hold every later decode back.
 */
function withinAudio(words: ResultWord[], endSample: number): ResultWord[] {
  const endS = round(endSample / SAMPLE_RATE);
  return words.map((w) => (w.end <= endS ? w : { ...w, start: Math.min(w.start, endS), end: endS }));
}

function toStreamWord(w: HypothesisWord, startSample: number): ResultWord {
  const offset = startSample / SAMPLE_RATE;
  return { word: w.word, start: round(offset + w.start), end: round(offset + w.end), confidence: round(w.confidence) };
}

/** The prompt text: what the stream said so far, bounded (the decoder keeps its last words). */
function appendText(text: string, words: readonly string[]): string {
  return `${text} ${words.join(' ')}`.slice(-2000);
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
