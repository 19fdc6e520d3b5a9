// What a model directory must hold before the engine loads it. A missing, truncated or
// corrupt file is reported by name here instead of surfacing as garbage output later.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelFile } from './registry.js';

export const MANIFEST_FILE = 'chorus-model.json';

export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface VerifyOptions {
  /** hash every file (slow for big models); sizes are always checked */
  checksums?: boolean;
  /** expected files; defaults to the directory's own chorus-model.json when present */
  expected?: ModelFile[];
}

/** Checks the files of a CTranslate2 Whisper directory and returns what was found. */
export async function verifyModelDir(dir: string, options: VerifyOptions = {}): Promise<ModelFile[]> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelError(`model directory ${dir} does not exist`);
  let expected = options.expected;
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!expected && existsSync(manifestPath)) {
    try {
      expected = (JSON.parse(readFileSync(manifestPath, 'utf8')) as { files: ModelFile[] }).files;
    } catch {
      throw new ModelError(`${manifestPath} is not valid JSON`);
    }
  }
  const hasWeights = existsSync(join(dir, 'model.bin')) || existsSync(join(dir, 'model.bin.part1'));
  if (!hasWeights) throw new ModelError(`${dir} has no model.bin (not a CTranslate2 Whisper model directory)`);
  if (!existsSync(join(dir, 'vocabulary.txt')) && !existsSync(join(dir, 'vocabulary.json'))) {
    throw new ModelError(`${dir} has no vocabulary.txt or vocabulary.json`);
  }
  const found: ModelFile[] = [];
  for (const file of expected ?? []) {
    const path = join(dir, file.name);
    if (!existsSync(path)) throw new ModelError(`${path} is missing`);
    const bytes = statSync(path).size;
    if (bytes !== file.bytes) {
      throw new ModelError(`${path} has ${bytes} bytes, expected ${file.bytes} (truncated or replaced)`);
    }
    const digest = options.checksums ? await sha256File(path) : file.sha256;
    if (digest !== file.sha256) throw new ModelError(`${path} is corrupt: sha256 ${digest}, expected ${file.sha256}`);
    found.push({ name: file.name, bytes, sha256: digest });
  }
  return found;
}
