// Issue 18: what one client can do to others through the gateway (pacing, keys, probes and
// metrics agreeing, shutdown), over the real transport with fake sessions and files.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FakeFileTranscriber, silentWav } from './file-fakes.js';
import { metricValue, openListen, pcmSeconds, PCM_QUERY, refusedListen, startGateway, until, type Harness } from './gateway-harness.js';

let harness: Harness | null = null;
afterEach(async () => {
  await harness?.server.shutdown();
  harness = null;
});

function transcriptionRequest(url: string, headers: Record<string, string> = {}): Promise<Response> {
  const body = new FormData();
  body.append('model', 'whisper-1');
  body.append('file', new Blob([silentWav(1)]), 'a.wav');
  return fetch(`${url}/v1/audio/transcriptions`, { method: 'POST', body, headers });
}

describe('ingest pacing', () => {
  it('closes a stream sending faster than the pacing allows with 4002 ingest_too_fast', async () => {
    harness = await startGateway({ ingestPacing: { rate: 1, burstS: 2 } });
    const client = await openListen(harness, PCM_QUERY);
    await client.send(pcmSeconds(1.5));
    await client.send(pcmSeconds(3));
    const error = await client.waitFor((m) => m.type === 'Error');
    expect(error).toMatchObject({ code: 'ingest_too_fast' });
    expect(await client.closed).toMatchObject({ code: 4002, reason: 'ingest_too_fast' });
    // Only the audio within the pacing reached the session.
    expect(harness.factory.sessions[0].receivedSeconds).toBe(1.5);
  });
});

describe('keys', () => {
  it('checks the key before the parameters', async () => {
    harness = await startGateway({ apiKeys: new Set(['secret']) });
    const refused = await refusedListen(harness, 'encoding=nonsense&sample_rate=-3');
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('missing_credentials');
  });

  it('throttles an address after 10 wrong keys with 429 and Retry-After, on every endpoint', async () => {
    harness = await startGateway({ apiKeys: new Set(['secret']) });
    for (let i = 0; i < 5; i++) expect((await refusedListen(harness, PCM_QUERY, { headers: { Authorization: `Token guess${i}` } })).status).toBe(401);
    for (let i = 0; i < 5; i++) expect((await transcriptionRequest(harness.url, { Authorization: `Bearer guess${i}` })).status).toBe(401);
    // Even the right key waits: a guesser must not learn that its eleventh guess was right.
    const throttled = await refusedListen(harness, PCM_QUERY, { headers: { Authorization: 'Token secret' } });
    expect(throttled.status).toBe(429);
    expect(throttled.body.code).toBe('too_many_failed_keys');
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(50);
    const http = await transcriptionRequest(harness.url, { Authorization: 'Bearer secret' });
    expect(http.status).toBe(429);
    expect(Number(http.headers.get('retry-after'))).toBeGreaterThan(50);
    expect(((await http.json()) as { error: { code: string } }).error.code).toBe('too_many_failed_keys');
    // Probes stay open to orchestrators on the same address.
    expect((await fetch(`${harness.url}/readyz`)).status).toBe(200);
  });

  it('puts /metrics behind the API keys, or behind --metrics-key when one is set', async () => {
    harness = await startGateway({ apiKeys: new Set(['secret']) });
    expect((await fetch(`${harness.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${harness.url}/metrics`, { headers: { Authorization: 'Bearer secret' } })).status).toBe(200);
    await harness.server.shutdown();

    harness = await startGateway({ apiKeys: new Set(['secret']), metricsKey: 'scraper' });
    expect((await fetch(`${harness.url}/metrics`, { headers: { Authorization: 'Bearer secret' } })).status).toBe(401);
    expect((await fetch(`${harness.url}/metrics`, { headers: { Authorization: 'Bearer scraper' } })).status).toBe(200);
    await harness.server.shutdown();

    harness = await startGateway();
    expect((await fetch(`${harness.url}/metrics`)).status).toBe(200);
  });
});

