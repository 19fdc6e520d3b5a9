/**
 * Admission to `/v1/listen`: everything that can refuse a stream is checked before the
 * WebSocket handshake completes (credentials, parameters, the codec, capacity), so a refused
 * client gets an HTTP status and a JSON Error body, as Deepgram's SDKs expect, and no socket
 * or session is spent on it. Accepted streams become ListenConnections.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { AudioInputError, createAudioDecoder, type AudioDecoder } from '../stream/audio-decoder.js';
import { CapacityError, type SessionFactory } from '../stream/session-contract.js';
import type { FailedAuthThrottle } from './auth-throttle.js';
import type { GatewayConfig } from './config.js';
import { ListenConnection, type ConnectionServices } from './listen-connection.js';
import { modelInfoFor } from './model-info.js';
import { checkAuth, ERROR_DISPOSITIONS, parseListenParams, ProtocolError, resolveModel, type ErrorCode, type ListenParams } from './protocol.js';
import { errorMessage } from './protocol-messages.js';

/** Long enough for a client to back off, short enough that capacity freed soon is used. */
const RETRY_AFTER_S = 1;

class Refusal extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly httpStatus: number = ERROR_DISPOSITIONS[code].httpStatus ?? 500,
    readonly retryAfterS: number = RETRY_AFTER_S,
  ) {
    super(message);
  }
}

/** A header value carries only printable ASCII; descriptions may quote client input. */
function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

export class ListenEndpoint {
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<ListenConnection>();
  private readonly requestIds = new WeakMap<IncomingMessage, string>();
  private sessions: SessionFactory | null = null;
  private draining = false;

  constructor(
    private readonly config: GatewayConfig,
    private readonly services: ConnectionServices,
    private readonly throttle: FailedAuthThrottle,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.maxFrameBytes,
      // Audio barely compresses and results are small; deflate would cost CPU and memory per session.
      perMessageDeflate: false,
      // ws would close a text message that is not UTF-8 with 1007 before Chorus sees it;
      // ListenConnection checks it instead, so the client gets an Error saying why first.
      skipUTF8Validation: true,
      // Deepgram's browser SDK offers `token, <key>`; a browser aborts unless `token` is selected.
      handleProtocols: (offered) => (offered.has('token') ? 'token' : false),
    });
    // Deepgram clients log this header to correlate a stream with the server's records.
    this.wss.on('headers', (headers, request) => {
      const requestId = this.requestIds.get(request);
      if (requestId) headers.push(`dg-request-id: ${requestId}`);
    });
  }

  /** Streams are refused with 503 until the engine is attached, and with 429 while it is full. */
  attach(sessions: SessionFactory): void {
    this.sessions = sessions;
  }

  get activeConnections(): number {
    return this.connections.size;
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const requestId = randomUUID();
    this.admit(request, socket, head, requestId).catch((error: unknown) => {
      const refusal =
        error instanceof Refusal
          ? error
          : new Refusal('internal_error', 'the server failed to set up the session');
      if (!(error instanceof Refusal)) {
        this.services.log('admission_failed', { request_id: requestId, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      }
      this.refuse(socket, refusal, requestId);
    });
  }

  /** Stops admitting, then ends every stream after its finals are out (1001). */
  async shutdown(): Promise<void> {
    this.draining = true;
    const all = [...this.connections];
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), this.config.shutdownGraceMs)));
    const finished = await Promise.race([Promise.all(all.map((c) => c.shutdown())), deadline]);
    clearTimeout(timer);
    if (finished === 'late') {
      for (const connection of this.connections) connection.terminate();
      await Promise.all(all.map((c) => c.closed));
    }
    this.wss.close();
  }

  private async admit(request: IncomingMessage, socket: Duplex, head: Buffer, requestId: string): Promise<void> {
    if (this.draining) throw new Refusal('shutting_down', 'the server is shutting down', 503);
    const sessions = this.sessions;
    // 503, not 429: the server as a whole is unavailable, not full.
    if (sessions === null) throw new Refusal('capacity_exceeded', 'the model is still loading; try again shortly', 503);

    const url = new URL(request.url ?? '/', 'http://chorus.invalid');
    // The key first: without one a client learns nothing, not even which parameters are valid.
    const address = request.socket.remoteAddress ?? '';
    const retryAfterS = this.throttle.retryAfterS(address, Date.now());
    if (retryAfterS > 0) {
      throw new Refusal('too_many_failed_keys', 'too many upgrades with a wrong or missing API key; wait before trying again', 429, retryAfterS);
    }
    const auth = checkAuth({ token: url.searchParams.get('token') }, request.headers, this.config.apiKeys);
    if (!auth.ok) {
      this.throttle.recordFailure(address, Date.now());
      throw new Refusal(auth.error.code, auth.error.message);
    }
    const params = parseParams(url);
    const decoder = await openDecoder(params);
    // The client may have given up while the decoder was being built.
    if (socket.destroyed) return;

    const { model, warning } = resolveModel(params.model, [sessions.modelName], sessions.modelName);
    const connection = new ListenConnection({
      requestId,
      params,
      model: modelInfoFor(model),
      warnings: warning ? [...params.warnings, warning] : params.warnings,
      decoder,
      settings: {
        idleTimeoutMs: this.config.idleTimeoutMs,
        maxOutboundMessages: this.config.maxOutboundMessages,
        maxOutboundBytes: this.config.maxOutboundBytes,
        ingestPacing: this.config.ingestPacing,
      },
      services: this.services,
    });
    connection.bindSession(createSession(sessions, params, connection));

    let opened = false;
    socket.once('close', () => {
      if (!opened) connection.abandon();
    });
    this.requestIds.set(request, requestId);
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      opened = true;
      this.connections.add(connection);
      void connection.closed.then(() => this.connections.delete(connection));
      connection.open(ws);
    });
  }

  private refuse(socket: Duplex, refusal: Refusal, requestId: string): void {
    this.services.metrics.errors.inc({ code: refusal.code });
    if (socket.destroyed) return;
    const body = JSON.stringify(errorMessage({ code: refusal.code, message: refusal.message }, requestId));
    const headers = [
      `HTTP/1.1 ${refusal.httpStatus} ${STATUS_CODES[refusal.httpStatus] ?? 'Error'}`,
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      `dg-error: ${headerSafe(refusal.message)}`,
      `dg-request-id: ${requestId}`,
      'Connection: close',
    ];
    if (refusal.httpStatus === 503 || refusal.httpStatus === 429) headers.push(`Retry-After: ${refusal.retryAfterS}`);
    if (refusal.httpStatus === 401) headers.push('WWW-Authenticate: Token');
    socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
  }
}

