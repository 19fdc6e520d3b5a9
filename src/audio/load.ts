/**
 * Loads any audio file as the 16 kHz mono float signal Whisper consumes.
 *
 * WAV is decoded in-process (no dependency, exact, fast). Everything else, and WAV codecs we do
 * not decode (ADPCM, MP3-in-WAV, ...), is handed to ffmpeg when it is installed.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { resample } from './resample.js';
import { AudioFormatError, looksLikeWav, parseWav } from './wav.js';

export const WHISPER_SAMPLE_RATE = 16000;

export interface LoadedAudio {
  /** 16 kHz mono, values in about [-1, 1]. */
  samples: Float32Array;
  durationS: number;
  /** Sample rate of the file itself; 0 when ffmpeg decoded it and ffprobe could not tell. */
  sourceRate: number;
  /** Channel count of the file itself; 0 when ffmpeg decoded it and ffprobe could not tell. */
  channels: number;
  decoder: 'wav' | 'ffmpeg';
}

export async function loadAudioFile(path: string): Promise<LoadedAudio> {
  const bytes = await readAudioBytes(path);
  return decodeWavOr(bytes, path, () => decodeWithFfmpeg(path, path));
}

/**
 * The same for audio that arrives as bytes (an upload). ffmpeg reads it from a temporary file
 * rather than a pipe, because some containers (MP4/M4A with the index at the end) need to seek.
 * `label` names the audio in error messages.
 */
export async function decodeAudioBytes(bytes: Uint8Array, label: string): Promise<LoadedAudio> {
  return decodeWavOr(bytes, label, async () => {
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

async function decodeWavOr(bytes: Uint8Array, label: string, ffmpeg: () => Promise<LoadedAudio>): Promise<LoadedAudio> {
  if (looksLikeWav(bytes)) {
    try {
      const decoded = parseWav(bytes, label);
      return {
        samples: resample(decoded.samples, decoded.sampleRate, WHISPER_SAMPLE_RATE),
        durationS: decoded.durationS,
        sourceRate: decoded.sampleRate,
        channels: decoded.channels,
        decoder: 'wav',
      };
    } catch (error) {
      // A valid WAV container with a codec we lack is ffmpeg's job; a damaged file is not.
      if (!(error instanceof AudioFormatError) || error.code !== 'unsupported_format') throw error;
    }
  }
  return ffmpeg();
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
      `${label}: not a WAV file this gateway decodes natively (PCM, float, A-law, mu-law), and ffmpeg ` +
        'is not installed to decode it; install ffmpeg (e.g. `apt-get install ffmpeg`) or convert the ' +
        'file to WAV',
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
