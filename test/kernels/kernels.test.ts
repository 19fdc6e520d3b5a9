import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';

// Each binary runs every instruction-set variant the CPU has (scalar, AVX2, AVX-512, its
// VNNI/BF16 forms, AMX), forcing each in turn, so a machine tests every path below its own.
// Spawned asynchronously: a minute of blocking the worker would time out vitest's own RPC.
async function runKernelTests(binary: string, emulator: string[] = []): Promise<void> {
  const [command, ...args] = [...emulator, binary];
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  expect(exit.error, `cannot run ${command}: ${emulator.length > 0 ? 'install it (scripts/setup.sh does), then ' : ''}build ${binary} with npm run build:native`).toBeUndefined();
  const summary = stdout.trim().split('\n').pop() ?? '';
  expect(summary, `${binary} died (signal ${exit.signal}):\n${stderr.slice(-4000)}`).toMatch(/^\d+ passed, 0 failed$/);
  expect(exit.code).toBe(0);
}

describe('compute kernels', () => {
  it('every instruction-set variant matches the scalar reference over odd shapes', async () => {
    await runKernelTests(join(repoRoot(), 'build', 'kernels', 'kernel_tests'));
  }, 300_000);

  it('the same suite is clean under AddressSanitizer and UndefinedBehaviorSanitizer', async () => {
    await runKernelTests(join(repoRoot(), 'build', 'sanitize', 'kernel_tests'));
  }, 600_000);

  // On arm64 the first test runs the NEON variants natively; on x86 they are cross-compiled
  // (scripts/build-arm64.sh, run by the build) and checked under qemu's user-mode emulation,
  // with the cross toolchain's loader and libraries (-L).
  it.runIf(process.arch === 'x64')('the arm64 (NEON) variants match the scalar reference under qemu', async () => {
    await runKernelTests(join(repoRoot(), 'build', 'arm64', 'kernel_tests'), ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu']);
  }, 600_000);
});
