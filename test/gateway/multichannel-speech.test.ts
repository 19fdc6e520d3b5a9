// A stereo call through the official Deepgram SDK with multichannel=true: agent (JFK) on
// channel 0 and customer (a LibriSpeech reader) on channel 1, taking turns, as 8 kHz mu-law at
// real-time pace and as an Ogg Opus recording, streamed to a gateway with tiny.en. Each channel's finals hold only its own speaker and
// read as that channel's audio decoded alone does.
import { execFileSync } from 'node:child_process';
import type { DeepgramClient } from '@deepgram/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { floatToMulaw, MULAW_TO_FLOAT } from '../../src/audio/g711.js';
import { loadAudioFile } from '../../src/audio/load.js';
import { resample } from '../../src/audio/resample.js';
import { playStreams } from '../../src/eval/live.js';
import { scoreWer } from '../../src/eval/wer.js';
import { createAudioDecoder } from '../../src/stream/audio-decoder.js';
import { DEFAULT_ENDPOINTING_MS } from '../../src/gateway/protocol.js';
import { fixture, type FixtureClip } from '../helpers.js';
import { startTinyGateway, type TinyGateway } from '../tiny-gateway.js';
import { deepgramClientFor } from './deepgram-client.js';

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

/** Streams `bytes` through @deepgram/sdk's live client, `step` bytes every `everyMs`, with multichannel=true over 2 channels. */
async function streamThroughSdk(format: Record<string, string | number>, bytes: Uint8Array, step: number, everyMs: number): Promise<Array<Record<string, any>>> {
  const deepgram = deepgramClientFor(gateway.url);
  const connection = await deepgram.listen.v1.connect({
    model: 'nova-3',
    ...format,
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
  const started = Date.now();
  for (let at = 0, n = 0; at < bytes.length; at += step, n++) {
    const wait = started + n * everyMs - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    connection.sendMedia(Buffer.from(bytes.subarray(at, at + step)));
  }
  connection.sendCloseStream({ type: 'CloseStream' });
  await received;
  return messages;
}

/**
 * Each channel's finals hold only its own speaker, words labelled with the channel, and read
 * as that channel's audio (`heardAlone`, 16 kHz) does when played alone through a session.
 */
async function expectOneSpeakerPerChannel(messages: Array<Record<string, any>>, [agent, customer]: FixtureClip[], heardAlone: Float32Array[]): Promise<void> {
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
      { ids: [agent.id], set: 'call', pcm: heardAlone[0], ref: agent.text, offline: '' },
      { ids: [customer.id], set: 'call', pcm: heardAlone[1], ref: customer.text, offline: '' },
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
}

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

    const messages = await streamThroughSdk({ encoding: 'mulaw', sample_rate: 8000 }, stereo, 1600 /* 100 ms */, 100);
    await expectOneSpeakerPerChannel(messages, [agent, customer], [heard(left), heard(right)]);
  }, 120_000);

  it('transcribes a stereo Ogg Opus recording, the container detected, as one transcript per speaker', async () => {
    const agent = fixture('jfk');
    const customer = fixture('1089-134686-0000');
    const left = (await loadAudioFile(agent.path)).samples;
    const right = (await loadAudioFile(customer.path)).samples;
    const gap = 8000;
    const frames = left.length + gap + right.length;
    const stereo = new Int16Array(frames * 2);
    left.forEach((s, i) => (stereo[i * 2] = Math.round(s * 32767)));
    right.forEach((s, i) => (stereo[(left.length + gap + i) * 2 + 1] = Math.round(s * 32767)));
    // opusenc is part of the set-up (scripts/setup.sh installs opus-tools).
    const ogg = new Uint8Array(
      execFileSync('opusenc', ['--quiet', '--raw', '--raw-rate', '16000', '--raw-chan', '2', '-', '-'], { input: new Uint8Array(stereo.buffer) }),
    );
    // What each channel sounds like after the codec, to compare with that channel streamed alone.
    const heardAlone = await Promise.all([0, 1].map(async (keep) => (await createAudioDecoder({ encoding: null, keep })).decode(ogg)));

    // At twice real time: a tenth of the recording's bytes every tenth of its duration, halved.
    const seconds = frames / 16000;
    const messages = await streamThroughSdk({}, ogg, Math.ceil(ogg.length / (seconds * 10)), 50);
    await expectOneSpeakerPerChannel(messages, [agent, customer], heardAlone);
  }, 120_000);
});
