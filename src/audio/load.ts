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
 *
 * Uploads are decoded on the gateway's event loop, which also serves probes and live streams,
 * so the work is done in slices that give the loop a turn every SLICE_MS (a 20 MiB WAV took
 * 9 s in one piece), and a caller's duration limit stops it as soon as the audio is known to
 * be longer, from a header's declared length where there is one, else from what was decoded.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';

import { FLACDecoder } from '@wasm-audio-decoders/flac';
import { OggVorbisDecoder } from '@wasm-audio-decoders/ogg-vorbis';
import { MPEGDecoder } from 'mpg123-decoder';

import { AudioInputError } from '../stream/audio-input-error.js';
import { OggOpusDecoder } from '../stream/opus-input.js';
import { OPUS_GRANULE_RATE, createLibopus } from '../stream/opus-packets.js';
import { WebmOpusDecoder } from '../stream/webm-opus-input.js';
import { detectContainer, oggCodec } from './container.js';
import { Resampler, SAMPLE_RATE_RANGE } from './resample.js';
import { AudioFormatError, decodeToMono, readWavLayout } from './wav.js';

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

export interface DecodeOptions {
  /** Audio longer than this is refused with code 'too_long'; default: no limit. */
  maxDurationS?: number;
}

/** Longest stretch of decoding between two turns of the event loop. */
const SLICE_MS = 10;
/** Bytes of compressed audio handed to a decoder at once: tens of milliseconds of work at most. */
const COMPRESSED_SLICE_BYTES = 16 * 1024;
/** Input samples resampled at once: 25 ms at 192 kHz, about a millisecond of work. */
const RESAMPLE_SLICE_SAMPLES = 4800;

/** What the error says when neither we nor ffmpeg can decode a file. */
const IN_PROCESS_FORMATS =
  'WAV (PCM, float, A-law, mu-law), Opus in Ogg or WebM, MP3, FLAC (native or in Ogg), Ogg Vorbis';

export async function loadAudioFile(path: string, options: DecodeOptions = {}): Promise<LoadedAudio> {
  const bytes = await readAudioBytes(path);
  const budget = new DecodeBudget(path, options);
  return decodeInProcessOr(bytes, budget, () => decodeWithFfmpeg(path, budget));
}

/** The caller's limits for one file, and the clock that decides when to give the event loop a turn. */
class DecodeBudget {
  readonly maxDurationS: number;
  private sliceStarted = performance.now();

  constructor(
    readonly label: string,
    options: DecodeOptions,
  ) {
    this.maxDurationS = options.maxDurationS ?? Infinity;
  }

  /** Throws once the audio (declared or decoded so far) is over the limit. */
  checkDuration(seconds: number, what: 'declares' | 'holds more than'): void {
    if (seconds <= this.maxDurationS) return;
    const shown = what === 'declares' ? `${formatSeconds(seconds)} of audio` : formatSeconds(this.maxDurationS);
    throw new AudioFormatError('too_long', `${this.label}: ${what} ${shown}; the limit is ${formatSeconds(this.maxDurationS)}`);
  }

  checkRate(rate: number): void {
    const { min, max } = SAMPLE_RATE_RANGE;
    if (rate < min || rate > max) {
      throw new AudioFormatError('bad_sample_rate', `${this.label}: ${rate} Hz audio; supported sample rates are ${min}–${max} Hz`);
    }
  }

  async turn(): Promise<void> {
    if (performance.now() - this.sliceStarted < SLICE_MS) return;
    await nextTurn();
    this.sliceStarted = performance.now();
  }
}

function formatSeconds(seconds: number): string {
  return seconds >= 60 ? `${(seconds / 60).toFixed(1)} min` : `${seconds.toFixed(1)} s`;
}

/**
 * The same for audio that arrives as bytes (an upload). ffmpeg reads it from a temporary file
 * rather than a pipe, because some containers (MP4/M4A with the index at the end) need to seek.
 * `label` names the audio in error messages.
 */
