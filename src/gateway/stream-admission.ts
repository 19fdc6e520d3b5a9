/**
 * Admission of a live stream, whatever its transport (/v1/listen, WebRTC, Twilio): everything
 * that can refuse a stream is checked before its wire opens, in one order, so every transport
 * refuses the same request the same way (an HTTP status, /v1/listen's JSON Error body,
 * `Retry-After` on 429 and 503):
 *
 *   draining (503) → model loaded (503) → key (401, throttled: 429) → parameters (400)
 *   → callback host (400) → codec (400) → sessions, all or none (429 when full)
 *
 * A stream of several channels (a call's two tracks) gets all of its sessions or none: a
 * half-admitted call would transcribe one side of the conversation.
 */
import type { IncomingMessage } from 'node:http';
import { AudioInputError, createAudioDecoder, type AudioDecoder, type AudioDecoderOptions } from '../stream/audio-decoder.js';
import { CapacityError, type LiveSession, type SessionFactory } from '../stream/session-contract.js';
import type { FailedAuthThrottle } from './auth-throttle.js';
import type { GatewayConfig } from './config.js';
import { modelInfoFor } from './model-info.js';
import { checkAuth, ERROR_DISPOSITIONS, parseListenParams, ProtocolError, resolveModel, type ErrorCode, type ListenDefaults, type ListenParams, type ParameterWarning } from './protocol.js';
import { errorMessage, type ModelInfo } from './protocol-messages.js';
import type { ConnectionServices, SessionBridge } from './session-bridge.js';
import type { Transport } from './transcript-sink.js';

/** Long enough for a client to back off, short enough that capacity freed soon is used. */
export const RETRY_AFTER_S = 1;

/** A stream refused before its wire opened. `code` is an ErrorCode or a transport's own (WHIP's `malformed_offer`). */
export class Refusal extends Error {
  constructor(
    readonly code: ErrorCode | string,
    message: string,
    readonly httpStatus: number = ERROR_DISPOSITIONS[code as ErrorCode]?.httpStatus ?? 500,
    readonly retryAfterS: number = RETRY_AFTER_S,
  ) {
    super(message);
  }

  /** /v1/listen's Error message, the body of every refusal. */
  body(requestId: string): string {
    return JSON.stringify(errorMessage({ code: this.code as ErrorCode, message: this.message }, requestId));
  }

  /** Headers every transport sends with the status. */
  headers(): Record<string, string> {
    const headers: Record<string, string> = {};
    if (this.httpStatus === 503 || this.httpStatus === 429) headers['Retry-After'] = String(this.retryAfterS);
    return headers;
  }
}

/** The first two checks: a draining server and one without its model take no streams. */
export function checkServing(draining: boolean, factory: SessionFactory | null): SessionFactory {
  if (draining) throw new Refusal('shutting_down', 'the server is shutting down', 503);
  // 503, not 429: the server as a whole is unavailable, not full.
  if (factory === null) throw new Refusal('capacity_exceeded', 'the model is still loading; try again shortly', 503);
  return factory;
}

/**
 * Who a request is from: its TCP peer's address, which failed keys and per-client session
 * limits count against (behind a proxy, the proxy's).
 */
export function clientAddress(request: IncomingMessage): string {
  return request.socket.remoteAddress ?? '';
}

/**
 * The key before anything else, so a client without one learns nothing, not even which
 * parameters are valid. `throttle`: where the transport counts failures itself (upgrades
 * bypass the HTTP router, which counts 401 answers for the others).
 */
export function checkKey(
  request: IncomingMessage,
  token: string | null,
  keys: ReadonlySet<string> | null,
  throttle: FailedAuthThrottle | null = null,
): void {
  const address = clientAddress(request);
  if (throttle !== null) {
    const retryAfterS = throttle.retryAfterS(address, Date.now());
    if (retryAfterS > 0) {
      throw new Refusal('too_many_failed_keys', 'too many upgrades with a wrong or missing API key; wait before trying again', 429, retryAfterS);
    }
  }
  const auth = checkAuth({ token }, request.headers, keys);
  if (!auth.ok) {
    throttle?.recordFailure(address, Date.now());
    throw new Refusal(auth.error.code, auth.error.message);
  }
}

