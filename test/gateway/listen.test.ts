import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FakeSessionFactory } from './fake-sessions.js';
import {
  metricValue,
  openListen,
  PCM_QUERY,
  pcmSeconds,
  refusedListen,
  startGateway,
  until,
  type Harness,
} from './gateway-harness.js';

let harness: Harness | null = null;
afterEach(async () => {
  await harness?.server.shutdown();
  harness = null;
});

describe('admission', () => {
  it('refuses a missing or wrong key with 401 and accepts header, subprotocol and query keys', async () => {
    harness = await startGateway({ apiKeys: new Set(['secret']) });
    const missing = await refusedListen(harness, PCM_QUERY);
    expect(missing.status).toBe(401);
    expect(missing.body).toMatchObject({ type: 'Error', code: 'missing_credentials' });
    expect(missing.headers['dg-error']).toContain('no API key');
    const wrong = await refusedListen(harness, PCM_QUERY, { headers: { Authorization: 'Token nope' } });
    expect(wrong.body.code).toBe('invalid_credentials');
    expect(harness.factory.sessions).toHaveLength(0);

    const byHeader = await openListen(harness, PCM_QUERY, { headers: { Authorization: 'Token secret' } });
    const byProtocol = await openListen(harness, PCM_QUERY, { protocols: ['token', 'secret'] });
    expect(byProtocol.ws.protocol).toBe('token');
    const byQuery = await openListen(harness, `${PCM_QUERY}&token=secret`);
    for (const client of [byHeader, byProtocol, byQuery]) client.ws.close();
    expect(await metricValue(harness, 'chorus_errors_total{code="missing_credentials"}', 'secret')).toBe(1);
  });

  it('refuses bad parameters with 400 naming the parameter', async () => {
    harness = await startGateway();
    const refusal = await refusedListen(harness, 'encoding=flac');
    expect(refusal.status).toBe(400);
    expect(refusal.body).toMatchObject({ type: 'Error', code: 'bad_parameter' });
    expect(refusal.body.description).toMatch(/^encoding: /);
    expect((await refusedListen(harness, 'encoding=linear16')).body.description).toMatch(/^sample_rate: /);
    expect((await refusedListen(harness, 'encoding=opus&sample_rate=44100')).status).toBe(400);
  });

  it('mixes channels into one session with multichannel=false, and gives each its own with multichannel=true, Opus too', async () => {
    harness = await startGateway();
    const mixed = await openListen(harness, `${PCM_QUERY}&channels=2&multichannel=false`);
    await until(() => harness!.factory.sessions.length === 1);
    mixed.ws.close();
    const apart = await openListen(harness, 'encoding=opus&channels=2&multichannel=true');
    await until(() => harness!.factory.sessions.length === 3);
    apart.ws.close();
  });

  it('refuses with 429 and Retry-After when the factory is full', async () => {
    harness = await startGateway({}, { factory: new FakeSessionFactory('fake.en', 1) });
    const first = await openListen(harness, PCM_QUERY);
    const refusal = await refusedListen(harness, PCM_QUERY);
    expect(refusal.status).toBe(429);
    expect(refusal.headers['retry-after']).toBe('1');
    expect(refusal.body.code).toBe('capacity_exceeded');
    // The operator sees why, in the log.
    expect(harness.logged.filter((l) => l.event === 'stream_refused').map((l) => l.fields)).toEqual([
      { request_id: refusal.body.request_id, status: 429, code: 'capacity_exceeded', reason: refusal.body.description },
    ]);
    first.ws.close();
  });

  it('refuses streams with 503 while the model is loading', async () => {
    harness = await startGateway({}, { attach: false });
    const refusal = await refusedListen(harness, PCM_QUERY);
    expect(refusal.status).toBe(503);
    expect(refusal.headers['retry-after']).toBe('1');
    expect(refusal.body.code).toBe('capacity_exceeded');
  });
});