export async function decodeAudioBytes(bytes: Uint8Array, label: string, options: DecodeOptions = {}): Promise<LoadedAudio> {
  const budget = new DecodeBudget(label, options);
  return decodeInProcessOr(bytes, budget, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chorus-audio-'));
    try {
      const path = join(dir, 'upload');
      await writeFile(path, bytes);
      return await decodeWithFfmpeg(path, budget);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

/**
 * Headerless audio through a stream decoder (src/stream/audio-decoder.ts), in slices as
 * files are, for bodies whose encoding the client names.
 */
export async function decodeStreamBytes(
  decoder: { decode(bytes: Uint8Array): Float32Array; flush(): Float32Array },
  bytes: Uint8Array,
  label: string,
  options: DecodeOptions = {},
): Promise<Float32Array> {
  const budget = new DecodeBudget(label, options);
  const pieces = await decodeSlices(decoder, bytes, budget);
  pieces.push(decoder.flush());
  return concatenate(pieces, budget);
}

/** Feeds compressed bytes to a decoder a slice at a time, yielding between slices. */
async function decodeSlices(
  decoder: { decode(bytes: Uint8Array): Float32Array },
  bytes: Uint8Array,
  budget: DecodeBudget,
): Promise<Float32Array[]> {
  const pieces: Float32Array[] = [];
  let decoded = 0;
  for (let start = 0; start < bytes.length; start += COMPRESSED_SLICE_BYTES) {
    const piece = decoder.decode(bytes.subarray(start, start + COMPRESSED_SLICE_BYTES));
    pieces.push(piece);
    decoded += piece.length;
    budget.checkDuration(decoded / WHISPER_SAMPLE_RATE, 'holds more than');
    await budget.turn();
  }
  return pieces;
}

async function decodeInProcessOr(
  bytes: Uint8Array,
  budget: DecodeBudget,
  ffmpeg: () => Promise<LoadedAudio>,
): Promise<LoadedAudio> {
  switch (detectContainer(bytes)) {
    case 'wav':
      return decodeWav(bytes, budget, ffmpeg);
    case 'webm':
      return decodeOpusContainer(bytes, budget, 'webm', ffmpeg);
    case 'ogg':
      switch (oggCodec(bytes)) {
        case 'opus':
          return decodeOpusContainer(bytes, budget, 'ogg', ffmpeg);
        case 'vorbis':
          return decodeWithWasm(bytes, budget, 'vorbis', new OggVorbisDecoder());
        case 'flac':
          return decodeWithWasm(bytes, budget, 'flac', new FLACDecoder());
        default:
          return ffmpeg();
      }
    case 'flac':
      return decodeWithWasm(bytes, budget, 'flac', new FLACDecoder());
    case 'mp3':
      return decodeWithWasm(bytes, budget, 'mp3', new MPEGDecoder());
    default:
      return ffmpeg();
  }
}

async function decodeWav(bytes: Uint8Array, budget: DecodeBudget, ffmpeg: () => Promise<LoadedAudio>): Promise<LoadedAudio> {
  let layout;
  try {
    layout = readWavLayout(bytes, budget.label);
  } catch (error) {
    // A valid WAV container with a codec we lack is ffmpeg's job; a damaged file is not.
    if (!(error instanceof AudioFormatError) || error.code !== 'unsupported_format') throw error;
    return ffmpeg();
  }
  const { format, dataOffset, frames } = layout;
  budget.checkDuration(frames / format.sampleRate, 'declares');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frameBytes = format.containerBytes * format.channels;
  const resampler = new Resampler(format.sampleRate, WHISPER_SAMPLE_RATE);
  const pieces: Float32Array[] = [];
  for (let frame = 0; frame < frames; frame += RESAMPLE_SLICE_SAMPLES) {
    const count = Math.min(RESAMPLE_SLICE_SAMPLES, frames - frame);
    pieces.push(resampler.process(decodeToMono(view, dataOffset + frame * frameBytes, count, format)));
    await budget.turn();
  }
  pieces.push(resampler.flush());
  return {
    samples: await concatenate(pieces, budget),
    durationS: frames / format.sampleRate,
    sourceRate: format.sampleRate,
    channels: format.channels,
    decoder: 'wav',
  };
}

/** Copies the pieces into one array, a few at a time: hours of audio are hundreds of megabytes. */
async function concatenate(pieces: Float32Array[], budget: DecodeBudget): Promise<Float32Array> {
  if (pieces.length === 1) return pieces[0];
  const whole = new Float32Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let offset = 0;
  for (const piece of pieces) {
    whole.set(piece, offset);
    offset += piece.length;
    await budget.turn();
  }
  return whole;
}

/**
 * Opus decodes straight to 16 kHz; the rate a file "has" is Opus's own 48 kHz. What the live
 * demuxers refuse as unsupported (Matroska with Vorbis or AAC, surround Opus) is ffmpeg's; a
 * damaged Opus stream is not. The demuxers read a byte stream split anywhere, as live.
 */
async function decodeOpusContainer(
  bytes: Uint8Array,
  budget: DecodeBudget,
  container: 'ogg' | 'webm',
  ffmpeg: () => Promise<LoadedAudio>,
): Promise<LoadedAudio> {
  const libopus = await createLibopus();
  try {
    const demuxer = container === 'ogg' ? new OggOpusDecoder(libopus) : new WebmOpusDecoder(libopus);
    const pieces = await decodeSlices(demuxer, bytes, budget);
    if (!demuxer.head) throw new AudioFormatError('truncated', `${budget.label}: the file ends before its Opus header`);
    const samples = await concatenate(pieces, budget);
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
    throw new AudioFormatError('corrupt', `${budget.label}: ${error.message}`);
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
  decode(bytes: Uint8Array): WasmDecoded | Promise<WasmDecoded>;
  /** FLAC and Vorbis hold back the last frames until told the stream has ended; MP3 does not. */
  flush?(): Promise<WasmDecoded>;
  free(): void;
}

/**
 * The wasm-audio-decoders read a stream in pieces, as it is fed here, and report damage as
 * errors beside whatever they could decode. Each decoded piece is mixed down and resampled
 * at once, so no whole-file array exists at the source rate.
 */
async function decodeWithWasm(
  bytes: Uint8Array,
  budget: DecodeBudget,
  format: 'mp3' | 'flac' | 'vorbis',
  decoder: WasmDecoder,
): Promise<LoadedAudio> {
  await decoder.ready;
  try {
    const pieces: Float32Array[] = [];
    // Cast, so that TypeScript does not take it for null after take() has set it.
    let source = null as { resampler: Resampler; channels: number } | null;
    let samplesDecoded = 0;
    const take = (decoded: WasmDecoded): void => {
      if (decoded.errors.length > 0) {
        throw new AudioFormatError('corrupt', `${budget.label}: not a decodable ${format.toUpperCase()} file (${decoded.errors[0].message})`);
      }
      if (decoded.samplesDecoded === 0) return;
      if (source === null) {
        budget.checkRate(decoded.sampleRate);
        source = { resampler: new Resampler(decoded.sampleRate, WHISPER_SAMPLE_RATE), channels: decoded.channelData.length };
      }
      const mono = new Float32Array(decoded.samplesDecoded);
      for (const channel of decoded.channelData) {
        for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / decoded.channelData.length;
      }
      pieces.push(source.resampler.process(mono));
      samplesDecoded += decoded.samplesDecoded;
      budget.checkDuration(samplesDecoded / source.resampler.fromRate, 'holds more than');
    };
    for (let start = 0; start < bytes.length; start += COMPRESSED_SLICE_BYTES) {
      take(await decoder.decode(bytes.subarray(start, start + COMPRESSED_SLICE_BYTES)));
      await budget.turn();
    }
    if (decoder.flush) take(await decoder.flush());
    const decoded = source;
    if (decoded === null) {
      throw new AudioFormatError('corrupt', `${budget.label}: not a decodable ${format.toUpperCase()} file (no audio frames found)`);
    }
    pieces.push(decoded.resampler.flush());
    return {
      samples: await concatenate(pieces, budget),
      durationS: samplesDecoded / decoded.resampler.fromRate,
      sourceRate: decoded.resampler.fromRate,
      channels: decoded.channels,
      decoder: format,
    };
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

async function decodeWithFfmpeg(path: string, budget: DecodeBudget): Promise<LoadedAudio> {
  const label = budget.label;
  // ffmpeg stops a little past the limit, so that going over it is seen and refused.
  const cap = Number.isFinite(budget.maxDurationS) ? ['-t', String(budget.maxDurationS + 1)] : [];
  const [decoded, probed] = await Promise.all([
    runTool('ffmpeg', [
      '-nostdin', '-v', 'error', '-i', path, ...cap,
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
  const samples = await float32FromLittleEndian(decoded.stdout, budget);
  budget.checkDuration(samples.length / WHISPER_SAMPLE_RATE, 'holds more than');
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

async function float32FromLittleEndian(bytes: Buffer, budget: DecodeBudget): Promise<Float32Array> {
  const count = Math.floor(bytes.length / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, count * 4);
  const samples = new Float32Array(count);
  for (let start = 0; start < count; start += 1 << 16) {
    const end = Math.min(count, start + (1 << 16));
    for (let i = start; i < end; i++) samples[i] = view.getFloat32(i * 4, true);
    await budget.turn();
  }
  return samples;
}
