// No received speech is dropped at an utterance's end, whatever the decoder does: a scripted
// decoder (no model) stands for Whisper ending its decode early, and the session must decode
// the speech left after the last word on its own. Real speech drives the VAD, so the
// utterance and its endpoint are the ones a live stream would have.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import type { FinalTranscript, Hypothesis, LiveDecoder } from '../../src/engine/live-decoder.js';
import type { Segment } from '../../src/engine/transcribe.js';
import type { SessionEvent } from '../../src/stream/session-contract.js';
import { StreamingSession } from '../../src/stream/session.js';
import { fixture } from '../helpers.js';

const SAMPLE_RATE = 16000;

function segment(text: string, start: number, end: number, noSpeechProb: number): Segment {
  return { start, end, text, tokens: [], avgLogprob: -0.2, noSpeechProb, compressionRatio: 1, temperature: 0 };
}

/**
 * The utterance's decode stops after "He hoped there would be stew for dinner," (its first
 * 3 s); every later decode (of the audio after that) gives `rest`.
 */
function earlyEndingDecoder(rest: Segment[]) {
  const requests: Array<{ seconds: number; previousText: string }> = [];
  const decoder = {
    wordTokens: () => [],
    async hypothesis(): Promise<Hypothesis | null> {
      return null;
    },
    async final(request: { pcm: Float32Array; previousText: string }): Promise<FinalTranscript> {
      const seconds = request.pcm.length / SAMPLE_RATE;
      requests.push({ seconds, previousText: request.previousText });
      const segments = requests.length === 1 ? [segment(' He hoped there would be stew for dinner,', 0.5, 3.0, 0.01)] : rest;
      return { segments, language: 'en' };
    },
  };
  return { decoder: decoder as unknown as LiveDecoder, requests };
}

let speech: Float32Array;
beforeAll(async () => {
  // One sentence read without a pause as long as the endpoint: one utterance of 10 s.
  speech = (await loadAudioFile(fixture('1089-134686-0000').path)).samples;
});

async function finalsOf(decoder: LiveDecoder): Promise<Array<Extract<SessionEvent, { type: 'results' }>>> {
  const events: SessionEvent[] = [];
  const session = new StreamingSession(
    decoder,
    { interimResults: false, endpointingMs: 500, utteranceEndMs: null, vadEvents: false, language: 'en' },
    (e) => events.push(e),
  );
  for (let at = 0; at < speech.length; at += 1600) session.pushAudio(speech.subarray(at, at + 1600));
  session.pushAudio(new Float32Array(SAMPLE_RATE));
  await session.close();
  return events.filter((e): e is Extract<SessionEvent, { type: 'results' }> => e.type === 'results' && e.isFinal);
}

describe('speech after an utterance decode that ended early', () => {
  it('is decoded on its own, with the utterance so far as prompt, and its words follow as finals', async () => {
    const { decoder, requests } = earlyEndingDecoder([segment(' turnips and carrots and bruised potatoes.', 0.2, 6.5, 0.05)]);
    const finals = await finalsOf(decoder);
    const text = finals.map((f) => f.transcript).join(' ');
    expect(requests[0].seconds).toBeGreaterThan(9);
    expect(text).toBe('He hoped there would be stew for dinner, turnips and carrots and bruised potatoes.');
    expect(requests[1].previousText).toContain('He hoped there would be stew for dinner,');
    expect(requests[1].seconds).toBeLessThan(requests[0].seconds - 2);
    // The recovered words are timed after the words before them, inside the utterance.
    const words = finals.flatMap((f) => f.words);
    for (let i = 1; i < words.length; i++) expect(words[i].start).toBeGreaterThanOrEqual(words[i - 1].end);
    expect(words.at(-1)!.end).toBeLessThanOrEqual(speech.length / SAMPLE_RATE + 1);
  });

  it('is a stated non-speech decision when the second decode leans to silence', async () => {
    // Noise after a last word comes back from Whisper as "Thank you." with a high no-speech
    // probability (0.74 measured on real audio) but a log-probability above Whisper's gate.
    const { decoder, requests } = earlyEndingDecoder([segment(' Thank you.', 0.0, 1.0, 0.74)]);
    const finals = await finalsOf(decoder);
    expect(finals.map((f) => f.transcript).join(' ')).toBe('He hoped there would be stew for dinner,');
    expect(requests.length).toBeGreaterThan(1);
  });
});

describe('a session whose decoder failed', () => {
  it('reports the failure once and still answers Finalize and close', async () => {
    const errors: Error[] = [];
    const decoder = {
      wordTokens: () => [],
      async hypothesis(): Promise<Hypothesis | null> {
        throw new Error('device lost');
      },
      async final(): Promise<FinalTranscript> {
        throw new Error('device lost');
      },
    } as unknown as LiveDecoder;
    const session = new StreamingSession(
      decoder,
      { interimResults: false, endpointingMs: 500, utteranceEndMs: null, vadEvents: false, language: 'en' },
      () => {},
      (error) => errors.push(error),
    );
    for (let at = 0; at < speech.length; at += 1600) {
      session.pushAudio(speech.subarray(at, at + 1600));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await session.finalize();
    await session.close();
    expect(errors.map((e) => e.message)).toEqual(['device lost']);
  });
});