describe('a stream', () => {
  it('sends results, then Metadata after CloseStream, then closes 1000', async () => {
    harness = await startGateway();
    const client = await openListen(harness, `${PCM_QUERY}&interim_results=true&extra=team:qa&diarize=true`);
    const audio = pcmSeconds(0.5);
    await client.send(audio.subarray(0, 8000));
    await client.send(audio.subarray(8000));
    await client.send(JSON.stringify({ type: 'CloseStream' }));
    expect(await client.closed).toEqual({ code: 1000, reason: '' });
    const types = client.messages.map((m) => (m.type === 'Results' ? (m.is_final ? 'final' : 'interim') : m.type));
    expect(types).toEqual(['interim', 'interim', 'final', 'Metadata']);
    const [, , final, metadata] = client.messages;
    expect(final).toMatchObject({ from_finalize: false, start: 0, duration: 0.5, channel_index: [0, 1] });
    expect(final.channel.alternatives[0].transcript).toBe('final 1');
    expect(metadata).toMatchObject({
      request_id: final.metadata.request_id,
      duration: 0.5,
      channels: 1,
      extra: { team: 'qa' },
      sha256: createHash('sha256').update(audio).digest('hex'),
    });
    expect(metadata.warnings).toEqual([expect.objectContaining({ parameter: 'diarize', type: 'unsupported_parameter' })]);
    expect(harness.sunk).toEqual([expect.objectContaining({ request_id: final.metadata.request_id, transcript: 'final 1' })]);
    await until(() => harness!.factory.activeSessions === 0);
    expect(await metricValue(harness, 'chorus_sessions_total{outcome="completed"}')).toBe(1);
    expect(await metricValue(harness, 'chorus_audio_seconds_total')).toBeCloseTo(0.5, 5);
    expect(await metricValue(harness, 'chorus_final_latency_seconds_count')).toBe(1);
    expect(await metricValue(harness, 'chorus_interim_latency_seconds_count')).toBe(2);
  });

  it('treats an empty binary message as CloseStream', async () => {
    harness = await startGateway();
    const client = await openListen(harness, PCM_QUERY);
    await client.send(pcmSeconds(0.1));
    await client.send(Buffer.alloc(0));
    expect((await client.closed).code).toBe(1000);
    expect(client.messages.map((m) => m.type)).toEqual(['Results', 'Metadata']);
  });

  it('flushes on Finalize and stays open', async () => {
    harness = await startGateway();
    const client = await openListen(harness, PCM_QUERY);
    await client.send(pcmSeconds(0.2));
    await client.send(JSON.stringify({ type: 'Finalize' }));
    const final = await client.waitFor((m) => m.type === 'Results');
    expect(final).toMatchObject({ is_final: true, from_finalize: true });
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    client.ws.close();
  });

  it('encodes every server message as MessagePack with result_encoding=msgpack', async () => {
    harness = await startGateway();
    const client = await openListen(harness, `${PCM_QUERY}&result_encoding=msgpack`);
    let binaryFrames = 0;
    client.ws.on('message', (_data, isBinary) => void (binaryFrames += isBinary ? 1 : 0));
    await client.send(pcmSeconds(0.2));
    await client.send('{"type":"Bogus"}');
    await client.send(JSON.stringify({ type: 'CloseStream' }));
    await client.closed;
    expect(client.messages.map((m) => m.type)).toEqual(['Error', 'Results', 'Metadata']);
    expect(client.messages[1].channel.alternatives[0].transcript).toBe('final 1');
    expect(binaryFrames).toBe(3);
  });
});

