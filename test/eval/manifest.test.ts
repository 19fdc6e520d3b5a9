import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { clipsBySet, evalDir, loadManifest } from '../../src/eval/manifest.js';

const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const scratch = mkdtempSync(join(tmpdir(), 'chorus-manifest-test-'));
const originalEvalDir = process.env.CHORUS_EVAL_DIR;

afterEach(() => {
  if (originalEvalDir === undefined) delete process.env.CHORUS_EVAL_DIR;
  else process.env.CHORUS_EVAL_DIR = originalEvalDir;
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const clipLine = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: 'a',
    set: 'demo',
    path: 'audio/a.wav',
    duration_s: 1.5,
    sample_rate: 16000,
    text: 'Hello.',
    language: 'en',
    source: 'made up',
    license: 'CC0',
    ...overrides,
  });

function writeManifest(name: string, lines: string[]): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'manifest.jsonl'), lines.join('\n') + '\n');
  return dir;
}

describe('evalDir', () => {
  it('defaults to shared/eval beside the repository root', () => {
    delete process.env.CHORUS_EVAL_DIR;
    expect(evalDir()).toBe(resolve(repoRoot, '..', 'shared', 'eval'));
  });

  it('honours CHORUS_EVAL_DIR, made absolute', () => {
    process.env.CHORUS_EVAL_DIR = 'some/relative/dir';
    expect(evalDir()).toBe(resolve('some/relative/dir'));
  });
});

describe('loadManifest', () => {
  it('maps fields to typed camelCase properties with absolute paths', () => {
    const dir = writeManifest('ok', [clipLine(), '', clipLine({ id: 'b', set: 'other', language: null, text: '' })]);
    const clips = loadManifest(dir);
    expect(clips).toEqual([
      {
        id: 'a', set: 'demo', path: join(dir, 'audio/a.wav'), durationS: 1.5, sampleRate: 16000,
        text: 'Hello.', language: 'en', source: 'made up', license: 'CC0',
      },
      expect.objectContaining({ id: 'b', language: null, text: '' }),
    ]);
  });

  it('names the line and field of a malformed record', () => {
    const dir = writeManifest('bad-field', [clipLine(), clipLine({ duration_s: '1.5' })]);
    expect(() => loadManifest(dir)).toThrow(/manifest\.jsonl:2: field "duration_s" should be a number/);
    const broken = writeManifest('bad-json', ['{"id": ']);
    expect(() => loadManifest(broken)).toThrow(/manifest\.jsonl:1: invalid JSON/);
  });

  it('points at CHORUS_EVAL_DIR when the manifest is missing', () => {
    expect(() => loadManifest(join(scratch, 'does-not-exist'))).toThrow(/CHORUS_EVAL_DIR/);
  });
});

describe('clipsBySet', () => {
  it('selects clips of the named sets in manifest order and rejects unknown set names', () => {
    const dir = writeManifest('sets', [
      clipLine({ id: '1', set: 'x' }),
      clipLine({ id: '2', set: 'y' }),
      clipLine({ id: '3', set: 'x' }),
    ]);
    expect(clipsBySet(['x'], dir).map((clip) => clip.id)).toEqual(['1', '3']);
    expect(clipsBySet(['y', 'x'], dir).map((clip) => clip.id)).toEqual(['1', '2', '3']);
    expect(() => clipsBySet(['x', 'typo'], dir)).toThrow(/unknown evaluation set\(s\) typo; known: x, y/);
  });

  it.runIf(existsSync(join(evalDir(), 'manifest.jsonl')))('reads the shared evaluation set', () => {
    const clips = loadManifest();
    expect(clips.length).toBeGreaterThan(100);
    const jfk = clipsBySet(['jfk']);
    expect(jfk).toHaveLength(1);
    expect(isAbsolute(jfk[0].path)).toBe(true);
    expect(existsSync(jfk[0].path)).toBe(true);
    expect(jfk[0]).toMatchObject({ sampleRate: 16000, language: 'en', durationS: 11 });
  });
});
