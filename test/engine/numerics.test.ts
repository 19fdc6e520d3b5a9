// The engine against a reference implementation of the same weights (faster-whisper 1.2.1 /
// CTranslate2 4.6.0 in float32, and a numpy forward pass cross-checked against it), dumped by
// bench/reference/dump_numerics.py into test/fixtures/reference/jfk.json. The same judgement
// applies to this machine's kernels and, on x86, to the arm64 build run under emulation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EngineNumerics,
  FIRST_STEP_PROMPTS,
  float32FromBase64,
  loadNumericsReference,
  measureEngineNumerics,
} from '../../bench/reference/engine-numerics.js';
import { WhisperModel } from '../../src/engine/whisper.js';
import { EMULATES_ARM64, runOnArm64 } from '../arm64.js';
import { decodeF16 } from '../helpers.js';

const reference = loadNumericsReference();

/** Tolerances, stated once: fp32 everywhere, different summation orders and DFT methods. */
const TOLERANCE = {
  logMel: 1e-4, // absolute, on normalised log-mel values in about [-1.5, 1.5]
  encoder: 1e-3, // absolute, on encoder states with standard deviation 1.14
  // on log-probabilities of the 100 likeliest tokens, plus the float16 rounding of the stored
  // reference (half an ulp: |x| * 2^-11)
  logProb: 1e-3,
};

function worstDifference(ours: Record<string, number[]>, theirs: Record<string, number[]>): number {
  let worst = 0;
  for (const [key, values] of Object.entries(theirs)) {
    expect(ours[key], `value at ${key}`).toHaveLength(values.length);
    values.forEach((v, i) => (worst = Math.max(worst, Math.abs(ours[key][i] - v))));
  }
  return worst;
}

/** The specification, for numbers measured anywhere. */
function specifyAgreement(numerics: () => EngineNumerics): void {
  it(`log-mel frames agree within ${TOLERANCE.logMel}`, () => {
    expect(numerics().fullClipFrames).toBe(reference.mel.full_clip_frames);
    expect(worstDifference(numerics().mel, reference.mel.frames)).toBeLessThan(TOLERANCE.logMel);
  });

  it(`encoder output rows agree within ${TOLERANCE.encoder}`, () => {
    expect(worstDifference(numerics().encoder, reference.encoder.rows)).toBeLessThan(TOLERANCE.encoder);
  });

  for (const prompt of FIRST_STEP_PROMPTS) {
    it(`first-step log-probabilities agree within ${TOLERANCE.logProb} (${prompt} prompt)`, () => {
      const ref = reference.decoder_first_step[prompt];
      const ours = float32FromBase64(numerics().firstStep[prompt].logProbsF32B64);
      const theirs = decodeF16(ref.log_softmax_f16_b64);
      expect(ours.length).toBe(theirs.length);
      const likeliest = Array.from(theirs.keys()).sort((a, b) => theirs[b] - theirs[a]).slice(0, 100);
      const excess = likeliest.map((t) => Math.abs(ours[t] - theirs[t]) - Math.abs(theirs[t]) * 2 ** -11);
      expect(Math.max(...excess)).toBeLessThan(TOLERANCE.logProb);
      let best = 0;
      for (let t = 1; t < ours.length; t++) if (ours[t] > ours[best]) best = t;
      expect(best).toBe(ref.argmax);
    });
  }
}

describe('numerical agreement with the reference implementation (JFK, tiny.en, float32)', () => {
  let model: WhisperModel | undefined;
  let measured: EngineNumerics;
  beforeAll(async () => {
    // The reference is float32, so the weights are too (test/engine/precision.test.ts covers the others).
    model = await WhisperModel.load('tiny.en', { threads: 2, precision: 'fp32', maxWindows: 1, maxSessions: 2 });
    measured = await measureEngineNumerics(model, reference);
  });
  afterAll(() => model?.close());

  specifyAgreement(() => measured);
});

// On an arm64 machine the block above runs the NEON kernels natively; on x86 the arm64 build
// runs under emulation (test/arm64.ts), about a minute on 2 cores.
describe.runIf(EMULATES_ARM64)('the same agreement on arm64 (NEON kernels, under qemu)', () => {
  let measured: EngineNumerics;
  beforeAll(async () => {
    measured = JSON.parse(await runOnArm64('bench/reference/engine-numerics.ts')) as EngineNumerics;
  }, 900_000);

  it('ran the NEON kernels', () => {
    expect(measured.isa).toBe('neon');
  });

  specifyAgreement(() => measured);
});
