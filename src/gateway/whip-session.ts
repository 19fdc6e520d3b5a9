/**
 * One WebRTC ingest peer: an Opus audio track in, /v1/listen messages out on a DataChannel,
 * over a LiveSession that admission (whip.ts) already created.
 *
 * Every end keeps the finals: the session is closed (finalised) rather than aborted, whether
 * the client sent DELETE, its peer connection closed or failed, or it went quiet. Finals that
 * can no longer reach the DataChannel still go to the transcript sink and the log, as with
 * WebSocket sessions. After a DELETE the server waits briefly for the client to read
 * Metadata and close its side, since tearing SCTP down at once could drop the last messages.
 */
import { RTCPeerConnection, RTCRtpCodecParameters, type MediaStreamTrack, type RTCDataChannel } from 'werift';
import { OverloadError } from '../stream/admission.js';
import { AudioInputError } from '../stream/audio-decoder.js';
import type { IceServer } from './config.js';
import { DEFAULT_HIGH_WATER_BYTES, OutboundQueue, type OutboundKind, type OutboundSocket } from './outbound-queue.js';
import { encodeServerMessage, errorMessage, type ServerMessage } from './protocol-messages.js';
import { describe, drainWithin, SessionBridge, type BridgeSetup, type BridgeTransport } from './session-bridge.js';
import { RtpOpusInput } from './rtp-opus-input.js';

export interface WhipSettings {
  iceServers: IceServer[];
  /** No RTP for this long (after the first packet, or after the answer) ends the session. */
  idleTimeoutMs: number;
  maxOutboundMessages: number;
  maxOutboundBytes: number;
  ingestPacing: BridgeSetup['settings']['ingestPacing'];
  /** An answered offer whose peer has not connected this long after is dropped, its slot freed. */
  connectTimeoutMs: number;
}

export interface WhipSessionSetup extends Omit<BridgeSetup, 'settings' | 'transport'> {
  settings: WhipSettings;
}

/** Why a session ended; `completed` is DELETE, the rest label chorus_sessions_total too. */
export type WhipEnd = 'completed' | 'peer_closed' | 'ice_failed' | 'idle_timeout' | 'ingest_too_fast' | 'server_overloaded' | 'shutting_down' | 'internal_error';

/** Browsers pick this label in the demo client; any label the client opens first is used. */
export const CAPTIONS_LABEL = 'captions';

const OPUS = new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 });
/** ICE on a LAN settles in well under a second; 'disconnected' this long means the peer is gone. */
const DISCONNECTED_GRACE_MS = 5000;
/** A client that opened no DataChannel this long after connecting gets one from the server. */
const CLIENT_CHANNEL_WAIT_MS = 1000;
/** After DELETE, time for the client to read its last messages and close its side first. */
const CLOSE_LINGER_MS = 2000;

export class WhipSession implements BridgeTransport {
  readonly bridge: SessionBridge;
  private readonly pc: RTCPeerConnection;
  private channel: RTCDataChannel | null = null;
  /** Messages produced before any DataChannel opened; sent, in order, once one does. */
  private readonly early: Array<{ message: ServerMessage; kind: OutboundKind; lane: number; onSent?: () => void }> = [];
  private queue: OutboundQueue<ServerMessage> | null = null;
  private readonly rtp: RtpOpusInput;
  private disconnectedTimer: NodeJS.Timeout | null = null;
  private badPacketLogged = false;
  private ending: Promise<void> | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private connectedResolve!: (connected: boolean) => void;
  /** Settles true when ICE and DTLS connect, false when the session ends or times out first. */
  readonly connected = new Promise<boolean>((resolve) => (this.connectedResolve = resolve));
  private closedResolve!: () => void;
  /** Settles once the session is released and the peer connection closed. */
  readonly closed = new Promise<void>((resolve) => (this.closedResolve = resolve));

  constructor(private readonly setup: WhipSessionSetup) {
    this.bridge = new SessionBridge({ ...setup, transport: 'webrtc' }, this);
    this.rtp = new RtpOpusInput(setup.decoders[0]);
    this.pc = new RTCPeerConnection({
      codecs: { audio: [OPUS] },
      iceServers: setup.settings.iceServers,
    });
    this.pc.onTrack.subscribe((track) => this.onTrack(track));
    this.pc.onDataChannel.subscribe((channel) => this.adoptChannel(channel));
    this.pc.connectionStateChange.subscribe((state) => this.onConnectionState(state));
  }

  get requestId(): string {
    return this.setup.requestId;
  }

