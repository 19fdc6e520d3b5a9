// A live stream's encoder window, grown hop by hop instead of re-encoded.
//
// Whisper's encoder attends over its whole window, so every frame's states depend on all the
// audio in it. A live stream decodes its open utterance every hop; re-encoding the window each
// time costs the encoder over ten seconds or more of audio per half second of new audio,
// which is most of a stream's device time. A streaming window (native: a window slot that also
// keeps its encoder's self-attention K/V) keeps the frames it encoded and computes only the
// new ones, attending over everything before them. Frames encoded this way never hear the
// audio after the hop that computed them, so the last `lookahead` frames are computed again at
// the next hop, with more audio after them, before they are kept.
//
// The window restarts (all frames computed again) whenever the stream's audio origin moves:
// a new utterance, or a long one sliding its window.
import { PromptCache } from './prompt-cache.js';
import type { Urgency } from './scheduler-step.js';
import type { WhisperModel } from './whisper.js';

export class StreamingWindow {
  /** the decoder prompt of the hops that read this window, fed once per utterance */
  readonly prompt = new PromptCache();
  private handle = -1;
  private model: WhisperModel | null = null;
  /** stream sample of the window's first audio sample; NaN: nothing encoded */
  private originSample = NaN;
  /** encoder frames that the next encode keeps */
  private keptFrames = 0;
  /** settles when the current user's decode is done: one encode-and-decode at a time */
  private busy: Promise<void> = Promise.resolve();

  /**
   * Waits for the window's previous user (a stale hop may still be decoding from it) and
   * returns the function that hands it on; encode and the decodes that read it go between.
   */
  async acquire(): Promise<() => void> {
    const previous = this.busy;
    let done!: () => void;
    this.busy = new Promise((resolve) => (done = resolve));
    await previous;
    return done;
  }

  /**
   * Encodes the window's audio so far, `mel` being its whole normalised log-mel
   * ([nMels][melFrames]) starting at stream sample `originSample`, in a window of
   * `windowFrames` encoder frames (silence past the audio); the next encode keeps its first
   * `keepFrames` encoder frames and computes the rest again. Returns the window handle, which
   * stays the stream's until release().
   */
  async encode(
    model: WhisperModel,
    mel: Float32Array,
    melFrames: number,
    originSample: number,
    windowFrames: number,
    keepFrames: number,
    urgency: Urgency,
  ): Promise<number> {
    if (this.handle < 0) {
      const handle = model.native.createWindow(true);
      if (handle < 0) throw new Error('KV pool exhausted: no streaming window for a live stream');
      this.handle = handle;
      this.model = model;
    }
    const frames = melFrames / 2;
    const sameOrigin = originSample === this.originSample;
    const first = sameOrigin ? Math.min(this.keptFrames, frames - 1) : 0;
    if (!sameOrigin) this.prompt.invalidate();
    // Until the encode succeeds the window's frames are not trusted.
    this.originSample = NaN;
    await model.scheduler.encode(this.handle, mel, melFrames, urgency, null, first, windowFrames);
    this.originSample = originSample;
    this.keptFrames = Math.max(0, Math.min(frames, keepFrames));
    return this.handle;
  }

  /** Gives the window back to the pool once its last user is done; it can be used again later. */
  async release(): Promise<void> {
    const done = await this.acquire();
    try {
      const { handle, model } = this;
      this.handle = -1;
      this.originSample = NaN;
      await this.prompt.release();
      if (handle >= 0 && model) await model.native.releaseWindow(handle);
    } finally {
      done();
    }
  }
}
