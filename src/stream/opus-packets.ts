/**
 * Opus packets to 16 kHz mono samples, whatever carried them (Ogg pages, WebM blocks, or one
 * raw packet per message): libopus plus the stream header's timing and gain.
 *
 * libopus (the opus-decoder WASM build) decodes straight to 16 kHz, which the codec supports
 * natively, so no resampler is needed. To mix, the decoder is created with one channel: libopus
 * then downmixes stereo packets itself, and the result equals averaging a stereo decode. To keep
 * one channel (multichannel), it is created with two and the other channel is dropped.
 *
 * Ogg (RFC 7845) and WebM (Matroska's Opus mapping) both carry an OpusHead header; its
 * pre-skip (in 48 kHz samples) is dropped from the start and its output gain applied.
 * Surround streams (channel mapping families other than 0) are refused: configuring a
 * multistream decoder needs the header, the header arrives inside the synchronous `decode`,
 * and opus-decoder can only be instantiated asynchronously. Speech clients send mono or stereo.
 */
import { OpusDecoder } from 'opus-decoder';

import { MIX_CHANNELS, type ChannelPick } from '../audio/channel-pick.js';
import { AudioInputError } from './audio-input-error.js';
import { opusFramingProblem } from './opus-framing.js';

export const OPUS_OUTPUT_RATE = 16000;
/** Opus timestamps (pre-skip, granule positions) always count 48 kHz samples. */
export const OPUS_GRANULE_RATE = 48000;
/**
 * opus-decoder copies each packet into a fixed WASM buffer of this size (256 kb/s for 120 ms
 * per channel); a larger packet would throw a RangeError from inside the library.
 */
const MAX_PACKET_BYTES = 3840;

export interface OpusHead {
  channels: number;
  /** Samples at 48 kHz the encoder put before the audio. */
  preSkip: number;
  /** The sample rate of the audio before encoding; informational (0 when unknown). */
  inputRate: number;
  /** Linear factor from the header's Q7.8 dB output gain. */
  gain: number;
}

export type Libopus = OpusDecoder<typeof OPUS_OUTPUT_RATE>;

export async function createLibopus(keep: ChannelPick = MIX_CHANNELS): Promise<Libopus> {
  const libopus = new OpusDecoder({ sampleRate: OPUS_OUTPUT_RATE, channels: keep === MIX_CHANNELS ? 1 : 2 });
  await libopus.ready;
  return libopus;
}

/** A stream header's channels must include the one a multichannel decoder keeps. */
export function checkKeptChannel(head: OpusHead, keep: ChannelPick, carrier: string): void {
  if (keep !== MIX_CHANNELS && keep >= head.channels) {
    throw new AudioInputError('bad_channels', `${carrier} has ${head.channels} channel${head.channels === 1 ? '' : 's'}, so it has no channel ${keep}`);
  }
}

/**
 * `carrier` names where the header came from (an Ogg stream, a WebM track) and `place` where
 * in it (its first packet, its CodecPrivate), for error messages.
 */
export function parseOpusHead(head: Uint8Array, carrier: string, place: string): OpusHead {
  if (head.length < 19 || asciiAt(head, 0, 8) !== 'OpusHead') {
    throw new AudioInputError('malformed_audio', `${carrier} is not Opus: ${place} is not an OpusHead header`);
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const version = head[8];
  // RFC 7845: the major version lives in the high nibble; minor versions stay compatible.
  if (version >> 4 !== 0) {
    throw new AudioInputError('unsupported_encoding', `OpusHead version ${version} is not supported (expected 0.x)`);
  }
  const channels = head[9];
  const mappingFamily = head[18];
  if (mappingFamily !== 0) {
    throw new AudioInputError(
      'unsupported_encoding',
      `${carrier}: Opus channel mapping family ${mappingFamily} (${channels} channels) is not supported; send mono or stereo`,
    );
  }
  if (channels < 1 || channels > 2) {
    throw new AudioInputError('bad_channels', `OpusHead declares ${channels} channels; mapping family 0 allows 1 or 2`);
  }
  return {
    channels,
    preSkip: view.getUint16(10, true),
    inputRate: view.getUint32(12, true),
    // RFC 7845 says players must apply it.
    gain: 10 ** (view.getInt16(16, true) / 256 / 20),
  };
}

export class OpusPackets {
  private gain = 1;
  /** Output samples still to drop at the start (the encoder's pre-skip, at 16 kHz). */
  private samplesToSkip = 0;
  /** Every sample libopus has produced, skipped ones included, to compare with end positions. */
  private samplesDecoded = 0;

  /** `libopus` from createLibopus with the same `keep`. */
  constructor(
    private readonly libopus: Libopus,
    private readonly keep: ChannelPick = MIX_CHANNELS,
  ) {}

  applyHead(head: OpusHead): void {
    this.samplesToSkip = Math.round((head.preSkip * OPUS_OUTPUT_RATE) / OPUS_GRANULE_RATE);
    this.gain = head.gain;
  }

  decode(packet: Uint8Array): Float32Array {
    if (packet.length > MAX_PACKET_BYTES) {
      throw new AudioInputError(
        'malformed_audio',
        `Opus packet of ${packet.length} bytes exceeds the ${MAX_PACKET_BYTES}-byte maximum ` +
          '(raw Opus must be one packet per message; use Ogg to send several)',
      );
    }
    // Checked here, since the library writes every packet libopus refuses to stderr.
    const problem = opusFramingProblem(packet);
    if (problem !== null) throw new AudioInputError('malformed_audio', `not an Opus packet: ${problem}`);
    const decoded = this.libopus.decodeFrame(packet);
    if (decoded.errors.length > 0) {
      throw new AudioInputError('malformed_audio', `Opus packet could not be decoded: ${decoded.errors[0].message}`);
    }
    this.samplesDecoded += decoded.samplesDecoded;
    let samples = decoded.channelData[this.keep === MIX_CHANNELS ? 0 : this.keep] ?? new Float32Array(0);
    if (this.samplesToSkip > 0) {
      const skipped = Math.min(this.samplesToSkip, samples.length);
      samples = samples.subarray(skipped);
      this.samplesToSkip -= skipped;
    }
    if (this.gain !== 1) for (let i = 0; i < samples.length; i++) samples[i] *= this.gain;
    return samples;
  }

  /**
   * Cuts `audio`, the latest packet's output, so that the stream holds `validTotal` samples
   * (at 48 kHz, counted from the start, pre-skip included) and no more: Ogg's end-of-stream
   * granule and WebM's DiscardPadding mark what lies beyond as encoder padding.
   */
  trimToTotal(audio: Float32Array, validTotal: number): Float32Array {
    const valid = Math.round((validTotal * OPUS_OUTPUT_RATE) / OPUS_GRANULE_RATE);
    const excess = Math.min(audio.length, Math.max(0, this.samplesDecoded - valid));
    return audio.subarray(0, audio.length - excess);
  }

  /** Total produced so far, pre-skip included, at 48 kHz. */
  get totalAt48k(): number {
    return (this.samplesDecoded * OPUS_GRANULE_RATE) / OPUS_OUTPUT_RATE;
  }
}

function asciiAt(bytes: Uint8Array, offset: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}
