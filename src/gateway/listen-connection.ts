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
 * reached the socket is logged, so no final is lost silently whichever way the stream ends;
 * that, and the rest that every transport shares, is the SessionBridge's (session-bridge.ts).
 */
import { isUtf8 } from 'node:buffer';
import type { RawData, WebSocket } from 'ws';
import { OverloadError } from '../stream/admission.js';
import { AudioInputError } from '../stream/audio-decoder.js';
import { DEFAULT_HIGH_WATER_BYTES, OutboundQueue, type OutboundKind } from './outbound-queue.js';
import { ERROR_DISPOSITIONS, NORMAL_CLOSE, parseClientMessage, ProtocolError, type ErrorCode } from './protocol.js';
import { encodeServerMessage, errorMessage, type ServerMessage } from './protocol-messages.js';
import { describe, drainWithin, SessionBridge, type BridgeSetup, type BridgeTransport } from './session-bridge.js';

export type { ConnectionServices } from './session-bridge.js';

export interface ConnectionSettings {
  idleTimeoutMs: number;
  maxOutboundMessages: number;
  maxOutboundBytes: number;
  ingestPacing: BridgeSetup['settings']['ingestPacing'];
}

export interface ConnectionSetup extends Omit<BridgeSetup, 'settings' | 'transport'> {
  settings: ConnectionSettings;
}

/** `completed` and `disconnected` besides the error codes; the label of chorus_sessions_total. */
type Outcome = 'completed' | 'disconnected' | 'websocket_error' | ErrorCode;

export class ListenConnection implements BridgeTransport {
  readonly bridge: SessionBridge;
  private socket: WebSocket | null = null;
  private queue: OutboundQueue<ServerMessage> | null = null;
  /** Set once the connection is winding down; later client input is not acted on. */
  private closing = false;
  private audioAfterCloseReported = false;
  private release: Promise<void> | null = null;
  private outcome: Outcome | null = null;
  private closedResolve!: () => void;
  /** Settles when the socket has closed and the session is released. */
  readonly closed = new Promise<void>((resolve) => (this.closedResolve = resolve));

  constructor(private readonly setup: ConnectionSetup) {
    this.bridge = new SessionBridge({ ...setup, transport: 'websocket' }, this);
  }

  get requestId(): string {
    return this.setup.requestId;
  }

