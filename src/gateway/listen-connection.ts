/**
 * One open `/v1/listen` WebSocket: audio and control messages in, protocol messages out, over
 * a LiveSession that admission (listen.ts) already created. Everything the client can cause
 * is caught here and ends at most this connection (1011 for the server's own failures), so
 * no session can disturb another or the process.
 *
 * How a connection ends decides what happens to its results:
 *  - CloseStream (or an empty binary message): the session finalises, every result and then
 *    Metadata are sent, and the socket closes with 1000;
 *  - server shutdown: the same flush, then an Error `shutting_down` and 1001;
 *  - a protocol or audio error, an idle client, a client too slow to read: an Error message
 *    and the close code of ERROR_DISPOSITIONS; the session is aborted;
 *  - the client vanishes: the session is aborted.
 * Every final also goes to the transcript sink when it is produced, and a final that never
 * reached the socket is logged, so no final is lost silently whichever way the stream ends.
 */
import { isUtf8 } from 'node:buffer';
import { createHash, type Hash } from 'node:crypto';
import type { RawData, WebSocket } from 'ws';
import { AudioInputError, STREAM_SAMPLE_RATE, type AudioDecoder } from '../stream/audio-decoder.js';
import { withinPacing, type IngestPacing } from '../stream/admission.js';
import type { LiveSession, SessionEvent } from '../stream/session-contract.js';
import { ArrivalClock } from './arrival-clock.js';
import type { GatewayLog } from './log.js';
import type { GatewayMetrics } from './metrics.js';
import { DEFAULT_HIGH_WATER_BYTES, OutboundQueue, type OutboundKind } from './outbound-queue.js';
import {
  ERROR_DISPOSITIONS,
  NORMAL_CLOSE,
  parseClientMessage,
  ProtocolError,
  type ErrorCode,
  type ListenParams,
  type ParameterWarning,
} from './protocol.js';
import { encodeServerMessage, errorMessage, metadataMessage, type ModelInfo, type ServerMessage } from './protocol-messages.js';
import { renderResults, renderSessionEvent, SINGLE_CHANNEL as CHANNEL, finalSinkRecord, undeliveredFinalFields } from './result-rendering.js';
import type { TranscriptSink } from './transcript-sink.js';

export interface ConnectionSettings {
  idleTimeoutMs: number;
  maxOutboundMessages: number;
  maxOutboundBytes: number;
  ingestPacing: IngestPacing;
}

export interface ConnectionServices {
  metrics: GatewayMetrics;
  log: GatewayLog;
  sink: TranscriptSink | null;
}

export interface ConnectionSetup {
  requestId: string;
  params: ListenParams;
  model: ModelInfo;
  /** Parameter warnings plus any model substitution, for Metadata. */
  warnings: ParameterWarning[];
  decoder: AudioDecoder;
  settings: ConnectionSettings;
  services: ConnectionServices;
}

/** `completed` and `disconnected` besides the error codes; the label of chorus_sessions_total. */
type Outcome = 'completed' | 'disconnected' | 'websocket_error' | ErrorCode;

export class ListenConnection {
  private session: LiveSession | null = null;
  private socket: WebSocket | null = null;
  private queue: OutboundQueue<ServerMessage> | null = null;
  private readonly clock = new ArrivalClock();
  private readonly audioHash: Hash = createHash('sha256');
  private readonly created = new Date();
  private receivedSamples = 0;
  private firstAudioMs: number | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  /** Set once the connection is winding down; later client input is not acted on. */
  private closing = false;
  private audioAfterCloseReported = false;
  private release: Promise<void> | null = null;
  private outcome: Outcome | null = null;
  /** End of the last word already timed by an interim (interim latency counts a word once). */
  private interimTimedUntil = 0;
  private closedResolve!: () => void;
  /** Settles when the socket has closed and the session is released. */
  readonly closed = new Promise<void>((resolve) => (this.closedResolve = resolve));

  constructor(private readonly setup: ConnectionSetup) {}

  get requestId(): string {
    return this.setup.requestId;
  }

  /** The session is created before the socket opens, so the factory can refuse with an HTTP status. */
  bindSession(session: LiveSession): void {
    this.session = session;
  }

  /** The client went away during the handshake: the session never had a socket. */
  abandon(): void {
    this.releaseSession('abort');
  }

