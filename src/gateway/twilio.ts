/**
 * Twilio Media Streams ingest: `wss://HOST/v1/twilio/<key>`, the URL of a TwiML `<Stream>`.
 *
 * Twilio opens the WebSocket and sends JSON text messages: `connected`, then `start` (the
 * stream and call ids, the tracks, the media format, the `<Parameter>`s of the TwiML as
 * `customParameters`), then `media` messages of 20 ms of base64 8 kHz mu-law per track, `mark`
 * and `dtmf` as they happen, and `stop` at the end. The inbound track (the caller) is
 * transcribed as channel 0 and the outbound track (what the call plays or the other party
 * says) as channel 1, each in its own live session. Twilio does not read what the server
 * sends, so every final goes to the transcript sinks (and a `callback`, where one is given),
 * with the call's `callSid`, `streamSid` and custom parameters.
 *
 * Twilio cannot send headers and a `<Stream>` URL takes no query string, so the key is the
 * last segment of the path; `?token=` and the Authorization header work too, for other
 * clients. With `--twilio-auth-token`, the upgrade must also carry Twilio's signature
 * (twilio-signature.ts), as Twilio asks of every Media Streams server. Both channels are
 * admitted before the upgrade, all or nothing, so a refused call is an HTTP status at once
 * (Twilio reports it as a stream error) rather than half a transcript. A call whose `start`
 * names only one track gives the other's session back.
 *
 * Every end keeps the finals: `stop`, the socket closing without one (a dropped call), the
 * idle timeout and shutdown all decode the audio received to its end before the sessions are
 * released.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { OverloadError } from '../stream/admission.js';
import { AudioInputError } from '../stream/audio-decoder.js';
import type { SessionFactory } from '../stream/session-contract.js';
import type { FailedAuthThrottle } from './auth-throttle.js';
import { hasValidTwilioSignature } from './twilio-signature.js';
import type { GatewayConfig } from './config.js';
import { refuseUpgrade } from './listen.js';
import type { OutboundKind } from './outbound-queue.js';
import { ERROR_DISPOSITIONS, NORMAL_CLOSE, type ErrorCode } from './protocol.js';
import type { ServerMessage } from './protocol-messages.js';
import { describe, SessionBridge, type BridgeTransport, type ConnectionServices } from './session-bridge.js';
import {
  checkCallback,
  checkKey,
  checkServing,
  clientAddress,
  createSessions,
  openDecoder,
  parseStreamParams,
  Refusal,
  streamModel,
} from './stream-admission.js';

export const TWILIO_PATH = '/v1/twilio';

/** Twilio's track names, in channel order. */
export const TWILIO_TRACKS = ['inbound', 'outbound'] as const;
const MULAW_RATE = 8000;
/** A mu-law byte of silence (zero amplitude). */
const MULAW_SILENCE = 0xff;

/** Why a call's stream ended; the label of chorus_sessions_total. */
type TwilioEnd = 'completed' | 'disconnected' | 'idle_timeout' | 'shutting_down' | 'ingest_too_fast' | 'server_overloaded' | 'internal_error' | 'malformed_message' | 'unsupported_encoding';

export class TwilioEndpoint {
  private readonly wss: WebSocketServer;
  private readonly calls = new Set<TwilioCall>();
  private factory: SessionFactory | null = null;
  private draining = false;

  constructor(
    private readonly config: GatewayConfig,
    private readonly services: ConnectionServices,
    private readonly throttle: FailedAuthThrottle,
  ) {
    // Twilio sends 20 ms per message (about 250 bytes of JSON); the frame limit is the gateway's.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: config.maxFrameBytes, perMessageDeflate: false });
  }

  attach(factory: SessionFactory): void {
    this.factory = factory;
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const requestId = randomUUID();
    this.admit(request, socket, head, requestId).catch((error: unknown) => {
      const refusal = error instanceof Refusal ? error : new Refusal('internal_error', 'the server failed to set up the session');
      if (!(error instanceof Refusal)) this.services.log('admission_failed', { request_id: requestId, error: describe(error) });
      refuseUpgrade(socket, refusal, requestId, this.services);
    });
  }

