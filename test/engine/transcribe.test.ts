import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { transcribe } from '../../src/engine/transcribe.js';
import { WhisperModel } from '../../src/engine/whisper.js';
import { scoreWer } from '../../src/eval/wer.js';
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

  it('returns nothing for empty audio', async () => {
    const result = await transcribe(model, new Float32Array(0));
    expect(result.segments).toEqual([]);
  });
});