  open(socket: WebSocket): void {
    const { metrics } = this.setup.services;
    this.socket = socket;
    this.queue = new OutboundQueue<ServerMessage>(
      {
        get bufferedAmount() {
          return socket.bufferedAmount;
        },
        send: (data, written) => socket.send(data, { binary: typeof data !== 'string' }, written),
      },
      {
        maxMessages: this.setup.settings.maxOutboundMessages,
        maxBytes: this.setup.settings.maxOutboundBytes,
        highWaterBytes: DEFAULT_HIGH_WATER_BYTES,
      },
      {
        onDropped: (kind) => metrics.messagesDropped.inc({ kind }),
        onOverflow: () =>
          this.fail('slow_consumer', 'the client is not reading its results; more are waiting than the outbound limits allow'),
      },
    );
    socket.on('message', (data, isBinary) => this.guard(() => this.onMessage(data, isBinary)));
    socket.on('error', (error) => this.guard(() => this.onSocketError(error)));
    socket.on('close', () => this.guard(() => this.onSocketClosed()));
    this.resetIdleTimer();
  }

  /** Flushes finals, sends Error `shutting_down`, closes with 1001. */
  async shutdown(): Promise<void> {
    if (this.closing || this.socket === null) return this.closed;
    this.closing = true;
    this.outcome = 'shutting_down';
    await this.flushAndClose('shutting_down');
    return this.closed;
  }

  /** For shutdown's deadline: drops the socket without a close handshake. */
  terminate(): void {
    this.socket?.terminate();
  }

  // ---------------------------------------------------------------------------------------
  // Client input

  private async onMessage(data: RawData, isBinary: boolean): Promise<void> {
    // ws hands over one Buffer per message with the default binaryType.
    const bytes = data as Buffer;
    if (!isBinary) {
      // RFC 6455 closes a text message that is not UTF-8 with 1007 (listen.ts leaves the check here).
      if (!isUtf8(bytes)) return this.fail('malformed_message', 'a text message must be UTF-8 JSON; this one is not valid UTF-8', undefined, 1007);
      return this.onText(bytes.toString('utf8'));
    }
    if (bytes.length === 0) return this.closeStream();
    if (this.closing) {
      // A client streaming when the server begins to drain did nothing wrong: its audio up to
      // then is flushed, and the Error shutting_down that follows says why the rest is not.
      if (!this.audioAfterCloseReported && this.outcome === 'completed') {
        this.audioAfterCloseReported = true;
        this.reportError('audio_after_close', 'audio sent after CloseStream is ignored');
      }
      return;
    }
    this.resetIdleTimer();
    this.audioHash.update(bytes);
    const samples = this.setup.decoder.decode(bytes);
    this.checkPacing(samples.length);
    this.pushSamples(samples);
  }

  /** Audio far ahead of real time would queue minutes of work on the device every stream shares. */
  private checkPacing(samples: number): void {
    const now = Date.now();
    this.firstAudioMs ??= now;
    const pacing = this.setup.settings.ingestPacing;
    if (!withinPacing((this.receivedSamples + samples) / STREAM_SAMPLE_RATE, (now - this.firstAudioMs) / 1000, pacing)) {
      throw new ProtocolError(
        'ingest_too_fast',
        `audio is arriving faster than ${pacing.rate}x real time (more than ${pacing.burstS} s ahead); send it at the pace it is spoken`,
      );
    }
  }

  private async onText(text: string): Promise<void> {
    let message;
    try {
      message = parseClientMessage(text);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      return this.reportError(error.code, error.message, text);
    }
    if (this.closing) return;
    switch (message.type) {
      case 'KeepAlive':
        return this.resetIdleTimer();
      case 'Finalize':
        // Without multichannel the one channel is every channel, so `channel` changes nothing.
        this.resetIdleTimer();
        this.pushSamples(this.setup.decoder.flush());
        return this.session!.finalize();
      case 'CloseStream':
        return this.closeStream();
    }
  }

  private pushSamples(samples: Float32Array): void {
    if (samples.length === 0) return;
    const seconds = samples.length / STREAM_SAMPLE_RATE;
    this.receivedSamples += samples.length;
    this.clock.record(seconds, Date.now());
    this.setup.services.metrics.audioSeconds.inc(seconds);
    this.session!.pushAudio(samples);
  }

