import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { fixture } from '../helpers.js';

function chorus(...args: string[]) {
  return spawnSync(process.execPath, [join(repoRoot(), 'bin', 'chorus.js'), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
}

describe('chorus transcribe', () => {
  it('prints one JSON object per file and keeps going past a bad file', () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'chorus-cli-')), 'truncated.wav');
    const good = readHeaderOnly(fixture('jfk').path);
    writeFileSync(bad, good);
    const run = chorus('transcribe', bad, fixture('jfk').path, '--json', '--threads', '2');
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/truncated\.wav: .*truncated/i);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]);
    expect(record.file).toBe(fixture('jfk').path);
    expect(record.duration_s).toBeCloseTo(11, 1);
    expect(record.elapsed_s).toBeGreaterThan(0);
    expect(record.text).toMatch(/ask not what your country can do for you/i);
    expect(record.segments.length).toBeGreaterThan(0);
    for (const s of record.segments) expect(Object.keys(s).sort()).toEqual(['end', 'start', 'text']);
  });

  it('prints timestamped segments as text by default', () => {
    const run = chorus('transcribe', fixture('1221-135766-0002').path, '--threads', '2');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/\[00:00\.\d{3} --> 00:0\d\.\d{3}\] \S/);
  });

  it('refuses unknown models and bad options with a usage error', () => {
    expect(chorus('transcribe', fixture('jfk').path, '--model', 'nope').stderr).toMatch(/neither a known model/);
    expect(chorus('transcribe', fixture('jfk').path, '--beam-size', '0').status).toBe(2);
    expect(chorus('transcribe').status).toBe(2);
    expect(chorus('frobnicate').status).toBe(2);
  });

  it('lists the registered models', () => {
    const run = chorus('model', '--list');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^tiny\.en\s+cached/m);
  });
});

/** The first 20 KB of a WAV whose header promises much more data. */
function readHeaderOnly(path: string): Buffer {
  return readFileSync(path).subarray(0, 20_000);
}
