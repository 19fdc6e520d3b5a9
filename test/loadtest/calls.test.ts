// Load-test calls without a server: who speaks on which channel and when, how a stereo call is
// framed, how a call's results are split and scored per channel, and how finals are read back
// from a JSONL transcript sink. The runs against a real gateway: calls-smoke.test.ts.
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FinalRecord } from '../../src/gateway/transcript-sink.js';
import { framesFor, interleavedFramesFor } from '../../loadtest/audio-frames.js';
import { summarizeLevel } from '../../loadtest/level-summary.js';
import { JsonlSinkTail, type SunkFinal } from '../../loadtest/sink-tail.js';
import { callCast, callProgram, callTurns, clipsFromFiles, GAP_S, speakerOf, type SpeechClip } from '../../loadtest/speech-source.js';
import type { StreamRecord } from '../../loadtest/stream-client.js';
import { channelView, streamMetrics } from '../../loadtest/stream-metrics.js';
import { resultsOf } from '../../loadtest/twilio-call.js';
import { fixture } from '../helpers.js';
import { session } from './sample-report.js';

const clip = (id: string, durationS = 5): SpeechClip => ({ id, path: `/nowhere/${id}.wav`, text: id, durationS });

describe('who speaks in a call', () => {
  it('takes the reader from a LibriSpeech id, and counts any other clip as a speaker of its own', () => {
    expect(speakerOf('1089-134686-0000')).toBe('1089');
    expect(speakerOf('jfk')).toBe('jfk');
    expect(speakerOf('LJ001-0001')).toBe('LJ001-0001');
  });

  it('puts two different readers on every call, varying the pair and who is on channel 0 from call to call', () => {
    const clips = ['1-1-1', '1-1-2', '2-1-1', '3-1-1', '3-1-2'].map((id) => clip(id));
    const casts = Array.from({ length: 12 }, (_, call) => callCast(clips, call));
    for (const cast of casts) expect(cast.speakers[0].speaker).not.toBe(cast.speakers[1].speaker);
    expect(casts.slice(0, 6).map((c) => c.speakers.map((s) => s.speaker).join('+'))).toEqual(['1+2', '2+3', '3+1', '1+3', '2+1', '3+2']);
    // Once every ordered pair has had a call, the pairs come round again from later clips.
    expect(casts.slice(0, 6).every((c) => c.firstClip === 0)).toBe(true);
    expect(casts[6]).toMatchObject({ firstClip: 1, speakers: [{ speaker: '1' }, { speaker: '2' }] });
    expect(casts[0].speakers[0].clips.map((c) => c.id)).toEqual(['1-1-1', '1-1-2']);
  });

  it('refuses clips of a single reader: a call needs two', () => {
    expect(() => callCast([clip('7-1-1'), clip('7-1-2')], 0)).toThrow(/two different speakers.*1 \(7\)/);
  });

  it('alternates turns, each reader reading their own clips in order, until the duration is queued and both have spoken', () => {
    const a = [clip('a1', 4), clip('a2', 6)];
    const b = [clip('b1', 3)];
    const turns = callTurns([a, b], 20, 0);
    expect(turns.map((t) => `${t.channel}:${t.clip.id}`)).toEqual(['0:a1', '1:b1', '0:a2', '1:b1']);
    // 4 + 3 + 6 + 3 seconds of speech and a pause after each turn: at least 20 s queued.
    expect(turns.reduce((n, t) => n + t.clip.durationS + GAP_S, 0)).toBeGreaterThanOrEqual(20);
    expect(callTurns([a, b], 1, 1).map((t) => `${t.channel}:${t.clip.id}`)).toEqual(['0:a2', '1:b1']);
  });

  it('builds two channels of equal length, each silent while the other reader speaks, with its own reference', async () => {
    const clips = await clipsFromFiles([fixture('1221-135766-0002').path, fixture('jfk').path]);
    const program = await callProgram(callCast(clips, 0), 1);
    const [left, right] = program.channels;
    expect(program.channels.map((c) => c.speaker)).toEqual(['1221', 'jfk']);
    expect(left.pcm.length).toBe(right.pcm.length);
    expect(program.clips.map((c) => c.id)).toEqual(['1221-135766-0002', 'jfk']);
    expect(left.ref).toBe(fixture('1221-135766-0002').text);
    expect(right.ref).toBe(fixture('jfk').text);
    const turnEnd = Math.round((clips[0].durationS + GAP_S) * 16000);
    const energy = (pcm: Float32Array, from: number, to: number) => pcm.subarray(from, to).reduce((n, s) => n + s * s, 0);
    expect(energy(left.pcm, 0, turnEnd)).toBeGreaterThan(1);
    expect(energy(right.pcm, 0, turnEnd)).toBe(0);
    expect(energy(left.pcm, turnEnd, left.pcm.length)).toBe(0);
    expect(energy(right.pcm, turnEnd, right.pcm.length)).toBeGreaterThan(1);
  });
});

describe('a stereo call on the wire', () => {
  it('interleaves the channels sample by sample in frames timed like a mono stream of the same audio', () => {
    const left = Float32Array.from({ length: 3200 }, () => 0.5);
    const right = Float32Array.from({ length: 3200 }, () => -0.25);
    const stereo = interleavedFramesFor([left, right], 'linear16', 16000);
    const mono = framesFor(left, 'linear16', 16000);
    expect(stereo.frames.map((f) => [f.startS, f.endS])).toEqual(mono.frames.map((f) => [f.startS, f.endS]));
    expect(stereo.durationS).toBe(0.2);
    const samples = new Int16Array(stereo.frames[0].bytes.buffer.slice(0));
    expect(samples.length).toBe(2 * 1600);
    expect([...samples.subarray(0, 4)]).toEqual([16384, -8192, 16384, -8192]);
    expect(interleavedFramesFor([left, right], 'mulaw', 8000, 20).frames[0].bytes.length).toBe(2 * 160);
  });
});

