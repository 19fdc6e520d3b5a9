import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { EMULATES_ARM64, QEMU_ARM64 } from '../arm64.js';
import { runToExit } from '../helpers.js';

// Each binary runs every instruction-set variant the CPU has (scalar, AVX2, AVX-512, its
// VNNI/BF16 forms, AMX), forcing each in turn, so a machine tests every path below its own.
/** Runs one kernel test binary and expects it to pass; returns what it printed. */
async function runKernelTests(binary: string, emulator: string[] = [], options: string[] = []): Promise<string> {
  const [command, ...args] = [...emulator, binary, ...options];
  const exit = await runToExit(command, args);
  expect(exit.error, `cannot run ${command}: ${emulator.length > 0 ? 'install it (scripts/setup.sh does), then ' : ''}build ${binary} with npm run build:native`).toBeUndefined();
  const summary = exit.stdout.trim().split('\n').pop() ?? '';
  expect(summary, `${binary} died (signal ${exit.signal}):\n${exit.stderr.slice(-4000)}`).toMatch(/^\d+ passed, 0 failed$/);
  expect(exit.code).toBe(0);
  return exit.stdout;
}

describe('compute kernels', () => {
  it('every instruction-set variant matches the scalar reference over odd shapes', async () => {
    await runKernelTests(join(repoRoot(), 'build', 'kernels', 'kernel_tests'));
  }, 300_000);

  it('the same suite is clean under AddressSanitizer and UndefinedBehaviorSanitizer', async () => {
    await runKernelTests(join(repoRoot(), 'build', 'sanitize', 'kernel_tests'));
  }, 900_000);

  // On arm64 the first test runs the NEON variants natively; on x86 they are cross-compiled
  // (scripts/build-arm64.sh, run by the build) and checked under qemu's user-mode emulation,
  // with the cross toolchain's loader and libraries (-L). qemu's default CPU has every
  // extension, so the int8 products take sdot; a Cortex-A57 (ARMv8.0, no dot product) runs
  // the weight tests again on the fallback, chosen by the same detection a real one meets.
  const arm64Tests = join(repoRoot(), 'build', 'arm64', 'kernels', 'kernel_tests');
  it.runIf(EMULATES_ARM64)('the arm64 (NEON) variants match the scalar reference under qemu', async () => {
    expect(await runKernelTests(arm64Tests, QEMU_ARM64)).toMatch(/weight variants at neon: int8-neon-sdot /);
  }, 900_000);

  it.runIf(EMULATES_ARM64)('the int8 products without sdot (ARMv8.0) match it too', async () => {
    const printed = await runKernelTests(arm64Tests, [...QEMU_ARM64, '-cpu', 'cortex-a57'], ['--weights']);
    expect(printed).toMatch(/weight variants at neon: int8-neon /);
  }, 900_000);
});
