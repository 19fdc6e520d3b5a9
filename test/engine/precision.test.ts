// Weight precisions: each loads and says so, transcribes JFK word for word, and the reduced
// ones stay close to fp32 on the first decoder step of the same encoded window.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logSoftmax } from '../../bench/reference/engine-numerics.js';
import { loadAudioFile } from '../../src/audio/load.js';
import { logMelSpectrogram, melWindow, WINDOW_FRAMES } from '../../src/engine/features.js';
import { transcribe } from '../../src/engine/transcribe.js';
import { defaultPrecision, parsePrecision, PRECISIONS, WhisperModel, type Precision } from '../../src/engine/whisper.js';
import { scoreWer } from '../../src/eval/wer.js';
import { fixture } from '../helpers.js';

const models = new Map<Precision, WhisperModel>();

beforeAll(async () => {
  for (const precision of PRECISIONS) {
    models.set(precision, await WhisperModel.load('tiny.en', { threads: 2, precision, maxWindows: 1, maxSessions: 5 }));
  }
});
afterAll(() => {
  for (const m of models.values()) m.close();
});

/** Log-probabilities after the no-timestamps prompt over the JFK window. */
async function firstStep(model: WhisperModel): Promise<Float32Array> {
  const audio = await loadAudioFile(fixture('jfk').path);
  const mel = melWindow(await logMelSpectrogram(model, audio.samples), 0);
  const window = model.native.createWindow();
  await model.native.encode(Int32Array.of(window), [mel], Int32Array.of(WINDOW_FRAMES));
  const session = model.native.createSession(window);
  const s = model.tokenizer.special;
  const prompt = [s.sot, s.noTimestamps];
  const logits = new Float32Array(model.info.nVocab);
  await model.native.decode(Int32Array.of(session), Int32Array.of(0), Int32Array.of(prompt.length), Int32Array.from(prompt), logits);
  await model.native.releaseSession(session);
  await model.native.releaseWindow(window);
  return logSoftmax(logits);
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

describe('weight precision', () => {
  // Every precision but fp32 also holds the vocabulary projection's int8 copy that ranks it
  // (test/engine/vocabulary-ranking.test.ts): an eighth of tiny.en's fp32 weights.
  it('loads each precision and reports it, with weights about 0.65 (bf16) and 0.54 (int8, its vocabulary projection in bf16) of fp32', () => {
    for (const [precision, model] of models) expect(model.info.precision).toBe(precision);
    const bytes = (p: Precision) => models.get(p)!.info.weightBytes;
    // Norms, biases, position tables and the conv stem stay fp32, so the ratios are a little higher.
    expect(bytes('bf16') / bytes('fp32')).toBeGreaterThan(0.62);
    expect(bytes('bf16') / bytes('fp32')).toBeLessThan(0.7);
    expect(bytes('int8') / bytes('fp32')).toBeGreaterThan(0.5);
    expect(bytes('int8') / bytes('fp32')).toBeLessThan(0.58);
    // int8-encoder: int8 encoder layers, the rest as bf16.
    expect(bytes('int8-encoder')).toBeGreaterThan(bytes('int8'));
    expect(bytes('int8-encoder')).toBeLessThan(bytes('bf16'));
  });

  for (const precision of PRECISIONS) {
    it(`transcribes JFK word for word (${precision})`, async () => {
      const clip = fixture('jfk');
      const audio = await loadAudioFile(clip.path);
      const result = await transcribe(models.get(precision)!, audio.samples);
      expect(scoreWer([{ ref: clip.text, hyp: result.text }]).wer).toBe(0);
    });
  }

  // Kullback-Leibler divergence from fp32's next-token distribution, which weighs tokens by
  // how likely decoding is to pick them. Measured on this window: bf16 1.4e-3 (6e-5 before
  // the vocabulary was ranked: the tokens far below the top keep int8 scores, which move the
  // log-sum-exp a little), int8 3.3e-3, int8-encoder 4.3e-4; the limits leave 4x headroom.
  const MAX_KL: Record<Exclude<Precision, 'fp32'>, number> = { bf16: 6e-3, int8: 0.02, 'int8-encoder': 0.02 };
  for (const precision of ['bf16', 'int8', 'int8-encoder'] as const) {
    it(`keeps the first-step distribution within KL ${MAX_KL[precision]} of fp32's, same argmax (${precision})`, async () => {
      const want = await firstStep(models.get('fp32')!);
      const got = await firstStep(models.get(precision)!);
      let kl = 0;
      for (let t = 0; t < want.length; t++) kl += Math.exp(want[t]) * (want[t] - got[t]);
      expect(kl).toBeLessThan(MAX_KL[precision]);
      expect(argmax(got)).toBe(argmax(want));
    });
  }

  it('defaults to bf16 where the kernels run AMX tiles, to int8-encoder on every other instruction set', async () => {
    expect(defaultPrecision('amx')).toBe('bf16');
    for (const isa of ['avx512bf16', 'avx512vnni', 'avx512', 'avx2', 'scalar']) expect(defaultPrecision(isa)).toBe('int8-encoder');
    const model = await WhisperModel.load('tiny.en', { threads: 1, maxWindows: 1, maxSessions: 1 });
    try {
      expect(model.info.precision).toBe(defaultPrecision());
    } finally {
      model.close();
    }
  });

  it('refuses an unknown precision with a clear message', async () => {
    expect(() => parsePrecision('fp16', '--precision')).toThrow('--precision: precision must be one of fp32, bf16, int8, int8-encoder, got "fp16"');
    await expect(WhisperModel.load('tiny.en', { precision: 'fp16' as Precision })).rejects.toThrow(
      "precision must be 'fp32', 'bf16', 'int8' or 'int8-encoder'",
    );
  });
});
