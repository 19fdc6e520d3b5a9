// A real `chorus serve` for the reliability suite: a child process on loopback, a free port,
// with its JSON log kept for the checks to read, its RSS read from /proc, and stopped by a
// signal as an orchestrator would stop it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../src/paths.js';

export interface ServerOptions {
  /** arguments after `chorus serve --host 127.0.0.1 --port 0` */
  args: string[];
  /** how long the model may take to load */
  readyTimeoutMs?: number;
}

export interface LogEvent {
  event: string;
  [field: string]: unknown;
}

export class ServerProcess {
  /** every JSON log line the server has written */
  readonly log: LogEvent[] = [];
  /** stderr, for the report when something fails */
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  url = '';

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const listening = /^chorus: listening on (\S+)/.exec(line);
        if (listening) this.url = listening[1];
        else if (line.startsWith('{')) {
          try {
            this.log.push(JSON.parse(line) as LogEvent);
          } catch {
            this.log.push({ event: 'unparsable_log_line', line });
          }
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-20_000);
    });
  }

  static async start(options: ServerOptions): Promise<ServerProcess> {
    const child = spawn(process.execPath, [join(repoRoot(), 'bin', 'chorus.js'), 'serve', '--host', '127.0.0.1', '--port', '0', ...options.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new ServerProcess(child);
    const deadline = Date.now() + (options.readyTimeoutMs ?? 120_000);
    for (;;) {
      const exited = await Promise.race([server.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 200))]);
      if (exited) throw new Error(`chorus serve exited (${exited.code ?? exited.signal}) before it was ready: ${server.stderr.slice(-2000)}`);
      if (server.url && (await fetch(`${server.url}/readyz`).then((r) => r.status, () => 0)) === 200) return server;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error('chorus serve was not ready in time');
      }
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get wsUrl(): string {
    return this.url.replace(/^http/, 'ws');
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resident memory now, MiB. */
  rssMiB(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
    return kb / 1024;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Log events named `event` since index `from` of the log. */
  events(event: string, from = 0): LogEvent[] {
    return this.log.slice(from).filter((e) => e.event === event);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.alive) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The transcript sink's finals (JSONL), by request id. */
export function sinkFinals(path: string): Map<string, Array<Record<string, unknown>>> {
  const byRequest = new Map<string, Array<Record<string, unknown>>>();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return byRequest;
  }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const record = JSON.parse(line) as Record<string, unknown>;
    const id = String(record.request_id ?? '');
    if (!byRequest.has(id)) byRequest.set(id, []);
    byRequest.get(id)!.push(record);
  }
  return byRequest;
}
