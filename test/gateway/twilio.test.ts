// Twilio Media Streams ingest (/v1/twilio): Twilio's documented message sequence from a real
// WebSocket client to a real gateway on loopback, over fake sessions that count samples, so
// what is tested is the transport: tracks to channels, admission all or nothing, the key in
// the path, gap filling, and every end keeping its finals in the transcript sink.
// The same with tiny.en, real speech and NATS JetStream: twilio-nats.test.ts.
import twilio from 'twilio';
import { afterEach, describe, expect, it } from 'vitest';
import { GATEWAY_DEFAULTS } from '../../src/gateway/config.js';
import { GatewayServer } from '../../src/gateway/server.js';
import { FakeSessionFactory } from './fake-sessions.js';
import { metricValue, startGateway, until, type Harness } from './gateway-harness.js';
import { TwilioSender } from '../../loadtest/twilio-sender.js';

const KEY = 'twilio-key';
let harness: Harness | null = null;

afterEach(async () => {
  await harness?.server.shutdown();
  harness = null;
});

/** `seconds` of a mu-law tone at 8 kHz (the fake sessions count samples; the values do not matter). */
function mulaw(seconds: number): Uint8Array {
  return new Uint8Array(Math.round(seconds * 8000)).fill(0x2a);
}

function twilioUrl(h: Harness, tail = `/${KEY}`): string {
  return `${h.wsUrl}/v1/twilio${tail}`;
}

