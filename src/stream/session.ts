// One live stream's pipeline after codec decoding: the thin async driver around the session's
// state machine (src/stream/session-step.ts, where the utterance logic and its diagram live).
// The driver keeps the stream's audio and its VAD, runs the decodes the machine asks for on
// the shared engine (one at a time per session, besides a stale hop that a flush overtook),
// feeds their results back, and delivers the events. It owns a StreamingWindow, the encoder
// window its hops grow, and gives it back when it closes.
import type { LiveDecoder } from '../engine/live-decoder.js';
import { StreamingWindow } from '../engine/streaming-window.js';
import { DEFAULT_COMMIT_POLICY, type CommitPolicy } from './commit-policy.js';
import type { LiveSession, SessionEventSink, SessionOptions } from './session-contract.js';
import {
  flushDue,
  initialState,
  isRequestedFlush,
  lagSamples,
  SAMPLE_RATE,
  SessionPhase,
  step,
  type DecodeCommand,
  type RequestedFlush,
  type SessionConfig,
  type SessionInput,
  type SessionState,
} from './session-step.js';
import { VoiceActivityDetector } from './vad.js';

/** Endpointing used only to find utterance boundaries when the client disabled endpointing. */
const SILENT_SPLIT_MS = 800;

export class StreamingSession implements LiveSession {
  private state: SessionState = initialState();
  private readonly config: SessionConfig;
  /** the stream's audio from state.bufferStart on */
  private buffer = new Float32Array(SAMPLE_RATE * 32);
  private bufferLength = 0;
  private readonly vad: VoiceActivityDetector;
  /** the stream's encoder window, when the decoder's policy grows one hop by hop */
  private readonly liveWindow = new StreamingWindow();
  /** Finalize/CloseStream callers waiting for the next flush, and those the current one serves */
  private finalizeWaiters: Array<() => void> = [];
  private servedWaiters: Array<() => void> = [];
  private working = false;
  /**
   * The hop or speech check on the device (possibly stale after a flush overtook it). A check
   * holds a window slot of its own, so a flush's decodes that need one wait for it: a stream
   * holds no more slots than admission reserves (STREAM_SLOTS).
   */
  private inFlight: { kind: 'hop' | 'check'; settled: Promise<void> } | null = null;
  /** wakes the worker from waiting on a hop when a flush is due */
  private flushRequested: (() => void) | null = null;
  private failure: Error | null = null;

  constructor(
    private readonly decoder: LiveDecoder,
    private readonly options: SessionOptions,
    private readonly emit: SessionEventSink,
    private readonly onError: (error: Error) => void = () => {},
    policy: CommitPolicy = DEFAULT_COMMIT_POLICY,
  ) {
    this.config = {
      policy,
      interimResults: options.interimResults,
      vadEvents: options.vadEvents,
      utteranceEndMs: options.utteranceEndMs,
      wordTokens: (word) => decoder.wordTokens(word),
    };
    this.vad = new VoiceActivityDetector({ endpointingMs: options.endpointingMs ?? SILENT_SPLIT_MS });
  }

  get receivedSeconds(): number {
    return this.state.received / SAMPLE_RATE;
  }

  get lagSeconds(): number {
    return lagSamples(this.state) / SAMPLE_RATE;
  }

  private get closed(): boolean {
    return this.state.phase === SessionPhase.Closed;
  }

  pushAudio(samples: Float32Array): void {
    if (this.closed || samples.length === 0) return;
    this.append(samples);
    this.apply({ type: 'audio', samples: samples.length, vad: this.vad.process(samples) });
    this.pump();
  }

  /** A client's Finalize: everything received becomes finals, the last marked from_finalize. */
  finalize(): Promise<void> {
    return this.requestFlush('finalize');
  }

