// What a load-test stream plays: clips of real speech with their reference transcripts, back
// to back with a second of silence between them (like turns in a call), until the stream's
// duration is used up. Clips come from evaluation sets (../shared/eval) or from files given on
// the command line, whose transcripts are looked up beside them.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { loadAudioFile } from '../src/audio/load.js';
import { clipsBySet } from '../src/eval/manifest.js';

const SAMPLE_RATE = 16000;
export const GAP_S = 1;

export interface SpeechClip {
  id: string;
  path: string;
  /** reference transcript; null when none is known, and then no WER is scored */
  text: string | null;
  durationS: number;
}

export interface StreamProgram {
  pcm: Float32Array;
  clips: SpeechClip[];
  /** the references of the clips joined, or null if any clip has none */
  ref: string | null;
}

export function clipsFromSets(sets: readonly string[]): SpeechClip[] {
  return clipsBySet(sets).map((c) => ({ id: c.id, path: c.path, text: c.text, durationS: c.durationS }));
}

/**
 * Audio files named by the user. A transcript comes from a manifest.jsonl in the same folder
 * that lists the file (the layout of ../shared/eval and test/fixtures/audio), else from a
 * sidecar `NAME.txt`; without either the file still loads the server but scores no WER.
 */
export async function clipsFromFiles(paths: readonly string[]): Promise<SpeechClip[]> {
  return Promise.all(
    paths.map(async (given) => {
      const path = resolve(given);
      const audio = await decodedAudio(path);
      return {
        id: basename(path).replace(/\.[^.]+$/, ''),
        path,
        text: referenceFor(path),
        durationS: audio.length / SAMPLE_RATE,
      };
    }),
  );
}

function referenceFor(path: string): string | null {
  const manifest = join(dirname(path), 'manifest.jsonl');
  if (existsSync(manifest)) {
    for (const line of readFileSync(manifest, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const entry = JSON.parse(line) as { path?: string; text?: string };
      if (entry.path && resolve(dirname(path), entry.path) === path && typeof entry.text === 'string') return entry.text;
    }
  }
  const sidecar = path.replace(/\.[^.]+$/, '') + '.txt';
  return existsSync(sidecar) ? readFileSync(sidecar, 'utf8').trim() : null;
}

// Hundreds of streams replay the same few clips; decoding each once keeps start-up and memory flat.
const decoded = new Map<string, Promise<Float32Array>>();

function decodedAudio(path: string): Promise<Float32Array> {
  let audio = decoded.get(path);
  if (!audio) {
    audio = loadAudioFile(path).then((a) => a.samples);
    decoded.set(path, audio);
  }
  return audio;
}

/**
 * Whole clips from `firstClip` on (wrapping around) until at least `durationS` seconds are
 * queued: clips are never cut, so every word played has its place in the reference.
 */
export async function streamProgram(clips: readonly SpeechClip[], durationS: number, firstClip: number): Promise<StreamProgram> {
  if (clips.length === 0) throw new Error('no clips to stream');
  const used: SpeechClip[] = [];
  let queuedS = 0;
  while (queuedS < durationS) {
    const clip = clips[(firstClip + used.length) % clips.length];
    used.push(clip);
    queuedS += clip.durationS + GAP_S;
  }
  const parts = await Promise.all(used.map((c) => decodedAudio(c.path)));
  const gap = GAP_S * SAMPLE_RATE;
  const pcm = new Float32Array(parts.reduce((n, p) => n + p.length + gap, 0));
  let at = 0;
  for (const part of parts) {
    pcm.set(part, at);
    at += part.length + gap;
  }
  const ref = used.every((c) => c.text !== null) ? used.map((c) => c.text).join(' ') : null;
  return { pcm, clips: used, ref };
}

/** The longest a program for `durationS` can run: one clip may start just before the mark. */
export function longestProgramS(clips: readonly SpeechClip[], durationS: number): number {
  return durationS + Math.max(0, ...clips.map((c) => c.durationS)) + GAP_S;
}
