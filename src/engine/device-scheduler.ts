// One scheduler per device. Every session's encoder runs and decoder steps come here as
// requests; each device step takes the plan of `planStep` (scheduler-step.ts) and executes
// it: one batched decoder call for every chosen hypothesis, then the chosen encoder windows.
// Requests that arrive while a step runs join the next one, so sessions enter and leave the
// decoder batch at every step and nothing waits for a batch to drain.
import type { NativeEngine } from './native.js';
import { planStep, type PendingDecode, type PendingEncode, type StepBudgets, type Urgency } from './scheduler-step.js';

export const DEFAULT_BUDGETS: StepBudgets = {
  decodeTokens: 256,
  encodeFrames: 3000,
  decodeBatch: 64,
  // Up to three 10 s live windows (or one 30 s window) per step: their frames run through each
  // weight product together, and a step's encoder time stays bounded for the decodes after it.
  encodeBatch: 8,
  maxWaitMs: 2000,
};

/** Budgets that switch cross-session batching off: one hypothesis per decoder call, one window per encoder call. */
export const UNBATCHED_BUDGETS: StepBudgets = { ...DEFAULT_BUDGETS, decodeBatch: 1, decodeTokens: 1, encodeBatch: 1 };

export interface StepStats {
  decodeBatch: number;
  decodeTokens: number;
  encodeWindows: number;
  decodeMs: number;
  encodeMs: number;
}

interface EncodeRequest extends PendingEncode {
  window: number;
  mel: Float32Array;
  melFrames: number;
  firstFrame: number;
  windowFrames: number;
  output: Float32Array | null;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** What one decoder call returns per hypothesis. */
export interface DecodeOutput {
  logits: Float32Array;
  /**
   * The last token's cross-attention weights of the model's alignment heads,
   * [nAlignmentHeads][nAudioCtx]; null unless asked for.
   */
  attention: Float32Array | null;
}

/**
 * One more logits row of a decode request: the prediction after tokens[index] (before the
 * last token), written into `into`.
 */
export interface ExtraRow {
  index: number;
  into: Float32Array;
}

/** Sizes of the per-hypothesis outputs of a decoder call. */
export interface DecodeShape {
  nVocab: number;
  /** nAlignmentHeads * nAudioCtx; 0 when the model has no alignment heads */
  attentionSize: number;
}

interface DecodeRequest extends PendingDecode {
  session: number;
  position: number;
  tokenIds: readonly number[];
  wantsAttention: boolean;
  into: Float32Array | null;
  extra: ExtraRow | null;
  resolve: (output: DecodeOutput) => void;
  reject: (error: Error) => void;
}

export class DeviceScheduler {
  private encodes: EncodeRequest[] = [];
  private decodes: DecodeRequest[] = [];
  private nextId = 1;
  private running = false;
  private logits = new Float32Array(0);
  private attention = new Float32Array(0);
  private extraLogits = new Float32Array(0);

  constructor(
    private readonly native: NativeEngine,
    private readonly shape: DecodeShape,
    private budgets: StepBudgets = DEFAULT_BUDGETS,
    private readonly onStep: (stats: StepStats) => void = () => {},
  ) {}

  get queuedRequests(): number {
    return this.encodes.length + this.decodes.length;
  }

  /** How long the oldest request not yet taken into a step has waited; 0 when none waits. */
  get oldestWaitMs(): number {
    const earliest = (queue: readonly { enqueuedAtMs: number }[]) => queue.reduce((t, r) => Math.min(t, r.enqueuedAtMs), Infinity);
    const oldest = Math.min(earliest(this.encodes), earliest(this.decodes));
    return oldest === Infinity ? 0 : performance.now() - oldest;
  }

  setBudgets(budgets: StepBudgets): void {
    this.budgets = budgets;
  }

