import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import type { StepStats } from '../../src/engine/device-scheduler.js';
import { transcribe } from '../../src/engine/transcribe.js';
import { WhisperModel } from '../../src/engine/whisper.js';
import { fixture } from '../helpers.js';

let model: WhisperModel;
const steps: StepStats[] = [];

beforeAll(async () => {
  model = await WhisperModel.load('tiny.en', { threads: 2, maxWindows: 4, maxSessions: 16, onStep: (s) => steps.push(s) });
});
afterAll(() => model?.close());

describe('device scheduler on the real engine', () => {
  it('batches decoder steps of concurrent transcriptions into shared device calls, with unchanged results', async () => {
    const clips = ['jfk', '1221-135766-0002', '1089-134686-0000'].map((id) => fixture(id));
    const audio = await Promise.all(clips.map((c) => loadAudioFile(c.path)));
    const alone = [];
    for (const a of audio) alone.push((await transcribe(model, a.samples)).text);
    steps.length = 0;
    const together = await Promise.all(audio.map((a) => transcribe(model, a.samples)));
    expect(together.map((t) => t.text)).toEqual(alone);
    expect(Math.max(...steps.map((s) => s.decodeBatch))).toBeGreaterThanOrEqual(2);
  });

  it('returns every KV slot to the pool over thousands of sessions', async () => {
    const window = model.native.createWindow();
    const V = model.info.nVocab;
    const mel = new Float32Array(80 * 200);
    await model.scheduler.encode(window, mel, 200, 'live');
    for (let round = 0; round < 250; round++) {
      const sessions = Array.from({ length: 8 }, () => model.native.createSession(window));
      expect(sessions.every((s) => s >= 0)).toBe(true);
      await Promise.all(sessions.map((s) => model.scheduler.decode(s, 0, [model.tokenizer.special.sot], 'live')));
      await Promise.all(sessions.map((s) => model.native.releaseSession(s)));
    }
    await model.native.releaseWindow(window);
    expect(model.native.info()).toMatchObject({ sessionsInUse: 0, windowsInUse: 0 });
    expect(V).toBe(51864);
  });

  it('sizes the pool from a byte budget, refuses past it, and gets every slot back', async () => {
    const perStream = { windows: 2, sessions: 6 };
    const streamBytes = perStream.windows * model.info.windowBytes + perStream.sessions * model.info.sessionBytes;
    // A byte short of a fourth stream: the budget is a ceiling, never rounded up.
    const budgeted = await WhisperModel.load('tiny.en', { threads: 2, kvBudgetBytes: 4 * streamBytes - 1, perStream });
    try {
      expect(budgeted.info).toMatchObject({ maxWindows: 6, maxSessions: 18 });
      for (let round = 0; round < 2; round++) {
        const windows = Array.from({ length: 6 }, () => budgeted.native.createWindow());
        expect(windows.every((w) => w >= 0)).toBe(true);
        expect(budgeted.native.createWindow()).toBe(-1);
        const sessions = windows.flatMap((w) => Array.from({ length: 3 }, () => budgeted.native.createSession(w)));
        expect(sessions.every((s) => s >= 0)).toBe(true);
        expect(budgeted.native.createSession(windows[0])).toBe(-1);
        await Promise.all(sessions.map((s) => budgeted.native.releaseSession(s)));
        await Promise.all(windows.map((w) => budgeted.native.releaseWindow(w)));
        // The second round fills the pool to the last slot again: everything came back.
        expect(budgeted.native.info()).toMatchObject({ sessionsInUse: 0, windowsInUse: 0 });
      }
    } finally {
      budgeted.close();
    }
  });

  it('fails only the request with a bad handle, not the others batched with it', async () => {
    const window = model.native.createWindow();
    await model.scheduler.encode(window, new Float32Array(80 * 200), 200, 'live');
    const good = model.native.createSession(window);
    const [ok, bad] = await Promise.allSettled([
      model.scheduler.decode(good, 0, [model.tokenizer.special.sot], 'live'),
      model.scheduler.decode(9999, 0, [model.tokenizer.special.sot], 'live'),
    ]);
    expect(ok.status).toBe('fulfilled');
    expect(bad.status).toBe('rejected');
    await model.native.releaseSession(good);
    await model.native.releaseWindow(window);
  });
  it('hands attention only to the requests that asked, from one batched call', async () => {
    const { nAlignmentHeads, nAudioCtx } = model.info;
    const window = model.native.createWindow();
    await model.scheduler.encode(window, new Float32Array(80 * 200), 200, 'live');
    const [a, b] = [model.native.createSession(window), model.native.createSession(window)];
    const sot = [model.tokenizer.special.sot];
    steps.length = 0;
    const [withAttention, without] = await Promise.all([
      model.scheduler.decodeWithAttention(a, 0, sot, 'live'),
      model.scheduler.decode(b, 0, sot, 'live'),
    ]);
    await new Promise((resolve) => setImmediate(resolve)); // the step is reported once it is over
    expect(steps.filter((s) => s.decodeBatch > 0).map((s) => s.decodeBatch)).toEqual([2]);
    expect(withAttention.attention).toHaveLength(nAlignmentHeads * nAudioCtx);
    expect(Array.from(withAttention.logits.subarray(0, 100))).toEqual(Array.from(without.subarray(0, 100)));
    // Alone, the same session and token give the same row.
    const alone = await model.scheduler.decodeWithAttention(a, 0, sot, 'live');
    expect(alone.attention).toEqual(withAttention.attention);
    await Promise.all([model.native.releaseSession(a), model.native.releaseSession(b)]);
    await model.native.releaseWindow(window);
  });

  it("writes each hypothesis' logits into the row it brings, and refuses a row of the wrong size", async () => {
    const window = model.native.createWindow();
    await model.scheduler.encode(window, new Float32Array(80 * 200), 200, 'live');
    const [a, b] = [model.native.createSession(window), model.native.createSession(window)];
    const sot = [model.tokenizer.special.sot];
    const rows = [new Float32Array(model.info.nVocab), new Float32Array(model.info.nVocab)];
    const [ra, rb] = await Promise.all([
      model.scheduler.decode(a, 0, sot, 'live', rows[0]),
      model.scheduler.decode(b, 0, sot, 'live', rows[1]),
    ]);
    expect(ra).toBe(rows[0]);
    expect(rb).toBe(rows[1]);
    const fresh = await model.scheduler.decode(a, 0, sot, 'live');
    expect(fresh).not.toBe(rows[0]);
    expect(Array.from(rows[0])).toEqual(Array.from(fresh));
    expect(Array.from(rows[1])).toEqual(Array.from(fresh));
    await expect(model.scheduler.decode(a, 0, sot, 'live', new Float32Array(10))).rejects.toThrow(/logits row holds 51864/);
    await Promise.all([model.native.releaseSession(a), model.native.releaseSession(b)]);
    await model.native.releaseWindow(window);
  });

  it('gives the prediction after an earlier token of a feed as its extra row, as feeding up to it would', async () => {
    const window = model.native.createWindow();
    await model.scheduler.encode(window, new Float32Array(80 * 200), 200, 'live');
    const [a, b, c] = [model.native.createSession(window), model.native.createSession(window), model.native.createSession(window)];
    const { sot, noTimestamps } = model.tokenizer.special;
    const feed = [sot, noTimestamps, 440, 8667];
    const V = model.info.nVocab;
    const extra = { index: 0, into: new Float32Array(V) };
    // In one batch: a feed with an extra row, one without, and the feed cut after the extra row's token.
    const [last, plain, upToExtra] = await Promise.all([
      model.scheduler.decode(a, 0, feed, 'live', null, extra),
      model.scheduler.decode(b, 0, feed, 'live'),
      model.scheduler.decode(c, 0, [sot], 'live'),
    ]);
    expect(Array.from(last)).toEqual(Array.from(plain));
    expect(Array.from(extra.into)).toEqual(Array.from(upToExtra));
    // The extra row must be one of the feed's tokens before the last, in a row of the right size.
    await expect(model.scheduler.decode(a, 0, feed, 'live', null, { index: 3, into: new Float32Array(V) })).rejects.toThrow(
      /one of the first 3 tokens/,
    );
    await expect(model.scheduler.decode(a, 0, feed, 'live', null, { index: 0, into: new Float32Array(3) })).rejects.toThrow(
      /logits row holds 51864/,
    );
    // The native call checks the same, for callers that go around the scheduler.
    const logits = new Float32Array(V);
    await expect(
      model.native.decode(Int32Array.of(a), Int32Array.of(0), Int32Array.of(2), Int32Array.of(sot, noTimestamps), logits, null, Int32Array.of(1), new Float32Array(V)),
    ).rejects.toThrow(/extra row 1 is not one of the item's first 1 tokens/);
    expect(() =>
      model.native.decode(Int32Array.of(a), Int32Array.of(0), Int32Array.of(2), Int32Array.of(sot, noTimestamps), logits, null, Int32Array.of(0), new Float32Array(10)),
    ).toThrow(/extraLogits buffer is smaller/);
    await Promise.all([a, b, c].map((s) => model.native.releaseSession(s)));
    await model.native.releaseWindow(window);
  });
});
