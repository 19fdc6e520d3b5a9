// multichannel=true for files: each channel of a WAV file or a raw body, decoded on its own.
import { decodeStreamBytes } from '../audio/load.js';
import { readWavLayout } from '../audio/wav.js';
import { createAudioDecoder } from '../stream/audio-decoder.js';

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
  const channels: Float32Array[] = [];
  for (let keep = 0; keep < audio.channels; keep++) {
    const decoder = await createAudioDecoder({ encoding: audio.encoding, sampleRate: audio.sampleRate, channels: audio.channels, keep });
    channels.push(await decodeStreamBytes(decoder, audio.bytes, label, options));
  }
  return channels;
}
