/**
 * A Chorus cluster on one machine, for tests and demos: N `chorus serve` processes on loopback
 * ports, each with its HAProxy agent check, HAProxy in front on the one public port, and
 * `nats-server -js` when a transcript sink names a loopback NATS server that is not running.
 * It starts them, restarts the gateways one at a time (rolling restart: SIGTERM drains one,
 * HAProxy sends new streams to the others, the new process takes its place before the next),
 * and stops them all.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../paths.js';
import { haproxyConfig, HAPROXY_DEFAULTS, type HaproxyBackend } from './haproxy-config.js';

export interface ClusterOptions {
  gateways: number;
  /** the front's port (0: any free one) */
  port: number;
  /** where the front listens; the gateways always listen on 127.0.0.1 */
  host: string;
  /** each gateway's --threads */
  threads: number;
  /** more `chorus serve` options, given to every gateway */
  serveArgs: string[];
  checkInterMs?: number;
  agentInterMs?: number;
  /** how long to wait for a gateway to become ready (model load) */
  readyTimeoutMs?: number;
  /**
   * a gateway still running this long after SIGTERM is killed (SIGKILL), as an orchestrator
   * would (Kubernetes' terminationGracePeriodSeconds); longer than its --shutdown-grace-s. Default 30 s.
   */
  killAfterMs?: number;
  /** where a gateway's stderr (JSON lines) goes; default: dropped */
  onGatewayLog?: (gateway: string, line: string) => void;
  /** progress lines for people */
  onEvent?: (line: string) => void;
}

export interface GatewayProcess {
  name: string;
  port: number;
  agentPort: number;
  url: string;
  child: ChildProcess;
  /** resolves with the exit code (or signal name) of this process */
  exited: Promise<number | string>;
}

export interface ServerStat {
  name: string;
  /** HAProxy's status: UP, DOWN, DRAIN, MAINT, NOLB, ... */
  status: string;
  weight: number;
  /** current sessions (connections) HAProxy holds to it */
  sessions: number;
  /** agent check status */
  agentStatus: string;
}

export const HAPROXY_MISSING = 'haproxy is not installed: apt-get install -y haproxy (scripts/setup.sh installs it)';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function portOpen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A loopback NATS URL among the serve options whose server is not up yet, as host and port. */
export function natsToStart(serveArgs: readonly string[], env: Readonly<Record<string, string | undefined>>): { host: string; port: number } | null {
  const sinks: string[] = [];
  serveArgs.forEach((arg, i) => {
    if (arg === '--transcript-sink' && serveArgs[i + 1]) sinks.push(serveArgs[i + 1]);
    else if (arg.startsWith('--transcript-sink=')) sinks.push(arg.slice('--transcript-sink='.length));
  });
  if (sinks.length === 0) sinks.push(...(env.CHORUS_TRANSCRIPT_SINK ?? '').split(','));
  for (const sink of sinks) {
    if (!sink.startsWith('nats://')) continue;
    const url = new URL(sink);
    if (url.hostname === '127.0.0.1' || url.hostname === 'localhost') return { host: '127.0.0.1', port: Number(url.port || 4222) };
  }
  return null;
}

