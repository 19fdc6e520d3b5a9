import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logMelSpectrogram, melWindow } from '../../src/engine/features.js';
import { WhisperModel } from '../../src/engine/whisper.js';
import { loadAudioFile } from '../../src/audio/load.js';
import { fixture } from '../helpers.js';

let model: WhisperModel;

beforeAll(async () => {
  model = await WhisperModel.load('tiny.en', { threads: 2, maxWindows: 2, maxSessions: 3 });
});
afterAll(() => model?.close());

async function encodedWindow(): Promise<number> {
  const audio = await loadAudioFile(fixture('jfk').path);
  const mel = await logMelSpectrogram(model, audio.samples);
  const window = model.native.createWindow();
  await model.native.encode(Int32Array.of(window), [melWindow(mel, 0)], Int32Array.of(3000));
  return window;
}

describe('native engine', () => {
  it('reports the dimensions of tiny.en and the instruction set it chose', () => {
    const info = model.info;
    expect(info).toMatchObject({ nMels: 80, nAudioCtx: 1500, nState: 384, nHead: 6, nAudioLayer: 4, nTextLayer: 4 });
    expect(info.nVocab).toBe(51864);
    expect(['amx', 'avx512bf16', 'avx512vnni', 'avx512', 'avx2', 'neon', 'scalar']).toContain(info.isa);
  });

  it('sizes the K/V slots for fp16 keys in 16-key panels and fp16 value rows', () => {
    const { nTextLayer, nHead, nState, nAudioCtx } = model.info;
    const headDim = nState / nHead;
    const half = 2;
    const keyPanels = Math.ceil(nAudioCtx / 16) * 16 * headDim; // 1500 keys -> 94 panels of 16
    expect(model.info.windowBytes).toBe(nTextLayer * nHead * (keyPanels + nAudioCtx * headDim) * half);
    expect(model.info.windowBytes).toBe(9_228_288); // was 18.4 MB in fp32
    expect(model.info.sessionBytes).toBe(2 * nTextLayer * 448 * nState * half);
  });

  it('keeps the event loop running while the device computes', async () => {
    const silence = new Float32Array(16000 * 30);
    const window = model.native.createWindow();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = performance.now();
    for (let i = 0; i < 3; i++) {
      const mel = await model.native.logMel(silence);
      await model.native.encode(Int32Array.of(window), [mel.slice(0, 80 * 3000)], Int32Array.of(3000));
    }
    const elapsed = performance.now() - started;
    clearInterval(timer);
    await model.native.releaseWindow(window);
    // A blocked loop would run the timer at most a handful of times during the encodes.
    expect(ticks).toBeGreaterThan(Math.min(20, elapsed / 10));
  });

  it('encodes windows of different lengths in one batch exactly as one by one', async () => {
    const audio = await loadAudioFile(fixture('jfk').path);
    const mel = await logMelSpectrogram(model, audio.samples);
    const lengths = [1000, 600];
    const mels = lengths.map((frames, i) => melWindow(mel, i * 200, frames));
    const outputs = (n: number) => lengths.map((frames) => new Float32Array((frames / 2) * model.info.nState)).slice(0, n);
    const windows = [model.native.createWindow(), model.native.createWindow()];
    const alone = outputs(2);
    for (let i = 0; i < 2; i++) {
      await model.native.encode(Int32Array.of(windows[i]), [mels[i]], Int32Array.of(lengths[i]), [alone[i]]);
    }
    const together = outputs(2);
    await model.native.encode(Int32Array.from(windows), mels, Int32Array.from(lengths), together);
    await Promise.all(windows.map((w) => model.native.releaseWindow(w)));
    expect(together[0]).toEqual(alone[0]);
    expect(together[1]).toEqual(alone[1]);
    expect(alone[0]).not.toEqual(new Float32Array(alone[0].length));
  });

  it('gives the same logits for a prompt fed at once, token by token, or batched', async () => {
    const window = await encodedWindow();
    const V = model.info.nVocab;
    const a = model.native.createSession(window);
    const b = model.native.createSession(window);
    const prompt = [model.tokenizer.special.sot, model.tokenizer.special.noTimestamps];
    const whole = new Float32Array(V);
    await model.native.decode(Int32Array.of(a), Int32Array.of(0), Int32Array.of(2), Int32Array.from(prompt), whole);
    const stepwise = new Float32Array(V);
    await model.native.decode(Int32Array.of(b), Int32Array.of(0), Int32Array.of(1), Int32Array.of(prompt[0]), stepwise);
    await model.native.decode(Int32Array.of(b), Int32Array.of(1), Int32Array.of(1), Int32Array.of(prompt[1]), stepwise);
    const batched = new Float32Array(2 * V);
    await model.native.decode(
      Int32Array.of(a, b),
      Int32Array.of(0, 0),
      Int32Array.of(2, 2),
      Int32Array.from([...prompt, ...prompt]),
      batched,
    );
    let maxDiff = 0;
    for (let i = 0; i < V; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(whole[i] - stepwise[i]), Math.abs(whole[i] - batched[i]), Math.abs(whole[i] - batched[V + i]));
    }
    expect(maxDiff).toBeLessThan(1e-3);
    // " And" is the first word of the clip.
    let best = 0;
    for (let i = 1; i < V; i++) if (whole[i] > whole[best]) best = i;
    expect(model.tokenizer.decode([best])).toBe(' And');
    await Promise.all([model.native.releaseSession(a), model.native.releaseSession(b), model.native.releaseWindow(window)]);
  });

  it('returns the alignment heads\' attention of each item\'s last token, zero past its window', async () => {
    const { nVocab: V, nAudioCtx: A, nAlignmentHeads: H } = model.info;
    expect(H).toBe(8); // tiny.en's config.json lists 8 [layer, head] pairs
    const full = await encodedWindow();
    const short = model.native.createWindow();
    await model.native.encode(Int32Array.of(short), [new Float32Array(80 * 200)], Int32Array.of(200));
    const a = model.native.createSession(full);
    const b = model.native.createSession(short);
    const prompt = [model.tokenizer.special.sot, model.tokenizer.special.noTimestamps];
    const logits = new Float32Array(2 * V);
    const attention = new Float32Array(2 * H * A).fill(NaN);
    await model.native.decode(
      Int32Array.of(a, b),
      Int32Array.of(0, 0),
      Int32Array.of(2, 2),
      Int32Array.from([...prompt, ...prompt]),
      logits,
      attention,
    );
    for (const [item, frames] of [[0, A], [1, 100]]) {
      for (let h = 0; h < H; h++) {
        const row = attention.subarray((item * H + h) * A, (item * H + h + 1) * A);
        expect(row.subarray(0, frames).reduce((sum, w) => sum + w, 0)).toBeCloseTo(1, 4);
        expect(row.subarray(frames).every((w) => w === 0)).toBe(true);
      }
    }
    // The same last-token row when fed alone, one token at a time, and the logits unchanged.
    const alone = new Float32Array(V);
    const aloneAttention = new Float32Array(H * A);
    await model.native.decode(Int32Array.of(a), Int32Array.of(1), Int32Array.of(1), Int32Array.of(prompt[1]), alone, aloneAttention);
    let maxDiff = 0;
    for (let i = 0; i < H * A; i++) maxDiff = Math.max(maxDiff, Math.abs(aloneAttention[i] - attention[i]));
    for (let i = 0; i < V; i++) maxDiff = Math.max(maxDiff, Math.abs(alone[i] - logits[i]));
    expect(maxDiff).toBeLessThan(1e-3);
    expect(() =>
      model.native.decode(Int32Array.of(a), Int32Array.of(0), Int32Array.of(1), Int32Array.of(prompt[0]), alone, new Float32Array(A)),
    ).toThrow(/attention buffer is smaller/);
    await Promise.all([
      model.native.releaseSession(a),
      model.native.releaseSession(b),
      model.native.releaseWindow(full),
      model.native.releaseWindow(short),
    ]);
  });

  it('refuses with -1 when the pool is full and reuses released slots', async () => {
    const window = model.native.createWindow();
    const other = model.native.createWindow();
    expect(model.native.createWindow()).toBe(-1);
    const sessions = [0, 1, 2].map(() => model.native.createSession(window));
    expect(sessions.every((s) => s >= 0)).toBe(true);
    expect(model.native.createSession(window)).toBe(-1);
    await model.native.releaseSession(sessions[0]);
    expect(model.native.createSession(other)).toBe(sessions[0]);
    expect(model.native.info().sessionsInUse).toBe(3);
  });

  it('rejects bad calls with clear errors instead of crashing', async () => {
    const logits = new Float32Array(model.info.nVocab);
    await expect(
      model.native.decode(Int32Array.of(99), Int32Array.of(0), Int32Array.of(1), Int32Array.of(1), logits),
    ).rejects.toThrow(/unknown session handle 99/);
    expect(() =>
      model.native.decode(Int32Array.of(0), Int32Array.of(0), Int32Array.of(1), Int32Array.of(1), new Float32Array(10)),
    ).toThrow(/logits buffer is smaller/);
    expect(() => model.native.logMel(new Int32Array(10) as unknown as Float32Array)).toThrow(/Float32Array/);
  });
});
