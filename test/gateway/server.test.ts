import { afterEach, describe, expect, it } from 'vitest';
import { FakeSessionFactory } from './fake-sessions.js';
import { openListen, PCM_QUERY, pcmSeconds, startGateway, type Harness } from './gateway-harness.js';

let harness: Harness | null = null;
afterEach(async () => {
  await harness?.server.shutdown();
  harness = null;
});

describe('probes and metrics', () => {
  it('is alive before the engine is attached, and ready only after', async () => {
    harness = await startGateway({}, { attach: false });
    expect((await fetch(`${harness.url}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${harness.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'not_ready', reason: 'model_loading' });

    harness.server.attach({
      sessions: new FakeSessionFactory('tiny.en'),
      files: { modelName: 'tiny.en', acceptsLanguage: () => true, defaultLanguage: 'en', transcribe: () => Promise.reject(new Error('unused')) },
    });
    const ready = await fetch(`${harness.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', model: 'tiny.en' });
  });

  it('serves every gateway metric in Prometheus text format', async () => {
    harness = await startGateway();
    const response = await fetch(`${harness.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    for (const name of [
      'chorus_sessions_active',
      'chorus_sessions_total',
      'chorus_audio_seconds_total',
      'chorus_session_lag_seconds',
      'chorus_final_latency_seconds',
      'chorus_interim_latency_seconds',
      'chorus_errors_total',
      'chorus_messages_dropped_total',
      'chorus_engine_batch_size',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });

  it('answers unknown paths with 404, wrong methods with 405, and plain GET /v1/listen with 426', async () => {
    harness = await startGateway();
    expect((await fetch(`${harness.url}/nope`)).status).toBe(404);
    const wrongMethod = await fetch(`${harness.url}/healthz`, { method: 'POST' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET');
    expect((await fetch(`${harness.url}/v1/listen`)).status).toBe(426);
  });
});

describe('graceful shutdown', () => {
  it('flushes finals, then sends shutting_down and closes 1001, and refuses new streams', async () => {
    harness = await startGateway();
    const client = await openListen(harness, PCM_QUERY);
    await client.send(pcmSeconds(0.5));
    const { factory, server } = harness;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stopping = server.shutdown();
    const closed = await client.closed;
    await stopping;
    harness = null;
    expect(closed).toEqual({ code: 1001, reason: 'shutting_down' });
    const types = client.messages.map((m) => m.type);
    expect(types).toEqual(['Results', 'Error']);
    expect(client.messages[0].is_final).toBe(true);
    expect(client.messages[1].code).toBe('shutting_down');
    expect(factory.sessions[0].closed).toBe(true);
  });
});
