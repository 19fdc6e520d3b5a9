/**
 * Opus input, either as an Ogg/Opus stream (RFC 7845) or as raw packets, one per message.
 *
 * Browsers' MediaRecorder sends Ogg (or WebM, which we do not take) while WebRTC-style and
 * embedded clients send bare packets, so the first bytes decide: the "OggS" capture pattern
 * means Ogg, anything else is a raw packet. A first message shorter than the pattern that could
 * still begin it is held until the decision is possible.
 *
 * libopus (the opus-decoder WASM build) decodes straight to 16 kHz, which the codec supports
 * natively, so no resampler is needed. The decoder is created with one channel: libopus then
 * downmixes stereo packets itself, and the result equals averaging a stereo decode.
 *
 * Ogg timing follows RFC 7845 §4: OpusHead's pre-skip (in 48 kHz samples) is dropped from
 * the start and the end-of-stream page's granule position trims the padding from the end.
 * Surround streams (channel mapping families other than 0) are refused: configuring a
 * multistream decoder needs the header, the header arrives inside the synchronous `decode`,
 * and opus-decoder can only be instantiated asynchronously. Speech clients send mono or stereo.
 */
import { OpusDecoder } from 'opus-decoder';

import type { AudioDecoder } from './audio-decoder.js';
import { AudioInputError } from './audio-input-error.js';
import { OggPacketReader, startsWithOggCapturePattern } from './ogg-packets.js';

const OUTPUT_RATE = 16000;
/** Opus timestamps (pre-skip, granule positions) always count 48 kHz samples. */
const GRANULE_RATE = 48000;
/**
 * opus-decoder copies each packet into a fixed WASM buffer of this size (256 kb/s for 120 ms
 * per channel); a larger packet would throw a RangeError from inside the library.
 */
const MAX_PACKET_BYTES = 3840;
const OGG_CAPTURE_PATTERN = 'OggS';

type Framing = 'undecided' | 'ogg' | 'raw';
type OggHeaderState = 'expect_head' | 'expect_tags' | 'audio';

export async function createOpusStreamDecoder(): Promise<AudioDecoder> {
  const libopus = new OpusDecoder({ sampleRate: OUTPUT_RATE, channels: 1 });
  await libopus.ready;
  return new OpusStream(libopus);
}

class OpusStream implements AudioDecoder {
  private framing: Framing = 'undecided';
  private heldMessages: Uint8Array[] = [];
  private readonly ogg = new OggPacketReader();
  private oggHeader: OggHeaderState = 'expect_head';
  private gain = 1;
  /** Output samples still to drop at the start (the encoder's pre-skip, at 16 kHz). */
  private samplesToSkip = 0;
  /** Every sample libopus has produced, skipped ones included, to compare with granules. */
  private samplesDecoded = 0;

  constructor(private readonly libopus: OpusDecoder<16000>) {}

  decode(message: Uint8Array): Float32Array {
    // An empty message has no packet in it, and libopus would read it as a lost packet and
    // synthesise 120 ms of concealment audio.
    if (message.length === 0) return new Float32Array(0);
    if (this.framing === 'undecided') return this.decideFraming(message);
    return this.framing === 'ogg' ? this.decodeOggBytes(message) : this.decodePacket(message);
  }

  /**
   * Releases a held first message; Ogg state is kept because flush marks an utterance end
   * (Finalize), not the end of the byte stream. An Ogg page cut short by the client closing
   * is dropped, as Ogg readers do with a truncated file.
   */
  flush(): Float32Array {
    if (this.framing !== 'undecided' || this.heldMessages.length === 0) return new Float32Array(0);
    this.framing = 'raw';
    return this.decodeHeldAsRaw();
  }

  private decideFraming(message: Uint8Array): Float32Array {
    // Copied (slice() would be a view on a Node Buffer) since the caller may reuse it.
    this.heldMessages.push(new Uint8Array(message));
    const held = joinBytes(this.heldMessages);
    if (held.length < OGG_CAPTURE_PATTERN.length && isPrefixOfCapturePattern(held)) return new Float32Array(0);
    if (startsWithOggCapturePattern(held)) {
      this.framing = 'ogg';
      this.heldMessages = [];
      return this.decodeOggBytes(held);
    }
    this.framing = 'raw';
    return this.decodeHeldAsRaw();
  }

