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
import type { SessionFactory } from '../stream/session-contract.js';
import type { FailedAuthThrottle } from './auth-throttle.js';
import type { GatewayConfig } from './config.js';
import { ListenConnection } from './listen-connection.js';
import type { ConnectionServices } from './session-bridge.js';
import {
  checkCallback,
  checkKey,
  checkServing,
  clientAddress,
  createSessions,
  headerSafe,
  logRefusal,
  openDecoder,
  parseStreamParams,
  Refusal,
  streamModel,
} from './stream-admission.js';

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
    const sessions = checkServing(this.draining, this.sessions);
    const url = new URL(request.url ?? '/', 'http://chorus.invalid');
    checkKey(request, url.searchParams.get('token'), this.config.apiKeys, this.throttle);
    const params = parseStreamParams(url, 'websocket', this.config);
    checkCallback(params, this.config);
    // multichannel: a decoder (and session) per channel, each keeping its own channel of the
    // whole stream; otherwise one that mixes them down.
    const format = { encoding: params.encoding, sampleRate: params.sampleRate, channels: params.channels };
    const decoders = params.multichannel
      ? await Promise.all(Array.from({ length: params.channels }, (_, channel) => openDecoder({ ...format, keep: channel })))
      : [await openDecoder(format)];
    // The client may have given up while the decoders were being built.
    if (socket.destroyed) return;

    const connection = new ListenConnection({
      requestId,
      client: clientAddress(request),
      params,
      ...streamModel(params, sessions),
      decoders,
      audioChannels: params.channels,
      settings: {
        idleTimeoutMs: this.config.idleTimeoutMs,
        maxOutboundMessages: this.config.maxOutboundMessages,
        maxOutboundBytes: this.config.maxOutboundBytes,
        ingestPacing: this.config.ingestPacing,
      },
      services: this.services,
      delivery: this.services.callbacks?.open(params, requestId) ?? null,
    });
    createSessions(sessions, params, connection.bridge);

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
    refuseUpgrade(socket, refusal, requestId, this.services);
  }
}

/** A refused upgrade: the status, Deepgram's dg-error header, and the JSON Error body. */
export function refuseUpgrade(socket: Duplex, refusal: Refusal, requestId: string, services: Pick<ConnectionServices, 'metrics' | 'log'>): void {
  services.metrics.errors.inc({ code: refusal.code });
  logRefusal(services, refusal, requestId);
  if (socket.destroyed) return;
  const body = refusal.body(requestId);
  const headers = [
    `HTTP/1.1 ${refusal.httpStatus} ${STATUS_CODES[refusal.httpStatus] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `dg-error: ${headerSafe(refusal.message)}`,
    `dg-request-id: ${requestId}`,
    'Connection: close',
    ...Object.entries(refusal.headers()).map(([name, value]) => `${name}: ${value}`),
  ];
  if (refusal.httpStatus === 401) headers.push('WWW-Authenticate: Token');
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}
