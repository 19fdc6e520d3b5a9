/**
 * The gateway's Prometheus metrics, named and defined as in DESIGN.md ("What the metrics
 * mean"). Each server owns its registry rather than prom-client's global one, so two servers
 * in one process (tests, or a future multi-model process) never mix their counts.
 *
 * Latencies are a server-side approximation of DESIGN.md's client-side definitions: the wall
 * time at which a result is handed to the socket minus the wall time at which the server
 * received the audio message holding the end of the word. It leaves out network transit both
 * ways and the client's own buffering, so a client measures somewhat more.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** From a few tens of milliseconds (an idle server's interim) to well past any usable bound. */
const LATENCY_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30];
const LAG_BUCKETS = [0, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];

export class GatewayMetrics {
  readonly registry = new Registry();

  readonly sessionsActive = new Gauge({
    name: 'chorus_sessions_active',
    help: 'Live transcription sessions open now',
    registers: [this.registry],
  });

  /** outcome: `completed` (CloseStream), `disconnected` (client vanished), or the error code that ended it. */
  readonly sessionsTotal = new Counter({
    name: 'chorus_sessions_total',
    help: 'Live transcription sessions ended, by how they ended',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly audioSeconds = new Counter({
    name: 'chorus_audio_seconds_total',
    help: 'Seconds of live audio received and decoded',
    registers: [this.registry],
  });

  /** Observed with every Results message, so the distribution shows sessions falling behind. */
  readonly sessionLag = new Histogram({
    name: 'chorus_session_lag_seconds',
    help: 'Audio received minus audio whose results were emitted, per Results message sent',
    buckets: LAG_BUCKETS,
    registers: [this.registry],
  });

  readonly finalLatency = new Histogram({
    name: 'chorus_final_latency_seconds',
    help: 'Per word: final result sent minus arrival of the audio holding the word end (server side)',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly interimLatency = new Histogram({
    name: 'chorus_interim_latency_seconds',
    help: 'Per word: first interim result holding it sent minus arrival of the audio holding its end (server side)',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly errors = new Counter({
    name: 'chorus_errors_total',
    help: 'Errors reported to clients (refused upgrades, Error messages, HTTP errors), by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly messagesDropped = new Counter({
    name: 'chorus_messages_dropped_total',
    help: 'Server messages not sent because the client read too slowly, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  /** For the engine's scheduler to observe once per decoder step; the gateway never does. */
  readonly engineBatchSize = new Histogram({
    name: 'chorus_engine_batch_size',
    help: 'Sessions decoded together in one engine step',
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });

  constructor() {
    // Event-loop delay and heap size are the first things to look at when latency grows.
    collectDefaultMetrics({ register: this.registry });
  }
}
