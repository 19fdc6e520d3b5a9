// Runs a program of this repository as an arm64 machine would: bundled by esbuild from the
// sources under test, in an aarch64 Node under qemu's user-mode emulation, with the addon
// cross-built for aarch64. The build makes the addon (scripts/build-arm64.sh) and the set-up
// fetches the Node (scripts/fetch-arm64-node.sh), on x86 machines only: on arm64 the tests
// run natively instead. Emulation checks results, not speed.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { build } from 'esbuild';
import { expect } from 'vitest';
import { repoRoot } from '../src/paths.js';
import { runToExit } from './helpers.js';

/** Whether this machine checks arm64 under emulation (x86) rather than natively. */
export const EMULATES_ARM64 = process.arch === 'x64';

/** qemu's user-mode emulator with the cross toolchain's loader and libraries (libc, libstdc++). */
export const QEMU_ARM64 = ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu'];

/** Runs `entry` (a .ts file under the repository root) with `args`; returns its stdout. */
export async function runOnArm64(entry: string, args: string[] = []): Promise<string> {
  const root = repoRoot();
  const node = join(root, 'build', 'node-arm64', 'bin', 'node');
  const addon = join(root, 'build', 'arm64', 'chorus.node');
  for (const [path, how] of [
    [node, 'run scripts/fetch-arm64-node.sh (the set-up does)'],
    [addon, 'run npm run build:native with g++-aarch64-linux-gnu installed (the set-up installs it)'],
  ]) {
    expect(existsSync(path), `${path} is missing: ${how}`).toBe(true);
  }
  // Inside the repository, so the program finds the package root and node_modules as from dist/.
  const program = join(root, 'build', 'arm64', `${basename(entry, '.ts')}.mjs`);
  await build({
    entryPoints: [join(root, entry)],
    outfile: program,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
  const [emulator, ...options] = QEMU_ARM64;
  const exit = await runToExit(emulator, [...options, node, program, ...args], { ...process.env, CHORUS_ADDON: addon });
  expect(exit.error, 'cannot run qemu-aarch64-static: apt-get install qemu-user-static').toBeUndefined();
  expect(exit.code, `${entry} failed on arm64:\n${exit.stderr.slice(-4000)}`).toBe(0);
  return exit.stdout;
}
