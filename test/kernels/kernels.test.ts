import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';

describe('compute kernels', () => {
  it('every instruction-set variant matches the scalar reference over odd shapes', () => {
    const binary = join(repoRoot(), 'build', 'kernels', 'kernel_tests');
    const run = spawnSync(binary, { encoding: 'utf8', timeout: 300_000 });
    expect(run.error, `cannot run ${binary}: build it with npm run build:native`).toBeUndefined();
    const summary = run.stdout.trim().split('\n').pop() ?? '';
    expect(summary).toMatch(/^\d+ passed, 0 failed$/);
    expect(run.status).toBe(0);
  });
});
