/**
 * Loads any audio file as the 16 kHz mono float signal Whisper consumes.
 *
 * The container is told by its first bytes (never the file name), and the common ones are
 * decoded in-process: WAV by our own reader; Opus in Ogg or WebM by the same demuxers and
 * libopus build the live path uses; MP3, FLAC (native or in Ogg) and Ogg Vorbis by the
 * wasm-audio-decoders builds of mpg123, libFLAC and libvorbis. Everything else (MP4/M4A with
 * AAC above all: its only WebAssembly decoders are GPL builds of FAAD2, which an MIT project
 * cannot ship) and WAV codecs we do not decode (ADPCM, ...) go to ffmpeg, which the set-up
 * installs.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { FLACDecoder } from '@wasm-audio-decoders/flac';
import { OggVorbisDecoder } from '@wasm-audio-decoders/ogg-vorbis';
import { MPEGDecoder } from 'mpg123-decoder';

import { AudioInputError } from '../stream/audio-input-error.js';
import { OggOpusDecoder } from '../stream/opus-input.js';
import { OPUS_GRANULE_RATE, createLibopus } from '../stream/opus-packets.js';
import { WebmOpusDecoder } from '../stream/webm-opus-input.js';
import { detectContainer, oggCodec } from './container.js';
import { resample } from './resample.js';
import { AudioFormatError, parseWav } from './wav.js';

export const WHISPER_SAMPLE_RATE = 16000;

export interface LoadedAudio {
  /** 16 kHz mono, values in about [-1, 1]. */
  samples: Float32Array;
  durationS: number;
  /** Sample rate of the file itself; 0 when ffmpeg decoded it and ffprobe could not tell. */
  sourceRate: number;
  /** Channel count of the file itself; 0 when ffmpeg decoded it and ffprobe could not tell. */
  channels: number;
  decoder: 'wav' | 'opus' | 'mp3' | 'flac' | 'vorbis' | 'ffmpeg';
}

/** What the error says when neither we nor ffmpeg can decode a file. */
const IN_PROCESS_FORMATS =
  'WAV (PCM, float, A-law, mu-law), Opus in Ogg or WebM, MP3, FLAC (native or in Ogg), Ogg Vorbis';

export async function loadAudioFile(path: string): Promise<LoadedAudio> {
  const bytes = await readAudioBytes(path);
  return decodeInProcessOr(bytes, path, () => decodeWithFfmpeg(path, path));
}

/**
 * The same for audio that arrives as bytes (an upload). ffmpeg reads it from a temporary file
 * rather than a pipe, because some containers (MP4/M4A with the index at the end) need to seek.
 * `label` names the audio in error messages.
 */
export async function decodeAudioBytes(bytes: Uint8Array, label: string): Promise<LoadedAudio> {
  return decodeInProcessOr(bytes, label, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chorus-audio-'));
    try {
      const path = join(dir, 'upload');
      await writeFile(path, bytes);
      return await decodeWithFfmpeg(path, label);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

async function decodeInProcessOr(
  bytes: Uint8Array,
  label: string,
  ffmpeg: () => Promise<LoadedAudio>,
): Promise<LoadedAudio> {
  switch (detectContainer(bytes)) {
    case 'wav':
      try {
        return fromSourceRate(parseWav(bytes, label), 'wav');
      } catch (error) {
        // A valid WAV container with a codec we lack is ffmpeg's job; a damaged file is not.
        if (!(error instanceof AudioFormatError) || error.code !== 'unsupported_format') throw error;
        return ffmpeg();
      }
    case 'webm':
      return decodeOpusContainer(bytes, label, 'webm', ffmpeg);
    case 'ogg':
      switch (oggCodec(bytes)) {
        case 'opus':
          return decodeOpusContainer(bytes, label, 'ogg', ffmpeg);
        case 'vorbis':
          return decodeWithWasm(label, 'vorbis', new OggVorbisDecoder(), (decoder) => decoder.decodeFile(bytes));
        case 'flac':
          return decodeWithWasm(label, 'flac', new FLACDecoder(), (decoder) => decoder.decodeFile(bytes));
        default:
          return ffmpeg();
      }
    case 'flac':
      return decodeWithWasm(label, 'flac', new FLACDecoder(), (decoder) => decoder.decodeFile(bytes));
    case 'mp3':
      return decodeWithWasm(label, 'mp3', new MPEGDecoder(), async (decoder) => decoder.decode(bytes));
    default:
      return ffmpeg();
  }
}

function fromSourceRate(
  decoded: { samples: Float32Array; sampleRate: number; channels: number },
  decoder: LoadedAudio['decoder'],
): LoadedAudio {
  return {
    samples: resample(decoded.samples, decoded.sampleRate, WHISPER_SAMPLE_RATE),
    durationS: decoded.samples.length / decoded.sampleRate,
    sourceRate: decoded.sampleRate,
    channels: decoded.channels,
    decoder,
  };
}

/**
 * Opus decodes straight to 16 kHz; the rate a file "has" is Opus's own 48 kHz. What the live
 * demuxers refuse as unsupported (Matroska with Vorbis or AAC, surround Opus) is ffmpeg's; a
 * damaged Opus stream is not.
 */
async function decodeOpusContainer(
  bytes: Uint8Array,
  label: string,
  container: 'ogg' | 'webm',
  ffmpeg: () => Promise<LoadedAudio>,
): Promise<LoadedAudio> {
  const libopus = await createLibopus();
  try {
    const demuxer = container === 'ogg' ? new OggOpusDecoder(libopus) : new WebmOpusDecoder(libopus);
    const samples = demuxer.decode(bytes);
    if (!demuxer.head) throw new AudioFormatError('truncated', `${label}: the file ends before its Opus header`);
    return {
      samples,
      durationS: samples.length / WHISPER_SAMPLE_RATE,
      sourceRate: OPUS_GRANULE_RATE,
      channels: demuxer.head.channels,
      decoder: 'opus',
    };
  } catch (error) {
    if (!(error instanceof AudioInputError)) throw error;
    if (error.code === 'unsupported_encoding') return ffmpeg();
    throw new AudioFormatError('corrupt', `${label}: ${error.message}`);
  } finally {
    libopus.free();
  }
}

interface WasmDecoded {
  channelData: Float32Array[];
  samplesDecoded: number;
  sampleRate: number;
  errors: { message: string }[];
}

interface WasmDecoder {
  ready: Promise<void>;
  free(): void;
}

/** The wasm-audio-decoders report damage as errors beside whatever they could decode. */
async function decodeWithWasm<D extends WasmDecoder>(
  label: string,
  format: 'mp3' | 'flac' | 'vorbis',
  decoder: D,
  decode: (decoder: D) => Promise<WasmDecoded>,
): Promise<LoadedAudio> {
  await decoder.ready;
  try {
    const decoded = await decode(decoder);
    if (decoded.errors.length > 0 || decoded.samplesDecoded === 0) {
      const why = decoded.errors[0]?.message ?? 'no audio frames found';
      throw new AudioFormatError('corrupt', `${label}: not a decodable ${format.toUpperCase()} file (${why})`);
    }
    const channels = decoded.channelData.length;
    const mono = new Float32Array(decoded.samplesDecoded);
    for (const channel of decoded.channelData) {
      for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / channels;
    }
    return fromSourceRate({ samples: mono, sampleRate: decoded.sampleRate, channels }, format);
  } finally {
    decoder.free();
  }
}

async function readAudioBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new AudioFormatError('not_found', `${path}: no such file`);
    if (code === 'EISDIR') throw new AudioFormatError('not_found', `${path}: is a directory, not an audio file`);
    throw error;
  }
}

interface ProcessResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Resolves with null when the executable is not installed. */
function runTool(command: string, args: string[]): Promise<ProcessResult | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') resolve(null);
      else reject(error);
    });
    child.on('close', (exitCode, signal) =>
      resolve({
        exitCode,
        signal,
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr).toString('utf8'),
      }),
    );
  });
}

