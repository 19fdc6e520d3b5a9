/**
 * A decoder that does not know its input's framing until the first bytes arrive (Ogg or raw
 * Opus packets; Ogg, WebM or WAV when the client names no encoding). It holds messages until
 * `choose` can decide, then replays them one by one into the decoder chosen, so a framing
 * where message boundaries matter (raw Opus: one packet per message) keeps them.
 */
import { joinBytes, joinSamples } from '../audio/join.js';
import type { AudioDecoder } from './audio-decoder.js';

/**
 * `head` is every byte held so far. Returns the decoder for the stream, or null while the
 * bytes could still begin more than one framing; `final` is set at a flush, when no more
 * bytes may come before the held ones must be decoded, and null then means keep holding.
 */
export type FramingChooser = (head: Uint8Array, final: boolean) => AudioDecoder | null;

export class DetectingDecoder implements AudioDecoder {
  private chosen: AudioDecoder | null = null;
  private held: Uint8Array[] = [];

  constructor(private readonly choose: FramingChooser) {}

  decode(message: Uint8Array): Float32Array {
    if (this.chosen) return this.chosen.decode(message);
    // Copied (slice() would be a view on a Node Buffer) since the caller may reuse it.
    this.held.push(new Uint8Array(message));
    return this.decide(false) ?? new Float32Array(0);
  }

  flush(): Float32Array {
    if (this.chosen) return this.chosen.flush();
    const replayed = this.held.length > 0 ? this.decide(true) : null;
    if (replayed === null) return new Float32Array(0);
    return joinSamples([replayed, this.flush()]);
  }

  /** The held messages' samples once a decoder is chosen; null while undecided. */
  private decide(final: boolean): Float32Array | null {
    const chosen = this.choose(joinBytes(...this.held), final);
    if (!chosen) return null;
    this.chosen = chosen;
    const held = this.held;
    this.held = [];
    return joinSamples(held.map((message) => chosen.decode(message)));
  }
}

export function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((byte, i) => bytes[i] === byte);
}

/** The bytes so far could still grow into `prefix`. */
export function couldStartWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length < prefix.length && Array.from(bytes).every((byte, i) => byte === prefix[i]);
}

