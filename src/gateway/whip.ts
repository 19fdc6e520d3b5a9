/**
 * WebRTC ingest with WHIP-style signalling (RFC 9725): `POST /v1/whip` with an SDP offer
 * answers `201 Created` with the SDP answer and a `Location` for the session, `DELETE` on
 * that location ends it after its finals are sent. Query parameters and credentials are
 * those of /v1/listen, so one client configuration serves both transports; audio is always
 * Opus over RTP, so `encoding`, `sample_rate` and `channels` need not be given.
 *
 * Everything that can refuse a session is checked before any ICE or DTLS work starts, and
 * refusals carry /v1/listen's JSON Error body. The answer holds all of the server's
 * candidates (no trickle ICE), which keeps the signalling one round trip.
 *
 * An offer costs the server a session slot and connectivity checks before its sender has
 * proved anything, so both are bounded: few offers may wait for ICE at once and each only
 * briefly (checkPending), and an offer's candidates are few and point at ordinary unicast
 * addresses (offerCandidates).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import type { SessionFactory } from '../stream/session-contract.js';
import type { GatewayConfig } from './config.js';
import type { ListenParams } from './protocol.js';
import type { ConnectionServices } from './session-bridge.js';
import { checkCallback, checkKey, checkServing, clientAddress, createSessions, logRefusal, openDecoder, parseStreamParams, Refusal, streamModel } from './stream-admission.js';
import { WhipSession } from './whip-session.js';

export const WHIP_PATH = '/v1/whip';

/** SDP offers are a few kilobytes; anything far larger is not one. */
const MAX_OFFER_BYTES = 64 * 1024;
/** A browser gathers a handful per interface (host, server-reflexive, relay); far more is not a browser. */
export const MAX_OFFER_CANDIDATES = 16;
/**
 * Offers answered but not yet connected. Each holds a session slot, so without this bound a
 * few offers that never connect (unauthenticated when no keys are set) fill the server.
 */
export const MAX_PENDING_OFFERS = 2;
/** ICE settles within a second on a LAN and a few through TURN; an offer not connected by then is dropped. */
export const PENDING_OFFER_TIMEOUT_MS = 5000;

/** WHIP's own refusals (the offer, the resource) beside admission's shared ones. */
class WhipRefusal extends Refusal {
  constructor(status: number, code: string, message: string) {
    super(code, message, status);
  }
}

export class WhipEndpoint {
  /** by resource id, which is secret to the client that made the offer (not its request id) */
  private readonly sessions = new Map<string, WhipSession>();
  private pendingOffers = 0;
  private factory: SessionFactory | null = null;
  private draining = false;

  constructor(
    private readonly config: GatewayConfig,
    private readonly services: ConnectionServices,
  ) {}

  attach(factory: SessionFactory): void {
    this.factory = factory;
  }

  /** Routes /v1/whip and /v1/whip/<id>; the caller has matched the prefix. */
  async handle(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    const requestId = randomUUID();
    try {
      if (path === WHIP_PATH) {
        if (request.method !== 'POST') throw new WhipRefusal(405, 'method_not_allowed', `use POST for ${WHIP_PATH}`);
        return await this.create(request, response, requestId);
      }
      // The key is checked before the id, so without one nothing is learnt about which ids exist.
      checkKey(request, tokenOf(request), this.config.apiKeys);
      const id = path.slice(WHIP_PATH.length + 1);
      const session = this.sessions.get(id);
      if (session === undefined) throw new WhipRefusal(404, 'no_such_session', 'no such WebRTC session');
      // Trickle ICE and ICE restarts (PATCH) are not offered; RFC 9725 answers them with 405.
      if (request.method !== 'DELETE') throw new WhipRefusal(405, 'method_not_allowed', 'use DELETE to end a session');
      await session.end('completed');
      response.writeHead(200, { 'Content-Length': 0 }).end();
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      this.refuse(response, error, requestId);
    }
  }

