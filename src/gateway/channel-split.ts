// multichannel=true for files: each channel of a raw body or of a WAV, Ogg Opus or WebM Opus
// file, decoded on its own by a decoder that keeps that channel (the live path's decoders).
import { detectContainer, oggCodec } from '../audio/container.js';
import { decodeStreamBytes, type DecodeOptions } from '../audio/load.js';
import { readWavLayout } from '../audio/wav.js';
import { createAudioDecoder, type AudioDecoderOptions } from '../stream/audio-decoder.js';
import { OggOpusDecoder } from '../stream/opus-input.js';
import { createLibopus } from '../stream/opus-packets.js';
import { WebmOpusDecoder } from '../stream/webm-opus-input.js';

/** Headerless interleaved samples, as a client describes them with `encoding`. */
export interface InterleavedAudio {
  encoding: 'linear16' | 'mulaw' | 'alaw';
  sampleRate: number;
  channels: number;
  bytes: Uint8Array;
}

/** An Opus stream's header (OpusHead) comes in its first page or its Tracks element. */
const OPUS_HEADER_PROBE_BYTES = 64 * 1024;

/** Each channel's 16 kHz samples, decoded on its own (in slices, as files are). */
export function decodeChannels(audio: InterleavedAudio, label: string, options: DecodeOptions = {}): Promise<Float32Array[]> {
  const format = { encoding: audio.encoding, sampleRate: audio.sampleRate, channels: audio.channels };
  return decodeEachChannel(audio.channels, (keep) => ({ ...format, keep }), audio.bytes, label, options);
}

/**
 * The channels of a file whose header says how many it holds and whose channels can be
 * decoded apart (WAV, Ogg Opus, WebM Opus), each on its own; null for any other file, which
 * is decoded mixed. Throws AudioFormatError or AudioInputError for a damaged file.
 */
export async function decodeFileChannels(file: Uint8Array, label: string, options: DecodeOptions = {}): Promise<Float32Array[] | null> {
  const count = await fileChannelCount(file, label);
  return count === null ? null : decodeEachChannel(count, (keep) => ({ encoding: null, keep }), file, label, options);
}

/** The whole of `bytes` once per channel, through a decoder that keeps that channel. */
async function decodeEachChannel(
  count: number,
  decoderFor: (keep: number) => AudioDecoderOptions,
  bytes: Uint8Array,
  label: string,
  options: DecodeOptions,
): Promise<Float32Array[]> {
  const channels: Float32Array[] = [];
  for (let keep = 0; keep < count; keep++) channels.push(await decodeStreamBytes(await createAudioDecoder(decoderFor(keep)), bytes, label, options));
  return channels;
}

async function fileChannelCount(file: Uint8Array, label: string): Promise<number | null> {
  switch (detectContainer(file)) {
    case 'wav':
      return readWavLayout(file, label).format.channels;
    case 'ogg': {
      if (oggCodec(file) !== 'opus') return null;
      const ogg = new OggOpusDecoder(await createLibopus());
      ogg.decode(file.subarray(0, OPUS_HEADER_PROBE_BYTES));
      return ogg.head?.channels ?? null;
    }
    case 'webm': {
      const webm = new WebmOpusDecoder(await createLibopus());
      webm.decode(file.subarray(0, OPUS_HEADER_PROBE_BYTES));
      return webm.head?.channels ?? null;
    }
    default:
      return null;
  }
}
