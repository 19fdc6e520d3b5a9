// A `chorus serve` child process for the capacity benchmark: started on a loopback port the
// kernel picks, ready once /readyz says so, its resident memory read from /proc while load
// runs, and stopped with SIGTERM as an operator would.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../src/paths.js';

const READY_TIMEOUT_MS = 180_000;
const STOP_TIMEOUT_MS = 20_000;

export interface GatewayProcess {
  pid: number;
  /** ws://127.0.0.1:PORT/v1/listen */
  listenUrl: string;
  httpBase: string;
  stop(): Promise<void>;
}

/** VmRSS of a live process in bytes, or null once it is gone. */
export function residentBytes(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; resolves with the largest value seen. */
export function sampleResidentPeak(pid: number, everyMs = 1000): { stop(): number | null } {
  let peak: number | null = null;
  const sample = () => {
    const rss = residentBytes(pid);
    if (rss !== null) peak = Math.max(peak ?? 0, rss);
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts `chorus serve` with `args` (after the bench's host and port) and waits until it is ready. */
export async function startGateway(args: readonly string[], logPath: string): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [join(repoRoot(), 'bin', 'chorus.js'), 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logPath);
  child.stderr!.pipe(log);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited(child);
      clearTimeout(timer);
    }
    log.end();
  };
  try {
    const httpBase = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        const match = /listening on (http:\/\/\S+)/.exec(out);
        if (match) resolve(match[1]);
      });
      child.once('exit', (code) => reject(new Error(`chorus serve exited with ${code} before listening; see ${logPath}`)));
      child.once('error', reject);
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`chorus serve exited with ${child.exitCode} while loading; see ${logPath}`);
      const ready = await fetch(`${httpBase}/readyz`).then((r) => r.ok, () => false);
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`chorus serve was not ready within ${READY_TIMEOUT_MS / 1000} s; see ${logPath}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return { pid: child.pid!, httpBase, listenUrl: `${httpBase.replace(/^http/, 'ws')}/v1/listen`, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
