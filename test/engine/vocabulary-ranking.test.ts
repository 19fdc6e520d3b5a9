// The output projection ranked: with a bf16 vocabulary the engine reads it as int8 and scores
// again in bf16 the text tokens near each row's top and every special token and timestamp
// (kernels::gemm_ranked). Against the same engine scoring every token in bf16, over greedy
// steps of a real window.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { logMelSpectrogram, melWindow, WINDOW_FRAMES } from '../../src/engine/features.js';
import { loadNative, type NativeEngine } from '../../src/engine/native.js';
import { WhisperModel } from '../../src/engine/whisper.js';
import { fixture } from '../helpers.js';

const STEPS = 16;

let model: WhisperModel;
let full: NativeEngine;
let ranked: NativeEngine;
/** logits of each greedy step, [step][nVocab], from each engine */
const steps: { full: Float32Array; ranked: Float32Array }[] = [];

async function loadEngine(textTokens: number | undefined): Promise<NativeEngine> {
  const engine = new (loadNative().Engine)();
  await engine.load(model.dir, { threads: 2, precision: 'bf16', maxWindows: 1, maxSessions: 1, textTokens });
  return engine;
}

beforeAll(async () => {
  model = await WhisperModel.load('tiny.en', { threads: 1, precision: 'fp32', maxWindows: 1, maxSessions: 1 });
  full = await loadEngine(undefined);
  ranked = await loadEngine(model.tokenizer.special.eot);
  const audio = await loadAudioFile(fixture('jfk').path);
  const mel = melWindow(await logMelSpectrogram(model, audio.samples), 0);
  const s = model.tokenizer.special;
  const sessions = await Promise.all(
    [full, ranked].map(async (engine) => {
      const window = engine.createWindow();
      await engine.encode(Int32Array.of(window), [mel], Int32Array.of(WINDOW_FRAMES));
      return engine.createSession(window);
    }),
  );
  // Greedy from the timestamps prompt, both fed the full engine's choice.
  let tokens = [s.sot, s.timestampBegin];
  let position = 0;
  for (let step = 0; step < STEPS; step++) {
    const [a, b] = await Promise.all(
      [full, ranked].map(async (engine, e) => {
        const logits = new Float32Array(model.info.nVocab);
        await engine.decode(Int32Array.of(sessions[e]), Int32Array.of(position), Int32Array.of(tokens.length), Int32Array.from(tokens), logits);
        return logits;
      }),
    );
    steps.push({ full: a, ranked: b });
    position += tokens.length;
    tokens = [argmax(a, model.info.nVocab)];
  }
}, 120_000);
afterAll(() => {
  for (const e of [full, ranked]) e?.close();
  model?.close();
});

function argmax(x: Float32Array, end: number): number {
  let best = 0;
  for (let i = 1; i < end; i++) if (x[i] > x[best]) best = i;
  return best;
}

describe('the ranked output projection (bf16 vocabulary)', () => {
  it('holds an int8 copy of the projection beside the bf16 one', () => {
    const extra = ranked.info().weightBytes - full.info().weightBytes;
    const projection = model.info.nVocab * model.info.nState;
    expect(extra).toBeGreaterThanOrEqual(projection);
    expect(extra).toBeLessThan(projection * 1.03); // plus a scale and a sum per column
  });

  it('scores every special token and timestamp exactly as the bf16 product does', () => {
    const eot = model.tokenizer.special.eot;
    for (const { full: a, ranked: b } of steps) expect(b.subarray(eot)).toEqual(a.subarray(eot));
  });

  it('picks the same text token with the same score, and scores the tokens near the top exactly', () => {
    const eot = model.tokenizer.special.eot;
    let nearTop = 0;
    const differing: number[] = [];
    for (const { full: a, ranked: b } of steps) {
      const best = argmax(a, eot);
      expect(argmax(b, eot)).toBe(best);
      expect(b[best]).toBe(a[best]);
      for (let t = 0; t < eot; t++) {
        if (a[t] < a[best] - 1) continue;
        nearTop++;
        if (b[t] !== a[t]) differing.push(t);
      }
    }
    expect(differing).toEqual([]);
    expect(nearTop).toBeGreaterThan(STEPS);
  });

  it('leaves the other text tokens within int8 rounding of their bf16 scores', () => {
    const eot = model.tokenizer.special.eot;
    let approximated = 0;
    let worst = 0;
    for (const { full: a, ranked: b } of steps) {
      for (let t = 0; t < eot; t++) {
        worst = Math.max(worst, Math.abs(b[t] - a[t]));
        if (b[t] !== a[t]) approximated++;
      }
    }
    expect(worst).toBeLessThan(1.5);
    // Most of the vocabulary is never read in bf16: that is the saving.
    expect(approximated).toBeGreaterThan(0.9 * STEPS * eot);
  });
});
