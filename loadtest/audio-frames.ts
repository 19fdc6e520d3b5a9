// Client-side audio: a 16 kHz clip turned into the binary frames a real client would send in
// a given encoding, each tagged with the stream time at which its audio ends (so a sender can
// pace frames in real time and a report can tell when each word's audio was sent).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { floatToAlaw, floatToMulaw } from '../src/audio/g711.js';
import { resample } from '../src/audio/resample.js';

export type ClientEncoding = 'linear16' | 'mulaw' | 'alaw' | 'opus';

export interface AudioFrame {
  bytes: Uint8Array;
  /** stream seconds at which this frame's audio starts and ends */
  startS: number;
  endS: number;
}

export interface AudioFrames {
  encoding: ClientEncoding;
  sampleRate: number;
  frames: AudioFrame[];
  durationS: number;
}

const OPUS_RATE = 48000;

export function framesFor(pcm16k: Float32Array, encoding: ClientEncoding, sampleRate: number, frameMs = 100): AudioFrames {
  if (encoding === 'opus') return opusFrames(pcm16k);
  return interleavedFramesFor([pcm16k], encoding, sampleRate, frameMs);
}

/**
 * Raw frames of several channels of equal length, interleaved sample by sample as a stereo
 * call is sent with `multichannel=true` (Opus is mixed by the gateway, so it has no such form).
 */
export function interleavedFramesFor(
  channels: readonly Float32Array[],
  encoding: Exclude<ClientEncoding, 'opus'>,
  sampleRate: number,
  frameMs = 100,
): AudioFrames {
  const pcm = interleave(channels.map((c) => resample(c, 16000, sampleRate)));
  const n = channels.length;
  const perFrame = Math.max(1, Math.round((sampleRate * frameMs) / 1000)) * n;
  const frames: AudioFrame[] = [];
  for (let i = 0; i < pcm.length; i += perFrame) {
    const chunk = pcm.subarray(i, Math.min(pcm.length, i + perFrame));
    frames.push({ bytes: encodeSamples(chunk, encoding), startS: i / n / sampleRate, endS: (i + chunk.length) / n / sampleRate });
  }
  return { encoding, sampleRate, frames, durationS: pcm.length / n / sampleRate };
}

function interleave(channels: readonly Float32Array[]): Float32Array {
  if (channels.length === 1) return channels[0];
  const length = channels[0].length;
  if (channels.some((c) => c.length !== length)) throw new Error('channels to interleave differ in length');
  const out = new Float32Array(length * channels.length);
  channels.forEach((c, ch) => c.forEach((s, i) => (out[i * channels.length + ch] = s)));
  return out;
}

/** A 16 kHz clip as one encoded byte string at `sampleRate` (a Twilio track: mu-law at 8 kHz). */
export function encodedSamples(pcm16k: Float32Array, encoding: Exclude<ClientEncoding, 'opus'>, sampleRate: number): Uint8Array {
  return encodeSamples(resample(pcm16k, 16000, sampleRate), encoding);
}

function encodeSamples(samples: Float32Array, encoding: Exclude<ClientEncoding, 'opus'>): Uint8Array {
  if (encoding === 'mulaw') return Uint8Array.from(samples, floatToMulaw);
  if (encoding === 'alaw') return Uint8Array.from(samples, floatToAlaw);
  const out = new Uint8Array(samples.length * 2);
  const view = new DataView(out.buffer);
  samples.forEach((s, i) => view.setInt16(2 * i, Math.round(Math.max(-1, Math.min(1, s)) * 32767), true));
  return out;
}

/** A mono 16-bit WAV file image. */
export function wavBytes(samples: Float32Array, sampleRate: number): Uint8Array {
  const data = encodeSamples(samples, 'linear16');
  const out = new Uint8Array(44 + data.length);
  const v = new DataView(out.buffer);
  const ascii = (at: number, s: string) => [...s].forEach((c, i) => v.setUint8(at + i, c.charCodeAt(0)));
  ascii(0, 'RIFF');
  v.setUint32(4, 36 + data.length, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * 2, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  ascii(36, 'data');
  v.setUint32(40, data.length, true);
  out.set(data, 44);
  return out;
}

export function opusEncoderAvailable(): boolean {
  return spawnSync('opusenc', ['--version'], { encoding: 'utf8' }).status === 0;
}

/**
 * Ogg/Opus at 48 kHz from Debian's opusenc, sent one Ogg page per frame as a browser's
 * MediaRecorder would; pages are kept short (100 ms) so pacing stays close to real time.
 */
function opusFrames(pcm16k: Float32Array): AudioFrames {
  if (!opusEncoderAvailable()) throw new Error('opusenc is not installed (apt-get install opus-tools)');
  const dir = mkdtempSync(join(tmpdir(), 'chorus-opus-'));
  try {
    const wav = join(dir, 'in.wav');
    const opus = join(dir, 'out.opus');
    writeFileSync(wav, wavBytes(resample(pcm16k, 16000, OPUS_RATE), OPUS_RATE));
    const run = spawnSync('opusenc', ['--quiet', '--max-delay', '100', wav, opus], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`opusenc failed: ${run.stderr}`);
    return { encoding: 'opus', sampleRate: OPUS_RATE, frames: oggPages(readFileSync(opus)), durationS: pcm16k.length / 16000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function oggPages(file: Uint8Array): AudioFrame[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const pages: AudioFrame[] = [];
  let at = 0;
  let previousEnd = 0;
  const preSkip = 312; // opusenc's default; the header pages carry no audio time anyway
  while (at + 27 <= file.length) {
    const segments = file[at + 26];
    let size = 27 + segments;
    for (let i = 0; i < segments; i++) size += file[at + 27 + i];
    const granule = Number(view.getBigInt64(at + 6, true));
    const endS = granule > 0 ? Math.max(0, (granule - preSkip) / OPUS_RATE) : previousEnd;
    pages.push({ bytes: file.subarray(at, at + size), startS: previousEnd, endS });
    previousEnd = endS;
    at += size;
  }
  return pages;
}
