/**
 * WAV decoding to mono float samples.
 *
 * The gateway accepts uploads from arbitrary tools, so the parser is lenient where writers
 * commonly deviate from the spec (wrong RIFF size, streamed files with a placeholder data size,
 * missing pad bytes at the very end) and strict where guessing would produce garbage audio
 * (a data chunk that claims more bytes than the file holds, unknown codecs).
 */

import { MIX_CHANNELS, type ChannelPick } from './channel-pick.js';
import { ALAW_TO_FLOAT, MULAW_TO_FLOAT } from './g711.js';
import { SAMPLE_RATE_RANGE } from './resample.js';

export type AudioErrorCode =
  | 'not_wav'
  | 'unsupported_format'
  | 'truncated'
  | 'corrupt'
  | 'not_found'
  /** outside SAMPLE_RATE_RANGE: refused before any work, and never handed to ffmpeg */
  | 'bad_sample_rate'
  /** longer than the caller's limit, declared or decoded */
  | 'too_long';

export class AudioFormatError extends Error {
  override readonly name = 'AudioFormatError';

  constructor(
    readonly code: AudioErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface DecodedAudio {
  sampleRate: number;
  channels: number;
  /** Mono (channels averaged), each value in [-1, 1]. */
  samples: Float32Array;
  durationS: number;
}

type SampleEncoding = 'pcm' | 'float' | 'mulaw' | 'alaw';

export interface WavFormat {
  encoding: SampleEncoding;
  channels: number;
  sampleRate: number;
  /** Bytes one sample of one channel occupies in the data chunk (blockAlign / channels). */
  containerBytes: number;
}

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_ALAW = 0x0006;
const WAVE_FORMAT_MULAW = 0x0007;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Codecs people actually meet in .wav files, so the error can say what the file is. */
const KNOWN_UNSUPPORTED_TAGS: Record<number, string> = {
  0x0002: 'Microsoft ADPCM',
  0x0011: 'IMA ADPCM',
  0x0031: 'GSM 6.10',
  0x0050: 'MPEG',
  0x0055: 'MPEG Layer 3',
};

/** Bytes 4..15 shared by every KSDATAFORMAT_SUBTYPE_* GUID that wraps a classic format tag. */
const EXTENSIBLE_GUID_TAIL = [0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

/** Streaming writers (ffmpeg to a pipe, sox -t wav -) cannot seek back to patch the size. */
const STREAMED_SIZE_PLACEHOLDERS = new Set([0, 0xffffffff]);

const DEFAULT_NAME = '<in-memory WAV>';

function fourCC(view: DataView, offset: number): string {
  return String.fromCharCode(
    view.getUint8(offset),
    view.getUint8(offset + 1),
    view.getUint8(offset + 2),
    view.getUint8(offset + 3),
  );
}

/** True when the bytes start like a RIFF/RF64 WAVE file, whether or not the rest is valid. */
export function looksLikeWav(buf: Uint8Array): boolean {
  if (buf.length < 12) return false;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const container = fourCC(view, 0);
  return (container === 'RIFF' || container === 'RF64') && fourCC(view, 8) === 'WAVE';
}

/** Where a WAV file's samples are and how they are stored, read without decoding them. */
export interface WavLayout {
  format: WavFormat;
  dataOffset: number;
  /** Whole frames (one sample of every channel) in the data chunk. */
  frames: number;
}

export function parseWav(buf: Uint8Array, name: string = DEFAULT_NAME): DecodedAudio {
  const { format, dataOffset, frames } = readWavLayout(buf, name);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    sampleRate: format.sampleRate,
    channels: format.channels,
    samples: decodeToMono(view, dataOffset, frames, format),
    durationS: frames / format.sampleRate,
  };
}

/**
 * The header of a whole WAV file, checked as parseWav checks it; the samples can then be
 * decoded piece by piece with decodeToMono, and the declared duration refused before any is.
 */
export function readWavLayout(buf: Uint8Array, name: string = DEFAULT_NAME): WavLayout {
  const fail = (code: AudioErrorCode, problem: string): never => {
    throw new AudioFormatError(code, `${name}: ${problem}`);
  };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);

  if (buf.length < 12) {
    const startsLikeRiff = buf.length >= 4 && ['RIFF', 'RF64'].includes(fourCC(view, 0));
    return startsLikeRiff
      ? fail('truncated', `file ends after ${buf.length} bytes, inside the RIFF header`)
      : fail('not_wav', `not a WAV file (only ${buf.length} bytes)`);
  }
  const container = fourCC(view, 0);
  if (container === 'RIFX') fail('unsupported_format', 'big-endian RIFX WAV is not supported');
  if (container !== 'RIFF' && container !== 'RF64') {
    fail('not_wav', `not a WAV file (starts with ${JSON.stringify(container)}, expected "RIFF")`);
  }
  const formType = fourCC(view, 8);
  if (formType !== 'WAVE') fail('not_wav', `not a WAV file (RIFF form type ${JSON.stringify(formType)}, expected "WAVE")`);

  let format: WavFormat | undefined;
  let dataOffset = -1;
  let dataLength = 0;
  let rf64DataSize: number | undefined;

  let offset = 12;
  while (offset + 8 <= buf.length) {
    const id = fourCC(view, offset);
    const declaredSize = view.getUint32(offset + 4, true);
    const bodyOffset = offset + 8;
    const available = buf.length - bodyOffset;
    let bodySize = declaredSize;

    if (id === 'data') {
      let size = declaredSize;
      if (declaredSize === 0xffffffff && rf64DataSize !== undefined) size = rf64DataSize;
      else if (STREAMED_SIZE_PLACEHOLDERS.has(declaredSize)) size = available;
      if (size > available) {
        fail(
          'truncated',
          `data chunk declares ${size} bytes but the file ends after ${available} ` +
            `(${((available / size) * 100).toFixed(1)}% present); the file was cut short`,
        );
      }
      dataOffset = bodyOffset;
      dataLength = size;
      bodySize = size;
      // fmt normally precedes data; only keep scanning in the rare files where it does not.
      if (format) break;
    } else {
      if (declaredSize > available) {
        // Trailing metadata that was cut off does not matter once we have what we need.
        if (format && dataOffset >= 0) break;
        fail('truncated', `'${id}' chunk declares ${declaredSize} bytes but only ${available} remain`);
      }
      if (id === 'fmt ') format = parseFmtChunk(view, bodyOffset, declaredSize, fail);
      else if (id === 'ds64') rf64DataSize = parseDs64Chunk(view, bodyOffset, declaredSize, fail);
    }
    // Chunks are word-aligned: an odd-sized body is followed by one pad byte.
    offset = bodyOffset + bodySize + (bodySize & 1);
  }

  if (!format) {
    return dataOffset >= 0
      ? fail('corrupt', "no 'fmt ' chunk, so the sample format is unknown")
      : fail('truncated', "file ends before any 'fmt ' or 'data' chunk");
  }
  if (dataOffset < 0) fail('corrupt', `no 'data' chunk in ${buf.length} bytes`);

  const { min, max } = SAMPLE_RATE_RANGE;
  if (format.sampleRate < min || format.sampleRate > max) {
    fail('bad_sample_rate', `fmt declares ${format.sampleRate} Hz; supported sample rates are ${min}–${max} Hz`);
  }
  const blockAlign = format.containerBytes * format.channels;
  // A partial last frame happens when a recorder is killed mid-write; the whole frames are fine.
  return { format, dataOffset, frames: Math.floor(dataLength / blockAlign) };
}

export interface WavHeader {
  format: WavFormat;
  /** Where the samples begin. */
  dataOffset: number;
  /** Bytes of samples the header declares; null for a streaming writer's placeholder. */
  dataLength: number | null;
}

/**
 * The header of a WAV arriving piece by piece (a live stream): null until every chunk before
 * the samples is complete. Unlike parseWav it cannot look past the data chunk, so 'fmt ' must
 * come first, as every writer puts it.
 */
export function readWavHeader(buf: Uint8Array, name: string): WavHeader | null {
  const fail = (code: AudioErrorCode, problem: string): never => {
    throw new AudioFormatError(code, `${name}: ${problem}`);
  };
  if (buf.length < 12) return null;
  if (!looksLikeWav(buf)) fail('not_wav', 'not a WAV stream (expected "RIFF....WAVE")');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let format: WavFormat | undefined;
  let rf64DataSize: number | undefined;
  for (let offset = 12; offset + 8 <= buf.length; ) {
    const id = fourCC(view, offset);
    const declaredSize = view.getUint32(offset + 4, true);
    const bodyOffset = offset + 8;
    if (id === 'data') {
      if (!format) return fail('corrupt', "the 'data' chunk comes before the 'fmt ' chunk");
      const dataLength =
        declaredSize === 0xffffffff && rf64DataSize !== undefined
          ? rf64DataSize
          : STREAMED_SIZE_PLACEHOLDERS.has(declaredSize)
            ? null
            : declaredSize;
      return { format, dataOffset: bodyOffset, dataLength };
    }
    if (bodyOffset + declaredSize > buf.length) return null;
    if (id === 'fmt ') format = parseFmtChunk(view, bodyOffset, declaredSize, fail);
    else if (id === 'ds64') rf64DataSize = parseDs64Chunk(view, bodyOffset, declaredSize, fail);
    offset = bodyOffset + declaredSize + (declaredSize & 1);
  }
  return null;
}

function parseFmtChunk(
  view: DataView,
  offset: number,
  size: number,
  fail: (code: AudioErrorCode, problem: string) => never,
): WavFormat {
  if (size < 16) fail('corrupt', `'fmt ' chunk is ${size} bytes, at least 16 are required`);
  let tag = view.getUint16(offset, true);
  const channels = view.getUint16(offset + 2, true);
  const sampleRate = view.getUint32(offset + 4, true);
  let blockAlign = view.getUint16(offset + 12, true);
  const bitsPerSample = view.getUint16(offset + 14, true);

  if (channels === 0) fail('corrupt', 'fmt declares 0 channels');
  if (sampleRate === 0) fail('corrupt', 'fmt declares a sample rate of 0 Hz');

  if (tag === WAVE_FORMAT_EXTENSIBLE) {
    if (size < 40) fail('corrupt', `WAVE_FORMAT_EXTENSIBLE fmt chunk is ${size} bytes, expected 40`);
    const guidOffset = offset + 24;
    const isStandardGuid = EXTENSIBLE_GUID_TAIL.every((byte, i) => view.getUint8(guidOffset + 4 + i) === byte);
    const subTag = view.getUint32(guidOffset, true);
    if (!isStandardGuid || subTag > 0xffff) {
      fail('unsupported_format', 'WAVE_FORMAT_EXTENSIBLE with a non-standard sub-format GUID');
    }
    tag = subTag;
  }

  const encoding = encodingForTag(tag);
  if (!encoding) {
    const known = KNOWN_UNSUPPORTED_TAGS[tag];
    return fail(
      'unsupported_format',
      `WAV codec ${known ?? 'with format tag'} 0x${tag.toString(16).padStart(4, '0')} is not supported ` +
        '(supported: PCM, IEEE float, A-law, mu-law)',
    );
  }

  // Only here: compressed codecs (MP3 in WAV) declare 0 and are ffmpeg's to decode.
  if (bitsPerSample === 0) fail('corrupt', `fmt declares 0 bits per sample for ${encoding} samples`);
  const bytesFromBits = Math.ceil(bitsPerSample / 8);
  if (blockAlign === 0) blockAlign = bytesFromBits * channels;
  if (blockAlign % channels !== 0) {
    fail('corrupt', `block align ${blockAlign} is not a multiple of the channel count ${channels}`);
  }
  const containerBytes = blockAlign / channels;
  if (bitsPerSample > containerBytes * 8) {
    fail('corrupt', `${bitsPerSample} bits per sample do not fit in a ${containerBytes}-byte sample`);
  }

  const allowedWidths: Record<SampleEncoding, number[]> = {
    pcm: [1, 2, 3, 4],
    float: [4, 8],
    mulaw: [1],
    alaw: [1],
  };
  if (!allowedWidths[encoding].includes(containerBytes)) {
    fail('unsupported_format', `${containerBytes * 8}-bit ${encoding} samples are not supported`);
  }
  return { encoding, channels, sampleRate, containerBytes };
}

function encodingForTag(tag: number): SampleEncoding | undefined {
  switch (tag) {
    case WAVE_FORMAT_PCM:
      return 'pcm';
    case WAVE_FORMAT_IEEE_FLOAT:
      return 'float';
    case WAVE_FORMAT_MULAW:
      return 'mulaw';
    case WAVE_FORMAT_ALAW:
      return 'alaw';
    default:
      return undefined;
  }
}

function parseDs64Chunk(
  view: DataView,
  offset: number,
  size: number,
  fail: (code: AudioErrorCode, problem: string) => never,
): number {
  if (size < 16) fail('corrupt', `'ds64' chunk is ${size} bytes, at least 16 are required`);
  // Layout: RIFF size (u64), data size (u64), sample count (u64), table...
  const dataSize = view.getBigUint64(offset + 8, true);
  if (dataSize > BigInt(Number.MAX_SAFE_INTEGER)) fail('corrupt', "'ds64' data size is implausibly large");
  return Number(dataSize);
}

export function decodeToMono(view: DataView, offset: number, frames: number, format: WavFormat, keep: ChannelPick = MIX_CHANNELS): Float32Array {
  const { channels, containerBytes } = format;
  const readSample = sampleReader(format);
  const mono = new Float32Array(frames);
  if (keep !== MIX_CHANNELS) {
    const frameBytes = containerBytes * channels;
    for (let frame = 0; frame < frames; frame++) mono[frame] = readSample(view, offset + frame * frameBytes + keep * containerBytes);
    return mono;
  }
  let position = offset;
  for (let frame = 0; frame < frames; frame++) {
    let sum = 0;
    for (let channel = 0; channel < channels; channel++) {
      sum += readSample(view, position);
      position += containerBytes;
    }
    mono[frame] = sum / channels;
  }
  return mono;
}

function sampleReader(format: WavFormat): (view: DataView, position: number) => number {
  switch (format.encoding) {
    case 'mulaw':
      return (view, position) => MULAW_TO_FLOAT[view.getUint8(position)];
    case 'alaw':
      return (view, position) => ALAW_TO_FLOAT[view.getUint8(position)];
    case 'float':
      // Float WAVs may legitimately exceed full scale; the model expects [-1, 1].
      return format.containerBytes === 4
        ? (view, position) => clampUnit(view.getFloat32(position, true))
        : (view, position) => clampUnit(view.getFloat64(position, true));
    case 'pcm':
      switch (format.containerBytes) {
        case 1:
          return (view, position) => (view.getUint8(position) - 128) / 128;
        case 2:
          return (view, position) => view.getInt16(position, true) / 32768;
        case 3:
          return (view, position) =>
            (view.getUint8(position) | (view.getUint8(position + 1) << 8) | (view.getInt8(position + 2) << 16)) /
            8388608;
        default:
          return (view, position) => view.getInt32(position, true) / 2147483648;
      }
  }
}

function clampUnit(value: number): number {
  if (value > 1) return 1;
  if (value < -1) return -1;
  // NaN compares false above; silence is the only sensible substitute.
  return value === value ? value : 0;
}
