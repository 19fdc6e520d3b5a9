// Flood and leave (issue 18): a client sends 20 MiB of speech unpaced and disconnects. Before,
// its backlog (minutes of audio) counted as lag in admission and every new stream got 429 for
// about a minute; now the flood is cut at the pacing's burst and a session whose client is
// gone no longer counts in the lag admission reads, so an honest stream is admitted at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadAudioFile } from '../../src/audio/load.js';
import type { WhisperSessionFactory } from '../../src/stream/session-factory.js';
import { floodAndLeave, floodBytes } from '../../reliability/hostile-streams.js';
import { startTinyGateway, type TinyGateway } from '../tiny-gateway.js';
import { fixture } from '../helpers.js';

let gateway: TinyGateway;
let factory: WhisperSessionFactory;
let wsUrl: string;

beforeAll(async () => {
  gateway = await startTinyGateway({ maxSessions: 2 });
  factory = gateway.factory;
  wsUrl = gateway.wsUrl;
});

afterAll(async () => {
  await gateway?.close();
});

/** 20 MiB of 16 kHz linear16 speech: the JFK clip over and over, 655 s. */
async function floodOfSpeech(): Promise<Buffer> {
  return floodBytes((await loadAudioFile(fixture('jfk').path)).samples);
}

function open(): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsUrl}/v1/listen?encoding=linear16&sample_rate=16000`);
    const closed = new Promise<{ code: number; reason: string }>((done) => ws.on('close', (code, reason) => done({ code, reason: reason.toString() })));
    ws.once('open', () => resolve({ ws, closed }));
    ws.once('unexpected-response', (_request, response) => reject(new Error(`refused with ${response.statusCode}`)));
    ws.once('error', reject);
  });
}

describe('flood and leave', () => {
  it('cuts the flood with 4002 ingest_too_fast and admits an honest stream within 2 s of the flooder leaving', async () => {
    const flood = await floodAndLeave(`${wsUrl}/v1/listen?encoding=linear16&sample_rate=16000`, await floodOfSpeech());
    const left = Date.now();
    expect({ code: flood.code, reason: flood.reason }).toEqual({ code: 4002, reason: 'ingest_too_fast' });

    let honest: Awaited<ReturnType<typeof open>> | null = null;
    while (honest === null && Date.now() - left < 2000) {
      honest = await open().catch(() => null);
      if (honest === null) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(honest, 'an honest stream was refused for 2 s after the flooder left').not.toBeNull();
    honest!.ws.send(JSON.stringify({ type: 'CloseStream' }));
    expect((await honest!.closed).code).toBe(1000);
  }, 120_000);

  it("leaves out of admission's lag what a stream sent ahead of real time, and a stream whose client has gone", async () => {
    // The flooder of the test before may still be flushing its burst.
    while (factory.capacity().sessionsActive > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    const { samples } = await loadAudioFile(fixture('jfk').path);
    const backlog = new Float32Array(samples.length * 6);
    for (let i = 0; i < 6; i++) backlog.set(samples, i * samples.length);
    const noop = () => {};
    const options = { interimResults: false, endpointingMs: 300, utteranceEndMs: null, vadEvents: false, language: null };
    const session = factory.create(options, noop);
    // A reconnect's minute of backlog at once: the session lags by it, the device does not.
    session.pushAudio(backlog);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(session.lagSeconds).toBeGreaterThan(30);
    expect(factory.capacity()).toMatchObject({ sessionsActive: 1, accepting: true });
    expect(factory.capacity().lagP95S).toBeLessThan(2);
    // Gone: it flushes the minute to the sink in the background, holding its slot, not admission.
    const flushed = session.abort();
    expect(factory.capacity()).toMatchObject({ sessionsActive: 1, lagP95S: 0, accepting: true });
    await flushed;
    expect(factory.capacity().sessionsActive).toBe(0);
  }, 120_000);
});
