import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { WindowDecoder, type WindowTask } from '../../src/engine/decoder.js';
import { transcribe } from '../../src/engine/transcribe.js';
import { WhisperModel } from '../../src/engine/whisper.js';
import { scoreWer } from '../../src/eval/wer.js';
import { EMULATES_ARM64, runOnArm64 } from '../arm64.js';
import { fixture, fixtureClips } from '../helpers.js';

let model: WhisperModel;

beforeAll(async () => {
  model = await WhisperModel.load('tiny.en', { threads: 2, maxWindows: 1, maxSessions: 5 });
});
afterAll(() => model?.close());

describe('offline transcription with real tiny.en weights', () => {
  it('transcribes JFK word for word, with ordered timestamps inside the clip', async () => {
    const clip = fixture('jfk');
    const audio = await loadAudioFile(clip.path);
    const result = await transcribe(model, audio.samples);
    expect(scoreWer([{ ref: clip.text, hyp: result.text }]).wer).toBe(0);
    expect(result.segments.length).toBeGreaterThan(0);
    let previousEnd = 0;
    for (const s of result.segments) {
      expect(s.start).toBeGreaterThanOrEqual(previousEnd - 1e-9);
      expect(s.end).toBeGreaterThan(s.start);
      expect(s.end).toBeLessThanOrEqual(clip.duration_s + 0.5);
      previousEnd = s.end;
    }
  });

  it('transcribes LibriSpeech and 8 kHz telephone speech closely', async () => {
    const clips = fixtureClips().filter((c) => c.text !== '' && c.id !== 'jfk');
    const pairs = [];
    for (const clip of clips) {
      const audio = await loadAudioFile(clip.path);
      pairs.push({ ref: clip.text, hyp: (await transcribe(model, audio.samples)).text });
    }
    expect(scoreWer(pairs).wer).toBeLessThan(0.1);
  });

  it('writes no words for noise and birdsong', async () => {
    for (const clip of fixtureClips().filter((c) => c.text === '')) {
      const audio = await loadAudioFile(clip.path);
      const result = await transcribe(model, audio.samples);
      expect(result.text.trim(), clip.id).toBe('');
    }
  });

  it('gives the same words with beam search', async () => {
    const clip = fixture('jfk');
    const audio = await loadAudioFile(clip.path);
    const result = await transcribe(model, audio.samples, { beamSize: 5 });
    expect(scoreWer([{ ref: clip.text, hyp: result.text }]).wer).toBe(0);
  });

  it('conditions each 30 s window on the segments before it as Whisper wrote them, timestamps included', async () => {
    const clips = ['jfk', '1089-134686-0000', 'jfk'].map(fixture);
    const parts = await Promise.all(clips.map(async (c) => (await loadAudioFile(c.path)).samples));
    const long = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (long.set(p, at), at + p.length), 0);
    const decode = vi.spyOn(WindowDecoder.prototype, 'decode');
    try {
      const result = await transcribe(model, long);
      const tasks = decode.mock.calls.map(([task]) => task as WindowTask);
      expect(tasks.length).toBeGreaterThan(1);
      const { timestampBegin } = model.tokenizer.special;
      const later = tasks.filter((t) => t.previous.length > 0);
      expect(later.length).toBeGreaterThan(0);
      for (const task of later) expect(task.previous.some((t) => t >= timestampBegin)).toBe(true);
      const reference = clips.map((c) => c.text).join(' ');
      expect(scoreWer([{ ref: reference, hyp: result.text }]).wer).toBeLessThan(0.1);
    } finally {
      decode.mockRestore();
    }
  });

  it('returns nothing for empty audio', async () => {
    const result = await transcribe(model, new Float32Array(0));
    expect(result.segments).toEqual([]);
  });
});

// The product's own command on an arm64 build (test/arm64.ts): its default precision there is
// int8-encoder, so the encoder's products take the NEON int8 kernel (sdot under qemu's CPU)
// and the decoder's the NEON bf16 one.
describe.runIf(EMULATES_ARM64)('offline transcription on arm64 (under qemu)', () => {
  it('transcribes JFK word for word with `chorus transcribe` at the default precision', async () => {
    const clip = fixture('jfk');
    const printed = await runOnArm64('src/cli/main.ts', ['transcribe', clip.path, '--json', '--threads', '2']);
    const result = JSON.parse(printed) as { text: string; segments: { start: number; end: number }[] };
    expect(scoreWer([{ ref: clip.text, hyp: result.text }]).wer).toBe(0);
    expect(result.segments.length).toBeGreaterThan(0);
    expect(result.segments.at(-1)!.end).toBeLessThanOrEqual(clip.duration_s + 0.5);
  }, 900_000);
});
