// multichannel=true on /v1/listen: one live session per channel of interleaved raw audio,
// admitted all or nothing, results labelled with their channel, Finalize by channel. A real
// gateway and real `ws` clients over fake sessions that count samples; the same with real
// speech and the Deepgram SDK is multichannel-speech.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { InterleavedSplitter } from '../../src/gateway/channel-split.js';
import { FakeSessionFactory } from './fake-sessions.js';
import { openListen, refusedListen, startGateway, until, type Harness } from './gateway-harness.js';

let harness: Harness | null = null;

afterEach(async () => {
  await harness?.server.shutdown();
  harness = null;
});

/** `seconds` of 16 kHz linear16 with `channels` interleaved; channel c holds the value c + 1. */
function interleaved(seconds: number, channels: number): Buffer {
  const frames = Math.round(seconds * 16000);
  const buffer = Buffer.alloc(frames * channels * 2);
  for (let frame = 0; frame < frames; frame++) {
    for (let c = 0; c < channels; c++) buffer.writeInt16LE(c + 1, (frame * channels + c) * 2);
  }
  return buffer;
}

describe('InterleavedSplitter', () => {
  it('gives each channel its own samples, carrying a frame split across messages', () => {
    const splitter = new InterleavedSplitter(2, 3);
    const audio = interleaved(0.001, 3); // 16 frames of 6 bytes
    const parts = [splitter.split(audio.subarray(0, 7)), splitter.split(audio.subarray(7, 50)), splitter.split(audio.subarray(50))];
    for (let c = 0; c < 3; c++) {
      const channel = Buffer.concat(parts.map((p) => p[c]));
      expect(channel.length).toBe(32);
      for (let i = 0; i < 16; i++) expect(channel.readInt16LE(i * 2)).toBe(c + 1);
    }
  });
});

describe('multichannel=true', () => {
  it('runs one session per channel: results carry channel_index, Finalize flushes only its channel, Metadata counts the channels', async () => {
    harness = await startGateway();
    const client = await openListen(harness, 'encoding=linear16&sample_rate=16000&channels=2&multichannel=true');
    const audio = interleaved(0.5, 2);
    // Messages that end inside frames: the split must not depend on them.
    for (let at = 0; at < audio.length; at += 333) await client.send(audio.subarray(at, at + 333));
    await until(() => harness!.factory.sessions.length === 2 && harness!.factory.sessions.every((s) => s.received === 8000));

    await client.send(JSON.stringify({ type: 'Finalize', channel: 1 }));
    const finalized = await client.waitFor((m) => m.type === 'Results' && m.from_finalize === true);
    expect(finalized.channel_index).toEqual([1, 2]);
    const [left, right] = harness.factory.sessions;
    expect([left.finalizeCalls, right.finalizeCalls]).toEqual([0, 1]);

    await client.send(JSON.stringify({ type: 'CloseStream' }));
    await client.waitFor((m) => m.type === 'Metadata');
    const finals = client.messages.filter((m) => m.type === 'Results' && m.is_final);
    expect(finals.map((m) => m.channel_index)).toEqual([
      [1, 2],
      [0, 2],
    ]);
    expect(client.messages.at(-1)).toMatchObject({ type: 'Metadata', channels: 2, duration: 0.5 });
    expect(harness.sunk.map((r) => [r.channel, r.channels, r.seq])).toEqual([
      [1, 2, 1],
      [0, 2, 1],
    ]);
    expect((await client.closed).code).toBe(1000);
  });

  it('with diarize=true, gives every word its channel as its speaker', async () => {
    harness = await startGateway();
    const client = await openListen(harness, 'encoding=linear16&sample_rate=16000&channels=2&multichannel=true&diarize=true');
    await client.send(interleaved(0.25, 2));
    await client.send(JSON.stringify({ type: 'CloseStream' }));
    await client.waitFor((m) => m.type === 'Metadata');
    const finals = client.messages.filter((m) => m.type === 'Results');
    expect(finals).toHaveLength(2);
    for (const final of finals) expect(final.channel.alternatives[0].words.map((w: { speaker: number }) => w.speaker)).toEqual([final.channel_index[0]]);
    expect(client.messages.at(-1)!.warnings).toBeUndefined();
  });

  it('admits every channel or none: 3 channels with room for 2 sessions is refused with 429 and holds nothing', async () => {
    harness = await startGateway({}, { factory: new FakeSessionFactory('fake.en', 2) });
    const refused = await refusedListen(harness, 'encoding=mulaw&sample_rate=8000&channels=3&multichannel=true');
    expect(refused.status).toBe(429);
    expect(refused.body.description).toMatch(/3 channels needs 3 sessions/);
    await until(() => harness!.factory.activeSessions === 0);
  });

  it('refuses multichannel for Opus and containers, whose channels are decoded mixed', async () => {
    harness = await startGateway();
    for (const query of ['encoding=opus&channels=2&multichannel=true', 'multichannel=true&channels=2']) {
      const refused = await refusedListen(harness, query);
      expect(refused.status).toBe(400);
      expect(refused.body.description).toMatch(/^multichannel: true needs raw interleaved audio/);
    }
  });
});
