// Admission control end to end: a real gateway whose KV budget covers two live streams, asked
// for four at once. Two must be admitted and finish normally; two must be refused before the
// upgrade with 429, so no socket or pool slot is spent on them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { WhisperModel } from '../../src/engine/whisper.js';
import { scoreWer } from '../../src/eval/wer.js';
import { STREAM_SLOTS, streamBytes as streamBytesOf, WhisperSessionFactory } from '../../src/stream/session-factory.js';
import { startTinyGateway, type TinyGateway } from '../tiny-gateway.js';
import { framesFor } from '../../loadtest/audio-frames.js';
import { runStream } from '../../loadtest/stream-client.js';
import { streamMetrics } from '../../loadtest/stream-metrics.js';
import { until } from '../gateway/gateway-harness.js';
import { fixture } from '../helpers.js';

/** The KV memory of a live stream's worst case. */
let streamBytes: number;
let gateway: TinyGateway;
let factory: WhisperSessionFactory;
let wsUrl: string;

beforeAll(async () => {
  const probe = await WhisperModel.load('tiny.en', { threads: 2, maxWindows: 0, maxSessions: 0 });
  streamBytes = streamBytesOf(probe.info, STREAM_SLOTS);
  probe.close();
  // Two live streams plus the one kept for file transcriptions.
  gateway = await startTinyGateway({ maxSessions: 8, kvBudgetBytes: 3 * streamBytes });
  factory = gateway.factory;
  wsUrl = gateway.wsUrl + '/v1/listen';
});

afterAll(async () => {
  await gateway?.close();
});

describe('over capacity', () => {
  it('derives the session limit from the KV budget, below --max-sessions', () => {
    expect(factory.capacity()).toMatchObject({ sessionsMax: 2, sessionsActive: 0, accepting: true });
    expect(factory.kvPool()).toMatchObject({ windowsTotal: 3, streamingWindowsTotal: 3, sessionsTotal: 18, windowsInUse: 0 });
  });

  it('refuses to start with a budget that holds no live session', async () => {
    await expect(WhisperSessionFactory.open({ model: 'tiny.en', threads: 2, maxSessions: 8, kvBudgetBytes: streamBytes })).rejects.toThrow(
      /holds no live session/,
    );
  });

  it('admits two of four simultaneous streams, refuses two with 429 before the upgrade, and completes the two', async () => {
    const clip = fixture('jfk');
    const audio = framesFor((await loadAudioFile(clip.path)).samples, 'linear16', 16000);
    const records = await Promise.all(
      Array.from({ length: 4 }, () =>
        runStream({ url: wsUrl, params: { encoding: 'linear16', sample_rate: 16000, interim_results: true }, audio, speed: 2 }),
      ),
    );
    const refused = records.filter((r) => r.refusedStatus !== null);
    const admitted = records.filter((r) => r.refusedStatus === null);
    expect(refused.map((r) => r.refusedStatus)).toEqual([429, 429]);
    expect(admitted).toHaveLength(2);
    for (const record of admitted) {
      const m = streamMetrics(record);
      expect(record.error).toBeNull();
      expect(m.errors).toEqual([]);
      expect(record.closeCode).toBe(1000);
      expect(m.gotMetadata).toBe(true);
      expect(scoreWer([{ ref: clip.text, hyp: m.finalText }]).wer).toBeLessThan(0.2);
    }
    // Every slot the two streams held goes back to the pool (releases run on the device thread).
    await until(() => {
      const pool = factory.kvPool();
      return factory.activeSessions === 0 && pool.windowsInUse === 0 && pool.streamingWindowsInUse === 0 && pool.sessionsInUse === 0;
    });
    expect(factory.capacity()).toMatchObject({ sessionsActive: 0, accepting: true });
  });
});

describe('past capacity: shedding', () => {
  // Thresholds of 0 s make any lag an overload, so the real pipeline sheds on cue; the
  // thresholds themselves are table-tested in test/stream/admission.test.ts.
  it('ends the stream furthest behind with Error server_overloaded and 1013, keeps the other, and holds admission at it', async () => {
    const shedding = await startTinyGateway({ maxSessions: 8, overload: { overloadLagS: 0, shedLagS: 0, settleMs: 600_000, shedShare: 0, maxShedShare: 0, raiseMs: 600_000 } });
    try {
      const clip = fixture('jfk');
      const audio = framesFor((await loadAudioFile(clip.path)).samples, 'linear16', 16000);
      const params = { encoding: 'linear16', sample_rate: 16000, interim_results: true };
      const url = shedding.wsUrl + '/v1/listen';
      let third: ReturnType<typeof runStream> | null = null;
      const streams = [0, 1].map(() =>
        runStream({ url, params, audio, speed: 1 }).then((record) => {
          // Asked for right after the shed, while the other stream still runs.
          if (record.closeCode === 1013) third ??= runStream({ url, params, audio: framesFor(new Float32Array(1600), 'linear16', 16000), speed: 1 });
          return record;
        }),
      );
      const records = await Promise.all(streams);
      const shed = records.filter((r) => r.closeCode === 1013);
      const kept = records.filter((r) => r.closeCode === 1000);
      expect(shed).toHaveLength(1);
      expect(kept).toHaveLength(1);
      expect(shed[0].closeReason).toBe('server_overloaded');
      expect(streamMetrics(shed[0]).errors).toEqual([expect.stringMatching(/^server_overloaded: the server is overloaded: this stream fell [\d.]+ s behind/)]);
      expect(scoreWer([{ ref: clip.text, hyp: streamMetrics(kept[0]).finalText }]).wer).toBeLessThan(0.2);
      expect((await third!)?.refusedStatus).toBe(429);
      expect(shedding.factory.capacity()).toMatchObject({ sessionsMax: 8 });
      // The shed stream's slots go back to the pool, its backlog undecoded.
      await until(() => shedding.factory.activeSessions === 0 && shedding.factory.kvPool().streamingWindowsInUse === 0);
      const metrics = await (await fetch(`${shedding.url}/metrics`)).text();
      expect(metrics).toMatch(/chorus_sessions_total\{outcome="server_overloaded"\} 1/);
    } finally {
      await shedding.close();
    }
  }, 60_000);
});
