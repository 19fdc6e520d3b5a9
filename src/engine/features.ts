// Log-mel features as Whisper expects them: log10 mel power clamped to 8 decades below the
// loudest bin, then scaled to roughly [-1, 1]; windows of 3,000 frames (30 s).
import type { WhisperModel } from './whisper.js';

export const SAMPLE_RATE = 16000;
export const HOP_SAMPLES = 160;
export const FRAMES_PER_SECOND = SAMPLE_RATE / HOP_SAMPLES;
export const WINDOW_FRAMES = 3000;
/** Encoder frames are two mel frames (the second convolution has stride 2). */
export const SECONDS_PER_TOKEN_STEP = 0.02;

export interface LogMel {
  data: Float32Array; // [nMels][frames], normalised
  nMels: number;
  frames: number;
  /** frames that hold the recording; the last frame only exists because of the padding hop */
  contentFrames: number;
}

/**
 * Normalised log-mel of a whole recording. One hop of silence is appended, as the reference
 * front end does, so that the last samples get a centred frame.
 */
export async function logMelSpectrogram(model: WhisperModel, pcm: Float32Array): Promise<LogMel> {
  const padded = new Float32Array(pcm.length + HOP_SAMPLES);
  padded.set(pcm);
  const data = await model.native.logMel(padded);
  const nMels = model.info.nMels;
  const frames = data.length / nMels;
  normalizeLogMel(data);
  return { data, nMels, frames, contentFrames: Math.max(0, frames - 1) };
}

/** In place: clamp to (max - 8) and map to (x + 4) / 4. Returns the max used. */
export function normalizeLogMel(data: Float32Array, ceiling?: number): number {
  let max = ceiling ?? -Infinity;
  if (ceiling === undefined) for (let i = 0; i < data.length; i++) if (data[i] > max) max = data[i];
  const floor = max - 8;
  for (let i = 0; i < data.length; i++) data[i] = (Math.max(data[i], floor) + 4) / 4;
  return max;
}

/**
 * Frames [start, start + length) of a log-mel's content, zero padded past its end. Zero is
 * what the reference front end pads a window with (not the log-mel of silence).
 */
export function melWindow(mel: LogMel, start: number, length = WINDOW_FRAMES): Float32Array {
  const out = new Float32Array(mel.nMels * length);
  const available = Math.max(0, Math.min(length, mel.contentFrames - start));
  for (let m = 0; m < mel.nMels; m++) {
    const src = m * mel.frames + start;
    out.set(mel.data.subarray(src, src + available), m * length);
  }
  return out;
}
