/**
 * The gateway's HTTP server: health and readiness probes, Prometheus metrics, the
 * OpenAI-compatible file endpoints, Deepgram's pre-recorded `POST /v1/listen`, the
 * `/v1/listen` WebSocket upgrade, WebRTC ingest
 * (`/v1/whip`) and the browser demo at `/`. Its own errors (unknown paths, wrong methods,
 * handler failures) are in OpenAI's shape, see openai-errors.ts.
 *
 * WebSockets come from the `ws` package rather than uWebSockets.js: ws is pure JavaScript on
 * node:http, so it has no native binary tied to one Node ABI (the anti-pattern STYLE.md names)
 * and no global side effects at load, it is widely used and well maintained, and it exposes
 * what backpressure needs (`bufferedAmount`, write callbacks). Whether uWebSockets' speed is
 * worth its costs is for a load test to show, not a guess.
 *
 * The server listens before the model is loaded, so orchestrators see a live process
 * (`/healthz`) that is not yet ready (`/readyz`); `attach` makes it ready.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { repoRoot } from '../paths.js';
import type { SessionFactory } from '../stream/session-contract.js';
import { AgentCheckServer } from './agent-check.js';
import { FailedAuthThrottle } from './auth-throttle.js';
import { CallbackDispatcher, type CallbackPolicy } from './callback-delivery.js';
import { ClientLimits } from './client-limits.js';
import type { GatewayConfig } from './config.js';
import { ListenEndpoint } from './listen.js';
import type { GatewayLog } from './log.js';
import { GatewayMetrics, type DeviceStatus } from './metrics.js';
import { OpenAiError, openAiErrorBody, sendOpenAiError } from './openai-errors.js';
import { checkAuth } from './protocol.js';
import { PrerecordedEndpoint } from './prerecorded.js';
import { agentReply, readiness, readyzBody, type Readiness } from './readiness.js';
import { answerClientError, MAX_HEADER_BYTES, refuseOnSocket, urlTooLong } from './request-limits.js';
import { StaticFiles } from './static-files.js';
import { clientAddress } from './stream-admission.js';
import type { TranscriptSink } from './transcript-sink.js';
import { FileJobs, TranscriptionsEndpoint, type FileTranscriber } from './transcriptions.js';
import { TWILIO_PATH, TwilioEndpoint } from './twilio.js';
import { WHIP_PATH, WhipEndpoint } from './whip.js';

export interface GatewayOptions {
  config: GatewayConfig;
  log: GatewayLog;
  sink: TranscriptSink | null;
  /** Retries and bounds of Deepgram `callback` delivery; the defaults otherwise (tests shorten them). */
  callbackPolicy?: CallbackPolicy;
}

export interface GatewayEngine {
  sessions: SessionFactory;
  files: FileTranscriber;
  /** the device's pool and queue, for /metrics; absent for engines without one (tests) */
  device?: DeviceStatus;
}

/** Endpoints whose requests run until an answer is ready, so shutdown waits for them. */
const FILE_PATHS = new Set(['/v1/audio/transcriptions', '/v1/audio/translations', '/v1/listen']);

export class GatewayServer {
  readonly metrics = new GatewayMetrics();
  private readonly http: Server;
  private readonly listen: ListenEndpoint;
  private readonly files: FileJobs;
  private readonly transcriptions: TranscriptionsEndpoint;
  private readonly prerecorded: PrerecordedEndpoint;
  private readonly whip: WhipEndpoint;
  private readonly twilio: TwilioEndpoint;
  /** Deepgram `callback` deliveries of every live stream. */
  readonly callbacks: CallbackDispatcher;
  private readonly demo = new StaticFiles(join(repoRoot(), 'web-demo'));
  private readonly throttle = new FailedAuthThrottle();
  /** file requests not yet answered, with their path; shutdown answers them or waits for them */
  private readonly fileRequests = new Map<ServerResponse, string>();
  private engine: GatewayEngine | null = null;
  private shuttingDown = false;
  /** HAProxy's agent check (--agent-port): the same readiness, as weight and state words */
  private agent: AgentCheckServer | null = null;