  /** Stops admitting, then ends every session after its finals are out. */
  async shutdown(): Promise<void> {
    this.draining = true;
    const all = [...this.sessions.values()];
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.config.shutdownGraceMs)));
    // A session still flushing at the deadline is left to finish on its own; the process is going.
    await Promise.race([Promise.all(all.map((s) => s.end('shutting_down').then(() => s.closed))), deadline]);
    clearTimeout(timer);
  }

  private async create(request: IncomingMessage, response: ServerResponse, requestId: string): Promise<void> {
    const factory = checkServing(this.draining, this.factory);
    checkKey(request, tokenOf(request), this.config.apiKeys);
    const params = parseStreamParams(new URL(request.url ?? '/', 'http://chorus.invalid'), 'webrtc', this.config);
    checkCallback(params, this.config);
    // Opus carries one or two channels; they are mixed into one transcript, as /v1/listen does.
    if (params.channels > 2) throw new Refusal('bad_parameter', `channels: Opus streams carry 1 or 2 channels, got ${params.channels}`);
    const contentType = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (contentType !== 'application/sdp') {
      throw new WhipRefusal(415, 'unsupported_media_type', 'send the SDP offer with Content-Type: application/sdp');
    }
    const offer = offerCandidates(await readOffer(request));
    checkOffer(offer);
    if (this.pendingOffers >= MAX_PENDING_OFFERS) {
      throw new WhipRefusal(429, 'capacity_exceeded', `${MAX_PENDING_OFFERS} offers are already waiting for their peers to connect; try again shortly`);
    }
    this.pendingOffers += 1;
    let answered: WhipSession | null = null;
    try {
      answered = await this.answerOffer(response, requestId, clientAddress(request), factory, params, offer);
    } finally {
      void (answered?.connected ?? Promise.resolve()).then(() => (this.pendingOffers -= 1));
    }
  }

  /** The session, once its offer is answered; it is pending until `connected` settles. */
  private async answerOffer(
    response: ServerResponse,
    requestId: string,
    client: string,
    factory: SessionFactory,
    params: ListenParams,
    offer: string,
  ): Promise<WhipSession> {
    const whip = new WhipSession({
      requestId,
      client,
      params,
      ...streamModel(params, factory),
      decoders: [await openDecoder({ encoding: 'opus', channels: params.channels })],
      audioChannels: params.channels,
      delivery: this.services.callbacks?.open(params, requestId) ?? null,
      settings: {
        iceServers: this.config.iceServers,
        idleTimeoutMs: this.config.idleTimeoutMs,
        maxOutboundMessages: this.config.maxOutboundMessages,
        maxOutboundBytes: this.config.maxOutboundBytes,
        ingestPacing: this.config.ingestPacing,
        connectTimeoutMs: PENDING_OFFER_TIMEOUT_MS,
      },
      services: this.services,
    });
    createSessions(factory, params, whip.bridge);
    let answer: string;
    try {
      answer = await whip.answer(offer);
    } catch (error) {
      await whip.discard();
      throw new WhipRefusal(400, 'malformed_offer', `the SDP offer could not be negotiated: ${error instanceof Error ? error.message : String(error)}`);
    }
    // Whoever holds the Location can end the session, so it must not be guessable from
    // anything public such as the request id, which clients log.
    const resourceId = randomBytes(16).toString('base64url');
    this.sessions.set(resourceId, whip);
    void whip.closed.then(() => this.sessions.delete(resourceId));
    response
      .writeHead(201, {
        'Content-Type': 'application/sdp',
        'Content-Length': Buffer.byteLength(answer),
        Location: `${WHIP_PATH}/${resourceId}`,
        'dg-request-id': requestId,
      })
      .end(answer);
    return whip;
  }

  private refuse(response: ServerResponse, refusal: Refusal, requestId: string): void {
    this.services.metrics.errors.inc({ code: refusal.code });
    logRefusal(this.services, refusal, requestId);
    const body = refusal.body(requestId);
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
      ...refusal.headers(),
    };
    if (refusal.httpStatus === 401) headers['WWW-Authenticate'] = 'Bearer';
    if (refusal.httpStatus === 405) headers.Allow = refusal.message.startsWith('use POST') ? 'POST' : 'DELETE';
    response.writeHead(refusal.httpStatus, headers).end(body);
  }
}

