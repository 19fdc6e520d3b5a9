// Runs a program of this repository as an arm64 machine would: bundled by esbuild from the
// sources under test, in an aarch64 Node under qemu's user-mode emulation, with the addon
// cross-built for aarch64. The build makes the addon (scripts/build-arm64.sh) and the set-up
// fetches the Node (scripts/fetch-arm64-node.sh), on x86 machines only: on arm64 the tests
// run natively instead. Emulation checks results, not speed.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { build } from 'esbuild';
import { expect } from 'vitest';
import { repoRoot } from '../src/paths.js';

/** Whether this machine checks arm64 under emulation (x86) rather than natively. */
export const EMULATES_ARM64 = process.arch === 'x64';

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
  const child = spawn('qemu-aarch64-static', ['-L', '/usr/aarch64-linux-gnu', node, program, ...args], {
    env: { ...process.env, CHORUS_ADDON: addon },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exit = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, error }));
    child.on('close', (code) => resolve({ code }));
  });
  expect(exit.error, 'cannot run qemu-aarch64-static: apt-get install qemu-user-static').toBeUndefined();
  expect(exit.code, `${entry} failed on arm64:\n${stderr.slice(-4000)}`).toBe(0);
  return stdout;
}
