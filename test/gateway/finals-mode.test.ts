// `finals=utterance` against a real session (tiny.en): the words of an utterance become final
// together at its endpoint, while interim results still follow the speech; early finals (the
// default) come word by word before it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { scoreWer } from '../../src/eval/wer.js';
import type { ResultsMessage } from '../../src/gateway/protocol-messages.js';
import { startTinyGateway, type TinyGateway } from '../tiny-gateway.js';
import { framesFor } from '../../loadtest/audio-frames.js';
import { runStream, type StreamRecord } from '../../loadtest/stream-client.js';
import { streamMetrics } from '../../loadtest/stream-metrics.js';
import { fixture } from '../helpers.js';

let gateway: TinyGateway;

beforeAll(async () => {
  gateway = await startTinyGateway({ maxSessions: 1 });
});

afterAll(async () => {
  await gateway?.close();
});

/**
 * 1089-134686-0000: one 10 s sentence read without a pause long enough to end it, then the
 * 1.5 s of silence that ends it.
 */
async function streamSentence(params: Record<string, string | number | boolean>, to: TinyGateway = gateway): Promise<StreamRecord> {
  const audio = await loadAudioFile(fixture('1089-134686-0000').path);
  const samples = new Float32Array(audio.samples.length + 24_000);
  samples.set(audio.samples);
  return runStream({
    url: to.wsUrl + '/v1/listen',
    params: { encoding: 'linear16', sample_rate: 16000, interim_results: true, ...params },
    audio: framesFor(samples, 'linear16', 16000),
    speed: 2,
  });
}

function results(record: StreamRecord): ResultsMessage[] {
  return record.received.flatMap((r) => (r.message.type === 'Results' ? [r.message as unknown as ResultsMessage] : []));
}

describe('finals=utterance on /v1/listen', () => {
  it('makes a sentence final once, at its end, with interim results while it is spoken', async () => {
    const record = await streamSentence({ finals: 'utterance' });
    expect(record.refusedStatus).toBeNull();
    expect(record.closeCode).toBe(1000);
    const metrics = streamMetrics(record);
    expect(metrics.errors).toEqual([]);
    const spoken = results(record).filter((r) => r.channel.alternatives[0].transcript.trim() !== '');
    const finals = spoken.filter((r) => r.is_final);
    expect(finals).toHaveLength(1);
    expect(finals[0].speech_final).toBe(true);
    expect(spoken.filter((r) => !r.is_final).length).toBeGreaterThan(3);
    expect(scoreWer([{ ref: fixture('1089-134686-0000').text, hyp: metrics.finalText }]).wer).toBeLessThanOrEqual(0.15);
  });

  it('is a choice: the default makes the same sentence final in pieces before its end', async () => {
    const finals = results(await streamSentence({})).filter((r) => r.is_final && r.channel.alternatives[0].transcript.trim() !== '');
    expect(finals.length).toBeGreaterThan(1);
    expect(finals.filter((r) => !r.speech_final).length).toBeGreaterThan(0);
  });

  it('refuses a mode it does not know before the socket opens', async () => {
    const record = await streamSentence({ finals: 'sentence' });
    expect(record.refusedStatus).toBe(400);
  });

  it('is what `chorus serve --finals utterance` gives every stream that does not ask', async () => {
    const utteranceServer = await startTinyGateway({ maxSessions: 1 }, { finals: 'utterance' });
    try {
      const finals = results(await streamSentence({}, utteranceServer)).filter((r) => r.is_final && r.channel.alternatives[0].transcript.trim() !== '');
      expect(finals).toHaveLength(1);
      expect(finals[0].speech_final).toBe(true);
    } finally {
      await utteranceServer.close();
    }
  });
});