  /** The answer SDP for the client's offer, with the server's ICE candidates in it (no trickle). */
  async answer(offerSdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    // A client that never connects would otherwise hold its session slot: nothing was sent to
    // it yet, so nothing is flushed.
    this.connectTimer = setTimeout(() => {
      this.setup.services.log('whip_connect_timeout', { request_id: this.requestId });
      void this.discard();
    }, this.setup.settings.connectTimeoutMs);
    return this.pc.localDescription!.sdp;
  }

  /**
   * Finalises and sends the last results and Metadata (DELETE) or an Error; resolves once
   * they are handed to the DataChannel. Closing the peer follows in the background.
   */
  end(how: WhipEnd): Promise<void> {
    this.ending ??= this.flush(how).then((flushedHow) => {
      void this.closePeer(flushedHow);
    });
    return this.ending;
  }

  /** For a failed set-up: nothing was answered, so nothing is flushed. */
  async discard(): Promise<void> {
    this.ending ??= (async () => {
      this.clearTimers();
      this.connectedResolve(false);
      await this.bridge.release('abort');
      this.bridge.endDelivery();
      await this.pc.close();
      this.closedResolve();
    })();
    return this.ending;
  }

  // ---------------------------------------------------------------------------------------
  // Audio in

  private onTrack(track: MediaStreamTrack): void {
    if (track.kind !== 'audio') return;
    track.onReceiveRtp.subscribe((packet) => {
      if (this.ending !== null) return;
      const payloadType = track.codec?.payloadType;
      if (payloadType !== undefined && packet.header.payloadType !== payloadType) return;
      this.bridge.resetIdleTimer();
      this.bridge.hashAudio(packet.payload);
      try {
        const samples = this.rtp.push(packet.header.timestamp, packet.payload);
        // RTP timestamps are the sender's to choose, so packets far ahead of real time are
        // refused as /v1/listen refuses unpaced audio.
        if (!this.bridge.withinPacing(0, samples.length)) return void this.end('ingest_too_fast');
        this.bridge.pushSamples(0, samples);
      } catch (error) {
        if (!(error instanceof AudioInputError)) return this.onFailure(error);
        // One bad packet on an unreliable transport is not worth a session; a stream of them
        // is a client bug, which the log shows once.
        if (!this.badPacketLogged) {
          this.badPacketLogged = true;
          this.setup.services.log('whip_bad_packet', { request_id: this.requestId, error: error.message });
        }
      }
    });
  }

  // ---------------------------------------------------------------------------------------
  // Results out (the bridge's side)

  send(message: ServerMessage, kind: OutboundKind, lane = 0, onSent?: () => void): boolean {
    if (this.queue === null) {
      if (this.ending !== null && kind === 'final') return false;
      this.early.push({ message, kind, lane, onSent });
      return true;
    }
    const data = encodeServerMessage(message, this.setup.params.resultEncoding);
    return this.queue.push({ payload: message, data, kind, lane, onSent });
  }

  onIdle(): void {
    void this.end('idle_timeout');
  }

  onFailure(error: unknown): void {
    // Shed by admission (src/stream/admission.ts, "Overload"): ended as documented, not a fault.
    if (error instanceof OverloadError) return void this.end('server_overloaded');
    this.setup.services.log('session_failed', { request_id: this.requestId, error: describe(error) });
    void this.end('internal_error');
  }

  private adoptChannel(channel: RTCDataChannel): void {
    if (this.channel !== null) return;
    this.channel = channel;
    const ready = () => {
      this.queue = new OutboundQueue<ServerMessage>(
        dataChannelSocket(channel),
        {
          maxMessages: this.setup.settings.maxOutboundMessages,
          maxBytes: this.setup.settings.maxOutboundBytes,
          highWaterBytes: DEFAULT_HIGH_WATER_BYTES,
        },
        {
          onDropped: (kind) => this.setup.services.metrics.messagesDropped.inc({ kind }),
          // A reader this slow is treated as gone; its finals still reach the sink.
          onOverflow: () => void this.end('peer_closed'),
        },
      );
      for (const { message, kind, lane, onSent } of this.early.splice(0)) {
        if (!this.send(message, kind, lane, onSent) && kind === 'final') this.bridge.logUndelivered(message);
      }
    };
    if (channel.readyState === 'open') ready();
    else channel.stateChanged.subscribe((state) => state === 'open' && this.queue === null && ready());
  }

  // ---------------------------------------------------------------------------------------
  // Ending

