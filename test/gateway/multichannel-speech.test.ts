// A stereo call through the official Deepgram SDK with multichannel=true: 8 kHz mu-law, agent
// (JFK) on channel 0 and customer (a LibriSpeech reader) on channel 1, taking turns, streamed at
// real-time pace to a gateway with tiny.en. Each channel's finals hold only its own speaker and
// read as that channel's audio decoded alone does.
import { DeepgramClient } from '@deepgram/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { floatToMulaw, MULAW_TO_FLOAT } from '../../src/audio/g711.js';
import { loadAudioFile } from '../../src/audio/load.js';
import { resample } from '../../src/audio/resample.js';
import { playStreams } from '../../src/eval/live.js';
import { scoreWer } from '../../src/eval/wer.js';
import { DEFAULT_ENDPOINTING_MS } from '../../src/gateway/protocol.js';
import { fixture } from '../helpers.js';
import { startTinyGateway, type TinyGateway } from '../tiny-gateway.js';

let gateway: TinyGateway;

beforeAll(async () => {
  gateway = await startTinyGateway({ maxSessions: 2 });
}, 60_000);

afterAll(async () => {
  await gateway?.close();
});

function toMulaw8k(samples: Float32Array): Uint8Array {
  return Uint8Array.from(resample(samples, 16000, 8000), (s) => floatToMulaw(s));
}

function heard(mulaw: Uint8Array): Float32Array {
  return resample(Float32Array.from(mulaw, (b) => MULAW_TO_FLOAT[b]), 8000, 16000);
}

const wer = (ref: string, hyp: string) => scoreWer([{ ref, hyp }]).wer!;

describe('multichannel=true through @deepgram/sdk (tiny.en)', () => {
  it('transcribes a stereo mu-law call as one transcript per speaker', async () => {
    const agent = fixture('jfk');
    const customer = fixture('1089-134686-0000');
    const left = toMulaw8k((await loadAudioFile(agent.path)).samples);
    const right = toMulaw8k((await loadAudioFile(customer.path)).samples);
    const gap = 8000;
    const frames = left.length + gap + right.length;
    const stereo = new Uint8Array(frames * 2).fill(0xff);
    left.forEach((b, i) => (stereo[i * 2] = b));
    right.forEach((b, i) => (stereo[(left.length + gap + i) * 2 + 1] = b));

    const deepgram = new DeepgramClient({
      apiKey: 'unused',
      environment: { base: gateway.url, production: gateway.wsUrl, agent: gateway.url, agentRest: gateway.url },
      maxRetries: 0,
    });
    const connection = await deepgram.listen.v1.connect({
      model: 'nova-3',
      encoding: 'mulaw',
      sample_rate: 8000,
      channels: 2,
      multichannel: 'true',
      diarize: 'true',
      reconnectAttempts: 0,
    } as Parameters<DeepgramClient['listen']['v1']['connect']>[0]);
    const messages: Array<Record<string, any>> = [];
    connection.connect();
    await connection.waitForOpen();
    const received = (async () => {
      for await (const message of connection as AsyncIterable<Record<string, any>>) messages.push(message);
    })();
    const step = 1600; // 100 ms of stereo 8 kHz mu-law
    const started = Date.now();
    for (let at = 0, n = 0; at < stereo.length; at += step, n++) {
      const wait = started + n * 100 - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      connection.sendMedia(Buffer.from(stereo.subarray(at, at + step)));
    }
    connection.sendCloseStream({ type: 'CloseStream' });
    await received;

    const finals = messages.filter((m) => m.type === 'Results' && m.is_final === true);
    const text = (c: number) =>
      finals
        .filter((m) => m.channel_index[0] === c)
        .map((m) => m.channel.alternatives[0].transcript)
        .join(' ');
    expect(finals.every((m) => m.channel_index[1] === 2)).toBe(true);
    for (const m of finals) for (const w of m.channel.alternatives[0].words) expect(w.speaker).toBe(m.channel_index[0]);
    expect(messages.at(-1)).toMatchObject({ type: 'Metadata', channels: 2 });

    const alone = await playStreams(
      gateway.factory.model,
      [
        { ids: [agent.id], set: 'call', pcm: heard(left), ref: agent.text, offline: '' },
        { ids: [customer.id], set: 'call', pcm: heard(right), ref: customer.text, offline: '' },
      ],
      { clock: 'virtual', concurrency: 1, endpointingMs: DEFAULT_ENDPOINTING_MS },
    );
    const figures = [agent, customer].map((clip, c) => ({ channel: c, call: wer(clip.text, text(c)), alone: wer(clip.text, alone[c].finals.join(' ')) }));
    console.log(`multichannel per-channel WER (call / alone): ${JSON.stringify(figures)}\n0: ${text(0)}\n1: ${text(1)}`);
    [agent, customer].forEach((clip, c) => {
      // Two words of slack on 22 and 29 reference words (real time against the virtual clock).
      expect(figures[c].call, `channel ${c}: ${text(c)}`).toBeLessThanOrEqual(figures[c].alone + 2 / clip.text.split(/\s+/).length);
      expect(wer([agent, customer][1 - c].text, text(c))).toBeGreaterThan(0.9);
    });
  }, 120_000);
});
