// Deepgram clients' endpointing values against a real session (tiny.en): Deepgram's default
// of 10 ms and the 25 ms LiveKit's plugin sends must open a stream and transcribe it whole,
// not refuse it or cut its words apart at every short pause.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { scoreWer } from '../../src/eval/wer.js';
import { startTinyGateway, type TinyGateway } from '../tiny-gateway.js';
import { framesFor } from '../../loadtest/audio-frames.js';
import { runStream } from '../../loadtest/stream-client.js';
import { streamMetrics } from '../../loadtest/stream-metrics.js';
import { fixture } from '../helpers.js';

let gateway: TinyGateway;
let wsUrl: string;

beforeAll(async () => {
  gateway = await startTinyGateway({ maxSessions: 1 });
  wsUrl = gateway.wsUrl + '/v1/listen';
});

afterAll(async () => {
  await gateway?.close();
});

describe('short endpointing on /v1/listen', () => {
  it.each([10, 25])('endpointing=%i transcribes JFK with speech_final at his pauses', async (endpointing) => {
    const clip = fixture('jfk');
    const audio = await loadAudioFile(clip.path);
    const record = await runStream({
      url: wsUrl,
      params: { encoding: 'linear16', sample_rate: 16000, endpointing },
      audio: framesFor(audio.samples, 'linear16', 16000),
      speed: 4,
    });
    expect(record.refusedStatus).toBeNull();
    expect(record.closeCode).toBe(1000);
    const metrics = streamMetrics(record);
    expect(metrics.errors).toEqual([]);
    // Ended at every silent frame instead, his words were cut apart: WER 0.27 at 10 ms, 0.36 at 25.
    expect(scoreWer([{ ref: clip.text, hyp: metrics.finalText }]).wer).toBeLessThanOrEqual(0.1);
    const speechFinals = record.received.filter((r) => r.message.type === 'Results' && r.message.speech_final === true);
    // One per phrase: he pauses after "Americans", "ask", "not" and "for you".
    expect(speechFinals.length).toBeGreaterThanOrEqual(2);
    expect(speechFinals.length).toBeLessThanOrEqual(6);
  });
});