  private decodeHeldAsRaw(): Float32Array {
    const outputs = this.heldMessages.map((packet) => this.decodePacket(packet));
    this.heldMessages = [];
    return joinSamples(outputs);
  }

  private decodeOggBytes(bytes: Uint8Array): Float32Array {
    const outputs: Float32Array[] = [];
    for (const packet of this.ogg.push(bytes)) {
      if (this.oggHeader === 'expect_head') {
        this.readOpusHead(packet.data);
        this.oggHeader = 'expect_tags';
      } else if (this.oggHeader === 'expect_tags') {
        if (asciiAt(packet.data, 0, 8) !== 'OpusTags') {
          throw new AudioInputError('malformed_audio', 'Ogg Opus stream: second packet is not an OpusTags header');
        }
        this.oggHeader = 'audio';
      } else {
        let audio = this.decodePacket(packet.data);
        if (packet.endOfStream && packet.granulePosition !== null) {
          audio = this.trimToGranule(audio, packet.granulePosition);
        }
        outputs.push(audio);
      }
    }
    return joinSamples(outputs);
  }

  private readOpusHead(head: Uint8Array): void {
    if (head.length < 19 || asciiAt(head, 0, 8) !== 'OpusHead') {
      throw new AudioInputError(
        'malformed_audio',
        'Ogg stream is not Opus: its first packet is not an OpusHead header',
      );
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
        `Ogg Opus channel mapping family ${mappingFamily} (${channels} channels) is not supported; send mono or stereo`,
      );
    }
    if (channels < 1 || channels > 2) {
      throw new AudioInputError(
        'bad_channels',
        `OpusHead declares ${channels} channels; mapping family 0 allows 1 or 2`,
      );
    }
    this.samplesToSkip = Math.round((view.getUint16(10, true) * OUTPUT_RATE) / GRANULE_RATE);
    // Output gain is Q7.8 dB, and RFC 7845 says players must apply it.
    this.gain = 10 ** (view.getInt16(16, true) / 256 / 20);
  }

  private decodePacket(packet: Uint8Array): Float32Array {
    if (packet.length > MAX_PACKET_BYTES) {
      throw new AudioInputError(
        'malformed_audio',
        `Opus packet of ${packet.length} bytes exceeds the ${MAX_PACKET_BYTES}-byte maximum ` +
          '(raw Opus must be one packet per message; use Ogg to send several)',
      );
    }
    const decoded = this.libopus.decodeFrame(packet);
    if (decoded.errors.length > 0) {
      throw new AudioInputError('malformed_audio', `Opus packet could not be decoded: ${decoded.errors[0].message}`);
    }
    this.samplesDecoded += decoded.samplesDecoded;
    let samples = decoded.channelData[0] ?? new Float32Array(0);
    if (this.samplesToSkip > 0) {
      const skipped = Math.min(this.samplesToSkip, samples.length);
      samples = samples.subarray(skipped);
      this.samplesToSkip -= skipped;
    }
    if (this.gain !== 1) for (let i = 0; i < samples.length; i++) samples[i] *= this.gain;
    return samples;
  }

  /** The end-of-stream granule counts the real samples; beyond it is encoder padding. */
  private trimToGranule(audio: Float32Array, granule: bigint): Float32Array {
    const validTotal = Math.round((Number(granule) * OUTPUT_RATE) / GRANULE_RATE);
    const excess = Math.min(audio.length, Math.max(0, this.samplesDecoded - validTotal));
    return audio.subarray(0, audio.length - excess);
  }
}

function isPrefixOfCapturePattern(bytes: Uint8Array): boolean {
  return Array.from(bytes).every((byte, i) => byte === OGG_CAPTURE_PATTERN.charCodeAt(i));
}

function asciiAt(bytes: Uint8Array, offset: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}

function joinBytes(parts: Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

function joinSamples(parts: Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0];
  const joined = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
