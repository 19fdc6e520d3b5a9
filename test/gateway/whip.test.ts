// WebRTC ingest end to end: a real gateway with tiny.en, a werift peer in Node sending real
// speech (the fixture clips, which are ../shared/eval clips) as Opus over RTP in real time,
// captions back on the DataChannel in /v1/listen's shapes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { playStreams } from '../../src/eval/live.js';
import { scoreWer } from '../../src/eval/wer.js';
import { DEFAULT_ENDPOINTING_MS } from '../../src/gateway/protocol.js';
import { checkOffer } from '../../src/gateway/whip.js';
import type { WhisperSessionFactory } from '../../src/stream/session-factory.js';
import { startTinyGateway, type TinyGateway } from '../tiny-gateway.js';
import { opusEncoderAvailable } from '../../loadtest/audio-frames.js';
import { fixture } from '../helpers.js';
import { connectWhip, opusPackets } from './whip-peer.js';

let gateway: TinyGateway;
let factory: WhisperSessionFactory;
let baseUrl: string;

beforeAll(async () => {
  gateway = await startTinyGateway({ maxSessions: 2 });
  factory = gateway.factory;
  baseUrl = gateway.url;
});

afterAll(async () => {
  await gateway?.close();
});

/** The speech fixtures back to back with a second of silence between them: 61 words. */
async function fixtureSpeech(): Promise<{ samples: Float32Array; text: string; durationS: number }> {
  const clips = ['jfk', '1089-134686-0000', '1221-135766-0002'].map((id) => fixture(id));
  const parts: Float32Array[] = [];
  for (const clip of clips) parts.push((await loadAudioFile(clip.path)).samples, new Float32Array(16000));
  const samples = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (samples.set(p, at), at + p.length), 0);
  return { samples, text: clips.map((c) => c.text).join(' '), durationS: samples.length / 16000 };
}

function finalText(messages: Array<Record<string, unknown>>): string {
  return messages
    .filter((m) => m.type === 'Results' && m.is_final === true)
    .map((m) => (m as { channel: { alternatives: Array<{ transcript: string }> } }).channel.alternatives[0].transcript)
    .join(' ');
}

describe('POST /v1/whip', () => {
  it('streams Opus over RTP and gets the captions of the session path within 2 WER points; DELETE flushes the finals', async () => {
    if (!opusEncoderAvailable()) throw new Error('opusenc is missing: apt-get install opus-tools');
    // 61 reference words, so the 2-point bound allows one word of difference, not none.
    const clip = await fixtureSpeech();
    const packets = opusPackets(clip.samples);
    const peer = await connectWhip(baseUrl, 'interim_results=true');
    await peer.stream(packets);
    // No pause after the last packet: the tail of the clip can only arrive as finals through DELETE.
    const deleted = await fetch(peer.resource, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    const metadata = await peer.waitFor('Metadata');
    await peer.pc.close();

    expect(metadata.duration as number).toBeGreaterThan(clip.durationS - 0.5);
    expect(peer.messages.some((m) => m.type === 'Results' && m.is_final === false)).toBe(true);
    // DELETE ends the session as CloseStream does: its finals answer no Finalize.
    expect(peer.messages.filter((m) => m.type === 'Results' && m.from_finalize === true)).toEqual([]);
    expect(peer.messages.at(-1)?.type).toBe('Metadata');
    // The transport is held to the session path itself: the same audio played straight into
    // a session on the same engine (src/eval/live.ts) must read the same, Opus and RTP
    // notwithstanding. How live finals compare with offline is the live evaluation's bound
    // (npm run eval -- --live), measured on whole sets rather than on one 61-word stream.
    const streamed = scoreWer([{ ref: clip.text, hyp: finalText(peer.messages) }]).wer!;
    const [direct] = await playStreams(
      factory.model,
      [{ ids: ['fixtures'], set: 'fixtures', pcm: clip.samples, ref: clip.text, offline: '' }],
      { clock: 'virtual', concurrency: 1, endpointingMs: DEFAULT_ENDPOINTING_MS },
    );
    const sessionPath = scoreWer([{ ref: clip.text, hyp: direct.finals.join(' ') }]).wer!;
    expect(Math.abs(streamed - sessionPath), `WHIP: ${finalText(peer.messages)}\nsession: ${direct.finals.join(' ')}`).toBeLessThanOrEqual(0.02);
  });

  it('refuses a body that is not an SDP offer with 400 and says why', async () => {
    const response = await fetch(`${baseUrl}/v1/whip`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: 'hello',
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { type: string; code: string; description: string };
    expect(body).toMatchObject({ type: 'Error', code: 'malformed_offer' });
    expect(body.description).toMatch(/not an SDP offer/);
  });

  it('refuses an offer without Content-Type application/sdp with 415', async () => {
    const response = await fetch(`${baseUrl}/v1/whip`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'v=0' });
    expect(response.status).toBe(415);
  });

  it('refuses bad query parameters as /v1/listen does', async () => {
    const response = await fetch(`${baseUrl}/v1/whip?endpointing=nope`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: 'v=0\r\n',
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { code: string }).code).toBe('bad_parameter');
  });

  it('answers DELETE of an unknown session with 404 and PATCH (trickle ICE) with 405', async () => {
    expect((await fetch(`${baseUrl}/v1/whip/nope`, { method: 'DELETE' })).status).toBe(404);
    const peer = await connectWhip(baseUrl, '');
    expect((await fetch(peer.resource, { method: 'PATCH', body: '' })).status).toBe(405);
    expect((await fetch(peer.resource, { method: 'DELETE' })).status).toBe(200);
    await peer.waitFor('Metadata');
    await peer.pc.close();
  });
});

describe('checkOffer', () => {
  const minimal = [
    'v=0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'a=rtpmap:111 opus/48000/2',
    'a=ice-ufrag:abcd',
    'a=fingerprint:sha-256 00',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  ];
  const without = (prefix: string) => minimal.filter((line) => !line.startsWith(prefix)).join('\r\n');

  it('names what an offer lacks', () => {
    expect(() => checkOffer(minimal.join('\r\n'))).not.toThrow();
    expect(() => checkOffer(without('m=audio'))).toThrow(/no audio section/);
    expect(() => checkOffer(without('a=rtpmap'))).toThrow(/Opus/);
    expect(() => checkOffer(without('m=application'))).toThrow(/DataChannel/);
    expect(() => checkOffer(without('a=fingerprint'))).toThrow(/fingerprint/);
  });
});
