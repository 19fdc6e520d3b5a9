// What a transport (WebSocket, WebRTC) sees of one live transcription session. The session
// owns the stream pipeline after codec decoding: VAD and endpointing, windowed decoding on
// the shared engine, hypothesis stabilisation; it reports protocol-neutral events that the
// transport renders in its wire format. Times are seconds of stream audio from the first
// sample the client sent.
import type { FinalsMode } from './commit-policy.js';
import type { Word } from './stabilizer.js';

export interface SessionOptions {
  /** send interim (unstable) results */
  interimResults: boolean;
  /** when words become final (src/stream/commit-policy.ts); absent: early */
  finals?: FinalsMode;
  /** silence that ends an utterance (speech_final); null: only Finalize/CloseStream end one */
  endpointingMs: number | null;
  /** gap after the last word that triggers an utterance_end event; null disables it */
  utteranceEndMs: number | null;
  /** send speech_started events */
  vadEvents: boolean;
  /** Whisper language code; null detects it (multilingual models) */
  language: string | null;
  /**
   * The stream's finals are kept whether or not its client stays (a transcript sink, a
   * callback): when the client goes, what it sent is still owed, so it is decoded, at the
   * lowest urgency under overload, never dropped.
   */
  finalsOwed?: boolean;
  /** terms every decode is prompted with (Deepgram's keyterm; src/engine/keyterms.ts) */
  keyterms?: readonly string[];
}

export interface ResultWord extends Word {
  /** consecutive hypotheses that kept this interim word (absent on finals) */
  stability?: number;
}

export type SessionEvent =
  | {
      type: 'results';
      isFinal: boolean;
      /** the utterance ended at an endpoint (VAD silence) */
      speechFinal: boolean;
      /** produced by a Finalize or CloseStream request */
      fromFinalize: boolean;
      /** span of stream audio the result covers */
      start: number;
      duration: number;
      transcript: string;
      confidence: number;
      words: ResultWord[];
      /** seconds of received audio not yet transcribed (DESIGN.md "lag") */
      lag: number;
    }
  | { type: 'speech_started'; timestamp: number }
  | { type: 'utterance_end'; lastWordEnd: number };

export interface LiveSession {
  /** 16 kHz mono samples, in order; never blocks, work happens as the engine gets to it */
  pushAudio(samples: Float32Array): void;
  /** decode everything received so far and emit it as finals (fromFinalize); stays open */
  finalize(): Promise<void>;
  /** finalize, then release engine resources; no events after the promise settles */
  close(): Promise<void>;
  /** release engine resources at once (client vanished); returns finals that were pending, if any */
  abort(): Promise<void>;
  /** seconds of audio received */
  readonly receivedSeconds: number;
  /** DESIGN.md lag: received audio minus audio whose results have been emitted */
  readonly lagSeconds: number;
}

export type SessionEventSink = (event: SessionEvent) => void;

/** How full the engine is, for probes, metrics and clients deciding where to connect. */
export interface CapacitySnapshot {
  sessionsActive: number;
  /** the most sessions admitted at once (the operator's limit or what KV memory covers) */
  sessionsMax: number;
  /** p95 DESIGN.md lag of the admitted sessions whose lag reflects compute, seconds */
  lagP95S: number;
  /** whether a session asked for now would be admitted */
  accepting: boolean;
}

/** Creates sessions on a shared engine; refuses (throws CapacityError) when the device is full. */
export interface SessionFactory {
  /**
   * Throws CapacityError when the device is full and RangeError for options the model cannot
   * serve (a language an English-only model lacks). onError reports a failure of the session's
   * pipeline after creation; the session is unusable afterwards.
   */
  create(options: SessionOptions, onEvent: SessionEventSink, onError?: (error: Error) => void): LiveSession;
  /** sessions alive now */
  readonly activeSessions: number;
  readonly modelName: string;
  capacity(): CapacitySnapshot;
}

export class CapacityError extends Error {
  readonly code = 'capacity_exceeded';
  constructor(message: string) {
    super(message);
    this.name = 'CapacityError';
  }
}