  private async closeStream(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.outcome = 'completed';
    await this.flushAndClose(null);
  }

  /**
   * The ends that keep results: finalise the session, let every result out, then Metadata
   * (CloseStream) or an Error (shutdown), then the close frame. A client that does not read
   * its last results within the idle timeout is treated as gone.
   */
  private async flushAndClose(errorCode: 'shutting_down' | null): Promise<void> {
    this.clearIdleTimer();
    this.pushSamples(this.setup.decoder.flush());
    await this.releaseSession('close');
    if (errorCode === null) {
      this.send(
        metadataMessage({
          requestId: this.requestId,
          sha256: this.audioHash.digest('hex'),
          created: this.created,
          duration: this.receivedSamples / STREAM_SAMPLE_RATE,
          channels: this.setup.params.channels,
          model: this.setup.model,
          extra: this.setup.params.extra,
          warnings: this.setup.warnings,
        }),
        'control',
      );
    } else {
      this.countError(errorCode);
      this.send(errorMessage({ code: errorCode, message: 'the server is shutting down' }, this.requestId), 'control');
    }
    const drained = await this.drainWithin(this.setup.settings.idleTimeoutMs);
    // Something else (a failure, the client leaving) may have ended the connection meanwhile.
    if (this.socket === null || this.outcome !== (errorCode ?? 'completed')) return;
    if (!drained) {
      return this.fail('slow_consumer', 'the client did not read its last results');
    }
    const code = errorCode === null ? NORMAL_CLOSE : ERROR_DISPOSITIONS[errorCode].closeCode!;
    this.socket.close(code, errorCode ?? '');
  }