  /** Stops admitting, then ends every call after its finals are out. */
  async shutdown(): Promise<void> {
    this.draining = true;
    const all = [...this.calls];
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.config.shutdownGraceMs)));
    await Promise.race([Promise.all(all.map((call) => call.end('shutting_down'))), deadline]);
    clearTimeout(timer);
    for (const call of this.calls) call.terminate();
    this.wss.close();
  }

  private async admit(request: IncomingMessage, socket: Duplex, head: Buffer, requestId: string): Promise<void> {
    const factory = checkServing(this.draining, this.factory);
    const url = new URL(request.url ?? '/', 'http://chorus.invalid');
    const pathKey = url.pathname.length > TWILIO_PATH.length + 1 ? decodeURIComponent(url.pathname.slice(TWILIO_PATH.length + 1)) : null;
    checkKey(request, pathKey ?? url.searchParams.get('token'), this.config.apiKeys, this.throttle);
    if (this.config.twilioAuthTokens.length > 0 && !hasValidTwilioSignature(request, this.config.twilioAuthTokens)) {
      this.throttle.recordFailure(clientAddress(request), Date.now());
      throw new Refusal('invalid_twilio_signature', 'the upgrade has no X-Twilio-Signature made with this server\'s Twilio Auth Token for this URL', 403);
    }
    const params = parseStreamParams(url, 'twilio', this.config);
    checkCallback(params, this.config);
    if (this.services.sink === null && params.callback === null) {
      throw new Refusal(
        'no_transcript_sink',
        'Twilio does not read the socket, so its transcripts need a transcript sink; start the server with --transcript-sink',
        503,
      );
    }
    const decoders = await Promise.all(TWILIO_TRACKS.map(() => openDecoder({ encoding: 'mulaw', sampleRate: MULAW_RATE, channels: 1 })));
    if (socket.destroyed) return;
    const call = new TwilioCall(
      {
        requestId,
        client: clientAddress(request),
        transport: 'twilio',
        params,
        ...streamModel(params, factory),
        decoders,
        audioChannels: TWILIO_TRACKS.length,
        settings: { idleTimeoutMs: this.config.idleTimeoutMs, ingestPacing: this.config.ingestPacing },
        services: this.services,
        delivery: this.services.callbacks?.open(params, requestId) ?? null,
      },
      this.services,
    );
    createSessions(factory, params, call.bridge);
    let opened = false;
    socket.once('close', () => {
      if (!opened) void call.bridge.release('abort');
    });
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      opened = true;
      this.calls.add(call);
      void call.closed.then(() => this.calls.delete(call));
      call.open(ws);
    });
  }
}

/** One Twilio Media Stream: its two tracks, transcribed as channels 0 and 1. */
class TwilioCall implements BridgeTransport {
  readonly bridge: SessionBridge;
  private socket: WebSocket | null = null;
  /** Per track: the stream time (ms) at which its next media is expected; null before its first. */
  private readonly nextMs: Array<number | null> = TWILIO_TRACKS.map(() => null);
  private started = false;
  private ending: Promise<void> | null = null;
  private closedResolve!: () => void;
  readonly closed = new Promise<void>((resolve) => (this.closedResolve = resolve));

  constructor(
    setup: ConstructorParameters<typeof SessionBridge>[0],
    private readonly services: ConnectionServices,
  ) {
    this.bridge = new SessionBridge(setup, this);
  }

  get requestId(): string {
    return this.bridge.requestId;
  }

  open(socket: WebSocket): void {
    this.socket = socket;
    socket.on('message', (data, isBinary) => this.guard(() => this.onMessage(data, isBinary)));
    socket.on('error', (error) => this.services.log('websocket_error', { request_id: this.requestId, error: error.message }));
    // A call that drops without `stop` still has its audio decoded to the end.
    socket.on('close', () => {
      this.socket = null;
      void this.end('disconnected');
    });
    this.bridge.resetIdleTimer();
  }

