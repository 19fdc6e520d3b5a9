// Typed view of the native addon (native/src/addon.cpp). Every method that touches the device
// returns a promise: the work runs on the addon's device thread, never on the event loop. The
// vocabulary reductions (logitStats, topK) are the exception: microseconds, on the caller's array.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../paths.js';

/**
 * How the linear layers and the tied embedding/output projection are stored on the device
 * (native/src/whisper_model.h, ModelPrecision): int8 keeps the output projection in bf16;
 * int8-encoder stores only the encoder's linear layers in int8 and the decoder in bf16.
 */
export type Precision = 'fp32' | 'bf16' | 'int8' | 'int8-encoder';
export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16', 'int8', 'int8-encoder'];

export interface NativeModelInfo {
  nMels: number;
  nAudioCtx: number;
  nState: number;
  nHead: number;
  nAudioLayer: number;
  nTextLayer: number;
  nTextCtx: number;
  nVocab: number;
  /** cross-attention heads whose weights decode can return (see NativeLoadOptions.alignmentHeads) */
  nAlignmentHeads: number;
  device: string;
  isa: string;
  weightBytes: number;
  precision: Precision;
  maxWindows: number;
  windowsInUse: number;
  maxSessions: number;
  sessionsInUse: number;
  windowBytes: number;
  sessionBytes: number;
  maxStreamingWindows: number;
  streamingWindowsInUse: number;
  /** a window slot plus its encoder's self-attention K/V */
  streamingWindowBytes: number;
}

export interface NativeLoadOptions {
  threads?: number;
  /** weight storage (fp32 when absent); an unknown value rejects the load */
  precision?: Precision;
  maxWindows?: number;
  maxSessions?: number;
  /** windows that keep their encoder K/V, so a live stream's window can grow incrementally */
  maxStreamingWindows?: number;
  /**
   * When set, sizes the KV pool instead of maxWindows and maxSessions: as many streams of
   * streamWindows windows and streamSessions sessions (a stream's worst case) as fit.
   */
  kvBudgetBytes?: number;
  streamWindows?: number;
  streamSessions?: number;
  streamStreamingWindows?: number;
  /** [layer, head, layer, head, ...]: the decoder cross-attention heads that time words */
  alignmentHeads?: Int32Array;
  /**
   * Tokens below this are text, the special tokens and timestamps from it on (eot first). With
   * a bf16 vocabulary, decode then reads the output projection as int8 and scores only the
   * text tokens near each row's top again in bf16, and every special token and timestamp
   * (kernels::gemm_ranked); absent or 0: every token at the vocabulary's precision.
   */
  textTokens?: number;
}

export interface NativeEngine {
  load(modelDir: string, options: NativeLoadOptions): Promise<NativeModelInfo>;
  info(): NativeModelInfo;
  /**
   * Returns -1 when the window pool is exhausted. A streaming window keeps its encoder K/V,
   * so that encode can grow it (see encode's firstFrames).
   */
  createWindow(streaming?: boolean): number;
  releaseWindow(window: number): Promise<void>;
  /** Returns -1 when the session pool is exhausted. */
  createSession(window: number): number;
  forkSession(session: number): Promise<number>;
  releaseSession(session: number): Promise<void>;
  /** log10 mel power of 16 kHz mono PCM, [nMels][samples / 160]. */
  logMel(pcm: Float32Array): Promise<Float32Array>;
  /**
   * Encodes normalised log-mel windows ([nMels][melFrames] each) into window slots; outputs[i],
   * when given, receives the encoder states of the frames computed, [frames][nState].
   * firstFrames[i] > 0 (streaming windows only) keeps the window's encoder frames before it
   * and computes frames [firstFrames[i], melFrames[i] / 2), attending over all of them: those
   * frames do not hear the audio after melFrames, so callers recompute the last few later.
   * windowFrames[i] (streaming windows only, at least melFrames[i] / 2) is the frames the
   * decoder sees: past the audio, a silent 30 s window's states stand in for padding.
   */
  encode(
    windows: Int32Array,
    mels: Float32Array[],
    melFrames: Int32Array,
    outputs?: (Float32Array | null)[],
    firstFrames?: Int32Array | null,
    windowFrames?: Int32Array | null,
  ): Promise<void>;
  /**
   * Feeds tokenCounts[i] tokens (concatenated in tokens) to sessions[i] at positions[i] and
   * writes the logits of each session's last token into logits[i * nVocab ...]. When given,
   * attention receives that token's cross-attention weights for each alignment head,
   * [sessions][nAlignmentHeads][nAudioCtx], zero past the frames of the session's window.
   * extraRows[i] >= 0 (before the last of session i's tokens) also writes the logits of that
   * token into extraLogits[i * nVocab ...] (a prompt and what follows it in one call, yet the
   * prompt's end still predicts); -1 leaves that row of extraLogits as it was.
   * The arrays must not be touched until the promise settles.
   */
  decode(
    sessions: Int32Array,
    positions: Int32Array,
    tokenCounts: Int32Array,
    tokens: Int32Array,
    logits: Float32Array,
    attention?: Float32Array | null,
    extraRows?: Int32Array | null,
    extraLogits?: Float32Array | null,
  ): Promise<void>;
  close(): void;
}

interface NativeModule {
  Engine: new () => NativeEngine;
  isa(): string;
  /**
   * Synchronous, on the array itself: out receives [max, index of its first occurrence,
   * logsumexp] of logits[0, split), then the same of logits[split, length). -Infinity entries
   * add nothing; a range of only -Infinity has max and logsumexp -Infinity (index: its first).
   */
  logitStats(logits: Float32Array, split: number, out: Float64Array): void;
  /**
   * Synchronous: writes into out the indices of the min(k, length) largest logits, largest
   * first, equal values by lower index, and returns that count.
   */
  topK(logits: Float32Array, k: number, out: Int32Array): number;
}

let cached: NativeModule | undefined;

export function nativeAddonPath(): string {
  return process.env.CHORUS_ADDON ?? join(repoRoot(), 'build', 'chorus.node');
}

export function loadNative(): NativeModule {
  if (cached) return cached;
  const path = nativeAddonPath();
  if (!existsSync(path)) {
    throw new Error(`native addon not built: ${path} is missing (run \`npm run build\`)`);
  }
  cached = createRequire(import.meta.url)(path) as NativeModule;
  return cached;
}
