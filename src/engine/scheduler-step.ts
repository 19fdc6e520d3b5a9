// The device scheduler's policy: one pure function from queue state to the plan of the next
// device step. The device only executes plans (src/engine/device-scheduler.ts).
//
// Priorities, highest first:
//   1. work of sessions that are flushing (an utterance ended, Finalize, CloseStream, files):
//      someone is waiting for finals;
//   2. decode steps of hypotheses in progress: each holds a KV slot and produces a token;
//   3. new encoder runs (interim re-decodes start here);
//   4. batch work: file transcriptions, which have no real-time bound to keep, so that an
//      upload takes what live streams leave of the device rather than an equal share of it.
// Within a class, oldest first. A request older than `maxWaitMs` jumps every class, so no
// session starves however busy the device is.
// A step decodes one token (or a prompt) for every chosen hypothesis in one batched call,
// within a token budget, and runs encoder windows within a separate frame budget, so that
// neither decoding nor encoding can crowd the other out.

export type Urgency = 'flush' | 'live' | 'batch';

export interface PendingEncode {
  id: number;
  urgency: Urgency;
  frames: number;
  enqueuedAtMs: number;
}

export interface PendingDecode {
  id: number;
  urgency: Urgency;
  /** tokens fed in this request: 1 for a step, more for a prompt */
  tokens: number;
  enqueuedAtMs: number;
}

export interface QueueState {
  nowMs: number;
  encodes: readonly PendingEncode[];
  decodes: readonly PendingDecode[];
}

export interface StepBudgets {
  /** tokens fed to the decoder in one step, across sessions */
  decodeTokens: number;
  /** encoder frames run in one step, across windows (at least one window always runs) */
  encodeFrames: number;
  /** hypotheses batched into one decoder call; 1 switches cross-session batching off */
  decodeBatch: number;
  /** windows batched into one encoder call */
  encodeBatch: number;
  /** a request waiting longer than this is served first */
  maxWaitMs: number;
}

export interface StepPlan {
  /** decode request ids, batched into one device call, executed first (latency-critical) */
  decode: number[];
  /** encode request ids, run after the decode call */
  encode: number[];
}

function rank(urgency: Urgency, kind: 'decode' | 'encode', waitedMs: number, maxWaitMs: number): number {
  if (waitedMs > maxWaitMs) return 0;
  if (urgency === 'flush') return 1;
  if (urgency === 'batch') return 4;
  return kind === 'decode' ? 2 : 3;
}

function byPriority<T extends { urgency: Urgency; enqueuedAtMs: number; id: number }>(
  items: readonly T[],
  kind: 'decode' | 'encode',
  state: QueueState,
  budgets: StepBudgets,
): T[] {
  return [...items].sort(
    (a, b) =>
      rank(a.urgency, kind, state.nowMs - a.enqueuedAtMs, budgets.maxWaitMs) -
        rank(b.urgency, kind, state.nowMs - b.enqueuedAtMs, budgets.maxWaitMs) ||
      a.enqueuedAtMs - b.enqueuedAtMs ||
      a.id - b.id,
  );
}

export function planStep(state: QueueState, budgets: StepBudgets): StepPlan {
  const decode: number[] = [];
  let tokens = 0;
  for (const d of byPriority(state.decodes, 'decode', state, budgets)) {
    if (decode.length >= budgets.decodeBatch) break;
    if (decode.length > 0 && tokens + d.tokens > budgets.decodeTokens) continue;
    decode.push(d.id);
    tokens += d.tokens;
  }

  // Encoder runs cost hundreds of milliseconds; while flush or overdue decodes wait, a step
  // carries no new live encodes so that finals are not held behind them.
  const urgentDecodesLeft = state.decodes.some(
    (d) =>
      !decode.includes(d.id) && (d.urgency === 'flush' || state.nowMs - d.enqueuedAtMs > budgets.maxWaitMs),
  );
  const encode: number[] = [];
  let frames = 0;
  for (const e of byPriority(state.encodes, 'encode', state, budgets)) {
    if (encode.length >= budgets.encodeBatch) break;
    const urgent = e.urgency === 'flush' || state.nowMs - e.enqueuedAtMs > budgets.maxWaitMs;
    if (urgentDecodesLeft && !urgent) continue;
    if (encode.length > 0 && frames + e.frames > budgets.encodeFrames) continue;
    encode.push(e.id);
    frames += e.frames;
  }
  return { decode, encode };
}