function parseParams(url: URL): ListenParams {
  try {
    const params = parseListenParams(url);
    // The session contract carries one mono stream; mixing channels a client asked to keep
    // apart would hand it one transcript where it expects several.
    if (params.multichannel) {
      throw new ProtocolError('bad_parameter', 'multichannel: true is not supported yet; channels can only be mixed into one transcript (multichannel=false)');
    }
    return params;
  } catch (error) {
    if (error instanceof ProtocolError) throw new Refusal(error.code, error.message);
    throw error;
  }
}

async function openDecoder(params: ListenParams): Promise<AudioDecoder> {
  try {
    return await createAudioDecoder({ encoding: params.encoding, sampleRate: params.sampleRate, channels: params.channels });
  } catch (error) {
    // The codec's checks are about the query parameters, so they are the client's bad_parameter.
    if (error instanceof AudioInputError) throw new Refusal('bad_parameter', error.message);
    throw error;
  }
}

/**
 * The factory refuses with CapacityError when the engine is full and with RangeError for
 * options the model cannot serve (a language an English-only model lacks).
 */
function createSession(sessions: SessionFactory, params: ListenParams, connection: ListenConnection) {
  try {
    return sessions.create(
      {
        interimResults: params.interimResults,
        endpointingMs: params.endpointingMs,
        utteranceEndMs: params.utteranceEndMs,
        vadEvents: params.vadEvents,
        language: params.language,
      },
      connection.onSessionEvent,
      connection.onSessionError,
    );
  } catch (error) {
    if (error instanceof CapacityError) throw new Refusal('capacity_exceeded', error.message);
    if (error instanceof RangeError) throw new Refusal('bad_parameter', error.message);
    throw error;
  }
}
