import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { SAMPLE_RATE } from '../../src/engine/features.js';
import { DEFAULT_LIVE_WINDOW, LiveDecoder, type Hypothesis } from '../../src/engine/live-decoder.js';
import { StreamingWindow } from '../../src/engine/streaming-window.js';
import { WhisperModel } from '../../src/engine/whisper.js';
import { normalizeEnglish } from '../../src/text/normalize.js';
import { fixture } from '../helpers.js';

let model: WhisperModel;
let jfk: Float32Array;

beforeAll(async () => {
  model = await WhisperModel.load('tiny.en', { threads: 2, maxWindows: 1, maxSessions: 2, maxStreamingWindows: 2 });
  jfk = (await loadAudioFile(fixture('jfk').path)).samples;
});
afterAll(() => model?.close());

const EARLIER_TEXT = 'We observe today not a victory of party, but a celebration of freedom.';

/** Every decoder feed as (position, token count, first token), while the spies are in place. */
function recordFeeds() {
  const feeds: { position: number; count: number; first: number }[] = [];
  const { scheduler } = model;
  const decode = scheduler.decode.bind(scheduler);
  const decodeWithAttention = scheduler.decodeWithAttention.bind(scheduler);
  const spies = [
    vi.spyOn(scheduler, 'decode').mockImplementation((session, position, tokens, ...rest) => {
      feeds.push({ position, count: tokens.length, first: tokens[0] });
      return decode(session, position, tokens, ...rest);
    }),
    vi.spyOn(scheduler, 'decodeWithAttention').mockImplementation((session, position, tokens, ...rest) => {
      feeds.push({ position, count: tokens.length, first: tokens[0] });
      return decodeWithAttention(session, position, tokens, ...rest);
    }),
  ];
  return { feeds, restore: () => spies.forEach((s) => s.mockRestore()) };
}

/** Hypotheses of every half-second hop over `pcm`, one stream, the same earlier text. */
async function hops(decoder: LiveDecoder, window: StreamingWindow, pcm: Float32Array, originSample = 0): Promise<Hypothesis | null> {
  let last: Hypothesis | null = null;
  for (let end = SAMPLE_RATE / 2; end <= pcm.length; end += SAMPLE_RATE / 2) {
    last = await decoder.hypothesis({
      pcm: pcm.subarray(0, end),
      previousText: EARLIER_TEXT,
      language: 'en',
      prefixTokens: [],
      prefixEndS: 0,
      purpose: 'live',
      stream: { window, originSample },
    });
  }
  return last;
}

const text = (h: Hypothesis | null) => normalizeEnglish(h?.words.map((w) => w.word).join(' ') ?? '');

describe("a live stream's prompt cache", () => {
  it('feeds the earlier text once per utterance; later hops start at <|startoftranscript|> after it, with their task tokens', async () => {
    const { feeds, restore } = recordFeeds();
    const window = new StreamingWindow();
    try {
      await hops(new LiveDecoder(model), window, jfk.subarray(0, 3 * SAMPLE_RATE));
    } finally {
      restore();
      await window.release();
    }
    const { sot, sotPrev } = model.tokenizer.special;
    const prompts = feeds.filter((f) => f.first === sotPrev);
    expect(prompts).toHaveLength(1);
    expect(prompts[0].position).toBe(0);
    // The first hop's feed: the prompt, then <|startoftranscript|> and <|notimestamps|>.
    const promptLength = prompts[0].count - 2;
    // Each later hop feeds <|startoftranscript|> and <|notimestamps|> in one call, then
    // samples one token per call.
    const hopStarts = feeds.filter((f) => f.first === sot);
    expect(hopStarts).toHaveLength(5);
    for (const start of hopStarts) expect(start).toMatchObject({ position: promptLength, count: 2 });
    expect(feeds.filter((f) => f.first === model.tokenizer.special.noTimestamps)).toHaveLength(0);
  });

  it('decodes the words that feeding the prompt at every hop decodes', async () => {
    const cached = new StreamingWindow();
    const fresh = new StreamingWindow();
    let withCache: Hypothesis | null, everyHop: Hypothesis | null;
    try {
      withCache = await hops(new LiveDecoder(model), cached, jfk);
      everyHop = await hops(new LiveDecoder(model, { ...DEFAULT_LIVE_WINDOW, reusePrompt: false }), fresh, jfk);
    } finally {
      await Promise.all([cached.release(), fresh.release()]);
    }
    expect(text(withCache)).toBe('and so my fellow americans ask not what your country can do for you ask what you can do for your country');
    expect(text(withCache)).toBe(text(everyHop));
  });

  it('feeds the prompt again when the window starts over, and gives its session back with the window', async () => {
    const { feeds, restore } = recordFeeds();
    const window = new StreamingWindow();
    const decoder = new LiveDecoder(model);
    try {
      await hops(decoder, window, jfk.subarray(0, SAMPLE_RATE));
      // A new utterance: the stream's audio origin moves and the window restarts.
      await hops(decoder, window, jfk.subarray(SAMPLE_RATE, 2 * SAMPLE_RATE), SAMPLE_RATE);
      expect(model.native.info().sessionsInUse).toBe(1);
    } finally {
      restore();
      await window.release();
    }
    expect(feeds.filter((f) => f.first === model.tokenizer.special.sotPrev)).toHaveLength(2);
    expect(model.native.info()).toMatchObject({ sessionsInUse: 0, streamingWindowsInUse: 0 });
  });
});
