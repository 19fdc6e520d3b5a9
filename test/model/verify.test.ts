import { copyFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync, readFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WhisperModel, resolveModelDir } from '../../src/engine/whisper.js';
import { findModel } from '../../src/model/registry.js';
import { verifyModelDir } from '../../src/model/verify.js';

const source = resolveModelDir('tiny.en');
const made: string[] = [];

/** A writable copy of tiny.en (weights linked unless the test damages them). */
function copyModel(copyWeights: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-model-test-'));
  made.push(dir);
  for (const f of ['config.json', 'tokenizer.json', 'vocabulary.txt']) copyFileSync(join(source, f), join(dir, f));
  if (copyWeights) copyFileSync(join(source, 'model.bin'), join(dir, 'model.bin'));
  else symlinkSync(join(source, 'model.bin'), join(dir, 'model.bin'));
  return dir;
}

afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('model verification', () => {
  it('accepts the fetched tiny.en with every checksum', async () => {
    const files = await verifyModelDir(source, { checksums: true, expected: findModel('tiny.en')!.files });
    expect(files.map((f) => f.name).sort()).toEqual(['config.json', 'model.bin', 'tokenizer.json', 'vocabulary.txt']);
  });

  it('names a truncated weight file against the registry sizes', async () => {
    const dir = copyModel(true);
    truncateSync(join(dir, 'model.bin'), 1_000_000);
    await expect(verifyModelDir(dir, { expected: findModel('tiny.en')!.files })).rejects.toThrow(
      /model\.bin has 1000000 bytes, expected 75537502/,
    );
  });

  it('rejects a directory without weights or vocabulary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chorus-empty-'));
    made.push(dir);
    await expect(verifyModelDir(dir)).rejects.toThrow(/has no model\.bin/);
    writeFileSync(join(dir, 'model.bin'), '');
    await expect(verifyModelDir(dir)).rejects.toThrow(/no vocabulary/);
  });

  it('gives a clear error for an unknown model name', () => {
    expect(() => resolveModelDir('no-such-model')).toThrow(/neither a known model name nor an existing directory/);
  });
});

describe('loading damaged weights', () => {
  it('reports truncation with the file name and offset instead of crashing', async () => {
    const dir = copyModel(true);
    truncateSync(join(dir, 'model.bin'), 40_000_000);
    await expect(WhisperModel.load(dir)).rejects.toThrow(/model\.bin is truncated or corrupt: the data of decoder\//);
  });

  it('reports a corrupt header', async () => {
    const dir = copyModel(true);
    const bytes = readFileSync(join(dir, 'model.bin'));
    bytes.writeUInt32LE(99, 0);
    writeFileSync(join(dir, 'model.bin'), bytes);
    await expect(WhisperModel.load(dir)).rejects.toThrow(/binary version 99/);
  });

  it('reports weights whose declared size disagrees with their shape', async () => {
    const dir = copyModel(true);
    const bytes = readFileSync(join(dir, 'model.bin'));
    // The first variable after the header is a scalar; corrupt its byte count.
    const nameLength = bytes.readUInt16LE(4);
    const firstVar = 4 + 2 + nameLength + 4 + 4;
    const varName = bytes.readUInt16LE(firstVar);
    const sizeOffset = firstVar + 2 + varName + 1 + 1;
    bytes.writeUInt32LE(7, sizeOffset);
    writeFileSync(join(dir, 'model.bin'), bytes);
    await expect(WhisperModel.load(dir)).rejects.toThrow(/is corrupt: variable decoder\/activation declares 7 bytes/);
  });

  it('loads a model directory given by path, such as a user conversion', async () => {
    const dir = copyModel(false);
    mkdirSync(join(dir, 'unused'));
    const model = await WhisperModel.load(dir, { threads: 1 });
    expect(model.info.nVocab).toBe(51864);
    model.close();
  });
});
