// Oversized requests are answered, not cut off: 414 for a URL over 8 KiB, 431 for a request
// line and headers over 16 KiB, in OpenAI's error shape (issue 18 item 8).
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Harness } from './gateway-harness.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startGateway();
});
afterAll(async () => {
  await harness?.server.shutdown();
});

/** Sends raw request bytes; resolves with everything the server wrote before closing. */
function rawRequest(text: string): Promise<string> {
  const { port } = new URL(harness.url);
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = connect(Number(port), '127.0.0.1', () => socket.end(text));
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('close', () => resolve(received));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve(received) : reject(error)));
  });
}

function parse(answer: string): { status: number; body: unknown } {
  const [head, body] = answer.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), body: body ? JSON.parse(body) : null };
}

describe('request size limits', () => {
  it.each([10_000, 20_000])('a %i-byte query string gets 414 url_too_long', async (length) => {
    const answer = parse(await rawRequest(`GET /healthz?pad=${'a'.repeat(length)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    expect(answer).toEqual({
      status: 414,
      body: { error: { message: 'the URL is longer than 8192 bytes', type: 'invalid_request_error', param: null, code: 'url_too_long' } },
    });
  });

  it('a 20 KB header gets 431 headers_too_large', async () => {
    const answer = parse(await rawRequest(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(answer.status).toBe(431);
    expect(answer.body).toMatchObject({ error: { code: 'headers_too_large', message: 'the request line and headers are larger than 16384 bytes' } });
  });

  it('a WebSocket upgrade with a 10 KB query string gets 414', async () => {
    const answer = parse(
      await rawRequest(
        `GET /v1/listen?extra=${'a'.repeat(10_000)} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
    );
    expect(answer.status).toBe(414);
    expect(answer.body).toMatchObject({ error: { code: 'url_too_long' } });
  });

  it('a URL just under the limit is served', async () => {
    const answer = parse(await rawRequest(`GET /healthz?pad=${'a'.repeat(8000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    expect(answer.status).toBe(200);
  });
});
