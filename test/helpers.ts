// Shared test fixtures: the small attributed clips in test/fixtures/audio and the default model.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures');
export const AUDIO = join(FIXTURES, 'audio');

export interface FixtureClip {
  id: string;
  set: string;
  path: string;
  text: string;
  duration_s: number;
}

export function fixtureClips(): FixtureClip[] {
  return readFileSync(join(AUDIO, 'manifest.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const clip = JSON.parse(line) as FixtureClip;
      return { ...clip, path: join(AUDIO, clip.path) };
    });
}

export function fixture(id: string): FixtureClip {
  const clip = fixtureClips().find((c) => c.id === id);
  if (!clip) throw new Error(`no fixture ${id}`);
  return clip;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (mantissa / 1024);
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
}

/** Little-endian IEEE float16 values, base64-encoded (the reference dumps), as floats. */
export function decodeF16(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  const out = new Float32Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = halfToFloat(bytes.readUInt16LE(2 * i));
  return out;
}

export interface ProgramExit {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** set when the program could not be started at all */
  error?: Error;
}

/**
 * Runs a program to its end and collects what it printed. Asynchronous on purpose: minutes of
 * blocking a vitest worker would time out vitest's own RPC.
 */
export async function runToExit(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<ProgramExit> {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => {
    child.on('error', (error) => resolve({ stdout, stderr, code: null, signal: null, error }));
    child.on('close', (code, signal) => resolve({ stdout, stderr, code, signal }));
  });
}
