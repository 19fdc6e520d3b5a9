import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The repository (package) root, found from this file whether run from src/ or dist/src/. */
export function repoRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the Chorus package root');
    dir = parent;
  }
  root = dir;
  return root;
}

/** Where fetched models are cached: CHORUS_MODEL_DIR, else models/ in the package root. */
export function modelCacheDir(): string {
  return resolve(process.env.CHORUS_MODEL_DIR ?? join(repoRoot(), 'models'));
}
