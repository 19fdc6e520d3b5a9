/**
 * The shared evaluation set: manifest.jsonl next to the audio, one JSON object per clip.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from '../paths.js';

export interface EvalClip {
  id: string;
  set: string;
  /** Absolute path of the audio file. */
  path: string;
  durationS: number;
  sampleRate: number;
  /** Reference transcript; empty for non-speech clips. */
  text: string;
  /** ISO 639-1 code, or null for clips without speech. */
  language: string | null;
  source: string;
  license: string;
}

/** CHORUS_EVAL_DIR if set, else shared/eval next to the repository checkout. */
export function evalDir(): string {
  const configured = process.env.CHORUS_EVAL_DIR;
  return configured ? resolve(configured) : resolve(repoRoot(), '..', 'shared', 'eval');
}

function parseClip(line: string, where: string, dir: string): EvalClip {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line);
  } catch (error) {
    throw new Error(`${where}: invalid JSON (${(error as Error).message})`);
  }
  const field = <T>(name: string, type: 'string' | 'number', nullable = false): T => {
    const value = record[name];
    if (typeof value === type || (nullable && value === null)) return value as T;
    throw new Error(`${where}: field "${name}" should be a ${type}${nullable ? ' or null' : ''}, got ${JSON.stringify(value)}`);
  };
  return {
    id: field<string>('id', 'string'),
    set: field<string>('set', 'string'),
    path: resolve(dir, field<string>('path', 'string')),
    durationS: field<number>('duration_s', 'number'),
    sampleRate: field<number>('sample_rate', 'number'),
    text: field<string>('text', 'string'),
    language: field<string | null>('language', 'string', true),
    source: field<string>('source', 'string'),
    license: field<string>('license', 'string'),
  };
}

export function loadManifest(dir: string = evalDir()): EvalClip[] {
  const manifestPath = join(dir, 'manifest.jsonl');
  let content: string;
  try {
    content = readFileSync(manifestPath, 'utf8');
  } catch (error) {
    throw new Error(
      `cannot read the evaluation manifest ${manifestPath} (${(error as Error).message}); ` +
        'set CHORUS_EVAL_DIR to the folder holding manifest.jsonl',
    );
  }
  return content
    .split('\n')
    .map((line, index) => ({ line: line.trim(), where: `${manifestPath}:${index + 1}` }))
    .filter(({ line }) => line.length > 0)
    .map(({ line, where }) => parseClip(line, where, dir));
}

/** Clips of the named sets, in manifest order. An unknown set name is an error, not an empty result. */
export function clipsBySet(sets: readonly string[], dir: string = evalDir()): EvalClip[] {
  const clips = loadManifest(dir);
  const known = new Set(clips.map((clip) => clip.set));
  const unknown = sets.filter((set) => !known.has(set));
  if (unknown.length > 0) {
    throw new Error(`unknown evaluation set(s) ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
  }
  const wanted = new Set(sets);
  return clips.filter((clip) => wanted.has(clip.set));
}
