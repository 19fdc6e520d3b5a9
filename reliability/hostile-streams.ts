// Live streams that try to make the server spend for others: a flood of unpaced audio and a
// disconnect (flood and leave), and a reader that never reads its socket. Shared by the flood
// test (test/gateway/flood.test.ts) and the reliability suite.
import WebSocket from 'ws';
import { sleep } from './check.js';

/** `bytes` of 16 kHz linear16 made of `samples` over and over (20 MiB of the JFK clip: 655 s). */
export function floodBytes(samples: Float32Array, bytes = 20 * 2 ** 20): Buffer {
  const clip = Buffer.alloc(samples.length * 2);
  samples.forEach((s, i) => clip.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(s * 32767))), i * 2));
  return Buffer.concat(Array.from({ length: Math.ceil(bytes / clip.length) }, () => clip)).subarray(0, bytes);
}

export interface FloodOutcome {
  /** the server's close, or code 0 'still open' if it did not close within the wait */
  code: number;
  reason: string;
  bytesSent: number;
  /** performance.now() when the flooder disconnected */
  leftAtMs: number;
}

/**
 * Opens a linear16 stream, sends `bytes` as fast as the socket takes them in 256 KiB messages,
 * waits up to `waitMs` for the server to close it, then disconnects abruptly.
 */
export async function floodAndLeave(url: string, bytes: Buffer, headers: Record<string, string> = {}, waitMs = 5000): Promise<FloodOutcome> {
  const ws = new WebSocket(url, { headers });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_request, response) => reject(new Error(`flooder refused with ${response.statusCode}`)));
    ws.once('error', reject);
  });
  let sent = 0;
  for (let at = 0; at < bytes.length && ws.readyState === WebSocket.OPEN; at += 256 * 1024) {
    ws.send(bytes.subarray(at, at + 256 * 1024));
    sent += Math.min(256 * 1024, bytes.length - at);
  }
  const end = await Promise.race([closed, sleep(waitMs).then(() => ({ code: 0, reason: 'still open' }))]);
  ws.terminate();
  return { ...end, bytesSent: sent, leftAtMs: performance.now() };
}

export interface SlowReaderOutcome {
  framesSent: number;
  /** the server's close while it streamed, or null: it was still open when the reader left */
  closeCode: number | null;
}

/**
 * A client that streams `frames` at real-time pace and never reads a byte the server sends:
 * its socket is paused from the start, so results pile up in the server's outbound queue and
 * the kernel's buffers. Leaves abruptly after the last frame.
 */
export async function slowReader(url: string, frames: readonly { bytes: Uint8Array; startS: number }[], headers: Record<string, string> = {}): Promise<SlowReaderOutcome> {
  const ws = new WebSocket(url, { headers });
  let closeCode: number | null = null;
  ws.on('close', (code) => (closeCode = code));
  await new Promise<void>((resolve, reject) => {
    ws.once('upgrade', (response) => response.socket.pause());
    ws.once('open', () => {
      // ws resumes the socket when it opens; pause it for good.
      (ws as unknown as { _socket: { pause(): void } })._socket.pause();
      resolve();
    });
    ws.once('unexpected-response', (_request, response) => reject(new Error(`slow reader refused with ${response.statusCode}`)));
    ws.once('error', reject);
  });
  const started = performance.now();
  let framesSent = 0;
  for (const frame of frames) {
    const wait = frame.startS * 1000 - (performance.now() - started);
    if (wait > 0) await sleep(wait);
    if (ws.readyState !== WebSocket.OPEN) break;
    ws.send(frame.bytes);
    framesSent++;
  }
  ws.terminate();
  return { framesSent, closeCode };
}