  /** The client went away during the handshake: the session never had a socket. */
  abandon(): void {
    void this.releaseSession('abort');
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
    this.bridge.resetIdleTimer();
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
    this.bridge.resetIdleTimer();
    this.bridge.hashAudio(bytes);
    // multichannel: every channel's decoder reads the whole message and keeps its own channel.
    const samples = this.setup.decoders.map((_, channel) => this.bridge.decode(channel, bytes));
    // Audio far ahead of real time would queue minutes of work on the device every stream shares.
    if (!samples.every((s, channel) => this.bridge.withinPacing(channel, s.length))) {
      throw new ProtocolError('ingest_too_fast', this.bridge.pacingDescription());
    }
    samples.forEach((s, channel) => this.bridge.pushSamples(channel, s));
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
        return this.bridge.resetIdleTimer();
      case 'Finalize':
        // With multichannel `channel` flushes that channel only (none that the stream has: nothing);
        // without, the one transcript is every channel's, so `channel` changes nothing.
        this.bridge.resetIdleTimer();
        return this.bridge.finalize(message.channel);
      case 'CloseStream':
        return this.closeStream();
    }
  }

  private async closeStream(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.outcome = 'completed';
    await this.flushAndClose(null);
  }

  /** Shed for overload (src/stream/admission.ts): its results so far go out, then the Error and 1013. */
  private async shed(description: string): Promise<void> {
    if (this.closing || this.socket === null) return;
    this.closing = true;
    this.outcome = 'server_overloaded';
    await this.flushAndClose('server_overloaded', description);
  }

  /**
   * The ends that keep results: finalise the session, let every result out, then Metadata
   * (CloseStream) or an Error (shutdown, overload), then the close frame. A client that does
   * not read its last results within the idle timeout is treated as gone.
   */
  private async flushAndClose(errorCode: 'shutting_down' | 'server_overloaded' | null, description = 'the server is shutting down'): Promise<void> {
    this.bridge.clearIdleTimer();
    this.bridge.flushDecoders();
    await this.releaseSession('close');
    if (errorCode === null) {
      this.send(this.bridge.metadata(), 'control');
    } else {
      this.bridge.countError(errorCode);
      this.send(errorMessage({ code: errorCode, message: description }, this.requestId), 'control');
    }
    const drained = await drainWithin(this.queue?.whenEmpty(), this.setup.settings.idleTimeoutMs);
    // Something else (a failure, the client leaving) may have ended the connection meanwhile.
    if (this.socket === null || this.outcome !== (errorCode ?? 'completed')) return;
    if (!drained) {
      return this.fail('slow_consumer', 'the client did not read its last results');
    }
    const code = errorCode === null ? NORMAL_CLOSE : ERROR_DISPOSITIONS[errorCode].closeCode!;
    this.socket.close(code, errorCode ?? '');
  }

  // ---------------------------------------------------------------------------------------
  // The bridge's side (BridgeTransport)

  send(message: ServerMessage, kind: OutboundKind, channel = 0, onSent?: () => void): boolean {
    const data = encodeServerMessage(message, this.setup.params.resultEncoding);
    return this.queue?.push({ payload: message, data, kind, lane: channel, onSent }) ?? false;
  }

  onIdle(): void {
    this.guard(() => this.fail('idle_timeout', `no audio or KeepAlive for ${this.setup.settings.idleTimeoutMs / 1000} s`));
  }

  /** The session's pipeline failed after it was created: only this connection ends (1011). */
  onFailure(error: unknown): void {
    // Shed by admission (src/stream/admission.ts, "Overload"): ended as documented, not a fault.
    if (error instanceof OverloadError) return void this.shed(error.message);
    this.setup.services.log('session_failed', { request_id: this.requestId, error: describe(error) });
    this.fail('internal_error', 'the server failed while transcribing');
  }

  // ---------------------------------------------------------------------------------------
  // Ending

  /**
   * An error the client caused or suffers: an Error message, then the disposition's close.
   * `clientText`: the text message it is about, which Deepgram echoes.
   */
  private reportError(code: ErrorCode, description: string, clientText?: string): void {
    const closeCode = ERROR_DISPOSITIONS[code].closeCode;
    if (closeCode !== null) return this.fail(code, description, clientText);
    this.bridge.countError(code);
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
    if (socket === null || (this.outcome !== null && this.outcome !== 'completed' && this.outcome !== 'shutting_down' && this.outcome !== 'server_overloaded')) return;
    this.outcome = code;
    this.closing = true;
    this.bridge.clearIdleTimer();
    this.bridge.countError(code);
    this.setup.services.log('session_error', { request_id: this.requestId, code, description });
    this.giveUpQueue();
    if (socket.readyState === socket.OPEN) {
      const error = errorMessage({ code, message: description }, this.requestId, clientText);
      socket.send(encodeServerMessage(error, this.setup.params.resultEncoding));
      socket.close(closeCode, code);
    }
    void this.releaseSession('abort');
  }

  /** Runs a handler so that any failure ends this connection only, with the right code. */
  private guard(handler: () => void | Promise<void>): void {
    const onError = (error: unknown) => {
      if (error instanceof AudioInputError) this.reportError(error.code, error.message);
      else if (error instanceof ProtocolError) this.reportError(error.code, error.message);
      else this.onFailure(error);
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
      this.bridge.countError('frame_too_large');
    } else {
      this.outcome ??= 'websocket_error';
    }
    this.setup.services.log('websocket_error', { request_id: this.requestId, error: error.message, code: error.code });
  }

  private onSocketClosed(): void {
    const { metrics } = this.setup.services;
    this.bridge.clearIdleTimer();
    this.giveUpQueue();
    this.socket = null;
    metrics.sessionsTotal.inc({ outcome: this.outcome ?? 'disconnected' });
    void this.releaseSession('abort').finally(() => {
      this.bridge.endDelivery();
      this.closedResolve();
    });
  }

  private giveUpQueue(): void {
    for (const item of this.queue?.close() ?? []) {
      if (item.kind === 'final') this.bridge.logUndelivered(item.payload);
    }
  }

  /** Releases the session once, by whichever end comes first; later calls share that release. */
  private releaseSession(how: 'close' | 'abort'): Promise<void> {
    this.release ??= this.bridge.release(how).then((ok) => {
      // A failed close may have lost the last finals; the client must not take 1000 for success.
      if (!ok && how === 'close') this.fail('internal_error', 'the server failed while transcribing');
    });
    return this.release;
  }
}
