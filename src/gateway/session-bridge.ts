/**
 * What every live transport (the /v1/listen WebSocket, WebRTC, Twilio Media Streams) does
 * between its wire and its LiveSessions, written once:
 *
 *  - audio in: one decoder and one session per channel transcribed on its own (one channel
 *    unless the stream is a call whose tracks are kept apart), ingest pacing, the audio hash
 *    and duration that Metadata reports, the arrival clock that latency is measured against;
 *  - results out: session events rendered in /v1/listen's shapes with their channel, every
 *    final kept (the transcript sink, a per-stream delivery such as Deepgram's callback)
 *    before it is offered to the client, a final the client never got logged, server-side
 *    latency timed when a result is handed to the wire;
 *  - ending: Metadata, the idle timer, releasing every session exactly once, draining the
 *    outbound queue within a deadline.
 *
 * A transport is a thin adapter around it (BridgeTransport): it owns its wire, its outbound
 * queue and its way of ending, and tells the bridge what arrived.
 */
import { createHash, type Hash } from 'node:crypto';
import { withinPacing, type IngestPacing } from '../stream/admission.js';
import { STREAM_SAMPLE_RATE, type AudioDecoder } from '../stream/audio-decoder.js';
import type { LiveSession, SessionEvent, SessionEventSink } from '../stream/session-contract.js';
import { ArrivalClock } from './arrival-clock.js';
import type { ClientLease, ClientLimits } from './client-limits.js';
import type { CallbackDispatcher } from './callback-delivery.js';
import type { GatewayLog } from './log.js';
import type { GatewayMetrics } from './metrics.js';
import type { OutboundKind } from './outbound-queue.js';
import type { ErrorCode, ListenParams, ParameterWarning } from './protocol.js';
import { metadataMessage, type ModelInfo, type ResultsMessage, type ServerMessage } from './protocol-messages.js';
import { renderResults, renderSessionEvent, undeliveredFinalFields, type ChannelRef } from './result-rendering.js';
import type { CallInfo, FinalRecord, TranscriptSink, Transport } from './transcript-sink.js';

/** What the server gives every stream: metrics, the log, the transcript sink, callback delivery. */
export interface ConnectionServices {
  metrics: GatewayMetrics;
  log: GatewayLog;
  sink: TranscriptSink | null;
  /** Deepgram's `callback` parameter; absent: no stream may ask for one (admission refuses it). */
  callbacks?: CallbackDispatcher | null;
  /** Sessions per client address (--max-sessions-per-client); absent: no limit. */
  clients?: ClientLimits | null;
}

export interface BridgeSettings {
  /** No audio (nor KeepAlive, where the transport has one) this long ends the stream. */
  idleTimeoutMs: number;
  ingestPacing: IngestPacing;
}

/** A destination of one stream's own (Deepgram's `callback`): its finals and closing Metadata, in order. */
export interface StreamDelivery {
  deliver(message: ServerMessage): void;
  /** No more messages will come; what is queued is still delivered. */
  end(): void;
}

export interface BridgeSetup {
  requestId: string;
  /** the client's address (the TCP peer's), which its sessions count against (client-limits.ts) */
  client: string;
  transport: Transport;
  params: ListenParams;
  model: ModelInfo;
  /** Parameter warnings plus any model substitution, for Metadata. */
  warnings: ParameterWarning[];
  /** One per channel transcribed on its own; each turns that channel's bytes into 16 kHz mono. */
  decoders: AudioDecoder[];
  /** `channels` of Metadata: the channels of the audio sent, whether mixed or kept apart. */
  audioChannels: number;
  settings: BridgeSettings;
  services: ConnectionServices;
  delivery?: StreamDelivery | null;
}

/** The transport's side: its wire, and its way of ending. */
export interface BridgeTransport {
  /**
   * Hands a message to the wire (or its queue). False when it was not taken; the bridge then
   * logs a final as undelivered. `onSent` runs when it leaves for the network.
   */
  send(message: ServerMessage, kind: OutboundKind, channel: number, onSent?: () => void): boolean;
  /** Nothing arrived for the idle timeout. */
  onIdle(): void;
  /** A session's pipeline, or the bridge handling its events, failed. */
  onFailure(error: unknown): void;
}

export class SessionBridge {
  readonly channelCount: number;
  private readonly sessions: Array<LiveSession | null>;
  private readonly clocks: ArrivalClock[];
  /** End of the last word already timed by an interim, per channel (interim latency counts a word once). */
  private readonly interimTimedUntil: number[];
  private readonly receivedSamples: number[];
  private readonly finalsKept: number[];
  private readonly audioHash: Hash = createHash('sha256');
  private readonly created = new Date();
  private firstAudioMs: number | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private released: Promise<boolean> | null = null;
  private clientLease: ClientLease | null = null;
  private call: CallInfo | null = null;
  private deliveryEnded = false;