  constructor(private readonly options: GatewayOptions) {
    const { config, log, sink } = options;
    this.callbacks = new CallbackDispatcher(log, options.callbackPolicy, (outcome, messages) => this.metrics.callbackMessages.inc({ outcome }, messages));
    sink?.watch?.((outcome) => this.metrics.sinkRecords.inc({ outcome }));
    this.metrics.watchDelivery({ callbackPending: () => this.callbacks.pending, sinkPending: () => sink?.pending?.() });
    const services = { metrics: this.metrics, log, sink, callbacks: this.callbacks, clients: new ClientLimits(config.clientLimits) };
    this.listen = new ListenEndpoint(config, services, this.throttle);
    this.whip = new WhipEndpoint(config, services);
    this.twilio = new TwilioEndpoint(config, services, this.throttle);
    this.files = new FileJobs(config.maxUploadBytes);
    this.transcriptions = new TranscriptionsEndpoint(config.apiKeys, this.files, this.metrics, log);
    this.prerecorded = new PrerecordedEndpoint(config.apiKeys, this.files, this.metrics, log);
    const handle = (request: IncomingMessage, response: ServerResponse) => this.route(request, response);
    // Browsers open the microphone only on secure origins, so a demo reached over a network needs TLS.
    this.http =
      config.tls === null
        ? createServer({ maxHeaderSize: MAX_HEADER_BYTES }, handle)
        : createTlsServer({ maxHeaderSize: MAX_HEADER_BYTES, cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) }, handle);
    this.http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(request, socket, head));
    this.http.on('clientError', answerClientError);
  }

  attach(engine: GatewayEngine): void {
    this.engine = engine;
    this.metrics.watchCapacity(() => engine.sessions.capacity());
    if (engine.device) this.metrics.watchDevice(engine.device);
    this.listen.attach(engine.sessions);
    this.whip.attach(engine.sessions);
    this.twilio.attach(engine.sessions);
    this.files.attach(engine.files);
  }

  /** Resolves with the URL clients use, e.g. `http://127.0.0.1:8080`; the agent check listens first when asked for. */
  async start(): Promise<string> {
    const { agentPort, host } = this.options.config;
    if (agentPort !== null) {
      this.agent = new AgentCheckServer(() => agentReply(this.readiness()));
      this.agentPortInUse = await this.agent.listen(agentPort, host);
    }
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.options.config.port, this.options.config.host, () => {
        this.http.off('error', reject);
        const { address, port } = this.http.address() as AddressInfo;
        const host = address.includes(':') ? `[${address}]` : address;
        resolve(`${this.options.config.tls === null ? 'http' : 'https'}://${host}:${port}`);
      });
    });
  }

  /**
   * Drains, then stops listening. `/readyz` answers 503 at once and new streams and files get
   * 503 `shutting_down`, while the listener stays open so that clients and load balancers hear
   * that rather than a refused connection. Live sessions flush their finals and close with
   * 1001; file requests in flight get their answer, or 503 if the grace period ends first.
   */
  /** The port of the agent check, once started (null without --agent-port). */
  agentPortInUse: number | null = null;

  /** What /readyz and the agent check say now (readiness.ts). */
  readiness(): Readiness {
    const sessions = this.engine?.sessions;
    return readiness(sessions ? { model: sessions.modelName, capacity: sessions.capacity() } : null, this.shuttingDown, this.options.config.maxLagS);
  }

  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    await Promise.all([this.listen.shutdown(), this.whip.shutdown(), this.twilio.shutdown(), this.drainFileRequests()]);
    // Callbacks of the streams just ended get the grace period to reach their receivers.
    await this.callbacks.close(this.options.config.shutdownGraceMs);
    const stopped = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    await Promise.all([stopped, this.agent?.close()]);
  }

  private async drainFileRequests(): Promise<void> {
    const pending = [...this.fileRequests.keys()].map((response) => new Promise<void>((resolve) => response.once('close', resolve)));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.config.shutdownGraceMs)));
    await Promise.race([Promise.all(pending), deadline]);
    clearTimeout(timer);
    for (const [response, path] of this.fileRequests) {
      if (response.headersSent) response.destroy();
      else sendShuttingDown(response, path);
    }
  }

  private route(request: IncomingMessage, response: ServerResponse): void {
    const tooLong = urlTooLong(request);
    if (tooLong) return sendOpenAiError(response, tooLong, { Connection: 'close' });
    const path = new URL(request.url ?? '/', 'http://chorus.invalid').pathname;
    const method = request.method ?? 'GET';
    const address = clientAddress(request);
    const retryAfterS = this.throttle.retryAfterS(address, Date.now());
    if (retryAfterS > 0 && path !== '/healthz' && path !== '/readyz') {
      return sendOpenAiError(response, new OpenAiError(429, 'too many requests with a wrong or missing API key; wait before trying again', null, 'too_many_failed_keys'), {
        'Retry-After': String(retryAfterS),
      });
    }
    // Every endpoint that checks a key answers a wrong or missing one with 401.
    response.once('finish', () => {
      if (response.statusCode === 401) this.throttle.recordFailure(address, Date.now());
    });
    if (method === 'POST' && FILE_PATHS.has(path)) {
      if (this.shuttingDown) return sendShuttingDown(response, path);
      this.fileRequests.set(response, path);
      response.once('close', () => this.fileRequests.delete(response));
    }
    const only = (allowed: string, handle: () => void | Promise<void>) => {
      if (method !== allowed && !(allowed === 'GET' && method === 'HEAD')) {
        sendOpenAiError(response, new OpenAiError(405, `use ${allowed} for ${path}`, null, 'method_not_allowed'), { Allow: allowed });
        return;
      }
      Promise.resolve()
        .then(handle)
        .catch((error: unknown) => {
          this.options.log('http_handler_failed', { path, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
          if (!response.headersSent) sendOpenAiError(response, new OpenAiError(500, 'internal error', null, 'internal_error'));
          else response.destroy();
        });
    };
    switch (path) {
      case '/healthz':
        return only('GET', () => sendJson(response, 200, { status: 'ok' }));
      case '/readyz':
        return only('GET', () => {
          // 503 while loading, draining or full (a stream asked for now would get 429), so a
          // balancer or Kubernetes sends new streams elsewhere; the body says how much is free.
          const { status, body } = readyzBody(this.readiness(), this.engine?.sessions.modelName ?? null);
          sendJson(response, status, body);
        });
      case '/metrics':
        return only('GET', async () => {
          const keys = this.options.config.metricsKey === null ? this.options.config.apiKeys : new Set([this.options.config.metricsKey]);
          const auth = checkAuth({ token: null }, request.headers, keys);
          if (!auth.ok) {
            return sendJson(response, 401, { error: auth.error.message }, { 'WWW-Authenticate': 'Bearer' });
          }
          const body = await this.metrics.registry.metrics();
          response.writeHead(200, { 'Content-Type': this.metrics.registry.contentType }).end(body);
        });
      case '/v1/audio/transcriptions':
        return only('POST', () => this.transcriptions.handle(request, response, 'transcribe'));
      case '/v1/audio/translations':
        return only('POST', () => this.transcriptions.handle(request, response, 'translate'));
      case '/v1/listen':
        if (method === 'POST') return only('POST', () => this.prerecorded.handle(request, response));
        // Live streams arrive as upgrades; a plain GET is a client that did not ask for one.
        return sendJson(response, 426, { error: 'open a WebSocket to /v1/listen for live transcription' }, { Upgrade: 'websocket' });
      default:
        if (path === WHIP_PATH || path.startsWith(`${WHIP_PATH}/`)) {
          return only(method, () => this.whip.handle(request, response, path));
        }
        if (path === TWILIO_PATH || path.startsWith(`${TWILIO_PATH}/`)) {
          return sendJson(response, 426, { error: 'Twilio Media Streams open a WebSocket here' }, { Upgrade: 'websocket' });
        }
        // Anything else is a file of the browser demo, or nothing.
        if (method !== 'GET' && method !== 'HEAD') return sendOpenAiError(response, notFound(method, path));
        return only('GET', async () => {
          if (!(await this.demo.serve(path, response, method === 'HEAD'))) sendOpenAiError(response, notFound(method, path));
        });
    }
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    // An upgraded socket has no 'error' listener from node:http; an unhandled one would crash the process.
    socket.on('error', () => socket.destroy());
    const tooLong = urlTooLong(request);
    if (tooLong) return refuseOnSocket(socket, tooLong);
    const path = new URL(request.url ?? '/', 'http://chorus.invalid').pathname;
    if (path === TWILIO_PATH || path.startsWith(`${TWILIO_PATH}/`)) return this.twilio.handleUpgrade(request, socket, head);
    if (path !== '/v1/listen') {
      const body = openAiErrorBody(notFound(request.method ?? 'GET', path));
      const headers = `HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close`;
      socket.end(`${headers}\r\n\r\n${body}`);
      return;
    }
    this.listen.handleUpgrade(request, socket, head);
  }
}

/** In the error shape of the API the client called: Deepgram's for POST /v1/listen, else OpenAI's. */
function sendShuttingDown(response: ServerResponse, path: string): void {
  const message = 'the server is shutting down; send the request elsewhere or retry';
  if (path === '/v1/listen') return sendJson(response, 503, { err_code: 'SHUTTING_DOWN', err_msg: message }, { 'Retry-After': '1' });
  sendOpenAiError(response, new OpenAiError(503, message, null, 'shutting_down'), { 'Retry-After': '1' });
}

function notFound(method: string, path: string): OpenAiError {
  return new OpenAiError(404, `no such endpoint: ${method} ${path}`, null, 'unknown_url');
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers }).end(text);
}