/** A final Results message of `channel` at `atMs` holding one word that ends at `endS`. */
function final(atMs: number, channel: number, word: string, endS: number) {
  return {
    atMs,
    message: {
      type: 'Results', is_final: true, speech_final: true, from_finalize: false, start: endS - 0.5, duration: 0.5, lag: 0.2,
      channel_index: [channel, 2],
      channel: { alternatives: [{ transcript: word, words: [{ word, start: endS - 0.5, end: endS }] }] },
    },
  };
}

function record(received: StreamRecord['received']): StreamRecord {
  return {
    startedAtMs: 1000,
    sent: Array.from({ length: 50 }, (_, i) => ({ endS: (i + 1) * 0.1, atMs: 1000 + (i + 1) * 100 })),
    received,
    closeSentAtMs: 6000,
    closedAtMs: 6100,
    closeCode: 1000,
    closeReason: '',
    refusedStatus: null,
    gateway: null,
    error: null,
  };
}

describe("a call's results, channel by channel", () => {
  it("keeps each channel's results on the call's one audio clock", () => {
    const call = record([final(2300, 0, 'hello', 1.0), final(4900, 1, 'there', 3.5), { atMs: 6050, message: { type: 'Metadata' } }]);
    const left = streamMetrics(channelView(call, 0));
    const right = streamMetrics(channelView(call, 1));
    expect([left.finalText, right.finalText]).toEqual(['hello', 'there']);
    // "hello" ends at 1.0 s, sent at 2000 ms; "there" at 3.5 s, sent at 4500 ms.
    expect(left.finalLatencyMs).toEqual([300]);
    expect(right.finalLatencyMs).toEqual([400]);
    expect(channelView(call, 1).received).toHaveLength(1);
  });

  it('reads a sink record as the final Results a /v1/listen client would have had', () => {
    const sunk = {
      id: 'r.1.1', time: '2026-12-07T12:00:00.000Z', request_id: 'r', transport: 'twilio', model: 'tiny.en',
      channel: 1, channels: 2, seq: 1, start: 3.0, duration: 0.5, transcript: 'There.', speech_final: true, from_finalize: false,
      words: [{ word: 'there', start: 3.0, end: 3.5, confidence: 0.9, punctuated_word: 'There.' }],
      tag: [], extra: {}, call: null,
    } as FinalRecord;
    const call = record([{ atMs: 5000, message: resultsOf(sunk) }]);
    const m = streamMetrics(channelView(call, 1));
    expect(m.finalText).toBe('There.');
    expect(m.finalLatencyMs).toEqual([500]);
    expect(m.utteranceFinalLatencyMs).toEqual([500]);
    expect(streamMetrics(channelView(call, 0)).finals).toBe(0);
  });

  it("sums a level's WER per channel index over its calls", () => {
    const channel = (c: number, refWords: number, wordErrors: number) => ({
      channel: c, speaker: String(c), clips: [], finals: 1, lagGrowthS: 0, refWords, wordErrors, hypothesis: '',
    });
    const summary = summarizeLevel([
      session({ refWords: 30, wordErrors: 4, channels: [channel(0, 10, 1), channel(1, 20, 3)] }),
      session({ refWords: 50, wordErrors: 6, channels: [channel(0, 40, 4), channel(1, 10, 2)] }),
      session({ outcome: 'refused', refusedStatus: 429, refWords: null, wordErrors: null, channels: [channel(0, 99, 99), channel(1, 99, 99)] }),
    ]);
    expect(summary.channels).toEqual([
      { channel: 0, wer: 5 / 50, refWords: 50, wordErrors: 5 },
      { channel: 1, wer: 5 / 30, refWords: 30, wordErrors: 5 },
    ]);
    expect(summary.wer).toBe(10 / 80);
  });
});

describe('reading finals from a JSONL transcript sink', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-sink-tail-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const line = (callSid: string | null, seq: number) =>
    JSON.stringify({ id: `r.0.${seq}`, seq, transcript: `t${seq}`, call: callSid === null ? null : { call_sid: callSid } }) + '\n';

  it('hands each call the records naming its callSid written after the tail opened, a line split across writes included', async () => {
    const path = join(dir, 'finals.jsonl');
    writeFileSync(path, line('CA1', 1));
    const tail = await JsonlSinkTail.open(path);
    const got: SunkFinal[] = [];
    tail.follow('CA1', (f) => got.push(f));
    appendFileSync(path, line('CA1', 2) + line('CA2', 1) + line(null, 1));
    const cut = line('CA1', 3);
    appendFileSync(path, cut.slice(0, 10));
    await tail.settle();
    appendFileSync(path, cut.slice(10));
    await tail.settle();
    await tail.close();
    expect(got.map((f) => f.record.seq)).toEqual([2, 3]);
    expect(got.every((f) => f.atMs > 0)).toBe(true);
  });

  it('refuses a sink file that does not exist, naming the gateway option that makes it', async () => {
    await expect(JsonlSinkTail.open(join(dir, 'missing.jsonl'))).rejects.toThrow(/--transcript-sink/);
  });
});
