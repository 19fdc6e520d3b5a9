// The engine against a reference implementation of the same weights (faster-whisper 1.2.1 /
// CTranslate2 4.6.0 in float32, and a numpy forward pass cross-checked against it), dumped by
// bench/reference/dump_numerics.py into test/fixtures/reference/jfk.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { logMelSpectrogram, melWindow, WINDOW_FRAMES } from '../../src/engine/features.js';
import { WhisperModel } from '../../src/engine/whisper.js';
import { decodeF16, FIXTURES, fixture } from '../helpers.js';

interface PromptReference {
  prompt: number[];
  argmax: number;
  log_softmax_f16_b64: string;
}

const reference = JSON.parse(readFileSync(join(FIXTURES, 'reference', 'jfk.json'), 'utf8')) as {
  mel: { frames: Record<string, number[]>; full_clip_frames: number };
  encoder: { rows: Record<string, number[]>; std: number };
  decoder_first_step: { notimestamps: PromptReference; timestamps: PromptReference };
};

/** Tolerances, stated once: fp32 everywhere, different summation orders and DFT methods. */
const TOLERANCE = {
  logMel: 1e-4, // absolute, on normalised log-mel values in about [-1.5, 1.5]
  encoder: 1e-3, // absolute, on encoder states with standard deviation 1.14
  // on log-probabilities of the 100 likeliest tokens, plus the float16 rounding of the stored
  // reference (half an ulp: |x| * 2^-11)
  logProb: 1e-3,
};

function logSoftmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const norm = max + Math.log(sum);
  return logits.map((v) => v - norm);
}

let model: WhisperModel;
let mel: Float32Array;
let window: number;
let encoderStates: Float32Array;

beforeAll(async () => {
  // The reference is float32, so the weights are too (test/engine/precision.test.ts covers the others).
  model = await WhisperModel.load('tiny.en', { threads: 2, precision: 'fp32', maxWindows: 1, maxSessions: 2 });
  const audio = await loadAudioFile(fixture('jfk').path);
  const full = await logMelSpectrogram(model, audio.samples);
  expect(full.frames).toBe(reference.mel.full_clip_frames);
  mel = melWindow(full, 0);
  window = model.native.createWindow();
  encoderStates = new Float32Array((WINDOW_FRAMES / 2) * model.info.nState);
  await model.native.encode(Int32Array.of(window), [mel], Int32Array.of(WINDOW_FRAMES), [encoderStates]);
});
afterAll(() => model?.close());

describe('numerical agreement with the reference implementation (JFK, tiny.en, float32)', () => {
  it(`log-mel frames agree within ${TOLERANCE.logMel}`, () => {
    let worst = 0;
    for (const [frame, values] of Object.entries(reference.mel.frames)) {
      values.forEach((v, m) => {
        worst = Math.max(worst, Math.abs(mel[m * WINDOW_FRAMES + Number(frame)] - v));
      });
    }
    expect(worst).toBeLessThan(TOLERANCE.logMel);
  });

  it(`encoder output rows agree within ${TOLERANCE.encoder}`, () => {
    const nState = model.info.nState;
    let worst = 0;
    for (const [row, values] of Object.entries(reference.encoder.rows)) {
      values.forEach((v, c) => {
        worst = Math.max(worst, Math.abs(encoderStates[Number(row) * nState + c] - v));
      });
    }
    expect(worst).toBeLessThan(TOLERANCE.encoder);
  });

  for (const mode of ['notimestamps', 'timestamps'] as const) {
    it(`first-step log-probabilities agree within ${TOLERANCE.logProb} (${mode} prompt)`, async () => {
      const ref = reference.decoder_first_step[mode];
      const session = model.native.createSession(window);
      const logits = new Float32Array(model.info.nVocab);
      await model.native.decode(
        Int32Array.of(session),
        Int32Array.of(0),
        Int32Array.of(ref.prompt.length),
        Int32Array.from(ref.prompt),
        logits,
      );
      await model.native.releaseSession(session);
      const ours = logSoftmax(logits);
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
});
