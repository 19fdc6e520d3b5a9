// Deepgram's `callback` on live streams: the official @deepgram/sdk asks for it, and a real HTTP
// receiver on loopback gets every final and the closing Metadata, in order, even when it is
// down for a while. Fake sessions (one final per Finalize) keep the call's two minutes of
// audio quick to send; what is tested is delivery.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DeepgramClient } from '@deepgram/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallbackPolicy } from '../../src/gateway/callback-delivery.js';
import { deepgramClientFor } from './deepgram-client.js';
import { metricValue, openListen, PCM_QUERY, pcmSeconds, refusedListen, startGateway, until, type Harness } from './gateway-harness.js';

/** Quick retries for tests: 0.2 s doubling to 1 s, so a receiver down 10 s costs about 11 s. */
const QUICK: CallbackPolicy = { maxAttempts: 30, firstDelayMs: 200, maxDelayMs: 1000, requestTimeoutMs: 2000, maxQueued: 1000 };

interface Receiver {
  url: string;
  /** Bodies it accepted (2xx), in the order they arrived. */
  accepted: Array<Record<string, any>>;
  /** Requests it answered with an error. */
  refused: number;
  methods: Set<string>;
  server: Server;
}

/** An HTTP receiver that answers 503 while `down()` says so, and 200 otherwise. */
async function receiver(down: () => boolean): Promise<Receiver> {
  const accepted: Receiver['accepted'] = [];
  const state = { refused: 0 };
  const methods = new Set<string>();
  const server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      methods.add(request.method ?? '');
      if (down()) {
        state.refused += 1;
        return response.writeHead(503).end();
      }
      accepted.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    accepted,
    get refused() {
      return state.refused;
    },
    methods,
    server,
  };
}

let harness: Harness | null = null;
let hook: Receiver | null = null;

afterEach(async () => {
  await harness?.server.shutdown();
  hook?.server.close();
  harness = hook = null;
});