  /**
   * Encodes a normalised log-mel window ([nMels][melFrames]) into a window slot; `output`
   * receives the states of the frames computed. A streaming window keeps its encoder frames
   * before `firstFrame` and computes the rest, which is also what the step budget counts, and
   * shows the decoder `windowFrames` frames (0: the audio's), silence past the audio.
   */
  encode(
    window: number,
    mel: Float32Array,
    melFrames: number,
    urgency: Urgency,
    output: Float32Array | null = null,
    firstFrame = 0,
    windowFrames = 0,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      this.encodes.push({
        id: this.nextId++,
        urgency,
        frames: melFrames - 2 * firstFrame,
        enqueuedAtMs: performance.now(),
        window,
        mel,
        melFrames,
        firstFrame,
        windowFrames,
        output,
        resolve,
        reject,
      });
      this.pump();
    });
  }

  /**
   * Feeds tokens to a session at a cache position; resolves with the last token's logits,
   * written into `into` when given (a hypothesis reuses its row step after step, so that a
   * step allocates nothing per hypothesis), else into a new row. `extra` asks for one more
   * row, the prediction after an earlier token of the same feed.
   */
  async decode(
    session: number,
    position: number,
    tokens: readonly number[],
    urgency: Urgency,
    into: Float32Array | null = null,
    extra: ExtraRow | null = null,
  ): Promise<Float32Array> {
    return (await this.enqueueDecode(session, position, tokens, urgency, false, into, extra)).logits;
  }

  /** As decode, plus the alignment heads' attention of the last token (for timing words). */
  decodeWithAttention(
    session: number,
    position: number,
    tokens: readonly number[],
    urgency: Urgency,
    into: Float32Array | null = null,
    extra: ExtraRow | null = null,
  ): Promise<DecodeOutput> {
    return this.enqueueDecode(session, position, tokens, urgency, true, into, extra);
  }

  private enqueueDecode(
    session: number,
    position: number,
    tokens: readonly number[],
    urgency: Urgency,
    wantsAttention: boolean,
    into: Float32Array | null,
    extra: ExtraRow | null,
  ): Promise<DecodeOutput> {
    const V = this.shape.nVocab;
    for (const row of [into, extra?.into]) {
      if (row && row.length !== V) return Promise.reject(new RangeError(`decode: a logits row holds ${V} values, got ${row.length}`));
    }
    if (extra && !(Number.isInteger(extra.index) && extra.index >= 0 && extra.index < tokens.length - 1)) {
      return Promise.reject(new RangeError(`decode: an extra row must be one of the first ${tokens.length - 1} tokens, got ${extra.index}`));
    }
    return new Promise((resolve, reject) => {
      this.decodes.push({
        id: this.nextId++,
        urgency,
        tokens: tokens.length,
        enqueuedAtMs: performance.now(),
        session,
        position,
        tokenIds: tokens,
        wantsAttention,
        into,
        extra,
        resolve,
        reject,
      });
      this.pump();
    });
  }

  private pump(): void {
    if (this.running) return;
    this.running = true;
    // Let requests made in the same turn of the event loop join the first step.
    setImmediate(() => void this.run());
  }

  private async run(): Promise<void> {
    try {
      while (this.encodes.length > 0 || this.decodes.length > 0) {
        const plan = planStep({ nowMs: performance.now(), encodes: this.encodes, decodes: this.decodes }, this.budgets);
        const decodes = this.take(this.decodes, plan.decode);
        const encodes = this.take(this.encodes, plan.encode);
        // Both calls go to the device at once, so that it runs the encode straight after the
        // decode while this thread hands the decode's logits on, instead of idling in between.
        const t0 = performance.now();
        let t1 = t0;
        await Promise.all([
          decodes.length > 0 ? this.runDecodes(decodes).then(() => void (t1 = performance.now())) : undefined,
          encodes.length > 0 ? this.runEncodes(encodes) : undefined,
        ]);
        this.onStep({
          decodeBatch: decodes.length,
          decodeTokens: decodes.reduce((n, d) => n + d.tokens, 0),
          encodeWindows: encodes.length,
          decodeMs: t1 - t0,
          encodeMs: performance.now() - t1,
        });
      }
    } finally {
      this.running = false;
    }
  }

  private take<T extends { id: number }>(queue: T[], ids: number[]): T[] {
    const chosen = new Set(ids);
    const taken = queue.filter((r) => chosen.has(r.id));
    const rest = queue.filter((r) => !chosen.has(r.id));
    queue.splice(0, queue.length, ...rest);
    return taken;
  }

  private async runDecodes(batch: DecodeRequest[]): Promise<void> {
    const V = this.shape.nVocab;
    const A = this.shape.attentionSize;
    if (this.logits.length < batch.length * V) this.logits = new Float32Array(batch.length * V);
    const logits = this.logits;
    // The device writes attention for the whole batch or none of it: ask only when someone wants it.
    const wantsAttention = batch.some((d) => d.wantsAttention);
    if (wantsAttention && this.attention.length < batch.length * A) this.attention = new Float32Array(batch.length * A);
    const attention = this.attention;
    const wantsExtra = batch.some((d) => d.extra);
    if (wantsExtra && this.extraLogits.length < batch.length * V) this.extraLogits = new Float32Array(batch.length * V);
    const extraLogits = this.extraLogits;
    try {
      await this.native.decode(
        Int32Array.from(batch, (d) => d.session),
        Int32Array.from(batch, (d) => d.position),
        Int32Array.from(batch, (d) => d.tokenIds.length),
        Int32Array.from(batch.flatMap((d) => d.tokenIds)),
        logits,
        wantsAttention ? attention : null,
        wantsExtra ? Int32Array.from(batch, (d) => d.extra?.index ?? -1) : null,
        wantsExtra ? extraLogits : null,
      );
    } catch (error) {
      // One bad request must not fail the others batched with it: retry them one by one.
      if (batch.length > 1) {
        for (const d of batch) await this.runDecodes([d]);
      } else {
        batch[0].reject(error instanceof Error ? error : new Error(String(error)));
      }
      return;
    }
    batch.forEach((d, i) => {
      const row = d.into ?? new Float32Array(V);
      row.set(logits.subarray(i * V, (i + 1) * V));
      d.extra?.into.set(extraLogits.subarray(i * V, (i + 1) * V));
      d.resolve({ logits: row, attention: d.wantsAttention ? attention.slice(i * A, (i + 1) * A) : null });
    });
  }

  private async runEncodes(batch: EncodeRequest[]): Promise<void> {
    try {
      await this.native.encode(
        Int32Array.from(batch, (e) => e.window),
        batch.map((e) => e.mel),
        Int32Array.from(batch, (e) => e.melFrames),
        batch.map((e) => e.output),
        Int32Array.from(batch, (e) => e.firstFrame),
        Int32Array.from(batch, (e) => e.windowFrames),
      );
    } catch (error) {
      if (batch.length > 1) {
        for (const e of batch) await this.runEncodes([e]);
      } else {
        batch[0].reject(error instanceof Error ? error : new Error(String(error)));
      }
      return;
    }
    for (const e of batch) e.resolve();
  }
}