  /** Decodes what was received to its end, releases the sessions, closes the socket. Once. */
  end(how: TwilioEnd): Promise<void> {
    this.ending ??= this.finish(how);
    return this.ending;
  }

  terminate(): void {
    this.socket?.terminate();
  }

  private async finish(how: TwilioEnd): Promise<void> {
    this.bridge.clearIdleTimer();
    const keepsFinals = how !== 'internal_error';
    if (keepsFinals) {
      try {
        this.bridge.flushDecoders();
      } catch (error) {
        this.services.log('session_failed', { request_id: this.requestId, error: describe(error) });
      }
    }
    const released = await this.bridge.release(keepsFinals ? 'close' : 'abort');
    const outcome = released ? how : 'internal_error';
    // The closing Metadata goes where the finals went (a callback); Twilio reads nothing.
    this.bridge.metadata();
    if (outcome !== 'completed' && outcome !== 'disconnected') {
      this.bridge.countError(outcome);
      this.services.log('twilio_stream_ended', { request_id: this.requestId, reason: outcome });
    }
    this.services.metrics.sessionsTotal.inc({ outcome });
    const socket = this.socket;
    if (socket !== null && socket.readyState === socket.OPEN) {
      const code = outcome === 'completed' ? NORMAL_CLOSE : ERROR_DISPOSITIONS[outcome as ErrorCode]?.closeCode ?? 1011;
      socket.close(code, outcome === 'completed' ? '' : outcome);
    }
    this.closedResolve();
  }

