// A WebRTC client in Node, as a browser would be: offers an Opus track and a "captions"
// DataChannel to POST /v1/whip, sends real Opus packets over RTP at real-time pace, and
// collects the /v1/listen messages that come back.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket, type RTCDataChannel } from 'werift';
import { resample } from '../../src/audio/resample.js';
import { OggPacketReader } from '../../src/stream/ogg-packets.js';
import { wavBytes } from '../../loadtest/audio-frames.js';

/** opusenc is told to use 20 ms frames, WebRTC's usual packet time. */
const FRAME_MS = 20;
const FRAME_CLOCK = 960;

/** Raw Opus packets (20 ms each) of a 16 kHz clip, from Debian's opusenc, Ogg headers dropped. */
export function opusPackets(pcm16k: Float32Array): Uint8Array[] {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-whip-'));
  try {
    const wav = join(dir, 'in.wav');
    const opus = join(dir, 'out.opus');
    writeFileSync(wav, wavBytes(resample(pcm16k, 16000, 48000), 48000));
    const run = spawnSync('opusenc', ['--quiet', '--framesize', String(FRAME_MS), wav, opus], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`opusenc failed: ${run.stderr}`);
    return new OggPacketReader()
      .push(readFileSync(opus))
      .slice(2)
      .map((packet) => packet.data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface WhipPeer {
  /** the session's URL (from Location) */
  resource: string;
  pc: RTCPeerConnection;
  channel: RTCDataChannel;
  messages: Array<Record<string, unknown>>;
  /** Sends the packets paced in real time from now (or all at once); resolves after the last one. */
  stream(packets: Uint8Array[], paced?: boolean): Promise<void>;
  /** Resolves with the first message of this type (waiting for it if need be). */
  waitFor(type: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export async function connectWhip(baseUrl: string, query: string): Promise<WhipPeer> {
  const pc = new RTCPeerConnection({
    codecs: { audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })] },
  });
  const track = new MediaStreamTrack({ kind: 'audio' });
  pc.addTransceiver(track, { direction: 'sendonly' });
  const channel = pc.createDataChannel('captions');
  const messages: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  channel.onMessage.subscribe((data) => {
    messages.push(JSON.parse(data.toString()) as Record<string, unknown>);
    for (const wake of waiters.splice(0)) wake();
  });

  await pc.setLocalDescription(await pc.createOffer());
  const response = await fetch(`${baseUrl}/v1/whip?${query}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp' },
    body: pc.localDescription!.sdp,
  });
  if (response.status !== 201) throw new Error(`WHIP POST answered ${response.status}: ${await response.text()}`);
  const resource = new URL(response.headers.get('location')!, baseUrl).toString();
  await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
  await pc.connectionStateChange.watch((state) => state === 'connected', 10_000);
  if (channel.readyState !== 'open') await channel.stateChanged.watch((state) => state === 'open', 10_000);

  const waitFor = async (type: string, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = messages.find((m) => m.type === type);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${type} message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  };

  const stream = async (packets: Uint8Array[], paced = true) => {
    const start = performance.now();
    let sequenceNumber = 0;
    for (let i = 0; i < packets.length; i++) {
      const due = start + i * FRAME_MS;
      const wait = due - performance.now();
      if (paced && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const header = new RtpHeader({ sequenceNumber: sequenceNumber++ & 0xffff, timestamp: (i * FRAME_CLOCK) >>> 0, marker: i === 0 });
      track.writeRtp(new RtpPacket(header, Buffer.from(packets[i])));
    }
  };

  return { resource, pc, channel, messages, stream, waitFor };
}
