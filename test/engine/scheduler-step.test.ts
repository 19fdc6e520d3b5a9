import { describe, expect, it } from 'vitest';
import { planStep, type PendingDecode, type PendingEncode, type StepBudgets } from '../../src/engine/scheduler-step.js';

const BUDGETS: StepBudgets = { decodeTokens: 8, encodeFrames: 3000, decodeBatch: 4, encodeBatch: 2, maxWaitMs: 1000 };

let nextId = 1;
const decode = (urgency: 'flush' | 'live' | 'batch', enqueuedAtMs = 0, tokens = 1): PendingDecode => ({ id: nextId++, urgency, tokens, enqueuedAtMs });
const encode = (urgency: 'flush' | 'live' | 'batch', enqueuedAtMs = 0, frames = 3000): PendingEncode => ({ id: nextId++, urgency, frames, enqueuedAtMs });

describe('planStep', () => {
  it('batches every ready hypothesis into one decoder call', () => {
    const ds = [decode('live'), decode('live'), decode('live')];
    expect(planStep({ nowMs: 10, encodes: [], decodes: ds }, BUDGETS).decode).toEqual(ds.map((d) => d.id));
  });

  it('caps a step at the batch size and the token budget, and always makes progress', () => {
    const ds = Array.from({ length: 6 }, () => decode('live'));
    expect(planStep({ nowMs: 10, encodes: [], decodes: ds }, BUDGETS).decode).toHaveLength(4);
    const prompts = [decode('live', 0, 6), decode('live', 1, 6), decode('live', 2, 1)];
    expect(planStep({ nowMs: 10, encodes: [], decodes: prompts }, BUDGETS).decode).toEqual([prompts[0].id, prompts[2].id]);
    const huge = decode('live', 0, 100);
    expect(planStep({ nowMs: 10, encodes: [], decodes: [huge] }, BUDGETS).decode).toEqual([huge.id]);
  });

  it('serves flushing sessions first, then decodes in progress, then new encoder runs', () => {
    const live = decode('live', 0);
    const flush = decode('flush', 5);
    const plan = planStep({ nowMs: 10, encodes: [], decodes: [live, flush] }, { ...BUDGETS, decodeBatch: 1 });
    expect(plan.decode).toEqual([flush.id]);
  });

  it('holds new live encoder runs back while flush decodes are still waiting', () => {
    const flushes = Array.from({ length: 5 }, () => decode('flush'));
    const liveEncode = encode('live');
    const flushEncode = encode('flush');
    const plan = planStep({ nowMs: 10, encodes: [liveEncode, flushEncode], decodes: flushes }, BUDGETS);
    expect(plan.encode).toEqual([flushEncode.id]);
  });

  it('runs encoders beside decodes within the frame budget', () => {
    const es = [encode('live', 0, 2000), encode('live', 1, 2000), encode('live', 2, 1000)];
    const plan = planStep({ nowMs: 10, encodes: es, decodes: [decode('live')] }, BUDGETS);
    expect(plan.encode).toEqual([es[0].id, es[2].id]);
  });

  it('lets no request starve: one waiting past maxWaitMs goes first', () => {
    const old = decode('live', 0);
    const flushes = Array.from({ length: 4 }, (_, i) => decode('flush', 1500 + i));
    const plan = planStep({ nowMs: 2000, encodes: [], decodes: [...flushes, old] }, BUDGETS);
    expect(plan.decode[0]).toBe(old.id);
  });

  it('with batching off, decodes one hypothesis per call', () => {
    const ds = [decode('live'), decode('live')];
    expect(planStep({ nowMs: 10, encodes: [], decodes: ds }, { ...BUDGETS, decodeBatch: 1, decodeTokens: 1 }).decode).toHaveLength(1);
  });

  it('serves a live request even while flush work alone would fill every step', () => {
    const live = decode('live', 0);
    let queue: PendingDecode[] = [live];
    let servedAtMs: number | null = null;
    for (let now = 50; now < 5000 && servedAtMs === null; now += 50) {
      queue.push(decode('flush', now));
      const plan = planStep({ nowMs: now, encodes: [], decodes: queue }, { ...BUDGETS, decodeBatch: 1 });
      if (plan.decode.includes(live.id)) servedAtMs = now;
      queue = queue.filter((d) => !plan.decode.includes(d.id));
    }
    expect(servedAtMs).not.toBeNull();
    expect(servedAtMs!).toBeLessThanOrEqual(BUDGETS.maxWaitMs + 50);
  });

  it('serves batch work (files) after live work, in the room live work leaves', () => {
    const fileWindow = encode('batch', 0, 3000);
    const hop = encode('live', 5, 150);
    // The file's 30 s window waited longer, but the live hop goes first and the window does not fit beside it.
    expect(planStep({ nowMs: 10, encodes: [fileWindow, hop], decodes: [] }, BUDGETS).encode).toEqual([hop.id]);
    // Alone, it runs.
    expect(planStep({ nowMs: 10, encodes: [fileWindow], decodes: [] }, BUDGETS).encode).toEqual([fileWindow.id]);
    const fileStep = decode('batch', 0);
    const liveSteps = [decode('live', 5), decode('live', 6), decode('live', 7), decode('live', 8)];
    expect(planStep({ nowMs: 10, encodes: [], decodes: [fileStep, ...liveSteps] }, BUDGETS).decode).toEqual(liveSteps.map((d) => d.id));
    // With room in the batch, it joins the live steps' decoder call.
    expect(planStep({ nowMs: 10, encodes: [], decodes: [fileStep, ...liveSteps.slice(1)] }, BUDGETS).decode).toEqual([...liveSteps.slice(1).map((d) => d.id), fileStep.id]);
  });

  it('lets batch work not starve either: a file step waiting past maxWaitMs goes first', () => {
    const fileStep = decode('batch', 0);
    const flushes = Array.from({ length: 4 }, (_, i) => decode('flush', 500 + i));
    expect(planStep({ nowMs: 900, encodes: [], decodes: [fileStep, ...flushes] }, BUDGETS).decode).not.toContain(fileStep.id);
    expect(planStep({ nowMs: 1100, encodes: [], decodes: [fileStep, ...flushes] }, BUDGETS).decode[0]).toBe(fileStep.id);
  });
});