function tokenOf(request: IncomingMessage): string | null {
  return new URL(request.url ?? '/', 'http://chorus.invalid').searchParams.get('token');
}

async function readOffer(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > MAX_OFFER_BYTES) throw new WhipRefusal(413, 'offer_too_large', `an SDP offer may be at most ${MAX_OFFER_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * What the server needs from an offer, checked up front so that a client learns what is
 * wrong in words rather than from a WebRTC stack's parse error.
 */
export function checkOffer(sdp: string): void {
  const lines = sdp.split(/\r?\n/);
  const malformed = (what: string) => new WhipRefusal(400, 'malformed_offer', what);
  if (lines[0]?.trim() !== 'v=0') throw malformed('the body is not an SDP offer (it must start with "v=0")');
  const media = lines.filter((line) => line.startsWith('m='));
  if (!media.some((line) => line.startsWith('m=audio '))) {
    throw malformed('the offer has no audio section (m=audio); add a microphone track or an audio transceiver');
  }
  if (!lines.some((line) => /^a=rtpmap:\d+ opus\/48000/i.test(line))) {
    throw malformed('the offer does not offer Opus audio (a=rtpmap:<pt> opus/48000/2), the only codec accepted');
  }
  if (!media.some((line) => line.startsWith('m=application ') && line.includes('webrtc-datachannel'))) {
    throw malformed('the offer has no DataChannel section (m=application); captions are sent on a DataChannel: create one before createOffer()');
  }
  if (!lines.some((line) => line.startsWith('a=ice-ufrag:')) || !lines.some((line) => line.startsWith('a=fingerprint:'))) {
    throw malformed('the offer lacks ICE credentials (a=ice-ufrag) or a DTLS fingerprint (a=fingerprint)');
  }
}

/**
 * The offer with only the candidates the server will send connectivity checks to: unicast
 * addresses (or a browser's mDNS `.local` name) on ports above 1023. Others are dropped, not
 * refused, since a browser may list a candidate of an odd interface beside good ones; an
 * offer with more than MAX_OFFER_CANDIDATES is refused, since no browser sends that many and
 * each would cost checks to targets of the sender's choosing.
 */
export function offerCandidates(sdp: string): string {
  const lines = sdp.split(/\r?\n/);
  const candidates = lines.filter((line) => line.startsWith('a=candidate:'));
  if (candidates.length > MAX_OFFER_CANDIDATES) {
    throw new WhipRefusal(400, 'malformed_offer', `the offer has ${candidates.length} ICE candidates; at most ${MAX_OFFER_CANDIDATES} are accepted`);
  }
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  return lines.filter((line) => !line.startsWith('a=candidate:') || candidateTargetAllowed(line)).join(eol);
}

/** `a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ ...` */
export function candidateTargetAllowed(line: string): boolean {
  const fields = line.slice('a=candidate:'.length).trim().split(/\s+/);
  const address = fields[4] ?? '';
  const port = Number(fields[5]);
  if (!Number.isInteger(port) || port < 1024 || port > 65_535) return false;
  if (isIPv4(address)) {
    const [a, b] = address.split('.').map(Number);
    // "this network", multicast, reserved and broadcast, and link-local (cloud metadata lives there)
    return !(a === 0 || a >= 224 || (a === 169 && b === 254));
  }
  if (isIPv6(address)) {
    const lower = address.toLowerCase();
    return !(lower === '::' || lower.startsWith('ff') || lower.startsWith('fe80'));
  }
  return /^[0-9a-f-]+\.local$/i.test(address);
}