describe('client errors', () => {
  it('closes 1008 after malformed JSON', async () => {
    harness = await startGateway();
    const client = await openListen(harness, PCM_QUERY);
    await client.send('{not json');
    expect(await client.closed).toEqual({ code: 1008, reason: 'malformed_message' });
    // Deepgram's SchemaError, which echoes the text it could not parse.
    expect(client.messages).toEqual([
      expect.objectContaining({ type: 'Error', variant: 'SchemaError', message: '{not json', code: 'malformed_message' }),
    ]);
    await until(() => harness!.factory.sessions[0].aborted);
  });

  it('reports an unknown message type and carries on', async () => {
    harness = await startGateway();
    const client = await openListen(harness, PCM_QUERY);
    await client.send(JSON.stringify({ type: 'Configure', thresholds: [] }));
    const error = await client.waitFor((m) => m.type === 'Error' && m.code === 'unknown_message_type');
    expect(error).toMatchObject({ variant: 'SchemaError', message: '{"type":"Configure","thresholds":[]}' });
    await client.send(pcmSeconds(0.1));
    await client.send(JSON.stringify({ type: 'CloseStream' }));
    expect((await client.closed).code).toBe(1000);
  });

  it('closes 1009 on a message over the frame limit', async () => {
    harness = await startGateway({ maxFrameBytes: 4096 });
    const client = await openListen(harness, PCM_QUERY);
    client.ws.on('error', () => {});
    await client.send(Buffer.alloc(4097)).catch(() => {});
    expect((await client.closed).code).toBe(1009);
    await until(() => harness!.factory.sessions[0].aborted);
    expect(await metricValue(harness, 'chorus_errors_total{code="frame_too_large"}')).toBe(1);
    expect(await metricValue(harness, 'chorus_sessions_total{outcome="frame_too_large"}')).toBe(1);
  });

  it('reports audio sent after CloseStream and still completes the close', async () => {
    harness = await startGateway();
    const client = await openListen(harness, PCM_QUERY);
    await until(() => harness!.factory.sessions.length === 1);
    harness.factory.sessions[0].closeDelayMs = 100;
    await client.send(pcmSeconds(0.1));
    await client.send(JSON.stringify({ type: 'CloseStream' }));
    await client.send(pcmSeconds(0.1));
    await client.send(pcmSeconds(0.1));
    expect((await client.closed).code).toBe(1000);
    expect(client.messages.map((m) => m.code ?? m.type)).toEqual(['audio_after_close', 'Results', 'Metadata']);
    expect(client.messages[2].duration).toBe(0.1);
  });

  it('closes 1007 when the audio cannot be decoded', async () => {
    harness = await startGateway();
    const client = await openListen(harness, 'encoding=opus');
    const unknownPageVersion = Buffer.concat([Buffer.from('OggS'), Buffer.from([1]), Buffer.alloc(40)]);
    await client.send(unknownPageVersion);
    expect(await client.closed).toEqual({ code: 1007, reason: 'malformed_audio' });
    expect(client.messages[0]).toMatchObject({ type: 'Error', code: 'malformed_audio' });
  });

  it('closes 4000 when neither audio nor KeepAlive arrives within the idle timeout', async () => {
    harness = await startGateway({ idleTimeoutMs: 300 });
    const client = await openListen(harness, PCM_QUERY);
    const started = Date.now();
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      await client.send(JSON.stringify({ type: 'KeepAlive' }));
    }
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    expect(await client.closed).toEqual({ code: 4000, reason: 'idle_timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(client.messages).toEqual([expect.objectContaining({ type: 'Error', code: 'idle_timeout' })]);
  });
});

describe('isolation', () => {
  it('aborts the session of a vanished client while another session goes on', async () => {
    harness = await startGateway();
    const vanishing = await openListen(harness, PCM_QUERY);
    const staying = await openListen(harness, PCM_QUERY);
    await vanishing.send(pcmSeconds(0.2));
    vanishing.ws.terminate();
    await until(() => harness!.factory.sessions[0].aborted);
    await staying.send(pcmSeconds(0.2));
    await staying.send(JSON.stringify({ type: 'CloseStream' }));
    expect((await staying.closed).code).toBe(1000);
    expect(staying.messages.map((m) => m.type)).toEqual(['Results', 'Metadata']);
    expect((await fetch(`${harness.url}/healthz`)).status).toBe(200);
    expect(await metricValue(harness, 'chorus_sessions_total{outcome="disconnected"}')).toBe(1);
    expect(await metricValue(harness, 'chorus_sessions_active')).toBe(0);
  });

  it('ends only the failing session with 1011 when the pipeline throws', async () => {
    harness = await startGateway();
    const failing = await openListen(harness, PCM_QUERY);
    const healthy = await openListen(harness, PCM_QUERY);
    await until(() => harness!.factory.sessions.length === 2);
    harness.factory.sessions[0].failOnAudio = new Error('decoder exploded');
    await failing.send(pcmSeconds(0.1));
    expect(await failing.closed).toEqual({ code: 1011, reason: 'internal_error' });
    expect(harness.logged.some((l) => l.event === 'session_failed' && String(l.fields.error).includes('decoder exploded'))).toBe(true);
    await healthy.send(pcmSeconds(0.1));
    await healthy.send(JSON.stringify({ type: 'CloseStream' }));
    expect((await healthy.closed).code).toBe(1000);
  });
});

describe('backpressure', () => {
  /** A client whose socket stops reading, as a stalled browser tab or a blocked consumer does. */
  function pause(ws: WebSocket): () => void {
    const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    return () => socket.resume();
  }

  const bulky = (label: string) => `${label} ${'x'.repeat(32 * 1024)}`;

  it('drops interim results, never finals, for a slow reader', async () => {
    harness = await startGateway({ maxOutboundMessages: 100_000, maxOutboundBytes: 512 * 1024 * 1024 });
    const client = await openListen(harness, `${PCM_QUERY}&interim_results=true`);
    await until(() => harness!.factory.sessions.length === 1);
    const resume = pause(client.ws);
    const session = harness.factory.sessions[0];
    const pairs = 400;
    for (let i = 0; i < pairs; i++) {
      session.emitResult(false, bulky(`interim${i}`));
      session.emitResult(true, bulky(`final${i}`));
    }
    const dropped = await metricValue(harness, 'chorus_messages_dropped_total{kind="interim"}');
    expect(dropped).toBeGreaterThan(0);
    resume();
    await client.waitFor((m) => m.channel?.alternatives[0].transcript.startsWith(`final${pairs - 1} `), 20_000);
    const results = client.messages.filter((m) => m.type === 'Results');
    const finals = results.filter((m) => m.is_final).map((m) => m.channel.alternatives[0].transcript.split(' ')[0]);
    expect(finals).toEqual(Array.from({ length: pairs }, (_, i) => `final${i}`));
    const interims = results.filter((m) => !m.is_final).length;
    expect(interims + dropped).toBe(pairs);
    expect(harness.sunk).toHaveLength(pairs);
    client.ws.close();
  });

  it('closes 4001 a reader too slow for its finals, keeping every final in the sink and the log', async () => {
    harness = await startGateway({ maxOutboundMessages: 50, maxOutboundBytes: 512 * 1024 * 1024 });
    const client = await openListen(harness, PCM_QUERY);
    await until(() => harness!.factory.sessions.length === 1);
    const resume = pause(client.ws);
    const session = harness.factory.sessions[0];
    const finals = 600;
    for (let i = 0; i < finals; i++) session.emitResult(true, bulky(`final${i}`));
    expect(harness.sunk).toHaveLength(finals);
    const undelivered = harness.logged.filter((l) => l.event === 'final_undelivered');
    expect(undelivered.length).toBeGreaterThan(0);
    expect(String(undelivered.at(-1)!.fields.transcript)).toMatch(new RegExp(`^final${finals - 1} `));
    resume();
    expect(await client.closed).toEqual({ code: 4001, reason: 'slow_consumer' });
    const received = client.messages.filter((m) => m.type === 'Results').length;
    expect(received + undelivered.length).toBe(finals);
    expect(client.messages.at(-1)).toMatchObject({ type: 'Error', code: 'slow_consumer' });
    await until(() => session.aborted);
  });
});
