// After each abuse, an honest client must get a session within 2 s (issue 18's acceptance):
// it asks again every 100 ms while refused, then ends its stream properly.
import WebSocket from 'ws';
import { sleep } from './check.js';

export interface Admission {
  /** ms from the first try to an open socket; null: not admitted within the limit */
  admittedMs: number | null;
  tries: number;
  /** the last refusal's HTTP status, if any */
  lastRefusal: number | null;
  /** close code after CloseStream */
  closeCode: number | null;
}

/** A newcomer: neither the abuser (127.0.0.1) nor the canary (127.0.0.2). */
const HONEST_ADDRESS = '127.0.0.3';

function tryOpen(url: string, headers: Record<string, string>): Promise<{ ws: WebSocket } | { status: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: 2000, localAddress: HONEST_ADDRESS });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_request, response) => {
      response.resume();
      resolve({ status: response.statusCode ?? 0 });
    });
    ws.once('error', () => resolve({ status: 0 }));
  });
}

export async function admitHonest(wsBase: string, headers: Record<string, string>, limitMs = 2000): Promise<Admission> {
  const url = `${wsBase}/v1/listen?encoding=linear16&sample_rate=16000`;
  const started = performance.now();
  let tries = 0;
  let lastRefusal: number | null = null;
  while (performance.now() - started < limitMs) {
    tries++;
    const attempt = await tryOpen(url, headers);
    if ('ws' in attempt) {
      const admittedMs = performance.now() - started;
      const closed = new Promise<number>((resolve) => attempt.ws.once('close', (code) => resolve(code)));
      attempt.ws.send(Buffer.alloc(3200));
      attempt.ws.send(JSON.stringify({ type: 'CloseStream' }));
      const closeCode = await Promise.race([closed, sleep(15_000).then(() => null)]);
      attempt.ws.terminate();
      return { admittedMs, tries, lastRefusal, closeCode };
    }
    lastRefusal = attempt.status;
    await sleep(100);
  }
  return { admittedMs: null, tries, lastRefusal, closeCode: null };
}