/** ffmpeg's last few messages are the informative ones; keep error messages readable. */
function summariseStderr(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const summary = lines.slice(-3).join(' | ');
  return summary.length > 400 ? `${summary.slice(0, 400)}...` : summary;
}

async function decodeWithFfmpeg(path: string, label: string): Promise<LoadedAudio> {
  const [decoded, probed] = await Promise.all([
    runTool('ffmpeg', [
      '-nostdin', '-v', 'error', '-i', path,
      '-f', 'f32le', '-ac', '1', '-ar', String(WHISPER_SAMPLE_RATE), '-',
    ]),
    probeSourceFormat(path),
  ]);
  if (!decoded) {
    throw new AudioFormatError(
      'unsupported_format',
      `${label}: not a format decoded in-process (${IN_PROCESS_FORMATS}), and ffmpeg is not ` +
        'installed to decode it; run the set-up (`npm run setup`) or install ffmpeg (e.g. ' +
        '`apt-get install ffmpeg`), or convert the file to one of those',
    );
  }
  if (decoded.exitCode !== 0) {
    const how = decoded.signal ? `was killed by ${decoded.signal}` : `exited with code ${decoded.exitCode}`;
    const detail = summariseStderr(decoded.stderr) || 'no error output';
    throw new AudioFormatError('unsupported_format', `${label}: ffmpeg could not decode it (${how}): ${detail}`);
  }
  const samples = float32FromLittleEndian(decoded.stdout);
  return {
    samples,
    durationS: samples.length / WHISPER_SAMPLE_RATE,
    sourceRate: probed?.sampleRate ?? 0,
    channels: probed?.channels ?? 0,
    decoder: 'ffmpeg',
  };
}

/** Best effort: the audio is usable without this, it only feeds logs and metrics. */
async function probeSourceFormat(path: string): Promise<{ sampleRate: number; channels: number } | null> {
  const probe = await runTool('ffprobe', [
    '-v', 'error', '-select_streams', 'a:0',
    '-show_entries', 'stream=sample_rate,channels', '-of', 'json', path,
  ]).catch(() => null);
  if (!probe || probe.exitCode !== 0) return null;
  try {
    const stream = JSON.parse(probe.stdout.toString('utf8')).streams?.[0];
    const sampleRate = Number(stream?.sample_rate);
    const channels = Number(stream?.channels);
    return Number.isFinite(sampleRate) && Number.isFinite(channels) ? { sampleRate, channels } : null;
  } catch {
    return null;
  }
}

function float32FromLittleEndian(bytes: Buffer): Float32Array {
  const count = Math.floor(bytes.length / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, count * 4);
  const samples = new Float32Array(count);
  for (let i = 0; i < count; i++) samples[i] = view.getFloat32(i * 4, true);
  return samples;
}
