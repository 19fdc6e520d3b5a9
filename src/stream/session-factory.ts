// Live sessions over one loaded model. Admission is decided here, before a session exists:
// each live session may hold one window and up to best-of-N hypothesis slots of the KV pool
// during a final decode, so the pool is sized for the admitted maximum and nothing fails
// mid-stream for lack of memory.
import { LiveDecoder } from '../engine/live-decoder.js';
import { DEFAULT_TRANSCRIBE_OPTIONS } from '../engine/transcribe.js';
import { WhisperModel } from '../engine/whisper.js';
import { CapacityError, type LiveSession, type SessionEventSink, type SessionFactory, type SessionOptions } from './session-contract.js';
import { StreamingSession } from './session.js';

export interface SessionFactoryOptions {
  model: string;
  threads?: number;
  /** live sessions admitted at once */
  maxSessions: number;
  /** extra pool room for file transcriptions running beside live sessions */
  fileJobs?: number;
}

export class WhisperSessionFactory implements SessionFactory {
  private active = 0;

  private constructor(
    readonly model: WhisperModel,
    readonly modelName: string,
    private readonly maxSessions: number,
    private readonly decoder: LiveDecoder,
  ) {}

  static async open(options: SessionFactoryOptions): Promise<WhisperSessionFactory> {
    const slots = options.maxSessions + (options.fileJobs ?? 1);
    const hypotheses = Math.max(DEFAULT_TRANSCRIBE_OPTIONS.bestOf, DEFAULT_TRANSCRIBE_OPTIONS.beamSize);
    const model = await WhisperModel.load(options.model, {
      threads: options.threads ?? 0,
      maxWindows: slots,
      maxSessions: slots * hypotheses,
    });
    return new WhisperSessionFactory(model, options.model, options.maxSessions, new LiveDecoder(model));
  }

  get activeSessions(): number {
    return this.active;
  }

  create(options: SessionOptions, onEvent: SessionEventSink, onError?: (error: Error) => void): LiveSession {
    if (this.active >= this.maxSessions) {
      throw new CapacityError(`all ${this.maxSessions} live sessions are in use; try again later`);
    }
    if (options.language && options.language !== 'en' && !this.model.multilingual) {
      throw new RangeError(`model ${this.modelName} is English-only; language "${options.language}" is not available`);
    }
    this.active++;
    const session = new StreamingSession(this.decoder, options, onEvent, onError);
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        this.active--;
      }
    };
    return {
      pushAudio: (samples) => session.pushAudio(samples),
      finalize: () => session.finalize(),
      close: () => session.close().finally(release),
      abort: () => session.abort().finally(release),
      get receivedSeconds() {
        return session.receivedSeconds;
      },
      get lagSeconds() {
        return session.lagSeconds;
      },
    };
  }

  close(): void {
    this.model.close();
  }
}
