// Deepgram clients' endpointing values against a real session (tiny.en): Deepgram's default
// of 10 ms and the 25 ms LiveKit's plugin sends must open a stream and transcribe it whole,
// not refuse it or cut its words apart at every short pause.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { scoreWer } from '../../src/eval/wer.js';
import { GATEWAY_DEFAULTS } from '../../src/gateway/config.js';
import { GatewayServer } from '../../src/gateway/server.js';
import { whisperFileTranscriber } from '../../src/gateway/transcriptions.js';
import { WhisperSessionFactory } from '../../src/stream/session-factory.js';
import { framesFor } from '../../loadtest/audio-frames.js';
import { runStream } from '../../loadtest/stream-client.js';
import { streamMetrics } from '../../loadtest/stream-metrics.js';
import { fixture } from '../helpers.js';

let factory: WhisperSessionFactory;
let server: GatewayServer;
let wsUrl: string;

beforeAll(async () => {
  factory = await WhisperSessionFactory.open({ model: 'tiny.en', threads: 2, maxSessions: 1 });
  server = new GatewayServer({ config: { ...GATEWAY_DEFAULTS, apiKeys: null, host: '127.0.0.1', port: 0 }, log: () => {}, sink: null });
  server.attach({ sessions: factory, files: whisperFileTranscriber(factory.model, 'tiny.en') });
  wsUrl = (await server.start()).replace(/^http/, 'ws') + '/v1/listen';
});

afterAll(async () => {
  await server?.shutdown();
  factory?.close();
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