  // ---------------------------------------------------------------------------------------
  // Twilio's messages

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.ending !== null) return;
    if (isBinary) return this.refuse('malformed_message', 'Twilio Media Streams messages are JSON text');
    let message: unknown;
    try {
      message = JSON.parse((data as Buffer).toString('utf8'));
    } catch {
      return this.refuse('malformed_message', 'a message is not JSON');
    }
    if (typeof message !== 'object' || message === null || typeof (message as { event?: unknown }).event !== 'string') {
      return this.refuse('malformed_message', 'a message has no "event"');
    }
    const event = message as Record<string, unknown> & { event: string };
    switch (event.event) {
      case 'connected':
        return;
      case 'start':
        return this.onStart(event.start);
      case 'media':
        return this.onMedia(event.media);
      case 'stop':
        return void this.end('completed');
      // A mark echoes audio the application played on a bidirectional stream, dtmf a key
      // press: neither is speech. Events added to the protocol later are ignored likewise.
      default:
        this.bridge.resetIdleTimer();
        return;
    }
  }

  private onStart(start: unknown): void {
    if (this.started) return;
    this.started = true;
    const fields = (typeof start === 'object' && start !== null ? start : {}) as Record<string, unknown>;
    const format = (fields.mediaFormat ?? {}) as Record<string, unknown>;
    if (
      (format.encoding !== undefined && format.encoding !== 'audio/x-mulaw') ||
      (format.sampleRate !== undefined && Number(format.sampleRate) !== MULAW_RATE) ||
      (format.channels !== undefined && Number(format.channels) !== 1)
    ) {
      return this.refuse(
        'unsupported_encoding',
        `Media Streams carry audio/x-mulaw at 8000 Hz, 1 channel per track; start declared ${JSON.stringify(format)}`,
      );
    }
    const tracks = Array.isArray(fields.tracks) ? fields.tracks.filter((t): t is string => typeof t === 'string') : [...TWILIO_TRACKS];
    const custom = typeof fields.customParameters === 'object' && fields.customParameters !== null ? fields.customParameters : {};
    this.bridge.setCall({
      provider: 'twilio',
      call_sid: String(fields.callSid ?? ''),
      stream_sid: String(fields.streamSid ?? ''),
      account_sid: String(fields.accountSid ?? ''),
      tracks: [...TWILIO_TRACKS],
      custom_parameters: Object.fromEntries(Object.entries(custom).map(([name, value]) => [name, String(value)])),
    });
    // A track the call will not send gives its session back at once.
    TWILIO_TRACKS.forEach((track, channel) => {
      if (!tracks.includes(track)) void this.bridge.dropChannel(channel);
    });
  }

  private onMedia(media: unknown): void {
    const fields = (typeof media === 'object' && media !== null ? media : {}) as Record<string, unknown>;
    const channel = TWILIO_TRACKS.indexOf(fields.track as (typeof TWILIO_TRACKS)[number]);
    // Twilio names the track on every media message; one without is the caller's, as in a one-track stream.
    const index = fields.track === undefined ? 0 : channel;
    if (index < 0) return this.refuse('malformed_message', `media "track" must be inbound or outbound, got ${JSON.stringify(fields.track)}`);
    if (typeof fields.payload !== 'string') return this.refuse('malformed_message', 'media has no base64 "payload"');
    this.bridge.resetIdleTimer();
    const bytes = Buffer.from(fields.payload, 'base64');
    this.bridge.hashAudio(bytes);
    const timestamp = Number(fields.timestamp);
    const gapMs = this.gapBefore(index, Number.isFinite(timestamp) ? timestamp : null, bytes.length);
    // The silence a gap adds counts against the pacing before it is made, so a timestamp far
    // ahead of the wall clock (a hostile or broken sender) ends the stream instead of
    // allocating hours of silence.
    const gapSamples = Math.round((gapMs / 1000) * 16000);
    if (gapSamples > 0 && !this.bridge.withinPacing(index, gapSamples + bytes.length * 2)) return this.tooFast();
    const audio = gapSamples > 0 ? Buffer.concat([Buffer.alloc(Math.round((gapMs / 1000) * MULAW_RATE), MULAW_SILENCE), bytes]) : bytes;
    const samples = this.bridge.decode(index, audio);
    if (!this.bridge.withinPacing(index, samples.length)) return this.tooFast();
    this.bridge.pushSamples(index, samples);
  }

  private tooFast(): void {
    this.services.log('session_error', { request_id: this.requestId, code: 'ingest_too_fast', description: this.bridge.pacingDescription() });
    void this.end('ingest_too_fast');
  }

  /**
   * Milliseconds of silence to put before this media: the time its track skipped. Word times
   * count samples, so a gap left out would pull every later word of that channel earlier and
   * out of step with the other channel. A track's first media is placed from the stream's
   * start (an outbound leg that begins when the agent answers), so both channels share the
   * call's clock.
   */
  private gapBefore(channel: number, timestampMs: number | null, bytes: number): number {
    const expected = this.nextMs[channel];
    const durationMs = (bytes / MULAW_RATE) * 1000;
    if (timestampMs === null) {
      if (expected !== null) this.nextMs[channel] = expected + durationMs;
      return 0;
    }
    this.nextMs[channel] = Math.max(expected ?? 0, timestampMs + durationMs);
    const gapMs = timestampMs - (expected ?? 0);
    return gapMs < 1 ? 0 : gapMs;
  }

  private refuse(code: 'malformed_message' | 'unsupported_encoding', description: string): void {
    this.services.log('session_error', { request_id: this.requestId, code, description });
    void this.end(code);
  }

  // ---------------------------------------------------------------------------------------
  // The bridge's side: Twilio reads nothing, so results reach only the sinks.

  send(_message: ServerMessage, _kind: OutboundKind, _channel: number, onSent?: () => void): boolean {
    // Latency is timed when the final is kept (the sink), the only delivery a call has.
    onSent?.();
    return true;
  }

  onIdle(): void {
    void this.end('idle_timeout');
  }

  onFailure(error: unknown): void {
    // Shed by admission (src/stream/admission.ts, "Overload"): ended as documented, not a fault.
    if (error instanceof OverloadError) return void this.end('server_overloaded');
    this.services.log('session_failed', { request_id: this.requestId, error: describe(error) });
    void this.end('internal_error');
  }

  private guard(handler: () => void): void {
    try {
      handler();
    } catch (error) {
      if (error instanceof AudioInputError) this.refuse('malformed_message', error.message);
      else this.onFailure(error);
    }
  }
}