describe('callback (Deepgram live)', () => {
  it('delivers every final of a 2-minute call and its Metadata, in order, through 10 s of the receiver failing', async () => {
    let downUntil = 0;
    hook = await receiver(() => {
      // Down for 10 s from the first request on.
      downUntil ||= Date.now() + 10_000;
      return Date.now() < downUntil;
    });
    // The call's audio is sent faster than real time (the fake sessions do not care), so pacing is lifted.
    harness = await startGateway({ callbackHosts: ['127.0.0.1'], ingestPacing: { rate: 1000, burstS: 3600 } }, { callbackPolicy: QUICK });
    const deepgram = deepgramClientFor(harness.url);
    const connection = await deepgram.listen.v1.connect({
      model: 'nova-3',
      encoding: 'linear16',
      sample_rate: 16000,
      callback: hook.url,
      reconnectAttempts: 0,
    } as Parameters<DeepgramClient['listen']['v1']['connect']>[0]);
    const messages: Array<Record<string, any>> = [];
    connection.connect();
    await connection.waitForOpen();
    const received = (async () => {
      for await (const message of connection as AsyncIterable<Record<string, any>>) messages.push(message);
    })();
    // 120 s of audio; a Finalize every 2 s makes 60 finals.
    for (let second = 0; second < 120; second += 2) {
      connection.sendMedia(pcmSeconds(2));
      connection.sendFinalize({ type: 'Finalize' });
    }
    connection.sendCloseStream({ type: 'CloseStream' });
    await received;

    const finals = messages.filter((m) => m.type === 'Results' && m.is_final === true);
    expect(finals).toHaveLength(60);
    await until(() => hook!.accepted.at(-1)?.type === 'Metadata', 30_000);
    expect(hook.refused).toBeGreaterThan(0);
    expect(hook.methods).toEqual(new Set(['POST']));
    // Deepgram's shapes, every final once, in the order the socket got them, then Metadata.
    expect(hook.accepted.slice(0, -1)).toEqual(finals);
    expect(hook.accepted.at(-1)).toMatchObject({ type: 'Metadata', request_id: finals[0].metadata.request_id, duration: 120 });
    expect(harness.logged.some((l) => l.event === 'callback_retrying')).toBe(true);
    expect(harness.logged.some((l) => l.event === 'callback_given_up')).toBe(false);
    expect(await metricValue(harness, 'chorus_callback_messages_total{outcome="delivered"}')).toBe(61);
    expect(await metricValue(harness, 'chorus_callback_pending')).toBe(0);
  }, 60_000);

  it('gives up a receiver that keeps failing and logs every final it did not get', async () => {
    hook = await receiver(() => true);
    harness = await startGateway({ callbackHosts: ['127.0.0.1'] }, { callbackPolicy: { ...QUICK, maxAttempts: 3 } });
    const client = await openListen(harness, `${PCM_QUERY}&callback=${encodeURIComponent(hook.url)}&callback_method=put`);
    await client.send(pcmSeconds(0.5));
    await client.send(JSON.stringify({ type: 'Finalize' }));
    await client.send(pcmSeconds(0.5));
    await client.send(JSON.stringify({ type: 'CloseStream' }));
    await client.closed;
    await until(() => harness!.logged.some((l) => l.event === 'callback_given_up'), 10_000);
    const givenUp = harness.logged.find((l) => l.event === 'callback_given_up')!.fields;
    expect(givenUp).toMatchObject({ host: hook.url.replace(/^http:\/\/|\/hook$/g, ''), attempts: 3, error: 'HTTP 503', undelivered_messages: 3 });
    expect((givenUp.undelivered_finals as Array<{ transcript: string }>).map((f) => f.transcript)).toEqual(['final 1', 'final 2']);
    expect(hook.refused).toBe(3);
    expect(hook.methods).toEqual(new Set(['PUT']));
    expect(await metricValue(harness, 'chorus_callback_messages_total{outcome="given_up"}')).toBe(3);
  });

  it('holds at most maxQueued messages and logs the finals beyond them', async () => {
    hook = await receiver(() => true);
    // A short grace: at shutdown the receiver is still failing, and waiting for it is not the test.
    harness = await startGateway({ callbackHosts: ['127.0.0.1'], shutdownGraceMs: 200 }, { callbackPolicy: { ...QUICK, maxQueued: 2 } });
    const client = await openListen(harness, `${PCM_QUERY}&callback=${encodeURIComponent(hook.url)}`);
    for (let i = 0; i < 4; i++) {
      await client.send(pcmSeconds(0.25));
      await client.send(JSON.stringify({ type: 'Finalize' }));
    }
    await until(() => harness!.logged.filter((l) => l.event === 'callback_dropped').length === 2);
    expect(harness.logged.filter((l) => l.event === 'callback_dropped').map((l) => l.fields.transcript)).toEqual(['final 3', 'final 4']);
    expect(await metricValue(harness, 'chorus_callback_messages_total{outcome="dropped"}')).toBe(2);
    expect(await metricValue(harness, 'chorus_callback_pending')).toBe(2);
    client.ws.terminate();
  });

  it('calls only the hosts the operator allowed: another host, or none configured, is refused with 400', async () => {
    harness = await startGateway({ callbackHosts: ['hooks.example.org'] });
    const refused = await refusedListen(harness, `${PCM_QUERY}&callback=${encodeURIComponent('http://169.254.169.254/latest')}`);
    expect(refused.status).toBe(400);
    expect(refused.body.description).toMatch(/^callback: this server does not call 169\.254\.169\.254/);
    await harness.server.shutdown();
    harness = await startGateway();
    const off = await refusedListen(harness, `${PCM_QUERY}&callback=${encodeURIComponent('http://127.0.0.1:9/x')}`);
    expect(off.status).toBe(400);
    expect(off.body.description).toMatch(/--callback-host/);
  });
});