describe('one count of active sessions', () => {
  it('/readyz and chorus_sessions_active agree while a session whose client left still flushes', async () => {
    harness = await startGateway();
    const client = await openListen(harness, PCM_QUERY);
    await client.send(pcmSeconds(1));
    await until(() => harness!.factory.sessions[0]?.receivedSeconds === 1);
    harness.factory.sessions[0].closeDelayMs = 1000;
    await client.send(JSON.stringify({ type: 'CloseStream' }));
    client.ws.terminate();
    await client.closed;
    await new Promise((resolve) => setTimeout(resolve, 100));
    const ready = (await (await fetch(`${harness.url}/readyz`)).json()) as { capacity: { sessions_active: number } };
    expect(ready.capacity.sessions_active).toBe(1);
    expect(await metricValue(harness, 'chorus_sessions_active')).toBe(1);
  });
});

describe('shutdown', () => {
  it('answers /readyz 503 at once while the listener stays open, flushes streams to 1001, and answers files', async () => {
    const files = new FakeFileTranscriber();
    harness = await startGateway({ shutdownGraceMs: 3000 }, { files });
    const client = await openListen(harness, PCM_QUERY);
    await client.send(pcmSeconds(1));
    await until(() => harness!.factory.sessions[0]?.receivedSeconds === 1);
    harness.factory.sessions[0].closeDelayMs = 500;
    files.hold();
    const file = transcriptionRequest(harness.url);
    await until(() => files.asked.length === 1);

    const stopped = harness.server.shutdown();
    const ready = await fetch(`${harness.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ reason: 'shutting_down' });
    expect((await refusedListen(harness, PCM_QUERY)).status).toBe(503);
    const late = await transcriptionRequest(harness.url);
    expect(late.status).toBe(503);
    expect(((await late.json()) as { error: { code: string } }).error.code).toBe('shutting_down');
    const lateDeepgram = await fetch(`${harness.url}/v1/listen`, { method: 'POST', body: silentWav(1), headers: { 'Content-Type': 'audio/wav' } });
    expect(lateDeepgram.status).toBe(503);
    expect(await lateDeepgram.json()).toMatchObject({ err_code: 'SHUTTING_DOWN' });
    // A client still streaming is not told its audio came after a close it never sent.
    await client.send(pcmSeconds(0.5));
    files.open();
    expect((await file).status).toBe(200);
    expect(await client.closed).toMatchObject({ code: 1001, reason: 'shutting_down' });
    expect(client.messages.map((m) => m.type === 'Error' && m.code)).not.toContain('audio_after_close');
    expect(client.messages.filter((m) => m.type === 'Results' && m.is_final)).toHaveLength(1);
    expect(client.messages.at(-1)).toMatchObject({ type: 'Error', code: 'shutting_down' });
    await stopped;
    harness = null;
  });

  it('answers a file still running when the grace period ends with 503 shutting_down', async () => {
    const files = new FakeFileTranscriber();
    harness = await startGateway({ shutdownGraceMs: 300 }, { files });
    files.hold();
    const file = transcriptionRequest(harness.url);
    await until(() => files.asked.length === 1);
    const stopped = harness.server.shutdown();
    const response = await file;
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('shutting_down');
    files.open();
    await stopped;
    harness = null;
  });
});

describe('TLS', () => {
  it('serves HTTPS and WSS on the one port with --tls-cert and --tls-key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chorus-tls-'));
    try {
      const [certFile, keyFile] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
      const ca = readFileSync(certFile);
      harness = await startGateway({ tls: { certFile, keyFile } });
      expect(harness.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const status = await new Promise<number>((resolve, reject) =>
        get(`${harness!.url}/healthz`, { ca }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        }).on('error', reject),
      );
      expect(status).toBe(200);
      const ws = new WebSocket(`${harness.wsUrl}/v1/listen?${PCM_QUERY}`, { ca });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      ws.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
