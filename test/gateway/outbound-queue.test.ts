import { describe, expect, it } from 'vitest';
import { OutboundQueue, type OutboundKind, type OutboundSocket } from '../../src/gateway/outbound-queue.js';

/** A socket whose buffer drains only when the test says so. */
class StalledSocket implements OutboundSocket {
  bufferedAmount = 0;
  readonly sent: string[] = [];
  private pending: Array<{ bytes: number; written: (error?: Error) => void }> = [];

  send(data: string | Uint8Array, written: (error?: Error) => void): void {
    this.sent.push(String(data));
    this.bufferedAmount += typeof data === 'string' ? data.length : data.byteLength;
    this.pending.push({ bytes: typeof data === 'string' ? data.length : data.byteLength, written });
  }

  drain(): void {
    for (const { bytes, written } of this.pending.splice(0)) {
      this.bufferedAmount -= bytes;
      written();
    }
  }
}

function setUp(limits: { maxMessages?: number; maxBytes?: number } = {}) {
  const socket = new StalledSocket();
  const dropped: OutboundKind[] = [];
  let overflows = 0;
  const queue = new OutboundQueue<string>(
    socket,
    { maxMessages: limits.maxMessages ?? 100, maxBytes: limits.maxBytes ?? 1_000_000, highWaterBytes: 10 },
    { onDropped: (kind) => dropped.push(kind), onOverflow: () => overflows++ },
  );
  const push = (data: string, kind: OutboundKind, lane = 0) => queue.push({ payload: data, data, kind, lane });
  return { socket, queue, dropped, push, overflows: () => overflows };
}

describe('OutboundQueue', () => {
  it('sends at once while the socket keeps up', () => {
    const { socket, push } = setUp();
    push('a', 'final');
    socket.drain();
    push('b', 'interim');
    expect(socket.sent).toEqual(['a', 'b']);
  });

  it('under backpressure keeps only the newest interim, and drops it for a later final', () => {
    const { socket, push, dropped, queue } = setUp();
    push('0123456789', 'final');
    push('i1', 'interim');
    push('i2', 'interim');
    expect(dropped).toEqual(['interim']);
    push('f1', 'final');
    push('i3', 'interim');
    expect(dropped).toEqual(['interim', 'interim']);
    expect(queue.length).toBe(2);
    socket.drain();
    socket.drain();
    expect(socket.sent).toEqual(['0123456789', 'f1', 'i3']);
  });

  it('keeps interims of other lanes and control messages', () => {
    const { socket, push, dropped } = setUp();
    push('0123456789', 'final');
    push('lane0', 'interim', 0);
    push('lane1', 'interim', 1);
    push('event', 'control', 0);
    expect(dropped).toEqual([]);
    socket.drain();
    socket.drain();
    expect(socket.sent).toEqual(['0123456789', 'lane0', 'lane1', 'event']);
  });

  it('reports overflow once finals exceed the message limit, and hands back what was never sent', () => {
    const { push, overflows, queue } = setUp({ maxMessages: 2 });
    push('0123456789', 'final');
    push('f1', 'final');
    push('f2', 'final');
    expect(overflows()).toBe(0);
    push('f3', 'final');
    expect(overflows()).toBe(1);
    expect(queue.close().map((item) => item.payload)).toEqual(['f1', 'f2', 'f3']);
    expect(push('f4', 'final')).toBe(false);
  });

  it('counts the socket buffer against the byte limit', () => {
    const { push, overflows } = setUp({ maxBytes: 25 });
    push('01234567890123456789', 'final');
    push('abcd', 'final');
    expect(overflows()).toBe(0);
    push('efgh', 'final');
    expect(overflows()).toBe(1);
  });

  it('resolves whenEmpty once everything is handed to the socket', async () => {
    const { socket, push, queue } = setUp();
    push('0123456789', 'final');
    push('tail', 'control');
    let empty = false;
    const waiting = queue.whenEmpty().then(() => (empty = true));
    await Promise.resolve();
    expect(empty).toBe(false);
    socket.drain();
    await waiting;
    expect(socket.sent).toEqual(['0123456789', 'tail']);
  });
});