  constructor(
    readonly setup: BridgeSetup,
    private readonly transport: BridgeTransport,
  ) {
    this.channelCount = setup.decoders.length;
    this.sessions = setup.decoders.map(() => null);
    this.clocks = setup.decoders.map(() => new ArrivalClock());
    this.interimTimedUntil = setup.decoders.map(() => 0);
    this.receivedSamples = setup.decoders.map(() => 0);
    this.finalsKept = setup.decoders.map(() => 0);
  }

  get requestId(): string {
    return this.setup.requestId;
  }

  get params(): ListenParams {
    return this.setup.params;
  }

  /** Audio seconds of the longest channel. */
  get durationS(): number {
    return Math.max(0, ...this.receivedSamples) / STREAM_SAMPLE_RATE;
  }

  /** Whether the stream's finals are kept without its client: a transcript sink or a delivery takes them. */
  get finalsOwed(): boolean {
    return this.setup.services.sink != null || this.setup.delivery != null;
  }

  /** The session of `channel`, created by admission before the transport's wire opened. */
  bindSession(channel: number, session: LiveSession): void {
    this.sessions[channel] = session;
  }

  /** The event sink of `channel`'s session. */
  eventSink(channel: number): SessionEventSink {
    return (event) => {
      try {
        this.onEvent(channel, event);
      } catch (error) {
        this.transport.onFailure(error);
      }
    };
  }

  /** A session's pipeline failed after it was created. */
  readonly onSessionError = (error: Error): void => this.transport.onFailure(error);

  /** Telephony metadata, recorded with every final from now on. */
  setCall(call: CallInfo): void {
    this.call = call;
  }

  /** Drops a channel admission created that the stream turned out not to have (a one-track call). */
  async dropChannel(channel: number): Promise<void> {
    const session = this.sessions[channel];
    this.sessions[channel] = null;
    await session?.abort();
  }

  // ---------------------------------------------------------------------------------------
  // Audio in

  /** The bytes as the client sent them, for Metadata's sha256. */
  hashAudio(bytes: Uint8Array): void {
    this.audioHash.update(bytes);
  }

  decode(channel: number, bytes: Uint8Array): Float32Array {
    return this.setup.decoders[channel].decode(bytes);
  }

  /** Whether `samples` more of `channel` stay within the ingest pacing, counted from the stream's first audio. */
  withinPacing(channel: number, samples: number): boolean {
    const now = Date.now();
    this.firstAudioMs ??= now;
    const seconds = (this.receivedSamples[channel] + samples) / STREAM_SAMPLE_RATE;
    return withinPacing(seconds, (now - this.firstAudioMs) / 1000, this.setup.settings.ingestPacing);
  }

  pacingDescription(): string {
    const pacing = this.setup.settings.ingestPacing;
    return `audio is arriving faster than ${pacing.rate}x real time (more than ${pacing.burstS} s ahead); send it at the pace it is spoken`;
  }

  /** 16 kHz samples of `channel` into its session, timed on the arrival clock. */
  pushSamples(channel: number, samples: Float32Array): void {
    const session = this.sessions[channel];
    if (samples.length === 0 || session === null) return;
    const seconds = samples.length / STREAM_SAMPLE_RATE;
    this.receivedSamples[channel] += samples.length;
    this.clocks[channel].record(seconds, Date.now());
    this.setup.services.metrics.audioSeconds.inc(seconds);
    session.pushAudio(samples);
  }

  /** What each decoder held back for look-ahead, as if the audio ended here. */
  flushDecoders(): void {
    this.setup.decoders.forEach((decoder, channel) => this.pushSamples(channel, decoder.flush()));
  }

  /** Decodes everything received on `channel` (null: every channel) and emits it as finals. */
  async finalize(channel: number | null): Promise<void> {
    const channels = channel === null || this.channelCount === 1 ? this.sessions.keys() : [channel];
    const pending: Array<Promise<void>> = [];
    for (const c of channels) {
      const session = this.sessions[c];
      if (session === undefined || session === null) continue;
      this.pushSamples(c, this.setup.decoders[c].flush());
      pending.push(session.finalize());
    }
    await Promise.all(pending);
  }

  /**
   * Releases every session once, by whichever end comes first (close: finalise and emit the
   * last finals; abort: at once); later calls share the first. Resolves false, logged, when
   * a session failed to release (a failed close may have lost its last finals).
   */
  release(how: 'close' | 'abort'): Promise<boolean> {
    this.released ??= Promise.all(
      this.sessions.map((session) => (session === null ? undefined : how === 'close' ? session.close() : session.abort())),
    )
      .then(
        () => true,
        (error: unknown) => {
          this.setup.services.log('session_release_failed', { request_id: this.requestId, error: describe(error) });
          return false;
        },
      )
      .finally(() => this.clientLease?.release());
    return this.released;
  }

