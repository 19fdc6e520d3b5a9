/**
 * Deepgram's `callback` for live streams: every final `Results` and the closing `Metadata` of
 * a stream are sent to the URL the client named, as JSON, in the order they were produced.
 *
 * Delivery outlives the stream and survives a receiver that is down for a while:
 *  - each stream's messages go one at a time, so the receiver sees them in order; a message
 *    that fails (a network error or any status but 2xx) is retried with exponential backoff
 *    (0.5 s doubling to at most 30 s) while later ones of that stream wait behind it;
 *  - after `maxAttempts` tries of one message the stream's delivery is given up: one
 *    `callback_given_up` log line names the request, the host, the last error and every final
 *    transcript that did not get through (so none is lost silently);
 *  - all streams together hold at most `maxQueued` messages; a message beyond that is not
 *    queued and is logged (`callback_dropped`) with its transcript;
 *  - at shutdown, queued messages get the grace period to go out, and what is left is logged
 *    as given up.
 * The server calls only hosts its operator allowed (--callback-host, stream-admission.ts).
 */
import type { GatewayLog } from './log.js';
import type { ListenParams } from './protocol.js';
import type { ServerMessage } from './protocol-messages.js';
import type { StreamDelivery } from './session-bridge.js';

export interface CallbackPolicy {
  /** Tries of one message before the stream's delivery is given up. */
  maxAttempts: number;
  /** Wait before the first retry; doubled for each next one, up to maxDelayMs. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** One request's limit; a receiver slower than this counts as failing. */
  requestTimeoutMs: number;
  /** Messages waiting across all streams. */
  maxQueued: number;
}

/**
 * Ten tries over about two minutes, as Deepgram retries a callback (it spaces its tries
 * further apart), and room for about 30 minutes of finals of 100 streams.
 */
export const DEFAULT_CALLBACK_POLICY: CallbackPolicy = {
  maxAttempts: 10,
  firstDelayMs: 500,
  maxDelayMs: 30_000,
  requestTimeoutMs: 10_000,
  maxQueued: 50_000,
};

export type CallbackOutcome = 'delivered' | 'given_up' | 'dropped';

interface Pending {
  message: ServerMessage;
  body: string;
}

class CallbackStream implements StreamDelivery {
  readonly queue: Pending[] = [];
  private ended = false;
  private running = false;
  private givenUp = false;
  private wake: (() => void) | null = null;
  /** Settles once everything queued is delivered or given up. */
  done: Promise<void> = Promise.resolve();

  constructor(
    private readonly dispatcher: CallbackDispatcher,
    readonly requestId: string,
    private readonly url: URL,
    private readonly method: 'POST' | 'PUT',
  ) {}

  deliver(message: ServerMessage): void {
    if (this.ended || this.givenUp) return;
    if (!this.dispatcher.reserve()) {
      this.dispatcher.count('dropped', 1);
      this.dispatcher.log('callback_dropped', {
        request_id: this.requestId,
        host: this.url.host,
        reason: `more than ${this.dispatcher.policy.maxQueued} callback messages are waiting`,
        ...summary(message),
      });
      return;
    }
    this.queue.push({ message, body: JSON.stringify(message) });
    if (!this.running) {
      this.running = true;
      this.dispatcher.track(this);
      this.done = this.run();
    }
  }

  end(): void {
    this.ended = true;
  }

  /** Stops waiting between retries and gives up what is left (shutdown after its grace). */
  abandon(reason: string): void {
    this.giveUp(reason, 0);
    this.wake?.();
  }

  /** Sends the queue in order; `running` is cleared in the same turn as the queue is found empty. */
  private async run(): Promise<void> {
    try {
      await this.sendQueued();
    } finally {
      this.running = false;
      this.dispatcher.untrack(this);
    }
  }

