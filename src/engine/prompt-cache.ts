// A live stream's decoder prompt, fed once per utterance instead of at every hop.
//
// Each hop conditions its decode on the stream's earlier text (<|startofprev|> and up to 60
// words): some 80 tokens, which cost the decoder more than the hop's encoder frames and its
// sampled tokens together, and gain nothing from batching (a prompt is many rows already).
// The prompt is the same at every hop of an utterance, so its session keeps the prompt's
// self-attention cache and each hop rewinds the session to just after it and decodes from
// there; the rest of the session (the hop's <|startoftranscript|>, forced prefix and tokens)
// is written over by the next hop.
//
// That is an approximation, not a copy: past the first decoder layer the prompt's keys and
// values depend on the cross-attention to the audio, which grows hop by hop while the cache
// keeps what the prompt saw when it was fed. The prompt is text from before the window's
// audio, so the approximation is bounded by discarding the cache whenever the window restarts
// (a new utterance, or a long one sliding its window) or the prompt changes.
import type { WhisperModel } from './whisper.js';

export class PromptCache {
  private session = -1;
  private window = -1;
  private model: WhisperModel | null = null;
  /** the tokens the session's cache holds from position 0; empty: nothing trusted */
  private tokens: readonly number[] = [];

  /**
   * A session on `window` and how many of `prompt`'s leading tokens its cache already holds:
   * all of them when this cache was filled with the same prompt on the same window, else 0
   * (the session is rewound to the start by the caller's feed). The caller feeds the rest and
   * calls `filled`; the session stays the cache's, never released by the caller.
   */
  async take(model: WhisperModel, window: number, prompt: readonly number[]): Promise<{ session: number; cached: number }> {
    if (this.session >= 0 && this.window === window) {
      return { session: this.session, cached: sameTokens(this.tokens, prompt) ? prompt.length : 0 };
    }
    await this.release();
    const session = model.native.createSession(window);
    if (session < 0) throw new Error('KV pool exhausted: no session slot for a live prompt');
    this.session = session;
    this.window = window;
    this.model = model;
    return { session, cached: 0 };
  }

  /** The session's cache now holds `prompt` from position 0 (a non-empty prompt). */
  filled(prompt: readonly number[]): void {
    this.tokens = [...prompt];
  }

  /** The window's audio starts over: the prompt is fed again at the next take. */
  invalidate(): void {
    this.tokens = [];
  }

  /** Gives the session back to the pool. */
  async release(): Promise<void> {
    const { session, model } = this;
    this.session = -1;
    this.window = -1;
    this.tokens = [];
    if (session >= 0 && model) await model.native.releaseSession(session);
  }
}

function sameTokens(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}
