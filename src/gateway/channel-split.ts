import { decodeStreamBytes } from '../audio/load.js';
import { readWavLayout } from '../audio/wav.js';
import { createAudioDecoder } from '../stream/audio-decoder.js';

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

/** Interleaved samples whose channels can be read apart: headerless audio, or a WAV file's data chunk. */
export interface InterleavedAudio {
  encoding: 'linear16' | 'mulaw' | 'alaw';
  sampleRate: number;
  channels: number;
  bytes: Uint8Array;
}

/**
 * A WAV file's samples as interleaved audio, for 16-bit PCM, mu-law and A-law; null for the
 * other sample formats (24 and 32 bits, float), which are decoded mixed. Throws
 * AudioFormatError for a file that is not a well-formed WAV.
 */
export function wavInterleaved(file: Uint8Array, label: string): InterleavedAudio | null {
  const { format, dataOffset, frames } = readWavLayout(file, label);
  const encoding = format.encoding === 'pcm' && format.containerBytes === 2 ? 'linear16' : format.encoding === 'mulaw' || format.encoding === 'alaw' ? format.encoding : null;
  if (encoding === null) return null;
  const end = dataOffset + frames * format.containerBytes * format.channels;
  return { encoding, sampleRate: format.sampleRate, channels: format.channels, bytes: file.subarray(dataOffset, end) };
}

/** Each channel's 16 kHz samples, decoded on its own (in slices, as files are). */
export async function decodeChannels(audio: InterleavedAudio, label: string, options: { maxDurationS?: number } = {}): Promise<Float32Array[]> {
  const parts = new InterleavedSplitter(audio.encoding === 'linear16' ? 2 : 1, audio.channels).split(audio.bytes);
  const channels: Float32Array[] = [];
  for (const part of parts) {
    const decoder = await createAudioDecoder({ encoding: audio.encoding, sampleRate: audio.sampleRate, channels: 1 });
    channels.push(await decodeStreamBytes(decoder, part, label, options));
  }
  return channels;
}
