/**
 * `chorus cluster`: N gateways and HAProxy in front of them on one machine (src/cluster/), for
 * tests and demos. Options it does not know are given to every `chorus serve`. SIGHUP restarts
 * the gateways one at a time (rolling restart); SIGINT or SIGTERM drains them all and stops
 * HAProxy (and the NATS server it started); a second signal exits at once.
 */
import { parseArgs } from 'node:util';
import { Cluster } from '../cluster/cluster.js';

export const CLUSTER_USAGE = `chorus cluster [options] [chorus serve options...]
  --gateways N         gateways to start (2)
  --port P             the front's port, HAProxy (8080; 0 for any free port)
  --host ADDR          the front's address (127.0.0.1); gateways listen on 127.0.0.1 ports chosen at start
  --threads T          each gateway's --threads (1)
  --check-inter-ms MS  HAProxy's /readyz check interval (1000)
  --agent-inter-ms MS  HAProxy's agent check interval (500)
  --kill-after-s S     SIGKILL a gateway still running S s after its SIGTERM (30; keep it above --shutdown-grace-s)
  --rolling-restart-after S  restart every gateway, one at a time, S seconds after start (also: kill -HUP)
  other options (--max-sessions, --transcript-sink nats://127.0.0.1:4222/calls, ...) go to every chorus serve;
  a transcript sink on a loopback NATS server that is not running starts nats-server -js there`;

const OWN = {
  gateways: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  threads: { type: 'string' },
  'check-inter-ms': { type: 'string' },
  'agent-inter-ms': { type: 'string' },
  'rolling-restart-after': { type: 'string' },
  'kill-after-s': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function positiveInteger(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name}: expected an integer of at least ${min}, got "${value}"`);
  return n;
}

export async function runCluster(args: string[]): Promise<number> {
  // Options of its own are taken out; the rest is chorus serve's.
  const own: string[] = [];
  const serveArgs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [flag] = args[i].split('=');
    const name = flag.replace(/^--?/, '');
    if (flag.startsWith('-') && (name in OWN || flag === '-h')) {
      own.push(args[i]);
      if (!args[i].includes('=') && OWN[(flag === '-h' ? 'help' : name) as keyof typeof OWN].type === 'string') own.push(args[++i]);
    } else {
      serveArgs.push(args[i]);
    }
  }
  let options;
  try {
    const { values } = parseArgs({ args: own, options: OWN, strict: true, allowPositionals: false });
    if (values.help) {
      process.stdout.write(CLUSTER_USAGE + '\n');
      return 0;
    }
    options = {
      gateways: positiveInteger('gateways', values.gateways, 2),
      port: positiveInteger('port', values.port, 8080, 0),
      host: values.host ?? '127.0.0.1',
      threads: positiveInteger('threads', values.threads, 1, 0),
      checkInterMs: positiveInteger('check-inter-ms', values['check-inter-ms'], 1000, 100),
      agentInterMs: positiveInteger('agent-inter-ms', values['agent-inter-ms'], 500, 100),
      killAfterMs: positiveInteger('kill-after-s', values['kill-after-s'], 30, 1) * 1000,
      rollingRestartAfterS: values['rolling-restart-after'] === undefined ? null : positiveInteger('rolling-restart-after', values['rolling-restart-after'], 0, 0),
    };
  } catch (error) {
    process.stderr.write(`chorus cluster: ${(error as Error).message}\n${CLUSTER_USAGE}\n`);
    return 2;
  }
  const say = (line: string) => process.stdout.write(`chorus cluster: ${line}\n`);
  const cluster = new Cluster({
    ...options,
    serveArgs,
    onEvent: say,
    onGatewayLog: (gateway, line) => process.stderr.write(`${gateway} ${line}\n`),
  });
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      if (stopping) process.exit(130);
      stopping = true;
      say('stopping: draining every gateway');
      void cluster.stop().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  const restart = () => {
    void cluster.rollingRestart().then(
      () => say('rolling restart done'),
      (error: unknown) => say(`rolling restart failed: ${(error as Error).message}`),
    );
  };
  process.on('SIGHUP', restart);
  try {
    await cluster.start();
  } catch (error) {
    process.stderr.write(`chorus cluster: ${(error as Error).message}\n`);
    return 1;
  }
  for (const g of cluster.gateways) say(`${g.name} on ${g.url} (agent check on port ${g.agentPort})`);
  say(`front (HAProxy, ${cluster.configPath}) listening on ${cluster.frontUrl}`);
  if (options.rollingRestartAfterS !== null) setTimeout(restart, options.rollingRestartAfterS * 1000).unref();
  await stopped;
  say('stopped');
  return 0;
}
