// One live stream's pipeline after codec decoding. Audio accumulates after the last final;
// the VAD finds utterances; while one is open the session re-decodes it every hop for
// interim results, and at its end (endpoint silence, Finalize, CloseStream, or a length cap)
// decodes it with the offline algorithm for finals, then drops its audio.
//
// Why finals only at utterance boundaries: Whisper's word times are too coarse to cut audio
// mid-utterance without losing or repeating words, and decoding whole utterances keeps the
// streamed WER at the offline figure. Interims are stabilised by LocalAgreement-2 over
// successive hypotheses of the same utterance, so their settled prefix never flickers.
//
// State (one async worker per session, never two decodes at once):
//   idle ──speech──▶ in utterance ──endpoint/Finalize/cap──▶ flushing ──▶ idle
//     └──────────────────────── close ───────────────────────────────▶ closed
import type { LiveDecoder } from '../engine/live-decoder.js';
import type { Segment } from '../engine/transcribe.js';
import type { LiveSession, ResultWord, SessionEvent, SessionEventSink, SessionOptions } from './session-contract.js';
import { HypothesisStabilizer } from './stabilizer.js';
import { wordsFromSegment } from './timestamps.js';
import { VoiceActivityDetector } from './vad.js';

const SAMPLE_RATE = 16000;
/** New audio between interim decodes. */
const INTERIM_HOP_S = 1.0;
/** Audio kept before a detected speech start: detection lags onset by the minimum speech time. */
const PREROLL_S = 0.5;
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
  /** stream samples at which endpoints were detected and not yet flushed, oldest first */
  private endpoints: number[] = [];
  private finalizeWaiters: Array<() => void> = [];
  private lastInterimAt = 0;
  private emittedUntil = 0;
  private finalText = '';
  private readonly stabilizer = new HypothesisStabilizer();
  private lastWordEnd: number | null = null;
  private utteranceEndSent = true;
  private working = false;
  /** bumped by every flush, so that an interim decoded before it is recognised as stale */
  private generation = 0;
  /** an interim decode is on the device (possibly stale after a flush preempted it) */
  private interimInFlight = false;
  /** wakes the worker from waiting on an interim when a flush is requested */
  private flushRequested: (() => void) | null = null;
  private closed = false;
  private failure: Error | null = null;

  constructor(
    private readonly decoder: LiveDecoder,
    private readonly options: SessionOptions,
    private readonly emit: SessionEventSink,
    private readonly onError: (error: Error) => void = () => {},
  ) {
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

  /** Forgets audio before `sample`, keeping a pre-roll so the next utterance's onset survives. */
  private dropSilenceBefore(sample: number): void {
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
      const dueForInterim =
        this.options.interimResults &&
        this.inUtterance &&
        this.received - this.lastInterimAt >= INTERIM_HOP_S * SAMPLE_RATE;
      // One interim at a time per session, stale ones included, so a stream never holds more
      // engine slots than admission accounted for; the next pump starts the next one.
      if (!dueForInterim || this.interimInFlight) return;
      // A flush (someone waits for finals) need not wait for an interim already on the device:
      // it starts at once and the scheduler serves it first; the stale interim is dropped.
      const interim = this.interim(this.generation);
      this.interimInFlight = true;
      void interim
        .catch((err: unknown) => this.fail(err))
        .finally(() => {
          this.interimInFlight = false;
          this.pump();
        });
      await Promise.race([interim.catch(() => {}), new Promise<void>((resolve) => (this.flushRequested = resolve))]);
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

  private async interim(generation: number): Promise<void> {
    const { pcm, start, end } = this.snapshot();
    this.lastInterimAt = end;
    const hypothesis = await this.decoder.interim({ pcm, previousText: this.finalText, language: this.options.language });
    // A flush that started meanwhile finalised this audio: the interim is stale.
    if (!hypothesis || this.closed || generation !== this.generation || hypothesis.words.length === 0) return;
    const startS = start / SAMPLE_RATE;
    const shown = this.stabilizer.update(hypothesis.words.map((w) => w.word));
    const words: ResultWord[] = hypothesis.words.map((w, i) => ({
      word: shown[i].text,
      start: round(startS + w.start),
      end: round(startS + w.end),
      confidence: round(w.confidence),
      stability: shown[i].stability,
    }));
    this.emittedUntil = Math.max(this.emittedUntil, end);
    this.lastWordEnd = words[words.length - 1].end;
    this.emitResults(words, { isFinal: false, speechFinal: false, fromFinalize: false, start, end });
  }

  private async flushUtterance(flush: Flush): Promise<void> {
    this.generation++;
    const { pcm, start, end } = this.snapshot(flush.kind === 'endpoint' ? this.endpoints[0] : Infinity);
    const speech = this.vad.containsSpeech(start / SAMPLE_RATE, end / SAMPLE_RATE);
    let segments: Segment[] = [];
    if (speech && pcm.length > 0) {
      const result = await this.decoder.final({ pcm, previousText: this.finalText, language: this.options.language });
      segments = result.segments;
    }
    let cutAt = end;
    if (flush.kind === 'cap' && segments.length > 1) {
      // Keep the last segment's audio: the window may have cut it off mid-sentence.
      segments = segments.slice(0, -1);
      cutAt = start + Math.round(segments[segments.length - 1].end * SAMPLE_RATE);
    }
    const words: ResultWord[] = segments.flatMap((s) => wordsFromSegment(s, start / SAMPLE_RATE));
    const fromFinalize = flush.kind === 'finalize';
    if (words.length > 0 || fromFinalize) {
      this.emitResults(words, {
        isFinal: true,
        speechFinal: flush.kind === 'endpoint',
        fromFinalize,
        start,
        end: cutAt,
      });
    }
    if (words.length > 0) {
      this.finalText = `${this.finalText} ${words.map((w) => w.word).join(' ')}`.slice(-2000);
      this.lastWordEnd = words[words.length - 1].end;
      this.utteranceEndSent = false;
    }
    this.trimTo(cutAt);
    this.emittedUntil = Math.max(this.emittedUntil, cutAt);
    this.stabilizer.reset();
    this.lastInterimAt = cutAt;
    if (flush.kind !== 'cap') {
      // Endpoints detected after this flush's audio belong to the utterances that follow.
      this.endpoints = this.endpoints.filter((at) => at > end);
      this.inUtterance = this.vad.isSpeech || this.endpoints.length > 0;
    }
    this.checkUtteranceEnd();
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

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
