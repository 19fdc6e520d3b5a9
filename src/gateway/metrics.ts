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
import type { StepStats } from '../engine/device-scheduler.js';
import type { CapacitySnapshot } from '../stream/session-contract.js';
import type { KvPoolStatus } from '../stream/session-factory.js';

/** The engine's state read at every scrape: the device's memory pool and its queue. */
export interface DeviceStatus {
  kvPool(): KvPoolStatus;
  readonly queueDepth: number;
}

/** From a few tens of milliseconds (an idle server's interim) to well past any usable bound. */
const LATENCY_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30];
const LAG_BUCKETS = [0, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];
/** A decoder step of one token takes milliseconds; a full-window encode on a CPU, a second or so. */
const STEP_BUCKETS = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

export class GatewayMetrics {
  readonly registry = new Registry();
  private capacitySource: (() => CapacitySnapshot) | null = null;
  private device: DeviceStatus | null = null;
  private delivery: { callbackPending(): number; sinkPending(): number | undefined } | null = null;

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

  readonly callbackMessages = new Counter({
    name: 'chorus_callback_messages_total',
    help: 'Deepgram callback messages (finals and Metadata) by outcome: delivered, given_up (retries exhausted or shutdown), dropped (queue full)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly sinkRecords = new Counter({
    name: 'chorus_transcript_sink_records_total',
    help: 'Final records the NATS transcript sink finished with, by outcome: stored, duplicate (already stored under its id), dropped (queue full or shutdown)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly engineBatchSize = new Histogram({
    name: 'chorus_engine_batch_size',
    help: 'Sessions decoded together in one engine step',
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });

  readonly engineStepSeconds = new Histogram({
    name: 'chorus_engine_step_seconds',
    help: 'Wall time of the decoder call or the encoder runs of one engine step',
    labelNames: ['kind'] as const,
    buckets: STEP_BUCKETS,
    registers: [this.registry],
  });

  constructor() {
    // Event-loop delay and heap size are the first things to look at when latency grows.
    collectDefaultMetrics({ register: this.registry });
    // The count admission and /readyz read, so the three never disagree: a session whose client
    // has gone is in it until its finals are flushed and its KV slots are free.
    this.scraped('chorus_sessions_active', 'Live transcription sessions holding engine resources now', () =>
      this.capacitySource?.().sessionsActive,
    );
    this.scraped('chorus_capacity_sessions', 'Most live sessions admitted at once (--max-sessions or what the KV pool covers)', () =>
      this.capacitySource?.().sessionsMax,
    );
    this.scraped('chorus_capacity_accepting', '1 while a new live session would be admitted, else 0', () => {
      const capacity = this.capacitySource?.();
      return capacity === undefined ? undefined : Number(capacity.accepting);
    });
    this.scraped('chorus_session_lag_p95_seconds', 'p95 lag of the live sessions now, as admission control sees it', () =>
      this.capacitySource?.().lagP95S,
    );
    this.scraped('chorus_kv_pool_windows_in_use', 'KV pool window slots (cross-attention K/V) held now', () => this.device?.kvPool().windowsInUse);
    this.scraped('chorus_kv_pool_windows_total', 'KV pool window slots', () => this.device?.kvPool().windowsTotal);
    this.scraped('chorus_kv_pool_streaming_windows_in_use', 'KV pool live-stream windows (encoder and cross-attention K/V) held now', () =>
      this.device?.kvPool().streamingWindowsInUse,
    );
    this.scraped('chorus_kv_pool_streaming_windows_total', 'KV pool live-stream window slots', () => this.device?.kvPool().streamingWindowsTotal);
    this.scraped('chorus_kv_pool_sessions_in_use', 'KV pool hypothesis slots (self-attention K/V) held now', () => this.device?.kvPool().sessionsInUse);
    this.scraped('chorus_kv_pool_sessions_total', 'KV pool hypothesis slots', () => this.device?.kvPool().sessionsTotal);
    this.scraped('chorus_kv_pool_bytes', 'KV pool size in bytes when every slot is in use (slots are allocated on first use)', () =>
      this.device?.kvPool().bytes,
    );
    this.scraped('chorus_callback_pending', 'Deepgram callback messages waiting to be delivered, all streams', () => this.delivery?.callbackPending());
    this.scraped('chorus_transcript_sink_pending', 'Final records waiting for the NATS transcript sink to acknowledge them (what a crash would lose)', () =>
      this.delivery?.sinkPending(),
    );
    this.scraped('chorus_scheduler_queue_depth', 'Encoder and decoder requests waiting for the device', () => this.device?.queueDepth);
  }

  /** Delivery gauges follow these from now on. */
  watchDelivery(delivery: { callbackPending(): number; sinkPending(): number | undefined }): void {
    this.delivery = delivery;
  }

  /** Capacity gauges follow this source from now on. */
  watchCapacity(source: () => CapacitySnapshot): void {
    this.capacitySource = source;
  }

  /** Pool and queue gauges follow this device from now on. */
  watchDevice(device: DeviceStatus): void {
    this.device = device;
  }

  /** For the engine's scheduler to call once per device step (LoadOptions.onStep). */
  observeStep(step: StepStats): void {
    if (step.decodeBatch > 0) {
      this.engineBatchSize.observe(step.decodeBatch);
      this.engineStepSeconds.observe({ kind: 'decode' }, step.decodeMs / 1000);
    }
    if (step.encodeWindows > 0) this.engineStepSeconds.observe({ kind: 'encode' }, step.encodeMs / 1000);
  }

  /** A gauge read at scrape time; it stays 0 until `read` has an answer (no engine attached yet). */
  private scraped(name: string, help: string, read: () => number | undefined): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        const value = read();
        if (value !== undefined) this.set(value);
      },
    });
  }
}
