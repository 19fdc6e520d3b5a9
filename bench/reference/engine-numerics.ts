// The engine's numbers at the points bench/reference/dump_numerics.py recorded from the
// reference implementation (test/fixtures/reference/jfk.json): log-mel frames, encoder output
// rows, and the first decoder step's log-probabilities for each prompt, with float32 weights.
// test/engine/numerics.test.ts judges them, taken in its own process or, for another
// architecture, from that architecture's Node under emulation, which runs this file as a
// program and reads its JSON from stdout:
//   node dist/bench/reference/engine-numerics.js [reference.json] [audio]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadAudioFile } from '../../src/audio/load.js';
import { logMelSpectrogram, melWindow, WINDOW_FRAMES } from '../../src/engine/features.js';
import { loadNative } from '../../src/engine/native.js';
import { WhisperModel } from '../../src/engine/whisper.js';
import { repoRoot } from '../../src/paths.js';

export const FIRST_STEP_PROMPTS = ['notimestamps', 'timestamps'] as const;
export type FirstStepPrompt = (typeof FIRST_STEP_PROMPTS)[number];

/** What dump_numerics.py wrote (the parts compared here). */
export interface NumericsReference {
  mel: { frames: Record<string, number[]>; full_clip_frames: number };
  encoder: { rows: Record<string, number[]>; std: number };
  decoder_first_step: Record<FirstStepPrompt, { prompt: number[]; argmax: number; log_softmax_f16_b64: string }>;
}

/** The engine's values at the reference's points; logProbs are little-endian float32, base64. */
export interface EngineNumerics {
  isa: string;
  fullClipFrames: number;
  mel: Record<string, number[]>;
  encoder: Record<string, number[]>;
  firstStep: Record<FirstStepPrompt, { logProbsF32B64: string }>;
}

export const REFERENCE_JSON = join(repoRoot(), 'test', 'fixtures', 'reference', 'jfk.json');
export const REFERENCE_AUDIO = join(repoRoot(), 'test', 'fixtures', 'audio', 'jfk.wav');

export function loadNumericsReference(path = REFERENCE_JSON): NumericsReference {
  return JSON.parse(readFileSync(path, 'utf8')) as NumericsReference;
}

/** Natural-log probabilities of a row of logits, in float64 sums. */
export function logSoftmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const norm = max + Math.log(sum);
  return logits.map((v) => v - norm);
}

export function float32FromBase64(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

/** Runs the first 30 s window of the reference clip through `model` (which must be fp32). */
export async function measureEngineNumerics(
  model: WhisperModel,
  reference: NumericsReference,
  audioPath = REFERENCE_AUDIO,
): Promise<EngineNumerics> {
  const audio = await loadAudioFile(audioPath);
  const full = await logMelSpectrogram(model, audio.samples);
  const mel = melWindow(full, 0);
  const window = model.native.createWindow();
  const nState = model.info.nState;
  const states = new Float32Array((WINDOW_FRAMES / 2) * nState);
  await model.native.encode(Int32Array.of(window), [mel], Int32Array.of(WINDOW_FRAMES), [states]);

  const melAt: Record<string, number[]> = {};
  for (const frame of Object.keys(reference.mel.frames)) {
    const f = Number(frame);
    melAt[frame] = Array.from({ length: model.info.nMels }, (_, m) => mel[m * WINDOW_FRAMES + f]);
  }
  const encoderAt: Record<string, number[]> = {};
  for (const row of Object.keys(reference.encoder.rows)) {
    encoderAt[row] = Array.from(states.subarray(Number(row) * nState, (Number(row) + 1) * nState));
  }
  const firstStep = {} as EngineNumerics['firstStep'];
  for (const prompt of FIRST_STEP_PROMPTS) {
    const tokens = reference.decoder_first_step[prompt].prompt;
    const session = model.native.createSession(window);
    const logits = new Float32Array(model.info.nVocab);
    await model.native.decode(Int32Array.of(session), Int32Array.of(0), Int32Array.of(tokens.length), Int32Array.from(tokens), logits);
    await model.native.releaseSession(session);
    const logProbs = logSoftmax(logits);
    firstStep[prompt] = { logProbsF32B64: Buffer.from(logProbs.buffer, logProbs.byteOffset, logProbs.byteLength).toString('base64') };
  }
  return { isa: loadNative().isa(), fullClipFrames: full.frames, mel: melAt, encoder: encoderAt, firstStep };
}

async function main(): Promise<void> {
  const [referencePath = REFERENCE_JSON, audioPath = REFERENCE_AUDIO] = process.argv.slice(2);
  const model = await WhisperModel.load('tiny.en', { threads: 2, precision: 'fp32', maxWindows: 1, maxSessions: 2 });
  try {
    process.stdout.write(`${JSON.stringify(await measureEngineNumerics(model, loadNumericsReference(referencePath), audioPath))}\n`);
  } finally {
    model.close();
  }
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  });
}
