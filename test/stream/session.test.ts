import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { transcribe } from '../../src/engine/transcribe.js';
import { lostWords, playStreams } from '../../src/eval/live.js';
import { scoreWer } from '../../src/eval/wer.js';
import type { LiveSession, SessionEvent, SessionOptions } from '../../src/stream/session-contract.js';
import { WhisperSessionFactory } from '../../src/stream/session-factory.js';
import { fixture } from '../helpers.js';

let factory: WhisperSessionFactory;

beforeAll(async () => {
  factory = await WhisperSessionFactory.open({ model: 'tiny.en', threads: 2, maxSessions: 2 });
});
afterAll(() => factory?.close());

const OPTIONS: SessionOptions = {
  interimResults: true,
  endpointingMs: 500,
  utteranceEndMs: 1000,
  vadEvents: true,
  language: 'en',
};

/** Streams audio in 100 ms chunks at `speed` times real time. */
async function stream(session: LiveSession, pcm: Float32Array, speed: number): Promise<void> {
  const chunk = 1600;
  for (let i = 0; i < pcm.length; i += chunk) {
    session.pushAudio(pcm.subarray(i, i + chunk));
    await new Promise((resolve) => setTimeout(resolve, 100 / speed));
  }
}

function finals(events: SessionEvent[]): string {
  return events
    .filter((e): e is Extract<SessionEvent, { type: 'results' }> => e.type === 'results' && e.isFinal)
    .map((e) => e.transcript)
    .join(' ');
}

describe('live session on tiny.en', () => {
  it('streams speech into interim results, then finals matching the transcript', async () => {
    const clip = fixture('1089-134686-0000');
    const audio = await loadAudioFile(clip.path);
    const events: SessionEvent[] = [];
    const session = factory.create(OPTIONS, (e) => events.push(e));
    await stream(session, audio.samples, 4);
    await session.close();
    const results = events.filter((e) => e.type === 'results');
    const firstFinal = results.findIndex((e) => e.type === 'results' && e.isFinal);
    expect(results.findIndex((e) => e.type === 'results' && !e.isFinal)).toBeLessThan(firstFinal);
    expect(events[0]).toMatchObject({ type: 'speech_started' });
    expect(scoreWer([{ ref: clip.text, hyp: finals(events) }]).wer).toBeLessThan(0.15);
    for (const e of results) {
      if (e.type !== 'results') continue;
      for (const w of e.words) {
        expect(w.start).toBeGreaterThanOrEqual(e.start - 1e-6);
        expect(w.end).toBeLessThanOrEqual(e.start + e.duration + 1e-6);
      }
    }
    expect(factory.activeSessions).toBe(0);
  });

  it('answers Finalize with finals marked from_finalize and keeps the session open', async () => {
    const clip = fixture('1221-135766-0002');
    const audio = await loadAudioFile(clip.path);
    const events: SessionEvent[] = [];
    const session = factory.create({ ...OPTIONS, endpointingMs: null, interimResults: false }, (e) => events.push(e));
    session.pushAudio(audio.samples);
    await session.finalize();
    const flushed = events.filter((e) => e.type === 'results');
    expect(flushed.length).toBeGreaterThan(0);
    expect(flushed.every((e) => e.type === 'results' && e.isFinal && e.fromFinalize)).toBe(true);
    expect(scoreWer([{ ref: clip.text, hyp: finals(events) }]).wer).toBeLessThan(0.15);
    expect(session.lagSeconds).toBe(0);
    session.pushAudio(audio.samples.subarray(0, 16000));
    await session.close();
  });

  it('produces no words for noise, and an empty final to acknowledge Finalize', async () => {
    const audio = await loadAudioFile(fixture('noise-pink-vol0.1-10s').path);
    const events: SessionEvent[] = [];
    const session = factory.create(OPTIONS, (e) => events.push(e));
    session.pushAudio(audio.samples);
    await session.finalize();
    await session.close();
    const results = events.filter((e) => e.type === 'results');
    expect(results.every((e) => e.type === 'results' && e.words.length === 0)).toBe(true);
  });

  // No speech is dropped: every clip below is played through the session path on a virtual
  // clock (src/eval/live.ts), and its finals must keep all but at most two of the words that
  // the same engine writes offline.
  async function lostOfflineWords(pcm: Float32Array): Promise<{ lost: number; live: string; offline: string }> {
    const offline = (await transcribe(factory.model, pcm, { language: 'en' })).text;
    const [result] = await playStreams(
      factory.model,
      [{ ids: ['clip'], set: 'fixtures', pcm, ref: '', offline }],
      { clock: 'virtual', concurrency: 1, endpointingMs: 500 },
    );
    const live = result.finals.join(' ');
    return { lost: lostWords(offline, live), live, offline };
  }

  it('keeps a long sentence whose decode ends early after a full stop', async () => {
    // Finals used to stop at "...of one mind with me." while offline goes on to "...as I do".
    const audio = await loadAudioFile(fixture('tel8k-2830-3980-0029').path);
    const { lost, live, offline } = await lostOfflineWords(audio.samples);
    expect(lost, `offline: ${offline}\nlive:    ${live}`).toBeLessThan(3);
  });

  it('keeps a phrase said twice in a row, which is not an echo of the final words', async () => {
    const audio = await loadAudioFile(fixture('jfk').path);
    // "...for your country" and the whole address again, a fifth of a second later.
    const pcm = new Float32Array(audio.samples.length * 2 + 3200);
    pcm.set(audio.samples, 0);
    pcm.set(audio.samples, audio.samples.length + 3200);
    const { lost, live, offline } = await lostOfflineWords(pcm);
    expect(lost, `offline: ${offline}\nlive:    ${live}`).toBeLessThan(3);
  });

  it('refuses sessions beyond its capacity', () => {
    const a = factory.create(OPTIONS, () => {});
    const b = factory.create(OPTIONS, () => {});
    expect(() => factory.create(OPTIONS, () => {})).toThrow(/live sessions are in use/);
    void a.abort();
    void b.abort();
  });
});
