import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { logMelSpectrogram, melWindow, SAMPLE_RATE } from '../../src/engine/features.js';
import { DEFAULT_LIVE_WINDOW, LiveDecoder } from '../../src/engine/live-decoder.js';
import { StreamingWindow } from '../../src/engine/streaming-window.js';
import { WhisperModel } from '../../src/engine/whisper.js';
import { normalizeEnglish } from '../../src/text/normalize.js';
import { fixture } from '../helpers.js';

let model: WhisperModel;
let jfk: Float32Array;

beforeAll(async () => {
  model = await WhisperModel.load('tiny.en', { threads: 2, maxWindows: 1, maxSessions: 2, maxStreamingWindows: 2 });
  jfk = (await loadAudioFile(fixture('jfk').path)).samples;
});
afterAll(() => model?.close());

async function encodeStreaming(window: number, mel: Float32Array, melFrames: number, firstFrame: number): Promise<Float32Array> {
  const output = new Float32Array((melFrames / 2 - firstFrame) * model.info.nState);
  await model.native.encode(Int32Array.of(window), [mel], Int32Array.of(melFrames), [output], Int32Array.of(firstFrame));
  return output;
}

describe('streaming windows', () => {
  it('come from their own pool, and return to it when released', async () => {
    expect(model.info).toMatchObject({ maxStreamingWindows: 2, streamingWindowsInUse: 0, maxWindows: 1 });
    // The window's cross K/V plus the encoder's self-attention K/V in the same fp16 layout.
    expect(model.info.streamingWindowBytes).toBe(2 * model.info.windowBytes);
    const taken = [model.native.createWindow(true), model.native.createWindow(true)];
    expect(taken.every((w) => w >= 0)).toBe(true);
    expect(model.native.createWindow(true)).toBe(-1);
    expect(model.native.info().windowsInUse).toBe(0);
    await Promise.all(taken.map((w) => model.native.releaseWindow(w)));
    expect(model.native.info().streamingWindowsInUse).toBe(0);
  });

  it('compute only the frames from firstFrame on, over the encoder K/V cached for the frames before', async () => {
    const mel = await logMelSpectrogram(model, jfk.subarray(0, 10 * SAMPLE_RATE));
    const frames = 1000;
    const full = melWindow(mel, 0, frames);
    const window = model.native.createWindow(true);
    const once = await encodeStreaming(window, full, frames, 0);
    // Mel frames the convolutions for frames >= 300 do not read are wiped: the states must not move.
    const wiped = full.slice();
    for (let m = 0; m < 80; m++) wiped.fill(0, m * frames, m * frames + 2 * 300 - 2);
    const again = await encodeStreaming(window, wiped, frames, 300);
    await model.native.releaseWindow(window);
    const s = model.info.nState;
    let maxDiff = 0;
    for (let i = 0; i < again.length; i++) maxDiff = Math.max(maxDiff, Math.abs(again[i] - once[300 * s + i]));
    expect(maxDiff).toBeLessThan(1e-3);
  });

  it('refuse a firstFrame on an ordinary window, or past the frames asked for', async () => {
    const mel = new Float32Array(80 * 200);
    const ordinary = model.native.createWindow();
    await expect(encodeStreaming(ordinary, mel, 200, 10)).rejects.toThrow(/only a streaming window/);
    await model.native.releaseWindow(ordinary);
    const streaming = model.native.createWindow(true);
    await expect(encodeStreaming(streaming, mel, 200, 100)).rejects.toThrow(/past the 100 frames/);
    await model.native.releaseWindow(streaming);
  });

  it('grown in half-second hops, decode what the padded window decodes', async () => {
    const decoder = new LiveDecoder(model, { ...DEFAULT_LIVE_WINDOW, encoder: 'incremental', lookaheadS: 1 });
    const window = new StreamingWindow();
    const request = (pcm: Float32Array, stream: boolean) =>
      decoder.hypothesis({
        pcm,
        previousText: '',
        language: 'en',
        prefixTokens: [],
        prefixEndS: 0,
        purpose: 'live',
        stream: stream ? { window, originSample: 0 } : undefined,
      });
    let grown = null;
    for (let end = SAMPLE_RATE / 2; end <= jfk.length; end += SAMPLE_RATE / 2) grown = await request(jfk.subarray(0, end), true);
    grown = await request(jfk, true);
    const padded = await request(jfk, false);
    await window.release();
    expect(model.native.info().streamingWindowsInUse).toBe(0);
    const text = (h: typeof grown) => normalizeEnglish(h?.words.map((w) => w.word).join(' ') ?? '');
    expect(text(grown)).toBe('and so my fellow americans ask not what your country can do for you ask what you can do for your country');
    expect(text(grown)).toBe(text(padded));
  });
});
