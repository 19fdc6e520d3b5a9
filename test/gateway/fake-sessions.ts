// A SessionFactory test double for the transport tests: sessions that answer audio with simple
// deterministic events, so the tests exercise the socket handling without a model. Test-only.
import {
  CapacityError,
  type CapacitySnapshot,
  type LiveSession,
  type SessionEvent,
  type SessionEventSink,
  type SessionFactory,
  type SessionOptions,
} from '../../src/stream/session-contract.js';

const SAMPLE_RATE = 16000;

type ResultsEvent = Extract<SessionEvent, { type: 'results' }>;

export class FakeSession implements LiveSession {
  received = 0;
  emittedUntil = 0;
  finals = 0;
  finalizeCalls = 0;
  closed = false;
  aborted = false;
  /** When set, pushAudio throws it, as a broken pipeline would. */
  failOnAudio: Error | null = null;
  /** Delays close() so that tests can act while a CloseStream is being flushed. */
  closeDelayMs = 0;

  constructor(
    readonly options: SessionOptions,
    private readonly emit: SessionEventSink,
    private readonly release: () => void,
  ) {}

  get receivedSeconds(): number {
    return this.received / SAMPLE_RATE;
  }

  get lagSeconds(): number {
    return (this.received - this.emittedUntil) / SAMPLE_RATE;
  }

  pushAudio(samples: Float32Array): void {
    if (this.failOnAudio) throw this.failOnAudio;
    this.received += samples.length;
    if (this.options.interimResults) {
      this.emit(this.results(false, false, `heard ${this.receivedSeconds.toFixed(1)}`));
    }
  }

  async finalize(): Promise<void> {
    this.finalizeCalls++;
    this.emitFinal(true);
  }

  async close(): Promise<void> {
    if (this.closeDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.closeDelayMs));
    // As the real session: a close's finals answer no Finalize.
    this.emitFinal(false);
    this.closed = true;
    this.release();
  }

  async abort(): Promise<void> {
    this.aborted = true;
    this.release();
  }

  /** Emits a result directly, for tests that need many or large ones at once. */
  emitResult(isFinal: boolean, transcript: string): void {
    this.emit(this.results(isFinal, false, transcript));
  }

  private emitFinal(fromFinalize: boolean): void {
    if (this.received <= this.emittedUntil) return;
    this.finals++;
    this.emit(this.results(true, fromFinalize, `final ${this.finals}`));
    this.emittedUntil = this.received;
  }

  private results(isFinal: boolean, fromFinalize: boolean, transcript: string): ResultsEvent {
    const start = this.emittedUntil / SAMPLE_RATE;
    const end = this.receivedSeconds;
    return {
      type: 'results',
      isFinal,
      speechFinal: false,
      fromFinalize,
      start,
      duration: end - start,
      transcript,
      confidence: 0.9,
      words: [{ word: transcript.split(' ')[0], start, end, confidence: 0.9, ...(isFinal ? {} : { stability: 1 }) }],
      lag: this.lagSeconds,
    };
  }
}

export class FakeSessionFactory implements SessionFactory {
  readonly sessions: FakeSession[] = [];
  private active = 0;

  constructor(
    readonly modelName = 'fake.en',
    private readonly maxSessions = 100,
  ) {}

  get activeSessions(): number {
    return this.active;
  }

  /** The fake has no compute to run short of, so only the session limit refuses. */
  capacity(): CapacitySnapshot {
    return {
      sessionsActive: this.active,
      sessionsMax: this.maxSessions,
      lagP95S: 0,
      accepting: this.active < this.maxSessions,
    };
  }

  create(options: SessionOptions, onEvent: SessionEventSink): LiveSession {
    if (this.active >= this.maxSessions) throw new CapacityError(`all ${this.maxSessions} sessions are in use`);
    this.active++;
    let released = false;
    const session = new FakeSession(options, onEvent, () => {
      if (!released) this.active--;
      released = true;
    });
    this.sessions.push(session);
    return session;
  }
}
