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

  it('with --multichannel, transcribes each channel of a stereo WAV on its own', () => {
    // JFK on the left, a LibriSpeech reader on the right: 16-bit PCM, 16 kHz, interleaved.
    const left = pcmOf(fixture('jfk').path);
    const right = pcmOf(fixture('1221-135766-0002').path);
    const frames = Math.max(left.length, right.length) / 2;
    const data = Buffer.alloc(frames * 4);
    for (let i = 0; i < frames; i++) {
      if (i * 2 < left.length) data.writeInt16LE(left.readInt16LE(i * 2), i * 4);
      if (i * 2 < right.length) data.writeInt16LE(right.readInt16LE(i * 2), i * 4 + 2);
    }
    const header = Buffer.alloc(44);
    header.write('RIFF', 0);
    header.writeUInt32LE(36 + data.length, 4);
    header.write('WAVEfmt ', 8);
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(1, 20);
    header.writeUInt16LE(2, 22);
    header.writeUInt32LE(16000, 24);
    header.writeUInt32LE(64000, 28);
    header.writeUInt16LE(4, 32);
    header.writeUInt16LE(16, 34);
    header.write('data', 36);
    header.writeUInt32LE(data.length, 40);
    const stereo = join(mkdtempSync(join(tmpdir(), 'chorus-cli-')), 'stereo.wav');
    writeFileSync(stereo, Buffer.concat([header, data]));
    const run = chorus('transcribe', stereo, '--multichannel', '--json', '--threads', '2');
    expect(run.status, run.stderr).toBe(0);
    const records = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(records.map((r) => [r.channel, r.channels])).toEqual([
      [0, 2],
      [1, 2],
    ]);
    expect(records[0].text).toMatch(/ask not what your country can do for you/i);
    expect(records[0].text).not.toMatch(/hester/i);
    expect(records[1].text).toMatch(/hester/i);
    expect(records[1].text).not.toMatch(/country/i);
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

/** The 16-bit samples of a plain 44-byte-header 16 kHz mono WAV fixture. */
function pcmOf(path: string): Buffer {
  const wav = readFileSync(path);
  const at = wav.indexOf('data');
  return wav.subarray(at + 8, at + 8 + wav.readUInt32LE(at + 4));
}

/** The first 20 KB of a WAV whose header promises much more data. */
function readHeaderOnly(path: string): Buffer {
  return readFileSync(path).subarray(0, 20_000);
}
