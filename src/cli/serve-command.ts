/**
 * `chorus serve`: the gateway. It listens first and loads the model after, so the process is
 * visibly alive (`/healthz`) while the weights load and becomes ready (`/readyz`) when they
 * are. SIGINT or SIGTERM drains it (GatewayServer.shutdown): /readyz turns 503 at once, new
 * streams and files are refused with 503, live streams get their finals and a 1001 close,
 * files in flight their answer, then the process exits; a second signal exits at once.
 */
import { ConfigError, GATEWAY_USAGE, parseGatewayConfig } from '../gateway/config.js';
import { jsonLinesLog } from '../gateway/log.js';
import { GatewayServer } from '../gateway/server.js';
import { openTranscriptSinks } from '../gateway/transcript-sink.js';
import { whisperFileTranscriber } from '../gateway/transcriptions.js';
import { WhisperSessionFactory } from '../stream/session-factory.js';

export async function runServe(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(GATEWAY_USAGE + '\n');
    return 0;
  }
  let config;
  try {
    config = parseGatewayConfig(args, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`chorus serve: ${error.message}\n${GATEWAY_USAGE}\n`);
    return 2;
  }
  const log = jsonLinesLog(process.stderr);
  const sink = openTranscriptSinks(config.transcriptSinks, log);
  let server: GatewayServer;
  try {
    server = new GatewayServer({ config, log, sink });
  } catch (error) {
    // Only the TLS files are read here: a path or PEM mistake is the operator's to fix.
    process.stderr.write(`chorus serve: cannot use the TLS certificate or key: ${(error as Error).message}\n`);
    await sink?.close();
    return 2;
  }
  const url = await server.start();
  process.stdout.write(`chorus: listening on ${url} (loading ${config.model})\n`);

  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      log('shutting_down', { signal });
      void server.shutdown().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });

  let factory: WhisperSessionFactory;
  try {
    factory = await WhisperSessionFactory.open({
      model: config.model,
      threads: config.threads,
      precision: config.precision ?? undefined,
      maxSessions: config.maxSessions,
      fileJobs: 1,
      kvBudgetBytes: config.kvBudgetBytes ?? undefined,
      maxLagS: config.maxLagS,
      batching: config.batching,
      onStep: (step) => server.metrics.observeStep(step),
    });
  } catch (error) {
    // Without a model the server can never become ready; stop listening so the process exits.
    await server.shutdown();
    await sink?.close();
    throw error;
  }
  server.attach({ sessions: factory, files: whisperFileTranscriber(factory.model, factory.modelName), device: factory });
  const pool = factory.kvPool();
  log('ready', {
    url,
    model: config.model,
    max_sessions: factory.capacity().sessionsMax,
    kv_pool_mib: Math.round(pool.bytes / 2 ** 20),
    kv_pool_windows: pool.windowsTotal,
    kv_pool_streaming_windows: pool.streamingWindowsTotal,
    kv_pool_sessions: pool.sessionsTotal,
    batching: config.batching,
    agent_port: server.agentPortInUse,
  });

  await stopped;
  await sink?.close();
  factory.close();
  return 0;
}