  private async sendQueued(): Promise<void> {
    while (this.queue.length > 0 && !this.givenUp) {
      const next = this.queue[0];
      let delay = this.dispatcher.policy.firstDelayMs;
      for (let attempt = 1; ; attempt++) {
        const error = await this.attempt(next.body);
        if (this.givenUp) return;
        if (error === null) break;
        if (attempt >= this.dispatcher.policy.maxAttempts) return this.giveUp(error, attempt);
        if (attempt === 1) this.dispatcher.log('callback_retrying', { request_id: this.requestId, host: this.url.host, error });
        await this.sleep(delay);
        if (this.givenUp) return;
        delay = Math.min(delay * 2, this.dispatcher.policy.maxDelayMs);
      }
      this.queue.shift();
      this.dispatcher.release(1);
      this.dispatcher.count('delivered', 1);
    }
  }

  /** null on success, else what went wrong. */
  private async attempt(body: string): Promise<string | null> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    // fetch refuses URLs with credentials; Deepgram documents them for Basic auth.
    if (this.url.username !== '') {
      const user = decodeURIComponent(this.url.username);
      const password = decodeURIComponent(this.url.password);
      headers.Authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    }
    const target = new URL(this.url);
    target.username = '';
    target.password = '';
    try {
      const response = await fetch(target, {
        method: this.method,
        headers,
        body,
        // A redirect could lead the server to a host its operator did not allow.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.dispatcher.policy.requestTimeoutMs),
      });
      await response.arrayBuffer().catch(() => undefined);
      return response.status >= 200 && response.status < 300 ? null : `HTTP ${response.status}`;
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
    }
  }

  private giveUp(error: string, attempts: number): void {
    if (this.givenUp) return;
    this.givenUp = true;
    const lost = this.queue.splice(0);
    this.dispatcher.release(lost.length);
    if (lost.length === 0) return;
    this.dispatcher.count('given_up', lost.length);
    this.dispatcher.log('callback_given_up', {
      request_id: this.requestId,
      host: this.url.host,
      attempts,
      error,
      undelivered_messages: lost.length,
      undelivered_finals: lost.filter((p) => p.message.type === 'Results').map((p) => summary(p.message)),
    });
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

function summary(message: ServerMessage): Record<string, unknown> {
  if (message.type !== 'Results') return { type: message.type };
  return {
    type: 'Results',
    channel_index: message.channel_index,
    start: message.start,
    duration: message.duration,
    transcript: message.channel.alternatives[0].transcript,
  };
}

export class CallbackDispatcher {
  private queued = 0;
  private readonly streams = new Set<CallbackStream>();

  constructor(
    readonly log: GatewayLog,
    readonly policy: CallbackPolicy = DEFAULT_CALLBACK_POLICY,
    /** What became of messages, for metrics. */
    readonly count: (outcome: CallbackOutcome, messages: number) => void = () => {},
  ) {}

  /** Messages waiting, across all streams. */
  get pending(): number {
    return this.queued;
  }

  /** The stream's delivery, or null when the client asked for no callback. */
  open(params: Pick<ListenParams, 'callback' | 'callbackMethod'>, requestId: string): StreamDelivery | null {
    if (params.callback === null) return null;
    return new CallbackStream(this, requestId, new URL(params.callback), params.callbackMethod);
  }

  /** Lets queued messages go out for up to `graceMs`, then gives up the rest (logged). */
  async close(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all([...this.streams].map((s) => s.done)), deadline]);
    clearTimeout(timer);
    for (const stream of this.streams) stream.abandon('the server shut down before the receiver accepted these messages');
    await Promise.all([...this.streams].map((s) => s.done));
    this.streams.clear();
  }

  /** Streams with messages on their way; shutdown waits for these. */
  track(stream: CallbackStream): void {
    this.streams.add(stream);
  }

  untrack(stream: CallbackStream): void {
    this.streams.delete(stream);
  }

  reserve(): boolean {
    if (this.queued >= this.policy.maxQueued) return false;
    this.queued += 1;
    return true;
  }

  release(count: number): void {
    this.queued -= count;
  }
}
