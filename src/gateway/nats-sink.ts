/**
 * The transcript sink on NATS JetStream (`--transcript-sink nats://HOST:PORT/SUBJECT`).
 *
 * Every final is published to `SUBJECT.<request_id>` as its FinalRecord in JSON, with
 * `Nats-Msg-Id` set to the record's `id` (`<request_id>.<channel>.<seq>`): JetStream drops a
 * message whose id it already stored within the stream's duplicate window (2 minutes unless
 * the operator set another), so a publish retried after a lost acknowledgement is never a
 * second copy. One call is one subject, so a consumer replays a call with a subject filter.
 *
 * At start the sink finds the stream that stores `SUBJECT.>` or creates one (named after
 * the subject, file storage). Publishing never blocks a session: records wait in a bounded
 * in-memory queue and go out one at a time, in order, each retried (the same id) with backoff
 * until JetStream acknowledges it, across reconnects.
 *
 * What a crash of the gateway can lose is what that queue holds: the finals produced but not
 * yet acknowledged, at most `maxPending` (normally the last few finals; while NATS is
 * unreachable, everything since). Beyond `maxPending`, new finals are logged
 * (`transcript_sink_dropped`, with their transcript) instead of queued, and at shutdown the
 * queue gets `closeGraceMs` before what is left is logged the same way.
 */
import { connect, type JetStreamClient, type NatsConnection } from 'nats';
import type { GatewayLog } from './log.js';
import type { FinalRecord, SinkOutcome, TranscriptSink } from './transcript-sink.js';

export interface NatsSinkOptions {
  /** nats://[user:pass@]HOST:PORT */
  servers: string;
  /** Records go to `<subject>.<request_id>`. */
  subject: string;
  /** Records waiting for an acknowledgement; more are logged and dropped. */
  maxPending?: number;
  /** At close, time for the queue to go out. */
  closeGraceMs?: number;
  /** Longest wait between tries of one record. */
  maxRetryDelayMs?: number;
}

const DEFAULT_MAX_PENDING = 10_000;
const PUBLISH_TIMEOUT_MS = 5000;

/** The JetStream stream named after the subject: `chorus.finals` stores in `CHORUS_FINALS`. */
export function streamNameFor(subject: string): string {
  return subject.replace(/[.>*]/g, '_').toUpperCase();
}

export class NatsTranscriptSink implements TranscriptSink {
  private readonly queue: FinalRecord[] = [];
  private connection: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private pumping: Promise<void> | null = null;
  private stopped = false;
  private wake: (() => void) | null = null;
  /** Settles once connected and the stream exists (or the sink is closed first). */
  readonly ready: Promise<void>;
  /** Records acknowledged as stored, and of those, how many JetStream reported as duplicates. */
  published = 0;
  duplicates = 0;
  private onOutcome: (outcome: SinkOutcome) => void = () => {};

  constructor(
    private readonly options: NatsSinkOptions,
    private readonly log: GatewayLog,
  ) {
    this.ready = this.connectLoop();
  }

  get pendingCount(): number {
    return this.queue.length;
  }

  pending(): number {
    return this.queue.length;
  }

  watch(onOutcome: (outcome: SinkOutcome) => void): void {
    this.onOutcome = onOutcome;
  }

  write(record: FinalRecord): void {
    if (this.stopped) return this.drop(record, 'the sink is closed');
    if (this.queue.length >= (this.options.maxPending ?? DEFAULT_MAX_PENDING)) {
      return this.drop(record, `more than ${this.options.maxPending ?? DEFAULT_MAX_PENDING} finals are waiting for NATS`);
    }
    this.queue.push(record);
    this.kick();
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.closeGraceMs ?? 5000)));
    await Promise.race([this.drained(), deadline]);
    clearTimeout(timer);
    this.stopped = true;
    this.wake?.();
    for (const record of this.queue.splice(0)) this.drop(record, 'the gateway shut down before NATS acknowledged it');
    await this.pumping;
    await this.connection?.drain().catch(() => this.connection?.close());
  }

  private async drained(): Promise<void> {
    while (this.queue.length > 0 && !this.stopped) {
      await this.pumping;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private drop(record: FinalRecord, reason: string): void {
    this.onOutcome('dropped');
    this.log('transcript_sink_dropped', {
      sink: 'nats',
      reason,
      id: record.id,
      request_id: record.request_id,
      channel: record.channel,
      seq: record.seq,
      start: record.start,
      duration: record.duration,
      transcript: record.transcript,
    });
  }

  private async connectLoop(): Promise<void> {
    let delay = 250;
    let reported = false;
    while (!this.stopped) {
      try {
        const connection = await connect({
          servers: this.options.servers,
          name: 'chorus-gateway',
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1000,
        });
        const manager = await connection.jetstreamManager();
        const filter = `${this.options.subject}.>`;
        // An operator's own stream may already store the subject; otherwise the sink makes one.
        const existing = await manager.streams.find(`${this.options.subject}.probe`).catch(() => null);
        const stream = existing ?? streamNameFor(this.options.subject);
        if (existing === null) await manager.streams.add({ name: stream, subjects: [filter] });
        if (this.stopped) return void (await connection.close());
        this.connection = connection;
        this.js = connection.jetstream();
        this.log('transcript_sink_connected', { sink: 'nats', servers: redact(this.options.servers), stream, subject: filter });
        this.kick();
        return;
      } catch (error) {
        if (!reported) this.log('transcript_sink_failed', { sink: 'nats', servers: redact(this.options.servers), error: message(error), retrying: true });
        reported = true;
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.options.maxRetryDelayMs ?? 10_000);
      }
    }
  }

  private kick(): void {
    if (this.js === null || this.pumping !== null) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      if (this.queue.length > 0 && !this.stopped) this.kick();
    });
  }

  /** One record at a time, in order; a record leaves the queue only once JetStream has it. */
  private async pump(): Promise<void> {
    let delay = 100;
    let failing = false;
    while (this.queue.length > 0 && !this.stopped) {
      const record = this.queue[0];
      try {
        const ack = await this.js!.publish(`${this.options.subject}.${record.request_id}`, JSON.stringify(record), {
          msgID: record.id,
          timeout: PUBLISH_TIMEOUT_MS,
        });
        this.published += 1;
        if (ack.duplicate) this.duplicates += 1;
        this.onOutcome(ack.duplicate ? 'duplicate' : 'stored');
        if (this.queue[0] === record) this.queue.shift();
        if (failing) this.log('transcript_sink_recovered', { sink: 'nats', pending: this.queue.length });
        failing = false;
        delay = 100;
      } catch (error) {
        if (!failing) this.log('transcript_sink_failed', { sink: 'nats', error: message(error), pending: this.queue.length, retrying: true });
        failing = true;
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.options.maxRetryDelayMs ?? 10_000);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      this.wake = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The server list without a password, for the log. */
function redact(servers: string): string {
  return servers.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