  private requestFlush(by: RequestedFlush): Promise<void> {
    // After a failure nothing more is decoded; the transport has been told (onError).
    if (this.closed || this.failure) return Promise.resolve();
    return new Promise((resolve) => {
      this.finalizeWaiters.push(resolve);
      this.apply({ type: 'finalize', by });
      this.pump();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.requestFlush('close');
    // A stale hop may still be on the device and take the streaming window again.
    await this.inFlight?.settled;
    this.apply({ type: 'close' });
    await this.liveWindow.release();
  }

  async abort(): Promise<void> {
    // The client is gone but its audio is not: finals still reach the transport's sink.
    await this.close();
  }

  /** Steps the machine and carries out its commands; returns its decode, if it asked for one. */
  private apply(input: SessionInput): DecodeCommand | null {
    const { state, commands } = step(this.state, input, this.vad, this.config);
    this.state = state;
    for (const command of commands) {
      switch (command.type) {
        case 'emit':
          this.emit(command.event);
          break;
        case 'trim':
          this.trimTo(command.before);
          break;
        case 'flush-started':
          if (isRequestedFlush(command.kind)) this.servedWaiters = this.finalizeWaiters.splice(0);
          break;
        case 'flush-done':
          if (isRequestedFlush(command.kind)) for (const done of this.servedWaiters.splice(0)) done();
          break;
        default:
          return command;
      }
    }
    return null;
  }

  private append(samples: Float32Array): void {
    if (this.bufferLength + samples.length > this.buffer.length) {
      const grown = new Float32Array(Math.max(this.buffer.length * 2, this.bufferLength + samples.length));
      grown.set(this.buffer.subarray(0, this.bufferLength));
      this.buffer = grown;
    }
    this.buffer.set(samples, this.bufferLength);
    this.bufferLength += samples.length;
  }

  /** Lets audio before `sample` go; the machine has already moved its bufferStart there. */
  private trimTo(sample: number): void {
    const kept = this.state.received - sample;
    this.buffer.copyWithin(0, this.bufferLength - kept, this.bufferLength);
    this.bufferLength = kept;
    this.vad.forgetBefore(sample / SAMPLE_RATE);
  }

  /** A copy of stream audio [from, until): the buffer moves under a decode in flight. */
  private audio(from: number, until: number): Float32Array {
    const start = this.state.received - this.bufferLength;
    return this.buffer.slice(from - start, until - start);
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = err instanceof Error ? err : new Error(String(err));
    for (const done of [...this.servedWaiters.splice(0), ...this.finalizeWaiters.splice(0)]) done();
    this.onError(this.failure);
  }

  private pump(): void {
    if (flushDue(this.state)) this.flushRequested?.();
    if (this.working || this.failure) return;
    this.working = true;
    void this.work()
      .catch((err: unknown) => this.fail(err))
      .finally(() => {
        this.working = false;
        // Work may have arrived between the loop's last check and now.
        if (!this.failure && flushDue(this.state)) this.pump();
      });
  }

  private async work(): Promise<void> {
    for (;;) {
      let decode = this.apply({ type: 'work', hopInFlight: this.inFlight !== null });
      if (!decode) return;
      if (decode.type === 'check-speech' || (decode.type === 'decode-tail' && decode.purpose === 'live')) {
        // A flush (someone waits for finals) need not wait for a hop already on the device:
        // it starts at once and the scheduler serves it first; the stale hop is dropped.
        const hop = decode.type === 'check-speech' ? this.checkSpeech(decode) : this.hop(decode);
        const inFlight = { kind: decode.type === 'check-speech' ? ('check' as const) : ('hop' as const), settled: hop.catch(() => {}) };
        this.inFlight = inFlight;
        void hop
          .catch((err: unknown) => this.fail(err))
          .finally(() => {
            if (this.inFlight === inFlight) this.inFlight = null;
            this.pump();
          });
        await Promise.race([hop.catch(() => {}), new Promise<void>((resolve) => (this.flushRequested = resolve))]);
        this.flushRequested = null;
        continue;
      }
      // A flush: its decodes run in turn, each result deciding the next.
      if (this.inFlight?.kind === 'check') await this.inFlight.settled;
      while (decode) {
        if (decode.type === 'check-speech') throw new Error('a speech check inside a flush');
        decode = this.apply(await this.run(decode));
      }
    }
  }

  private async hop(command: Extract<DecodeCommand, { type: 'decode-tail' }>): Promise<void> {
    const hypothesis = await this.decodeTail(command);
    this.apply({ type: 'hypothesis', generation: command.generation, origin: command.from, end: command.until, words: hypothesis?.words ?? null });
  }

  private async checkSpeech(command: Extract<DecodeCommand, { type: 'check-speech' }>): Promise<void> {
    const judgement = await this.decoder.judgeSpeech({
      pcm: this.audio(command.from, command.until),
      previousText: command.previousText,
      language: this.options.language,
      keyterms: this.options.keyterms,
    });
    this.apply({ type: 'speech-checked', generation: command.generation, judgement });
  }

  private async run(command: Exclude<DecodeCommand, { type: 'check-speech' }>): Promise<SessionInput> {
    if (command.type === 'decode-tail') {
      const hypothesis = await this.decodeTail(command);
      return { type: 'tail-decoded', origin: command.from, words: hypothesis?.words ?? null };
    }
    const { segments } = await this.decodeOwn(command);
    const type = command.type === 'decode-own' ? 'own-decoded' : 'second-look-decoded';
    return { type, from: command.from, segments };
  }

  /** The offline algorithm on stream audio [from, until) alone. */
  private decodeOwn(command: { from: number; until: number; previousText: string }) {
    return this.decoder.final({
      pcm: this.audio(command.from, command.until),
      previousText: command.previousText,
      language: this.options.language,
      keyterms: this.options.keyterms,
    });
  }

  private decodeTail(command: Extract<DecodeCommand, { type: 'decode-tail' }>) {
    return this.decoder.hypothesis({
      pcm: this.audio(command.from, command.until),
      previousText: command.previousText,
      language: this.options.language,
      keyterms: this.options.keyterms,
      prefixTokens: command.prefixTokens,
      prefixEndS: (command.prefixEnd - command.from) / SAMPLE_RATE,
      purpose: command.purpose,
      stream: { window: this.liveWindow, originSample: command.from },
    });
  }
}
