/**
 * Turns the bytes of a client's audio messages into 16 kHz mono float samples, the only form
 * the rest of the pipeline sees.
 *
 * A decoder is a pure processor: one message in, the samples it completes out, no sockets or
 * timers. Message boundaries carry no meaning for PCM, so a message may end inside a sample or
 * inside a multichannel frame and the remainder is carried into the next one; channels are
 * averaged before resampling, so rate conversion runs once rather than per channel. For
 * `multichannel=true` each channel has a decoder of its own, which reads the whole stream and
 * keeps its channel (`keep`): the same path for raw samples, Opus and containers.
 *
 * With no encoding the container (WebM, Ogg, WAV) is detected from the first bytes, as
 * Deepgram does; see container-input.ts.
 *
 * The factory is async only because the Opus decoder is WebAssembly and must be instantiated;
 * once created, every decoder works synchronously. Options are validated here, with the typed
 * `AudioInputError`, because they come straight from a client's query string.
 */
import { MIX_CHANNELS, type ChannelPick } from '../audio/channel-pick.js';
import { ALAW_TO_FLOAT, MULAW_TO_FLOAT } from '../audio/g711.js';
import { joinBytes } from '../audio/join.js';
import { Resampler } from '../audio/resample.js';
import { AudioInputError } from './audio-input-error.js';
import { createContainerDecoder } from './container-input.js';
import { createOpusStreamDecoder } from './opus-input.js';

export { AudioInputError, type AudioInputErrorCode } from './audio-input-error.js';

export const STREAM_SAMPLE_RATE = 16000;

export const AUDIO_ENCODINGS = ['linear16', 'mulaw', 'alaw', 'opus'] as const;
export type AudioEncoding = (typeof AUDIO_ENCODINGS)[number];

const MIN_SAMPLE_RATE = 8000;
const MAX_SAMPLE_RATE = 48000;
const MAX_CHANNELS = 8;
/** Opus decodes only to these rates, so a client declaring another one misunderstands it. */
const OPUS_SAMPLE_RATES = [8000, 12000, 16000, 24000, 48000];

export interface AudioDecoderOptions {
  /**
   * Taken as a string because it arrives unchecked from the client; see AUDIO_ENCODINGS.
   * null: none was given, so the audio must be in a container that says what it holds.
   */
  encoding: string | null;
  /**
   * Required for linear16, mulaw and alaw; optional for Opus, which carries its own timing;
   * ignored for containers, whose header is authoritative.
   */
  sampleRate?: number;
  /**
   * Interleaved channels for linear16, mulaw and alaw (default 1). For Opus only raw packets
   * use it (1 or 2); an Ogg or WebM stream's own header is authoritative, as is a container's.
   */
  channels?: number;
  /**
   * Mix every channel into one (the default), or keep one channel, by index, and drop the rest.
   * For a container or Ogg/WebM Opus, the stream's header must hold that channel, or decoding
   * fails with bad_channels.
   */
  keep?: ChannelPick;
}

export interface AudioDecoder {
  /** Samples (16 kHz, mono) completed by this message; possibly none. */
  decode(message: Uint8Array): Float32Array;
  /**
   * Samples held back for filter look-ahead, as if the audio ended here. The decoder stays
   * usable: a message after flush continues the same byte stream (a partial PCM frame stays
   * carried), at the cost of a resampler restart (a transient of a few milliseconds).
   */
  flush(): Float32Array;
}

export async function createAudioDecoder(options: AudioDecoderOptions): Promise<AudioDecoder> {
  const keep = options.keep ?? MIX_CHANNELS;
  if (options.encoding === null) return createContainerDecoder(keep);
  const encoding = checkEncoding(options.encoding);
  const channels = checkChannels(options.channels ?? 1);
  if (keep !== MIX_CHANNELS && !(Number.isInteger(keep) && keep >= 0 && keep < channels)) {
    throw new AudioInputError('bad_channels', `channel ${keep} is not one of the ${channels} channels`);
  }
  if (encoding === 'opus') {
    if (options.sampleRate !== undefined && !OPUS_SAMPLE_RATES.includes(options.sampleRate)) {
      throw new AudioInputError(
        'bad_sample_rate',
        `sample_rate ${options.sampleRate} is not an Opus rate (${OPUS_SAMPLE_RATES.join(', ')})`,
      );
    }
    if (channels > 2) {
      throw new AudioInputError('bad_channels', `Opus input supports 1 or 2 channels, got ${channels}`);
    }
    return createOpusStreamDecoder(keep);
  }
  const sampleRate = checkSampleRate(options.sampleRate, encoding);
  const reader = encoding === 'linear16' ? readLinear16 : encoding === 'mulaw' ? readMulaw : readAlaw;
  return new InterleavedPcmDecoder(reader, encoding === 'linear16' ? 2 : 1, channels, sampleRate, keep);
}

