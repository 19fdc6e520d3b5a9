// multichannel=true on /v1/listen: one live session per channel, admitted all or nothing,
// results labelled with their channel, Finalize by channel. A real gateway and real `ws`
// clients over fake sessions that count samples; the same with real speech, mu-law and Ogg
// Opus, and the Deepgram SDK is multichannel-speech.test.ts.
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeSessionFactory } from './fake-sessions.js';
import { openListen, refusedListen, startGateway, until, type Harness } from './gateway-harness.js';
import { fixture } from '../helpers.js';

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

  it('ends with 1007 bad_channels a stream whose container lacks a channel the client asked for', async () => {
    harness = await startGateway();
    // opusenc is part of the set-up (scripts/setup.sh installs opus-tools).
    const monoOgg = execFileSync('opusenc', ['--quiet', fixture('jfk').path, '-']);
    const client = await openListen(harness, 'multichannel=true&channels=2');
    await client.send(monoOgg.subarray(0, 4096));
    const error = await client.waitFor((m) => m.type === 'Error');
    expect(error).toMatchObject({ code: 'bad_channels', description: expect.stringMatching(/has 1 channel, so it has no channel 1/) });
    expect((await client.closed).code).toBe(1007);
  });

  it('refuses more channels than Opus carries before the socket opens', async () => {
    harness = await startGateway();
    const refused = await refusedListen(harness, 'encoding=opus&channels=3&multichannel=true');
    expect(refused.status).toBe(400);
    expect(refused.body.description).toMatch(/^channels: Opus streams carry 1 or 2 channels/);
  });
});
