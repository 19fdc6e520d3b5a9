// What an offer may cost the server before its sender has proved anything (issue 18): slots
// held by offers that never connect, connectivity checks to targets of the sender's choosing,
// and ending a session one does not own.
import type { RTCPeerConnection } from 'werift';
import { afterEach, describe, expect, it } from 'vitest';
import { candidateTargetAllowed, MAX_OFFER_CANDIDATES, MAX_PENDING_OFFERS, offerCandidates, PENDING_OFFER_TIMEOUT_MS } from '../../src/gateway/whip.js';
import { opusEncoderAvailable } from '../../loadtest/audio-frames.js';
import { candidateLine, postOffer, silentOffer, withCandidates } from '../../reliability/hostile-offers.js';
import { startGateway, until, type Harness } from './gateway-harness.js';
import { connectWhip, opusPackets } from './whip-peer.js';

let harness: Harness | null = null;
const peers: RTCPeerConnection[] = [];
afterEach(async () => {
  for (const pc of peers.splice(0)) await pc.close();
  await harness?.server.shutdown();
  harness = null;
});

/** A browser-like offer from a peer that will never connect (closed after the test). */
async function offer(): Promise<string> {
  const { pc, sdp } = await silentOffer();
  peers.push(pc);
  return sdp;
}

describe('offer candidates', () => {
  it('keeps unicast and mDNS targets on unprivileged ports and drops the rest', () => {
    for (const [address, port] of [['192.168.1.5', 50000], ['127.0.0.1', 40000], ['2001:db8::1', 5000], ['1f3c-aa.local', 61000]] as const) {
      expect(candidateTargetAllowed(candidateLine(address, port))).toBe(true);
    }
    for (const [address, port] of [
      ['0.0.0.0', 50000],
      ['224.0.0.1', 50000],
      ['255.255.255.255', 50000],
      ['169.254.169.254', 50000],
      ['10.0.0.1', 22],
      ['10.0.0.1', 0],
      ['ff02::1', 50000],
      ['fe80::1', 50000],
      ['internal.example.com', 50000],
    ] as const) {
      expect(candidateTargetAllowed(candidateLine(address, port))).toBe(false);
    }
    const sdp = ['v=0', candidateLine('10.0.0.2', 50000), candidateLine('10.0.0.2', 53), 'a=end-of-candidates', ''].join('\r\n');
    expect(offerCandidates(sdp)).toBe(['v=0', candidateLine('10.0.0.2', 50000), 'a=end-of-candidates', ''].join('\r\n'));
  });

  it(`refuses an offer with more than ${MAX_OFFER_CANDIDATES} candidates`, async () => {
    harness = await startGateway();
    const sdp = await offer();
    const many = Array.from({ length: MAX_OFFER_CANDIDATES + 1 }, (_, i) => candidateLine('10.0.0.3', 40000 + i));
    const response = await postOffer(harness.url, withCandidates(sdp, many));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'malformed_offer' });
    expect(harness.factory.activeSessions).toBe(0);
  });
});

describe('offers that never connect', () => {
  it(`hold at most ${MAX_PENDING_OFFERS} slots, each for ${PENDING_OFFER_TIMEOUT_MS / 1000} s`, async () => {
    harness = await startGateway();
    const answered = await Promise.all(Array.from({ length: MAX_PENDING_OFFERS }, async () => postOffer(harness!.url, await offer())));
    expect(answered.map((r) => r.status)).toEqual(Array(MAX_PENDING_OFFERS).fill(201));
    const refused = await postOffer(harness.url, await offer());
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(harness.factory.activeSessions).toBe(MAX_PENDING_OFFERS);
    await until(() => harness!.factory.activeSessions === 0, PENDING_OFFER_TIMEOUT_MS + 2000);
    expect((await postOffer(harness.url, await offer())).status).toBe(201);
  }, 15_000);
});

describe('DELETE /v1/whip/<id>', () => {
  it('needs the key, and the resource id is not the public request id', async () => {
    harness = await startGateway({ apiKeys: new Set(['secret']) });
    const response = await postOffer(harness.url, await offer(), { Authorization: 'Bearer secret' });
    expect(response.status).toBe(201);
    const location = response.headers.get('location')!;
    const requestId = response.headers.get('dg-request-id')!;
    expect(location).not.toContain(requestId);
    expect(location).toMatch(/^\/v1\/whip\/[A-Za-z0-9_-]{22}$/);
    expect((await fetch(`${harness.url}${location}`, { method: 'DELETE' })).status).toBe(401);
    expect(
      (await fetch(`${harness.url}/v1/whip/${requestId}`, { method: 'DELETE', headers: { Authorization: 'Bearer secret' } })).status,
    ).toBe(404);
    expect((await fetch(`${harness.url}${location}`, { method: 'DELETE', headers: { Authorization: 'Bearer secret' } })).status).toBe(200);
  });
});

describe('ingest pacing over WebRTC', () => {
  it('ends a session whose RTP runs far ahead of real time with an Error ingest_too_fast', async () => {
    if (!opusEncoderAvailable()) throw new Error('opusenc is missing: apt-get install opus-tools');
    harness = await startGateway({ ingestPacing: { rate: 1, burstS: 1 } });
    const peer = await connectWhip(harness.url, '');
    peers.push(peer.pc);
    await peer.stream(opusPackets(new Float32Array(16000 * 4)), false);
    expect(await peer.waitFor('Error', 10_000)).toMatchObject({ code: 'ingest_too_fast' });
    // What arrived within the pacing reached the session, the rest did not.
    expect(harness.factory.sessions[0].receivedSeconds).toBeLessThanOrEqual(1.1);
  }, 20_000);
});