  private async drainWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const drained = this.queue!.whenEmpty().then(() => true);
    try {
      return await Promise.race([drained, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Session events

  /** The session's event sink; bound before the socket exists. */
  readonly onSessionEvent = (event: SessionEvent): void => {
    try {
      this.renderEvent(event);
    } catch (error) {
      this.internalFailure(error);
    }
  };

  /** The session's pipeline failed after it was created: only this connection ends (1011). */
  readonly onSessionError = (error: Error): void => {
    this.internalFailure(error);
  };

  private renderEvent(event: SessionEvent): void {
    if (event.type !== 'results') return this.send(renderSessionEvent(event, this.setup), 'control');
    const message = renderResults(event, this.setup);
    if (event.isFinal) this.keepFinal(message);
    this.send(message, event.isFinal ? 'final' : 'interim', () => this.timeResult(event));
  }

  private keepFinal(message: ServerMessage): void {
    if (message.type !== 'Results') return;
    this.setup.services.sink?.write(finalSinkRecord(message, this.requestId, this.setup.model.name));
  }

  /** Server-side latency (metrics.ts): now minus the arrival of the audio holding each word's end. */
  private timeResult(event: Extract<SessionEvent, { type: 'results' }>): void {
    const { metrics } = this.setup.services;
    const now = Date.now();
    metrics.sessionLag.observe(event.lag);
    const histogram = event.isFinal ? metrics.finalLatency : metrics.interimLatency;
    for (const word of event.words) {
      if (!event.isFinal && word.end <= this.interimTimedUntil) continue;
      const arrival = this.clock.arrivalOf(word.end);
      if (arrival !== null) histogram.observe(Math.max(0, now - arrival) / 1000);
    }
    const lastEnd = event.words.at(-1)?.end;
    if (lastEnd === undefined) return;
    if (event.isFinal) {
      // Finals never overlap and later results lie after them, so earlier marks are done with.
      this.clock.forgetBefore(lastEnd);
    } else {
      this.interimTimedUntil = Math.max(this.interimTimedUntil, lastEnd);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Sending and ending

  private send(message: ServerMessage, kind: OutboundKind, onSent?: () => void): void {
    const data = encodeServerMessage(message, this.setup.params.resultEncoding);
    const taken = this.queue?.push({ payload: message, data, kind, lane: CHANNEL.channelIndex, onSent }) ?? false;
    if (!taken && kind === 'final') this.logUndelivered(message);
  }

  private logUndelivered(message: ServerMessage): void {
    if (message.type !== 'Results') return;
    this.setup.services.log('final_undelivered', undeliveredFinalFields(message, this.requestId));
  }

  /**
   * An error the client caused or suffers: an Error message, then the disposition's close.
   * `clientText`: the text message it is about, which Deepgram echoes.
   */
  private reportError(code: ErrorCode, description: string, clientText?: string): void {
    const closeCode = ERROR_DISPOSITIONS[code].closeCode;
    if (closeCode !== null) return this.fail(code, description, clientText);
    this.countError(code);
    this.send(errorMessage({ code, message: description }, this.requestId, clientText), 'control');
  }

  /**
   * Ends the connection for an error. Messages still queued would sit behind a backlog the
   * client may never read, so they are given up (their finals logged) and the Error goes
   * straight to the socket, ahead of the close frame.
   */
  private fail(code: ErrorCode, description: string, clientText?: string, closeCode = ERROR_DISPOSITIONS[code].closeCode ?? 1011): void {
    const socket = this.socket;
    // Only a graceful end in progress may turn into a failure; the first failure is the one reported.
    if (socket === null || (this.outcome !== null && this.outcome !== 'completed' && this.outcome !== 'shutting_down')) return;
    this.outcome = code;
    this.closing = true;
    this.clearIdleTimer();
    this.countError(code);
    this.setup.services.log('session_error', { request_id: this.requestId, code, description });
    this.giveUpQueue();
    if (socket.readyState === socket.OPEN) {
      const error = errorMessage({ code, message: description }, this.requestId, clientText);
      socket.send(encodeServerMessage(error, this.setup.params.resultEncoding));
      socket.close(closeCode, code);
    }
    void this.releaseSession('abort');
  }

  private internalFailure(error: unknown): void {
    this.setup.services.log('session_failed', {
      request_id: this.requestId,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    this.fail('internal_error', 'the server failed while transcribing');
  }

  /** Runs a handler so that any failure ends this connection only, with the right code. */
  private guard(handler: () => void | Promise<void>): void {
    const onError = (error: unknown) => {
      if (error instanceof AudioInputError) this.reportError(error.code, error.message);
      else if (error instanceof ProtocolError) this.reportError(error.code, error.message);
      else this.internalFailure(error);
    };
    try {
      const pending = handler();
      if (pending) pending.catch(onError);
    } catch (error) {
      onError(error);
    }
  }

  private onSocketError(error: Error & { code?: string }): void {
    // ws has already answered an oversized message with close code 1009; the socket is
    // closing, so no Error message can follow it.
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.outcome ??= 'frame_too_large';
      this.countError('frame_too_large');
    } else {
      this.outcome ??= 'websocket_error';
    }
    this.setup.services.log('websocket_error', { request_id: this.requestId, error: error.message, code: error.code });
  }

  private onSocketClosed(): void {
    const { metrics } = this.setup.services;
    this.clearIdleTimer();
    this.giveUpQueue();
    this.socket = null;
    metrics.sessionsTotal.inc({ outcome: this.outcome ?? 'disconnected' });
    void this.releaseSession('abort').finally(() => this.closedResolve());
  }

  private giveUpQueue(): void {
    for (const item of this.queue?.close() ?? []) {
      if (item.kind === 'final') this.logUndelivered(item.payload);
    }
  }

  /** Releases the session once, by whichever end comes first; later calls share that release. */
  private releaseSession(how: 'close' | 'abort'): Promise<void> {
    if (this.session === null) return Promise.resolve();
    const session = this.session;
    this.release ??= (how === 'close' ? session.close() : session.abort()).catch((error: unknown) => {
      this.setup.services.log('session_release_failed', {
        request_id: this.requestId,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      // A failed close may have lost the last finals; the client must not take 1000 for success.
      if (how === 'close') this.fail('internal_error', 'the server failed while transcribing');
    });
    return this.release;
  }

  private countError(code: ErrorCode): void {
    this.setup.services.metrics.errors.inc({ code });
  }

  private resetIdleTimer(): void {
    this.clearIdleTimer();
    const ms = this.setup.settings.idleTimeoutMs;
    this.idleTimer = setTimeout(
      () => this.guard(() => this.fail('idle_timeout', `no audio or KeepAlive for ${ms / 1000} s`)),
      ms,
    );
  }

  private clearIdleTimer(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}
