/**
 * Interleaved raw audio (linear16, mulaw, alaw) split into one byte stream per channel, for
 * `multichannel=true`: each channel then goes to its own mono decoder and live session. A
 * message may end inside a frame (all channels of one sample instant); the partial frame is
 * carried into the next message, so message boundaries do not matter.
 */
export class InterleavedSplitter {
  private readonly frameBytes: number;
  private carried: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly bytesPerSample: number,
    readonly channels: number,
  ) {
    this.frameBytes = bytesPerSample * channels;
  }

  /** The whole frames of `message` (after what was carried), as one byte array per channel. */
  split(message: Uint8Array): Uint8Array[] {
    let bytes = message;
    if (this.carried.length > 0) {
      bytes = new Uint8Array(this.carried.length + message.length);
      bytes.set(this.carried);
      bytes.set(message, this.carried.length);
    }
    const frames = Math.floor(bytes.length / this.frameBytes);
    const parts = Array.from({ length: this.channels }, () => new Uint8Array(frames * this.bytesPerSample));
    for (let frame = 0; frame < frames; frame++) {
      const base = frame * this.frameBytes;
      for (let channel = 0; channel < this.channels; channel++) {
        const from = base + channel * this.bytesPerSample;
        parts[channel].set(bytes.subarray(from, from + this.bytesPerSample), frame * this.bytesPerSample);
      }
    }
    // Copied (a Buffer's slice() is a view): the caller's buffer may be reused after this returns.
    this.carried = new Uint8Array(bytes.subarray(frames * this.frameBytes));
    return parts;
  }
}
