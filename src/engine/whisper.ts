// A loaded Whisper model: the native engine (weights and KV pools on the device), its
// tokenizer and the decoding constants shipped with the weights.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { modelCacheDir } from '../paths.js';
import { findModel } from '../model/registry.js';
import { ModelError, verifyModelDir } from '../model/verify.js';
import { Tokenizer } from '../text/tokenizer.js';
import { DEFAULT_BUDGETS, DeviceScheduler, UNBATCHED_BUDGETS, type StepStats } from './device-scheduler.js';
import { loadNative, PRECISIONS, type NativeEngine, type NativeModelInfo, type Precision } from './native.js';

export { PRECISIONS, type Precision };

/**
 * The fastest weight storage whose word error rate stays within 0.3 points of fp32 on the
 * evaluation and which writes nothing on its non-speech clips, for the instruction set the
 * kernels run (bench/RESULTS.md, "Weight precision" and "AMX"). With AMX, bf16: its tile
 * products make the bf16 encoder as fast as the int8 one (126 against 123 ms a 30 s window)
 * at fp32's WER, while int8-encoder, rounded there the AMX way, wrote 60 words on two music
 * clips. Without AMX, int8-encoder: 1.6x faster in the encoder than bf16, 11.99 % on the 84
 * LibriSpeech clips against fp32's 11.87 %, nothing on non-speech.
 */
export function defaultPrecision(isa: string = loadNative().isa()): Precision {
  return isa === 'amx' ? 'bf16' : 'int8-encoder';
}

/** Checks a precision given by a person; `source` names the flag or variable for the message. */
export function parsePrecision(value: string, source: string): Precision {
  if ((PRECISIONS as readonly string[]).includes(value)) return value as Precision;
  throw new RangeError(`${source}: precision must be one of ${PRECISIONS.join(', ')}, got "${value}"`);
}

export interface WhisperConfig {
  /** tokens never sampled (non-speech symbols and task tokens) */
  suppressIds: number[];
  /** tokens not sampled as the first token (blank, end of text) */
  suppressIdsBegin: number[];
  /** cross-attention heads that align tokens with audio, [layer, head] */
  alignmentHeads: [number, number][];
}

/** KV pool slots one stream may hold at once, at worst. */
export interface StreamSlots {
  windows: number;
  sessions: number;
  /** windows that keep their encoder K/V (StreamingWindow) */
  streamingWindows?: number;
}

export interface LoadOptions {
  threads?: number;
  /** storage of the weights (defaultPrecision() when absent) */
  precision?: Precision;
  /** false runs one hypothesis per decoder call (for measuring what batching buys) */
  batching?: boolean;
  /** observes every device step, e.g. for batch-size metrics */
  onStep?: (stats: StepStats) => void;
  /** encoded-audio slots (cross-attention K/V) the pool holds */
  maxWindows?: number;
  /** hypothesis slots (self-attention K/V) the pool holds */
  maxSessions?: number;
  /** windows that also keep their encoder K/V (live streams' incrementally grown windows) */
  maxStreamingWindows?: number;
  /** sizes the pool by bytes instead: as many streams of `perStream` slots as fit */
  kvBudgetBytes?: number;
  perStream?: StreamSlots;
}

/** Resolves a registered model name or a directory path to a directory, with a clear error. */
export function resolveModelDir(ref: string): string {
  const spec = findModel(ref);
  if (spec) {
    const dir = join(modelCacheDir(), spec.name);
    if (!existsSync(dir)) {
      throw new ModelError(`model ${ref} is not in ${modelCacheDir()}: fetch it with \`npm run model -- ${ref}\``);
    }
    return dir;
  }
  const dir = resolve(ref);
  if (!existsSync(dir)) {
    throw new ModelError(`model "${ref}" is neither a known model name nor an existing directory`);
  }
  return dir;
}

function readConfig(dir: string, tokenizer: Tokenizer): WhisperConfig {
  const path = join(dir, 'config.json');
  const raw = existsSync(path)
    ? (JSON.parse(readFileSync(path, 'utf8')) as {
        suppress_ids?: number[];
        suppress_ids_begin?: number[];
        alignment_heads?: [number, number][];
      })
    : {};
  const s = tokenizer.special;
  return {
    suppressIds: raw.suppress_ids ?? [
      ...[s.translate, s.transcribe, s.sotLm].filter((t): t is number => t !== null),
      s.sot,
      s.sotPrev,
      s.noSpeech,
    ],
    suppressIdsBegin: raw.suppress_ids_begin ?? [...tokenizer.encode(' '), s.eot],
    alignmentHeads: raw.alignment_heads ?? [],
  };
}

export class WhisperModel {
  private constructor(
    readonly dir: string,
    readonly native: NativeEngine,
    readonly info: NativeModelInfo,
    readonly tokenizer: Tokenizer,
    readonly config: WhisperConfig,
    readonly scheduler: DeviceScheduler,
  ) {}

  static async load(ref: string, options: LoadOptions = {}): Promise<WhisperModel> {
    const dir = resolveModelDir(ref);
    await verifyModelDir(dir);
    const tokenizer = Tokenizer.fromModelDir(dir);
    const config = readConfig(dir, tokenizer);
    const { Engine } = loadNative();
    const native = new Engine();
    let info: NativeModelInfo;
    try {
      info = await native.load(dir, {
        threads: options.threads ?? 0,
        precision: options.precision ?? defaultPrecision(),
        maxWindows: options.maxWindows ?? 2,
        maxSessions: options.maxSessions ?? 8,
        maxStreamingWindows: options.maxStreamingWindows ?? 0,
        kvBudgetBytes: options.kvBudgetBytes,
        streamWindows: options.perStream?.windows,
        streamSessions: options.perStream?.sessions,
        streamStreamingWindows: options.perStream?.streamingWindows,
        alignmentHeads: Int32Array.from(config.alignmentHeads.flat()),
        textTokens: tokenizer.special.eot,
      });
    } catch (err) {
      native.close();
      throw new ModelError(`cannot load model from ${dir}: ${(err as Error).message}`);
    }
    if (info.nVocab !== tokenizer.vocabSize) {
      native.close();
      throw new ModelError(
        `${dir}: the weights have ${info.nVocab} tokens but the vocabulary lists ${tokenizer.vocabSize}`,
      );
    }
    const scheduler = new DeviceScheduler(
      native,
      { nVocab: info.nVocab, attentionSize: info.nAlignmentHeads * info.nAudioCtx },
      options.batching === false ? UNBATCHED_BUDGETS : DEFAULT_BUDGETS,
      options.onStep,
    );
    return new WhisperModel(dir, native, info, tokenizer, config, scheduler);
  }

  get multilingual(): boolean {
    return this.tokenizer.multilingual;
  }

  close(): void {
    this.native.close();
  }
}
