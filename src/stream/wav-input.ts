/**
 * A WAV file streamed live (a client piping a recording, or `sox -t wav -`): the header is
 * read as it arrives, then the samples decode like raw PCM with the header's format, so the
 * client need not repeat the format in `encoding` and `sample_rate`.
 *
 * A header may declare the data size (a finished file: bytes after it, such as a trailing
 * LIST chunk, are not audio) or a streaming writer's placeholder (everything after is audio).
 */
import { MIX_CHANNELS, type ChannelPick } from '../audio/channel-pick.js';
import { joinBytes } from '../audio/join.js';
import { Resampler } from '../audio/resample.js';
import { AudioFormatError, decodeToMono, readWavHeader, type WavFormat, type WavHeader } from '../audio/wav.js';
import type { AudioDecoder } from './audio-decoder.js';
import { AudioInputError } from './audio-input-error.js';

const OUTPUT_RATE = 16000;
/** Headers are tens of bytes; metadata chunks before the samples rarely reach kilobytes. */
const MAX_HEADER_BYTES = 64 * 1024;
const MIN_RATE = 8000;
const MAX_RATE = 192000;

export class WavStreamDecoder implements AudioDecoder {
  /** Set once the header is complete. */
  private samples: { format: WavFormat; resampler: Resampler } | null = null;
  /** Header bytes so far, then the bytes of a frame a message left incomplete. */
  private carried: Uint8Array = new Uint8Array(0);
  /** Sample bytes the header declares and that have not arrived yet. */
  private remaining = Infinity;

  constructor(private readonly keep: ChannelPick = MIX_CHANNELS) {}

  decode(message: Uint8Array): Float32Array {
    const bytes = joinBytes(this.carried, message);
    if (this.samples) return this.decodeSamples(this.samples, bytes);
    const header = this.readHeader(bytes);
    if (!header) {
      // Copied, since the caller may reuse the message's buffer.
      this.carried = new Uint8Array(bytes);
      return new Float32Array(0);
    }
    this.samples = { format: header.format, resampler: new Resampler(header.format.sampleRate, OUTPUT_RATE) };
    this.remaining = header.dataLength ?? Infinity;
    return this.decodeSamples(this.samples, bytes.subarray(header.dataOffset));
  }

  flush(): Float32Array {
    return this.samples ? this.samples.resampler.flush() : new Float32Array(0);
  }

  private readHeader(bytes: Uint8Array): WavHeader | null {
    let header: WavHeader | null;
    try {
      header = readWavHeader(bytes, 'WAV stream');
    } catch (error) {
      if (!(error instanceof AudioFormatError)) throw error;
      throw new AudioInputError(error.code === 'unsupported_format' ? 'unsupported_encoding' : 'malformed_audio', error.message);
    }
    if (!header) {
      if (bytes.length > MAX_HEADER_BYTES) {
        throw new AudioInputError('malformed_audio', `WAV stream: no samples after ${bytes.length} bytes of header`);
      }
      return null;
    }
    const { sampleRate, channels } = header.format;
    if (this.keep !== MIX_CHANNELS && this.keep >= channels) {
      throw new AudioInputError('bad_channels', `WAV stream has ${channels} channel${channels === 1 ? '' : 's'}, so it has no channel ${this.keep}`);
    }
    if (sampleRate < MIN_RATE || sampleRate > MAX_RATE) {
      throw new AudioInputError('bad_sample_rate', `WAV stream: sample rate ${sampleRate} Hz is outside ${MIN_RATE}–${MAX_RATE}`);
    }
    return header;
  }

  private decodeSamples({ format, resampler }: { format: WavFormat; resampler: Resampler }, bytes: Uint8Array): Float32Array {
    const usable = bytes.subarray(0, Math.min(bytes.length, this.remaining));
    const frameBytes = format.containerBytes * format.channels;
    const frames = Math.floor(usable.length / frameBytes);
    const mono = decodeToMono(new DataView(usable.buffer, usable.byteOffset, usable.byteLength), 0, frames, format, this.keep);
    this.remaining -= frames * frameBytes;
    // Copied, since the caller may reuse the message's buffer.
    this.carried = new Uint8Array(usable.subarray(frames * frameBytes));
    return resampler.process(mono);
  }
}