/**
 * One line per refused stream, so an operator can tell capacity (429 capacity_exceeded) from
 * a client's limits, a bad key or bad parameters without the client's side of the story.
 */
export function logRefusal(services: Pick<ConnectionServices, 'log'>, refusal: Refusal, requestId: string): void {
  services.log('stream_refused', { request_id: requestId, status: refusal.httpStatus, code: refusal.code, reason: refusal.message });
}

/** /v1/listen's parameters, read by one parser for every transport, with the server's defaults. */
export function parseStreamParams(query: URL | URLSearchParams, transport: Transport, defaults: ListenDefaults): ListenParams {
  try {
    const params = parseListenParams(query, defaults);
    // Each channel gets its own session, fed by a decoder that keeps that channel of the stream.
    if (params.multichannel && transport !== 'websocket') {
      throw new ProtocolError(
        'bad_parameter',
        `multichannel: true is not supported over ${transport === 'webrtc' ? 'WebRTC' : 'Twilio Media Streams (the tracks are always kept apart)'}`,
      );
    }
    return params;
  } catch (error) {
    if (error instanceof ProtocolError) throw new Refusal(error.code, error.message);
    throw error;
  }
}

/**
 * A callback makes the server send requests to a host its client names, which could reach
 * inside the server's own network, so only hosts the operator listed are called.
 */
export function checkCallback(params: ListenParams, config: Pick<GatewayConfig, 'callbackHosts'>): void {
  if (params.callback === null) return;
  const url = new URL(params.callback);
  const allowed = config.callbackHosts;
  if (allowed.includes('*') || allowed.includes(url.host) || allowed.includes(url.hostname)) return;
  throw new Refusal(
    'bad_parameter',
    allowed.length === 0
      ? 'callback: this server delivers no callbacks (its operator enables them per host with --callback-host)'
      : `callback: this server does not call ${url.host}; allowed hosts: ${allowed.join(', ')}`,
  );
}

/** The codec's checks are about the query parameters, so they are the client's bad_parameter. */
export async function openDecoder(options: AudioDecoderOptions): Promise<AudioDecoder> {
  try {
    return await createAudioDecoder(options);
  } catch (error) {
    if (error instanceof AudioInputError) throw new Refusal('bad_parameter', error.message);
    throw error;
  }
}

/** The model that serves the stream, and the warnings Metadata reports (a substitution among them). */
export function streamModel(params: ListenParams, factory: SessionFactory): { model: ModelInfo; warnings: ParameterWarning[] } {
  const { model, warning } = resolveModel(params.model, [factory.modelName], factory.modelName);
  return { model: modelInfoFor(model), warnings: warning ? [...params.warnings, warning] : params.warnings };
}

/**
 * One session per channel of the bridge, all or none. The factory refuses with CapacityError
 * when the engine is full and with RangeError for options the model cannot serve (a
 * language an English-only model lacks).
 */
export function createSessions(factory: SessionFactory, params: ListenParams, bridge: SessionBridge): void {
  const created: LiveSession[] = [];
  const lease = bridge.setup.services.clients?.admit(bridge.setup.client, bridge.channelCount, Date.now()) ?? null;
  try {
    for (let channel = 0; channel < bridge.channelCount; channel++) {
      const session = factory.create(
        {
          interimResults: params.interimResults,
          finals: params.finals,
          endpointingMs: params.endpointingMs,
          utteranceEndMs: params.utteranceEndMs,
          vadEvents: params.vadEvents,
          language: params.language,
          finalsOwed: bridge.finalsOwed,
          keyterms: params.keyterms,
        },
        bridge.eventSink(channel),
        bridge.onSessionError,
      );
      created.push(session);
      bridge.bindSession(channel, session);
    }
    if (lease) bridge.holdClientLease(lease);
  } catch (error) {
    lease?.release();
    for (const session of created) void session.abort();
    if (error instanceof CapacityError) {
      const message = bridge.channelCount > 1 ? `${error.message} (a stream of ${bridge.channelCount} channels needs ${bridge.channelCount} sessions)` : error.message;
      throw new Refusal('capacity_exceeded', message);
    }
    if (error instanceof RangeError) throw new Refusal('bad_parameter', error.message);
    throw error;
  }
}

/** A header value carries only printable ASCII; descriptions may quote client input. */
export function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}
