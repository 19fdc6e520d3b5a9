/**
 * Tells audio containers apart by their first bytes, never by a file name or a declared MIME
 * type: uploads arrive named `blob` or `audio.bin`, and browsers label WebM as `audio/ogg` and
 * the reverse. Files and live streams share this table, so both read the same bytes alike.
 */

export type Container = 'wav' | 'ogg' | 'webm' | 'flac' | 'mp3' | 'mp4';

/** Enough for every signature below (RIFF....WAVE and ....ftyp are the longest). */
export const CONTAINER_SIGNATURE_BYTES = 12;

const EBML_MAGIC = [0x1a, 0x45, 0xdf, 0xa3];

/** Human names for error messages. */
export const CONTAINER_NAMES: Readonly<Record<Container, string>> = {
  wav: 'WAV',
  ogg: 'Ogg',
  webm: 'WebM/Matroska',
  flac: 'FLAC',
  mp3: 'MP3',
  mp4: 'MP4/M4A',
};

/** null: none of the containers above, or too few bytes to tell (see CONTAINER_SIGNATURE_BYTES). */
export function detectContainer(bytes: Uint8Array): Container | null {
  const ascii = (offset: number, length: number) => String.fromCharCode(...bytes.subarray(offset, offset + length));
  if (EBML_MAGIC.every((byte, i) => bytes[i] === byte)) return 'webm';
  if (ascii(0, 4) === 'OggS') return 'ogg';
  if (ascii(0, 4) === 'fLaC') return 'flac';
  if ((ascii(0, 4) === 'RIFF' || ascii(0, 4) === 'RF64') && ascii(8, 4) === 'WAVE') return 'wav';
  if (ascii(4, 4) === 'ftyp') return 'mp4';
  if (ascii(0, 3) === 'ID3' || isMpegAudioFrameHeader(bytes)) return 'mp3';
  return null;
}

/**
 * An MPEG audio frame starts with 11 set sync bits, then a version (01 is reserved) and a
 * layer (00 is reserved, and is what AAC's ADTS header uses, which this must not claim).
 */
function isMpegAudioFrameHeader(bytes: Uint8Array): boolean {
  if (bytes.length < 4 || bytes[0] !== 0xff || (bytes[1] & 0xe0) !== 0xe0) return false;
  const version = (bytes[1] >> 3) & 0b11;
  const layer = (bytes[1] >> 1) & 0b11;
  const bitrateIndex = bytes[2] >> 4;
  const rateIndex = (bytes[2] >> 2) & 0b11;
  return version !== 0b01 && layer !== 0b00 && bitrateIndex !== 0b1111 && rateIndex !== 0b11;
}

/**
 * The codec of an Ogg stream, from the first packet on its first page (each codec's
 * identification header starts with its own magic); null when it is none Chorus decodes.
 */
export function oggCodec(bytes: Uint8Array): 'opus' | 'vorbis' | 'flac' | null {
  const segments = bytes[26];
  if (segments === undefined) return null;
  const packet = bytes.subarray(27 + segments, 27 + segments + 8);
  const ascii = String.fromCharCode(...packet);
  if (ascii === 'OpusHead') return 'opus';
  if (ascii.slice(1, 7) === 'vorbis' && packet[0] === 0x01) return 'vorbis';
  if (ascii.slice(1, 5) === 'FLAC' && packet[0] === 0x7f) return 'flac';
  return null;
}