export class Cluster {
  readonly gateways: GatewayProcess[] = [];
  frontUrl = '';
  private haproxy: ChildProcess | null = null;
  private nats: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'chorus-cluster-'));
  readonly statsSocket = join(this.dir, 'haproxy.sock');
  readonly configPath = join(this.dir, 'haproxy.cfg');
  private stopping = false;
  private restarting: Promise<void> | null = null;

  constructor(private readonly options: ClusterOptions) {}

  private event(line: string): void {
    this.options.onEvent?.(line);
  }

  async start(): Promise<void> {
    if (spawnSync('haproxy', ['-v']).error) throw new Error(HAPROXY_MISSING);
    try {
      const nats = natsToStart(this.options.serveArgs, process.env);
      if (nats !== null && !(await portOpen(nats.port, nats.host))) await this.startNats(nats.host, nats.port);
      const front = this.options.port === 0 ? await freePort(this.options.host) : this.options.port;
      const started = [];
      for (let i = 1; i <= this.options.gateways; i++) {
        started.push(this.spawnGateway(`g${i}`, await freePort(), await freePort()));
      }
      this.gateways.push(...started);
      await Promise.all(this.gateways.map((g) => this.waitReady(g)));
      this.writeConfig(front);
      const check = spawnSync('haproxy', ['-c', '-q', '-f', this.configPath], { encoding: 'utf8' });
      if (check.status !== 0) throw new Error(`haproxy -c refused the generated configuration: ${check.stderr}${check.stdout}`);
      this.haproxy = spawn('haproxy', ['-db', '-f', this.configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
      let haproxyErr = '';
      this.haproxy.stderr?.on('data', (chunk: Buffer) => (haproxyErr = (haproxyErr + chunk.toString()).slice(-4000)));
      this.haproxy.once('exit', (code) => {
        if (!this.stopping) this.event(`haproxy exited with ${code}: ${haproxyErr.trim()}`);
      });
      const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
      this.frontUrl = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${front}`;
      const haproxy = this.haproxy;
      await this.waitFor(
        async () => {
          if (haproxy.exitCode !== null) throw new Error(`haproxy exited with ${haproxy.exitCode}: ${haproxyErr.trim()}`);
          return (await this.stat()).filter((s) => s.status === 'UP').length === this.gateways.length;
        },
        15_000,
        'HAProxy to see every gateway up',
      );
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  private async startNats(host: string, port: number): Promise<void> {
    if (spawnSync('nats-server', ['--version']).error) throw new Error('nats-server is not installed: apt-get install -y nats-server');
    const store = join(this.dir, 'nats');
    this.nats = spawn('nats-server', ['-js', '-a', host, '-p', String(port), '-sd', store], { stdio: 'ignore' });
    await this.waitFor(() => portOpen(port, host), 10_000, `nats-server on ${host}:${port}`);
    this.event(`nats-server -js on nats://${host}:${port} (store ${store})`);
  }

  private writeConfig(frontPort: number): void {
    const backends: HaproxyBackend[] = this.gateways.map((g) => ({ name: g.name, host: '127.0.0.1', port: g.port, agentPort: g.agentPort }));
    writeFileSync(
      this.configPath,
      haproxyConfig({
        ...HAPROXY_DEFAULTS,
        checkInterMs: this.options.checkInterMs ?? HAPROXY_DEFAULTS.checkInterMs,
        agentInterMs: this.options.agentInterMs ?? HAPROXY_DEFAULTS.agentInterMs,
        bindHost: this.options.host,
        bindPort: frontPort,
        backends,
        statsSocket: this.statsSocket,
      }),
    );
  }

  private spawnGateway(name: string, port: number, agentPort: number): GatewayProcess {
    const args = [
      join(repoRoot(), 'bin', 'chorus.js'),
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--agent-port',
      String(agentPort),
      '--threads',
      String(this.options.threads),
      ...this.options.serveArgs,
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let rest = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      rest += chunk.toString();
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) this.options.onGatewayLog?.(name, line);
    });
    const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
    const gateway: GatewayProcess = { name, port, agentPort, url: `http://127.0.0.1:${port}`, child, exited };
    void exited.then((how) => {
      if (!this.stopping && this.gateways.includes(gateway)) this.event(`${name} exited (${how})`);
    });
    return gateway;
  }

  private async waitReady(gateway: GatewayProcess): Promise<void> {
    let early: number | string | null = null;
    void gateway.exited.then((how) => (early = how));
    await this.waitFor(
      async () => {
        if (early !== null) throw new Error(`${gateway.name} exited (${early}) before it was ready`);
        try {
          return (await fetch(`${gateway.url}/readyz`)).status === 200;
        } catch {
          return false;
        }
      },
      this.options.readyTimeoutMs ?? 120_000,
      `${gateway.name} to be ready`,
    );
  }

  private async waitFor(ok: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await sleep(50);
    }
  }

  /** HAProxy's view of the gateways (`show stat` on the admin socket). */
  async stat(): Promise<ServerStat[]> {
    const csv = await new Promise<string>((resolve) => {
      let text = '';
      const socket = connect(this.statsSocket);
      socket.on('connect', () => socket.write('show stat\n'));
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', () => resolve(''));
    });
    const [header, ...rows] = csv.replace(/^# /, '').trim().split('\n');
    if (!header) return [];
    const columns = header.split(',');
    const at = (row: string[], name: string) => row[columns.indexOf(name)] ?? '';
    return rows
      .map((line) => line.split(','))
      .filter((row) => at(row, 'pxname') === 'gateways' && at(row, 'svname') !== 'BACKEND')
      .map((row) => ({
        name: at(row, 'svname'),
        status: at(row, 'status'),
        weight: Number(at(row, 'weight')),
        sessions: Number(at(row, 'scur')),
        agentStatus: at(row, 'agent_status'),
      }));
  }

  /**
   * Restarts every gateway, one at a time: SIGTERM (it turns unready at once, drains its
   * streams with their finals and 1001, exits), a new process on the same ports, then the next
   * once HAProxy sees the new one up. Resolves when all are back.
   */
  rollingRestart(): Promise<void> {
    this.restarting ??= (async () => {
      try {
        for (let i = 0; i < this.gateways.length && !this.stopping; i++) {
          const old = this.gateways[i];
          this.event(`rolling restart: draining ${old.name}`);
          const how = await this.terminate(old);
          if (this.stopping) return;
          const fresh = this.spawnGateway(old.name, old.port, old.agentPort);
          this.gateways[i] = fresh;
          await this.waitReady(fresh);
          await this.waitFor(async () => (await this.stat()).some((s) => s.name === fresh.name && s.status === 'UP'), 15_000, `HAProxy to see ${fresh.name} up`);
          this.event(`rolling restart: ${old.name} drained (exit ${how}) and back`);
        }
      } finally {
        this.restarting = null;
      }
    })();
    return this.restarting;
  }

  /** SIGTERM (drain), then SIGKILL if it has not exited within killAfterMs; resolves with how it exited. */
  private async terminate(gateway: GatewayProcess): Promise<number | string> {
    if (gateway.child.exitCode === null && gateway.child.signalCode === null) gateway.child.kill('SIGTERM');
    const killAfterMs = this.options.killAfterMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), killAfterMs)));
    const first = await Promise.race([gateway.exited, late]);
    clearTimeout(timer);
    if (first !== 'late') return first;
    this.event(`${gateway.name} still running ${killAfterMs} ms after SIGTERM: killed`);
    gateway.child.kill('SIGKILL');
    return gateway.exited;
  }

  /** Stops everything: the gateways drain (SIGTERM) while the front still carries their streams, then HAProxy and NATS. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await Promise.all(this.gateways.map((g) => this.terminate(g)));
    for (const child of [this.haproxy, this.nats]) {
      if (child === null || child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
