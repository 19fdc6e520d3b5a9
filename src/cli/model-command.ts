import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fetchModel } from '../model/fetch.js';
import { DEFAULT_MODEL, findModel, MODELS } from '../model/registry.js';
import { verifyModelDir } from '../model/verify.js';
import { modelCacheDir } from '../paths.js';

export async function runModelCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { list: { type: 'boolean' }, verify: { type: 'boolean' } },
  });
  const names = positionals.length > 0 ? positionals : [DEFAULT_MODEL];
  const log = (line: string) => process.stderr.write(line + '\n');
  if (values.list) {
    for (const m of MODELS) {
      const cached = existsSync(join(modelCacheDir(), m.name)) ? 'cached' : 'not fetched';
      process.stdout.write(`${m.name.padEnd(10)} ${cached.padEnd(12)} ${m.description}\n`);
    }
    return 0;
  }
  let failures = 0;
  for (const name of names) {
    try {
      if (values.verify) {
        const spec = findModel(name);
        const dir = spec ? join(modelCacheDir(), spec.name) : name;
        await verifyModelDir(dir, { checksums: true, expected: spec?.files });
        log(`${name}: ok (${dir})`);
      } else {
        await fetchModel(name, log);
      }
    } catch (err) {
      failures++;
      log(`${name}: ${(err as Error).message}`);
    }
  }
  return failures === 0 ? 0 : 1;
}
