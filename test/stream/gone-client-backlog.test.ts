// Overload and a client that has gone (issue 18): no one waits live for what it left behind,
// so while the live streams are behind, its backlog must not be decoded ahead of them. But
// when its finals are owed to a transcript sink or a callback, dropping them would lose speech
// the server accepted: that backlog is decoded below every live stream instead, and only a
// backlog that no one will ever read is dropped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { scoreWer } from '../../src/eval/wer.js';
import type { SessionEvent, SessionOptions } from '../../src/stream/session-contract.js';
import { WhisperSessionFactory } from '../../src/stream/session-factory.js';
import { fixture } from '../helpers.js';

const OPTIONS: SessionOptions = { interimResults: false, endpointingMs: 500, utteranceEndMs: null, vadEvents: false, language: 'en' };

let factory: WhisperSessionFactory;
let speech: Float32Array;
/** Three speakers one after another: 30 s that the gone stream's flush decodes across several overload checks. */
const clips = ['jfk', '1089-134686-0000', '1221-135766-0002'].map(fixture);

beforeAll(async () => {
  factory = await WhisperSessionFactory.open({
    model: 'tiny.en',
    threads: 2,
    maxSessions: 4,
    // Overloaded from the first check (any median lag passes -1 s), and nothing is ever shed.
    overload: { overloadLagS: -1, shedLagS: Infinity, settleMs: 600_000, shedShare: 0, maxShedShare: 0, raiseMs: 600_000 },
  });
  const parts = await Promise.all(clips.map(async (clip) => (await loadAudioFile(clip.path)).samples));
  speech = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, part) => (speech.set(part, at), at + part.length), 0);
});

afterAll(() => factory?.close());

/** A stream that sends its audio at once and goes; resolves with its finals once it is released. */
async function sendAndLeave(options: SessionOptions): Promise<string> {
  const finals: string[] = [];
  const session = factory.create(options, (event: SessionEvent) => {
    if (event.type === 'results' && event.isFinal && event.transcript) finals.push(event.transcript);
  });
  session.pushAudio(speech);
  await session.abort();
  return finals.join(' ');
}

describe("a gone client's backlog under overload", () => {
  it('is decoded, below the live streams, when its finals are owed to a sink; dropped when no one will read them', async () => {
    // The live stream whose lag makes the device count as behind.
    const live = factory.create(OPTIONS, () => {}, () => {});
    live.pushAudio(new Float32Array(1600));
    const owed = await sendAndLeave({ ...OPTIONS, finalsOwed: true });
    expect(factory.backlogsDropped).toBe(0);
    expect(scoreWer([{ ref: clips.map((c) => c.text).join(' '), hyp: owed }]).wer).toBeLessThan(0.15);

    const unread = await sendAndLeave(OPTIONS);
    expect(factory.backlogsDropped).toBe(1);
    expect(unread.split(' ').length).toBeLessThan(owed.split(' ').length);
    await live.close();
  }, 120_000);
});