  /** The client's share of sessions this stream holds, given back when the stream is released. */
  holdClientLease(lease: ClientLease): void {
    this.clientLease = lease;
  }

  // ---------------------------------------------------------------------------------------
  // Results out

  private onEvent(channel: number, event: SessionEvent): void {
    const ref: ChannelRef = { channelIndex: channel, channelCount: this.channelCount };
    if (event.type !== 'results') {
      this.transport.send(renderSessionEvent(event, this.setup, ref), 'control', channel);
      return;
    }
    const message = renderResults(event, this.setup, ref);
    if (event.isFinal) this.keepFinal(channel, message);
    const taken = this.transport.send(message, event.isFinal ? 'final' : 'interim', channel, () => this.timeResult(channel, event));
    if (!taken && event.isFinal) this.logUndelivered(message);
  }

  /** Every final goes to the sink and the stream's delivery when produced, whatever becomes of the client. */
  private keepFinal(channel: number, message: ResultsMessage): void {
    const seq = ++this.finalsKept[channel];
    const alternative = message.channel.alternatives[0];
    const record: FinalRecord = {
      id: `${this.requestId}.${channel}.${seq}`,
      time: new Date().toISOString(),
      request_id: this.requestId,
      transport: this.setup.transport,
      model: this.setup.model.name,
      channel,
      channels: this.channelCount,
      seq,
      start: message.start,
      duration: message.duration,
      transcript: alternative.transcript,
      speech_final: message.speech_final,
      from_finalize: message.from_finalize,
      words: alternative.words,
      tag: this.setup.params.tag,
      extra: this.setup.params.extra,
      call: this.call,
    };
    this.setup.services.sink?.write(record);
    if (!this.deliveryEnded) this.setup.delivery?.deliver(message);
  }

  /** Server-side latency (metrics.ts): now minus the arrival of the audio holding each word's end. */
  private timeResult(channel: number, event: Extract<SessionEvent, { type: 'results' }>): void {
    const { metrics } = this.setup.services;
    const clock = this.clocks[channel];
    const now = Date.now();
    metrics.sessionLag.observe(event.lag);
    const histogram = event.isFinal ? metrics.finalLatency : metrics.interimLatency;
    for (const word of event.words) {
      if (!event.isFinal && word.end <= this.interimTimedUntil[channel]) continue;
      const arrival = clock.arrivalOf(word.end);
      if (arrival !== null) histogram.observe(Math.max(0, now - arrival) / 1000);
    }
    const lastEnd = event.words.at(-1)?.end;
    if (lastEnd === undefined) return;
    if (event.isFinal) {
      // Finals never overlap and later results lie after them, so earlier marks are done with.
      clock.forgetBefore(lastEnd);
    } else {
      this.interimTimedUntil[channel] = Math.max(this.interimTimedUntil[channel], lastEnd);
    }
  }

  /** A final that never reached its client is logged, so that it is not lost silently. */
  logUndelivered(message: ServerMessage): void {
    if (message.type !== 'Results') return;
    this.setup.services.log('final_undelivered', undeliveredFinalFields(message, this.requestId));
  }

  // ---------------------------------------------------------------------------------------
  // Ending

  /** The closing Metadata (Deepgram's shape); the stream's delivery gets it too and is ended. */
  metadata(): ServerMessage {
    const message = metadataMessage({
      requestId: this.requestId,
      sha256: this.audioHash.digest('hex'),
      created: this.created,
      duration: this.durationS,
      channels: this.setup.audioChannels,
      model: this.setup.model,
      extra: this.setup.params.extra,
      warnings: this.setup.warnings,
    });
    if (!this.deliveryEnded) this.setup.delivery?.deliver(message);
    this.endDelivery();
    return message;
  }

  /** No more messages for the stream's delivery (it still sends what it holds). */
  endDelivery(): void {
    if (this.deliveryEnded) return;
    this.deliveryEnded = true;
    this.setup.delivery?.end();
  }

  countError(code: ErrorCode | string): void {
    this.setup.services.metrics.errors.inc({ code });
  }

  resetIdleTimer(): void {
    this.clearIdleTimer();
    this.idleTimer = setTimeout(() => this.transport.onIdle(), this.setup.settings.idleTimeoutMs);
  }

  clearIdleTimer(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}

/** Whether `whenEmpty` (an outbound queue draining) settled within `ms`; none counts as drained. */
export async function drainWithin(whenEmpty: Promise<void> | undefined, ms: number): Promise<boolean> {
  if (whenEmpty === undefined) return true;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([whenEmpty.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
