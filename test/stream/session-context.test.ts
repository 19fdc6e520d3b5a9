// With the default commit policy (keepContext) an endpoint ends a result, not what the decoder hears:
// the utterance that ended stays in the decoding window (its words forced as the next
// decode's prefix, its audio heard) until a long pause moves its words into the prompt. A
// scripted decoder (no model) records what each decode was given; real speech drives the VAD.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import type { FinalTranscript, Hypothesis, HypothesisRequest, LiveDecodeRequest, LiveDecoder } from '../../src/engine/live-decoder.js';
import type { Segment } from '../../src/engine/transcribe.js';
import type { SessionEvent } from '../../src/stream/session-contract.js';
import { COMMIT_POLICIES } from '../../src/stream/commit-policy.js';
import { StreamingSession } from '../../src/stream/session.js';
import { fixture } from '../helpers.js';

const SAMPLE_RATE = 16000;

interface Recorded {
  kind: 'hypothesis' | 'final';
  seconds: number;
  prefixWords: string[];
  previousText: string;
}

/**
 * Every decode of audio with no forced words (the offline path) says `firstWords` over all of
 * its audio (timed `overrunS` past its end when set); every forced-prefix decode continues
 * with "second", timed over all of the audio after the prefix.
 */
function scriptedDecoder(firstWords: string, overrunS = 0) {
  const calls: Recorded[] = [];
  const tokensOf = new Map<number, string>();
  const decoder = {
    wordTokens(word: string): number[] {
      const token = tokensOf.size + 1;
      tokensOf.set(token, word);
      return [token];
    },
    async hypothesis(request: HypothesisRequest): Promise<Hypothesis | null> {
      const prefixWords = request.prefixTokens.map((t) => tokensOf.get(t) ?? '?');
      calls.push({ kind: 'hypothesis', seconds: request.pcm.length / SAMPLE_RATE, prefixWords, previousText: request.previousText });
      if (request.purpose === 'live') return null;
      const at = request.prefixEndS + 0.2;
      const end = request.pcm.length / SAMPLE_RATE - 0.1;
      return { confidence: 0.9, words: [{ word: 'second', start: at, end, confidence: 0.9, tokens: [999] }] };
    },
    /** The utterance after the context is heard as speech (its speech check passes). */
    async judgeSpeech() {
      return { noSpeechProb: 0.05, text: ' second' };
    },
    async final(request: LiveDecodeRequest): Promise<FinalTranscript> {
      const seconds = request.pcm.length / SAMPLE_RATE;
      calls.push({ kind: 'final', seconds, prefixWords: [], previousText: request.previousText });
      const end = seconds - 0.1 + overrunS;
      const segment: Segment = { start: 0.1, end, text: ` ${firstWords}`, tokens: [], avgLogprob: -0.2, noSpeechProb: 0.01, compressionRatio: 1, temperature: 0 };
      return { segments: [segment], language: 'en' };
    },
  };
  return { decoder: decoder as unknown as LiveDecoder, calls };
}

let speech: Float32Array;
beforeAll(async () => {
  // 4.8 s of one sentence, said without a pause as long as the endpoint.
  speech = (await loadAudioFile(fixture('1221-135766-0002').path)).samples;
});

/** The sentence, `pauseS` of silence, the sentence again, then a second of silence. */
async function play(decoder: LiveDecoder, pauseS: number): Promise<string[]> {
  const pcm = new Float32Array(speech.length * 2 + Math.round((pauseS + 1) * SAMPLE_RATE));
  pcm.set(speech, 0);
  pcm.set(speech, speech.length + Math.round(pauseS * SAMPLE_RATE));
  const finals: string[] = [];
  const session = new StreamingSession(
    decoder,
    { interimResults: false, endpointingMs: 500, utteranceEndMs: null, vadEvents: false, language: 'en' },
    (e: SessionEvent) => {
      if (e.type === 'results' && e.isFinal && e.transcript) finals.push(e.transcript);
    },
    (error) => {
      throw error;
    },
    COMMIT_POLICIES.default,
  );
  // A turn of the event loop per 100 ms chunk, as a real stream leaves the session between
  // chunks: the scripted decodes finish before the next chunk.
  for (let at = 0; at < pcm.length; at += 1600) {
    session.pushAudio(pcm.subarray(at, at + 1600));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await session.close();
  return finals;
}

describe('the next utterance after an endpoint', () => {
  it('is decoded with the ended one in its window: its words forced, its audio heard', async () => {
    const { decoder, calls } = scriptedDecoder('Yet these thoughts');
    const finals = await play(decoder, 1);
    expect(finals).toEqual(['Yet these thoughts', 'Yet these thoughts']);
    const lastHop = calls.filter((c) => c.kind === 'hypothesis').at(-1)!;
    expect(lastHop.prefixWords).toEqual(['Yet', 'these', 'thoughts']);
    // Both sentences and the pause between them.
    expect(lastHop.seconds).toBeGreaterThan((speech.length * 2) / SAMPLE_RATE);
  });

  it('with nothing of it final before its end, is decoded on its own audio, the context as prompt', async () => {
    // Its no-speech judgement must see only it: noise after speech is not speech.
    const { decoder, calls } = scriptedDecoder('Yet these thoughts');
    await play(decoder, 1);
    const last = calls.filter((c) => c.kind === 'final').at(-1)!;
    expect(last.previousText.trim()).toBe('Yet these thoughts');
    // The pause and the sentence after the context, not the context's own audio.
    expect(last.seconds).toBeLessThan(speech.length / SAMPLE_RATE + 1.5);
  });

  it('starts afresh after a long pause, the ended utterance becoming prompt text', async () => {
    const { decoder, calls } = scriptedDecoder('Yet these thoughts');
    const finals = await play(decoder, 7);
    expect(finals).toEqual(['Yet these thoughts', 'Yet these thoughts']);
    expect(calls.filter((c) => c.kind === 'hypothesis').at(-1)!.prefixWords).toEqual([]);
    const second = calls.filter((c) => c.kind === 'final').at(-1)!;
    expect(second.previousText.trim()).toBe('Yet these thoughts');
    expect(second.seconds).toBeLessThan(speech.length / SAMPLE_RATE + 1);
  });

  it('is still decoded when the ended utterance\'s last segment was timed past its audio', async () => {
    // Whisper times a window's last segment against the padded window: a word "ending" 20 s
    // after its audio must not hold every later decode back.
    const { decoder } = scriptedDecoder('Yet these thoughts', 20);
    expect(await play(decoder, 1)).toEqual(['Yet these thoughts', 'Yet these thoughts']);
  });
});
