// Shared test fixtures: the small attributed clips in test/fixtures/audio and the default model.
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