  private onConnectionState(state: string): void {
    if (state === 'connected') {
      if (this.connectTimer !== null) clearTimeout(this.connectTimer);
      this.connectTimer = null;
      this.connectedResolve(true);
      this.bridge.resetIdleTimer();
      if (this.disconnectedTimer !== null) clearTimeout(this.disconnectedTimer);
      this.disconnectedTimer = null;
      setTimeout(() => {
        if (this.channel === null && this.ending === null) this.adoptChannel(this.pc.createDataChannel(CAPTIONS_LABEL));
      }, CLIENT_CHANNEL_WAIT_MS).unref();
    } else if (state === 'disconnected') {
      // ICE may recover from a brief network change; only a lasting loss ends the session.
      this.disconnectedTimer ??= setTimeout(() => void this.end('peer_closed'), DISCONNECTED_GRACE_MS);
    } else if (state === 'failed') {
      void this.end('ice_failed');
    } else if (state === 'closed') {
      void this.end('peer_closed');
    }
  }

  private async flush(how: WhipEnd): Promise<WhipEnd> {
    const { metrics, log } = this.setup.services;
    this.clearTimers();
    this.connectedResolve(false);
    try {
      this.bridge.flushDecoders();
    } catch (error) {
      log('session_release_failed', { request_id: this.requestId, error: describe(error) });
      how = 'internal_error';
    }
    if (!(await this.bridge.release('close'))) how = 'internal_error';
    if (how === 'completed') {
      this.send(this.bridge.metadata(), 'control');
    } else if (how === 'shutting_down' || how === 'internal_error' || how === 'ingest_too_fast' || how === 'server_overloaded') {
      const description = {
        shutting_down: 'the server is shutting down',
        internal_error: 'the server failed while transcribing',
        ingest_too_fast: 'audio is arriving faster than the ingest pacing allows',
        server_overloaded: 'the server is overloaded: this stream fell behind and was ended to keep the others within their latency bound',
      }[how];
      metrics.errors.inc({ code: how });
      this.send(errorMessage({ code: how, message: description }, this.requestId), 'control');
    }
    if (how !== 'completed') log('whip_session_ended', { request_id: this.requestId, reason: how });
    // A channel that stopped draining must not hold the DELETE (or shutdown) forever.
    await drainWithin(this.queue?.whenEmpty(), this.setup.settings.idleTimeoutMs);
    return how;
  }

  private async closePeer(how: WhipEnd): Promise<void> {
    const { metrics } = this.setup.services;
    // Ends whose last message explains them give the client time to read it before SCTP goes.
    if (how === 'completed' || how === 'shutting_down' || how === 'ingest_too_fast' || how === 'server_overloaded') await this.peerClosedWithin(CLOSE_LINGER_MS);
    for (const item of this.queue?.close() ?? []) if (item.kind === 'final') this.bridge.logUndelivered(item.payload);
    for (const { message, kind } of this.early.splice(0)) if (kind === 'final') this.bridge.logUndelivered(message);
    this.bridge.endDelivery();
    await this.pc.close().catch(() => {});
    metrics.sessionsTotal.inc({ outcome: how });
    this.closedResolve();
  }

  private peerClosedWithin(ms: number): Promise<void> {
    const state = this.pc.connectionState;
    if (state === 'closed' || state === 'failed' || state === 'new') return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const subscription = this.pc.connectionStateChange.subscribe((next) => {
        if (next === 'closed' || next === 'failed' || next === 'disconnected') done();
      });
      function done() {
        clearTimeout(timer);
        subscription.unSubscribe();
        resolve();
      }
    });
  }

  private clearTimers(): void {
    this.bridge.clearIdleTimer();
    if (this.disconnectedTimer !== null) clearTimeout(this.disconnectedTimer);
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.disconnectedTimer = this.connectTimer = null;
  }
}

/**
 * The outbound queue's view of a DataChannel. A DataChannel has no per-message write
 * callback, so a message counts as written at once while the channel's buffer is low, and
 * otherwise when it drains; that is what lets the queue hold (and thin) results meanwhile.
 */
function dataChannelSocket(channel: RTCDataChannel): OutboundSocket {
  channel.bufferedAmountLowThreshold = DEFAULT_HIGH_WATER_BYTES / 2;
  return {
    get bufferedAmount() {
      return channel.bufferedAmount;
    },
    send(data, written) {
      try {
        channel.send(typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      } catch (error) {
        written(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (channel.bufferedAmount < DEFAULT_HIGH_WATER_BYTES) setImmediate(written);
      else channel.bufferedAmountLow.once(() => written());
    },
  };
}