describe('Twilio Media Streams (/v1/twilio)', () => {
  it('transcribes the inbound and outbound tracks as channels 0 and 1 and keeps every final in the sink with the call', async () => {
    harness = await startGateway({ apiKeys: new Set([KEY]) });
    const call = await TwilioSender.open(twilioUrl(harness), {
      callSid: 'CA0123456789abcdef0123456789abcdef',
      customParameters: { agent: 'a-7', queue: 'billing' },
    });
    await call.connected();
    await call.start();
    // The caller speaks for a second; the other side starts half a second in, for half a second.
    await call.streamTracks({ inbound: mulaw(1) }, false);
    for (let at = 0; at < 4000; at += 160) await call.media('outbound', 500 + (at / 8000) * 1000, mulaw(0.02));
    await call.mark('greeting-played');
    await call.dtmf('5');
    await call.stop();
    expect(await call.closed).toEqual({ code: 1000, reason: '' });

    const [inbound, outbound] = harness.factory.sessions;
    expect(harness.factory.sessions).toHaveLength(2);
    // 8 kHz to 16 kHz: a second is 16,000 samples; the outbound track's first half second,
    // before its first media, is filled with silence so both channels share the call's clock.
    expect(Math.abs(inbound.received - 16000)).toBeLessThan(40);
    expect(Math.abs(outbound.received - 16000)).toBeLessThan(40);
    expect(inbound.closed && outbound.closed).toBe(true);
    expect(inbound.aborted || outbound.aborted).toBe(false);

    const records = harness.sunk.sort((a, b) => (a.channel as number) - (b.channel as number));
    expect(records).toHaveLength(2);
    const requestId = records[0].request_id as string;
    records.forEach((record, channel) =>
      expect(record).toMatchObject({
        id: `${requestId}.${channel}.1`,
        request_id: requestId,
        transport: 'twilio',
        channel,
        channels: 2,
        seq: 1,
        transcript: 'final 1',
        call: {
          provider: 'twilio',
          call_sid: 'CA0123456789abcdef0123456789abcdef',
          stream_sid: call.streamSid,
          tracks: ['inbound', 'outbound'],
          custom_parameters: { agent: 'a-7', queue: 'billing' },
        },
      }),
    );
    expect(await metricValue(harness, 'chorus_sessions_total{outcome="completed"}', KEY)).toBe(1);
    expect(await metricValue(harness, 'chorus_final_latency_seconds_count', KEY)).toBe(2);
  });

  it('takes the key from the path or ?token= and refuses a missing or wrong one with 401 before the upgrade', async () => {
    harness = await startGateway({ apiKeys: new Set([KEY]) });
    for (const tail of ['', '/wrong-key']) {
      const refused = await TwilioSender.open(twilioUrl(harness, tail)).then(
        () => null,
        (error: { status: number; body: string }) => error,
      );
      expect(refused?.status).toBe(401);
      expect(JSON.parse(refused!.body)).toMatchObject({ type: 'Error' });
    }
    const byQuery = await TwilioSender.open(twilioUrl(harness, `?token=${KEY}`));
    await byQuery.start();
    await byQuery.stop();
    expect((await byQuery.closed).code).toBe(1000);
    expect(harness.factory.sessions).toHaveLength(2);
  });

  it('with a Twilio Auth Token, admits only upgrades signed with it for their URL (signed by Twilio\'s own helper library)', async () => {
    const authToken = 'primary-auth-token';
    harness = await startGateway({ apiKeys: new Set([KEY]), twilioAuthTokens: ['old-auth-token', authToken] });
    const url = twilioUrl(harness);
    // What Twilio signs: the wss:// URL of the <Stream>, here the loopback host and port.
    const streamUrl = url.replace(/^ws:/, 'wss:');
    const signature = (token: string, signed: string) => twilio.getExpectedTwilioSignature(token, signed, {});
    const open = (headers: Record<string, string>) =>
      TwilioSender.open(url, { headers }).then(
        () => null,
        (error: { status: number; body: string }) => error,
      );

    const attempts: Record<string, string>[] = [{}, { 'X-Twilio-Signature': signature('someone-else', streamUrl) }, { 'X-Twilio-Signature': signature(authToken, streamUrl + '?other=1') }];
    for (const headers of attempts) {
      const refused = await open(headers);
      expect(refused?.status).toBe(403);
      expect(JSON.parse(refused!.body)).toMatchObject({ type: 'Error', code: 'invalid_twilio_signature' });
    }
    expect(harness.factory.sessions).toHaveLength(0);

    // Either token of a rotation is accepted.
    for (const token of [authToken, 'old-auth-token']) {
      const call = await TwilioSender.open(url, { headers: { 'X-Twilio-Signature': signature(token, streamUrl) } });
      await call.start();
      await call.stop();
      expect((await call.closed).code).toBe(1000);
    }
    expect(harness.factory.sessions).toHaveLength(4);
  });

  it('admits both tracks or neither: with room for one session the call is refused with 429 and holds nothing', async () => {
    harness = await startGateway({}, { factory: new FakeSessionFactory('fake.en', 1) });
    const refused = await TwilioSender.open(twilioUrl(harness, '')).then(
      () => null,
      (error: { status: number; body: string }) => error,
    );
    expect(refused?.status).toBe(429);
    expect(JSON.parse(refused!.body)).toMatchObject({ code: 'capacity_exceeded' });
    expect(JSON.parse(refused!.body).description).toMatch(/2 channels needs 2 sessions/);
    await until(() => harness!.factory.activeSessions === 0);
    expect(harness.factory.sessions.every((s) => s.aborted)).toBe(true);
  });

  it('gives the outbound session back when start names only the inbound track', async () => {
    harness = await startGateway();
    const call = await TwilioSender.open(twilioUrl(harness, ''), { tracks: ['inbound'] });
    await call.connected();
    await call.start();
    await until(() => harness!.factory.activeSessions === 1);
    expect(harness.factory.sessions[1].aborted).toBe(true);
    await call.streamTracks({ inbound: mulaw(0.5) }, false);
    await call.stop();
    await call.closed;
    expect(harness.sunk).toEqual([expect.objectContaining({ channel: 0, call: expect.objectContaining({ tracks: ['inbound', 'outbound'] }) })]);
  });

  it('places a track that starts late on the call clock, and ends a stream whose timestamps run far ahead of real time (4002)', async () => {
    harness = await startGateway();
    const call = await TwilioSender.open(twilioUrl(harness, ''));
    await call.start();
    await call.streamTracks({ inbound: mulaw(0.5) }, false);
    // The other leg answers 12 s into the call.
    await call.media('outbound', 12_000, mulaw(0.5));
    // 12 s of silence, then the half second (less the few ms the resampler holds until the end).
    await until(() => Math.abs(harness!.factory.sessions[1].received - 12.5 * 16000) < 200);
    // An hour ahead of the wall clock: far past the ingest pacing, refused before any silence is made.
    await call.media('inbound', 3_600_000, mulaw(0.02));
    expect(await call.closed).toEqual({ code: 4002, reason: 'ingest_too_fast' });
    expect(harness.factory.sessions[0].received).toBeLessThan(16000);
    // The finals of what came within the pacing are kept.
    await until(() => harness!.sunk.length === 2);
  });

  it('keeps the finals of a call that drops without stop', async () => {
    harness = await startGateway();
    const call = await TwilioSender.open(twilioUrl(harness, ''));
    await call.start();
    await call.streamTracks({ inbound: mulaw(0.5), outbound: mulaw(0.5) }, false);
    await until(() => harness!.factory.sessions.every((s) => s.received > 0));
    call.ws.terminate();
    await until(() => harness!.sunk.length === 2);
    expect(harness.factory.sessions.every((s) => s.closed && !s.aborted)).toBe(true);
    expect(await metricValue(harness, 'chorus_sessions_total{outcome="disconnected"}')).toBe(1);
  });

  it('ends a stream whose start declares another format with 1007, and one that sends text that is not JSON with 1008', async () => {
    harness = await startGateway();
    const wrongFormat = await TwilioSender.open(twilioUrl(harness, ''), { mediaFormat: { encoding: 'audio/l16', sampleRate: 16000, channels: 1 } });
    await wrongFormat.start();
    expect(await wrongFormat.closed).toEqual({ code: 1007, reason: 'unsupported_encoding' });
    const garbled = await TwilioSender.open(twilioUrl(harness, ''));
    garbled.ws.send('not json');
    expect(await garbled.closed).toEqual({ code: 1008, reason: 'malformed_message' });
    expect(harness.logged.some((l) => l.event === 'session_error' && l.fields.code === 'unsupported_encoding')).toBe(true);
  });

  it('refuses calls with 503 when the server has no transcript sink, since Twilio reads nothing back', async () => {
    const server = new GatewayServer({ config: { ...GATEWAY_DEFAULTS, apiKeys: null, host: '127.0.0.1', port: 0 }, log: () => {}, sink: null });
    server.attach({ sessions: new FakeSessionFactory(), files: { modelName: 'fake.en', multilingual: false, acceptsLanguage: () => true, defaultLanguage: 'en', transcribe: () => Promise.reject(new Error('no files')) } });
    const url = (await server.start()).replace(/^http/, 'ws');
    try {
      const refused = await TwilioSender.open(`${url}/v1/twilio`).then(
        () => null,
        (error: { status: number; body: string }) => error,
      );
      expect(refused?.status).toBe(503);
      expect(JSON.parse(refused!.body)).toMatchObject({ code: 'no_transcript_sink' });
    } finally {
      await server.shutdown();
    }
  });
});