type SampleReader = (bytes: Uint8Array, offset: number) => number;

const readLinear16: SampleReader = (bytes, offset) => {
  const unsigned = bytes[offset] | (bytes[offset + 1] << 8);
  return (unsigned >= 0x8000 ? unsigned - 0x10000 : unsigned) / 32768;
};
const readMulaw: SampleReader = (bytes, offset) => MULAW_TO_FLOAT[bytes[offset]];
const readAlaw: SampleReader = (bytes, offset) => ALAW_TO_FLOAT[bytes[offset]];

class InterleavedPcmDecoder implements AudioDecoder {
  private readonly frameBytes: number;
  private readonly resampler: Resampler;
  /** Bytes of a frame (all channels of one sample instant) that a message left incomplete. */
  private carried: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly readSample: SampleReader,
    private readonly bytesPerSample: number,
    private readonly channels: number,
    sampleRate: number,
    private readonly keep: ChannelPick,
  ) {
    this.frameBytes = bytesPerSample * channels;
    this.resampler = new Resampler(sampleRate, STREAM_SAMPLE_RATE);
  }

  decode(message: Uint8Array): Float32Array {
    const bytes = this.carried.length === 0 ? message : joinBytes(this.carried, message);
    const frames = Math.floor(bytes.length / this.frameBytes);
    const mono = new Float32Array(frames);
    const offset = frames * this.frameBytes;
    if (this.keep === MIX_CHANNELS) {
      for (let frame = 0, at = 0; frame < frames; frame++) {
        let sum = 0;
        for (let channel = 0; channel < this.channels; channel++, at += this.bytesPerSample) sum += this.readSample(bytes, at);
        mono[frame] = sum / this.channels;
      }
    } else {
      for (let frame = 0; frame < frames; frame++) mono[frame] = this.readSample(bytes, frame * this.frameBytes + this.keep * this.bytesPerSample);
    }
    // Copied, since the caller may reuse the message's buffer. Not with slice(): on a Node
    // Buffer, which is what WebSocket libraries hand over, slice() is a view.
    this.carried = new Uint8Array(bytes.subarray(offset));
    return this.resampler.process(mono);
  }

  flush(): Float32Array {
    return this.resampler.flush();
  }
}

function checkEncoding(encoding: string): AudioEncoding {
  const known = AUDIO_ENCODINGS.find((name) => name === encoding);
  if (known) return known;
  throw new AudioInputError(
    'unsupported_encoding',
    `encoding ${JSON.stringify(encoding)} is not supported (supported: ${AUDIO_ENCODINGS.join(', ')})`,
  );
}

function checkChannels(channels: number): number {
  if (!Number.isInteger(channels) || channels < 1 || channels > MAX_CHANNELS) {
    throw new AudioInputError('bad_channels', `channels must be an integer from 1 to ${MAX_CHANNELS}, got ${channels}`);
  }
  return channels;
}

function checkSampleRate(sampleRate: number | undefined, encoding: AudioEncoding): number {
  if (sampleRate === undefined) {
    throw new AudioInputError(
      'bad_sample_rate',
      `${encoding} audio needs a sample_rate (${MIN_SAMPLE_RATE}–${MAX_SAMPLE_RATE} Hz)`,
    );
  }
  if (!Number.isInteger(sampleRate) || sampleRate < MIN_SAMPLE_RATE || sampleRate > MAX_SAMPLE_RATE) {
    throw new AudioInputError(
      'bad_sample_rate',
      `sample_rate must be an integer from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE} Hz, got ${sampleRate}`,
    );
  }
  return sampleRate;
}

