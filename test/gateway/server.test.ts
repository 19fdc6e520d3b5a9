import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FakeSessionFactory } from './fake-sessions.js';
import { metricValue, openListen, PCM_QUERY, pcmSeconds, startGateway, until, type Harness } from './gateway-harness.js';

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
      files: { modelName: 'tiny.en', multilingual: false, acceptsLanguage: () => true, defaultLanguage: 'en', transcribe: () => Promise.reject(new Error('unused')) },
    });
    const ready = await fetch(`${harness.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      model: 'tiny.en',
      capacity: { sessions_active: 0, sessions_max: 100, sessions_free: 100, lag_p95_s: 0, lag_headroom: 1, accepting: true, weight_percent: 100 },
    });
  });

  it('is not ready when full (a new stream would get 429), and ready again when a stream leaves', async () => {
    harness = await startGateway({}, { factory: new FakeSessionFactory('fake.en', 1) });
    const client = await openListen(harness, PCM_QUERY);
    const full = await fetch(`${harness.url}/readyz`);
    expect(full.status).toBe(503);
    expect(await full.json()).toEqual({
      status: 'not_ready',
      reason: 'full',
      model: 'fake.en',
      capacity: { sessions_active: 1, sessions_max: 1, sessions_free: 0, lag_p95_s: 0, lag_headroom: 1, accepting: false, weight_percent: 0 },
    });
    expect(await metricValue(harness, 'chorus_capacity_sessions')).toBe(1);
    expect(await metricValue(harness, 'chorus_capacity_accepting')).toBe(0);
    client.ws.close();
    await until(() => harness!.factory.activeSessions === 0);
    const again = await fetch(`${harness.url}/readyz`);
    expect(again.status).toBe(200);
    expect((await again.json()).capacity).toMatchObject({ accepting: true, weight_percent: 100 });
  });

  it('reads the device pool and queue at scrape time and observes engine steps', async () => {
    harness = await startGateway({}, { attach: false });
    harness.server.attach({
      sessions: harness.factory,
      files: { modelName: 'fake.en', multilingual: false, acceptsLanguage: () => true, defaultLanguage: 'en', transcribe: () => Promise.reject(new Error('unused')) },
      device: {
        kvPool: () => ({ windowsInUse: 2, windowsTotal: 9, streamingWindowsInUse: 1, streamingWindowsTotal: 8, sessionsInUse: 3, sessionsTotal: 45, bytes: 1234 }),
        queueDepth: 7,
      },
    });
    harness.server.metrics.observeStep({ decodeBatch: 3, decodeTokens: 3, encodeWindows: 1, decodeMs: 12, encodeMs: 150 });
    harness.server.metrics.observeStep({ decodeBatch: 0, decodeTokens: 0, encodeWindows: 1, decodeMs: 0, encodeMs: 90 });
    expect(await metricValue(harness, 'chorus_kv_pool_windows_in_use')).toBe(2);
    expect(await metricValue(harness, 'chorus_kv_pool_windows_total')).toBe(9);
    expect(await metricValue(harness, 'chorus_kv_pool_sessions_in_use')).toBe(3);
    expect(await metricValue(harness, 'chorus_kv_pool_sessions_total')).toBe(45);
    expect(await metricValue(harness, 'chorus_kv_pool_bytes')).toBe(1234);
    expect(await metricValue(harness, 'chorus_scheduler_queue_depth')).toBe(7);
    expect(await metricValue(harness, 'chorus_engine_batch_size_count')).toBe(1);
    expect(await metricValue(harness, 'chorus_engine_batch_size_sum')).toBe(3);
    expect(await metricValue(harness, 'chorus_engine_step_seconds_count{kind="decode"}')).toBe(1);
    expect(await metricValue(harness, 'chorus_engine_step_seconds_count{kind="encode"}')).toBe(2);
    expect(await metricValue(harness, 'chorus_engine_step_seconds_sum{kind="encode"}')).toBeCloseTo(0.24);
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
      'chorus_engine_step_seconds',
      'chorus_capacity_sessions',
      'chorus_capacity_accepting',
      'chorus_session_lag_p95_seconds',
      'chorus_kv_pool_windows_in_use',
      'chorus_kv_pool_windows_total',
      'chorus_kv_pool_sessions_in_use',
      'chorus_kv_pool_sessions_total',
      'chorus_kv_pool_bytes',
      'chorus_scheduler_queue_depth',
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

  it("answers unknown paths and wrong methods in OpenAI's error shape, which OpenAI's SDKs parse", async () => {
    harness = await startGateway();
    const expectOpenAiError = async (response: Response, status: number, code: string) => {
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(await response.json()).toEqual({
        error: { message: expect.any(String), type: 'invalid_request_error', param: null, code },
      });
    };
    await expectOpenAiError(await fetch(`${harness.url}/v1/audio/speech`, { method: 'POST', body: '{}' }), 404, 'unknown_url');
    await expectOpenAiError(await fetch(`${harness.url}/v1/models`), 404, 'unknown_url');
    const get = await fetch(`${harness.url}/v1/audio/transcriptions`);
    expect(get.headers.get('allow')).toBe('POST');
    await expectOpenAiError(get, 405, 'method_not_allowed');
    await expectOpenAiError(await fetch(`${harness.url}/v1/audio/translations`), 405, 'method_not_allowed');
    const upgrade = await new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const ws = new WebSocket(`${harness!.wsUrl}/v1/realtime`);
      ws.once('open', () => reject(new Error('the upgrade was accepted')));
      ws.once('error', () => {});
      ws.once('unexpected-response', (_request, response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      });
    });
    expect(upgrade).toEqual({ status: 404, body: { error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'unknown_url' } } });
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
