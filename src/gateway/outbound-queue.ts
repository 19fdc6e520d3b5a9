/**
 * The bounded queue between a session's results and its socket: backpressure end to end
 * (STYLE.md). Messages go to the socket only while its buffer is below a high-water mark, so
 * a client that stops reading holds its backlog here, where it can still be thinned, instead
 * of in a socket buffer that only grows.
 *
 * Under backpressure interim results are dropped first: an interim still queued when a newer
 * interim or a final of the same channel arrives is superseded by it and removed. Finals and
 * control messages (Metadata, Error, events) are never dropped; when they alone exceed the
 * limits the client is too slow to serve, and the owner is told once through `onOverflow`.
 */

export type OutboundKind = 'final' | 'interim' | 'control';

export interface OutboundSocket {
  /** Bytes handed to the socket and not yet written to the network. */
  readonly bufferedAmount: number;
  /** `written` runs once the bytes have left for the network, or with the error that stopped them. */
  send(data: string | Uint8Array, written: (error?: Error) => void): void;
}

export interface OutboundItem<T> {
  /** What the owner needs back for undelivered messages (logging, the transcript sink). */
  payload: T;
  data: string | Uint8Array;
  kind: OutboundKind;
  /** Interims supersede each other only within a lane (a channel of the stream). */
  lane: number;
  /** Runs when the message is handed to the socket; latency is measured there. */
  onSent?: () => void;
}

export interface OutboundLimits {
  /** Undropable messages waiting here before the client counts as too slow. */
  maxMessages: number;
  /** Bytes waiting here plus bytes in the socket buffer before the client counts as too slow. */
  maxBytes: number;
  /** Socket buffer level above which messages wait here instead. */
  highWaterBytes: number;
}

export interface OutboundHooks {
  onDropped(kind: OutboundKind): void;
  onOverflow(): void;
}

/**
 * A few results' worth: above this the socket is not draining as fast as results arrive,
 * and holding messages here keeps them droppable.
 */
export const DEFAULT_HIGH_WATER_BYTES = 64 * 1024;

function byteLength(data: string | Uint8Array): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}

export class OutboundQueue<T> {
  private readonly waiting: Array<OutboundItem<T> & { bytes: number }> = [];
  private waitingBytes = 0;
  private undroppable = 0;
  private closed = false;
  private emptied: Array<() => void> = [];

  constructor(
    private readonly socket: OutboundSocket,
    private readonly limits: OutboundLimits,
    private readonly hooks: OutboundHooks,
  ) {}

  get length(): number {
    return this.waiting.length;
  }

  /** Returns false when the queue is closed and the message was not taken. */
  push(item: OutboundItem<T>): boolean {
    if (this.closed) return false;
    if (item.kind !== 'control') this.removeSupersededInterims(item.lane);
    const bytes = byteLength(item.data);
    this.waiting.push({ ...item, bytes });
    this.waitingBytes += bytes;
    if (item.kind !== 'interim') this.undroppable++;
    this.pump();
    if (this.closed) return true;
    const tooMany = this.undroppable > this.limits.maxMessages;
    const tooLarge = this.waitingBytes + this.socket.bufferedAmount > this.limits.maxBytes;
    if (this.waiting.length > 0 && (tooMany || tooLarge)) this.hooks.onOverflow();
    return true;
  }

  /** Resolves once every message pushed so far has been handed to the socket, or the queue closed. */
  whenEmpty(): Promise<void> {
    if (this.waiting.length === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.emptied.push(resolve));
  }

  /** Stops sending; returns what was never handed to the socket, in order. */
  close(): Array<OutboundItem<T>> {
    this.closed = true;
    const unsent = this.waiting.splice(0).map(({ bytes: _bytes, ...item }) => item);
    this.waitingBytes = 0;
    this.undroppable = 0;
    this.notifyEmptied();
    return unsent;
  }

  private removeSupersededInterims(lane: number): void {
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const queued = this.waiting[i];
      if (queued.kind !== 'interim' || queued.lane !== lane) continue;
      this.waiting.splice(i, 1);
      this.waitingBytes -= queued.bytes;
      this.hooks.onDropped('interim');
    }
  }

  private pump(): void {
    while (!this.closed && this.waiting.length > 0 && this.socket.bufferedAmount < this.limits.highWaterBytes) {
      const item = this.waiting.shift()!;
      this.waitingBytes -= item.bytes;
      if (item.kind !== 'interim') this.undroppable--;
      // A failed write means the socket is going away; its close handler ends the session.
      this.socket.send(item.data, (error) => {
        if (!error) this.pump();
      });
      item.onSent?.();
    }
    if (this.waiting.length === 0) this.notifyEmptied();
  }

  private notifyEmptied(): void {
    const waiters = this.emptied;
    this.emptied = [];
    for (const resolve of waiters) resolve();
  }
}
