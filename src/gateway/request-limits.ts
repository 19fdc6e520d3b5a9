/**
 * Limits on a request's URL and headers, answered with 414 and 431 in OpenAI's error shape
 * rather than a closed connection, so a client that built an oversized query string (a long
 * `extra`, a key pasted twice) is told what is wrong.
 *
 * Node's HTTP parser refuses a request line plus headers over `maxHeaderSize` itself and
 * reports it as a client error, before any handler runs; the URL limit is lower, so a long
 * URL normally reaches the handlers and is refused there with 414. Only a URL longer than the
 * whole header limit is refused by the parser, and that is told from its raw bytes: a request
 * line that has not ended within the URL limit.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { OpenAiError, openAiErrorBody } from './openai-errors.js';

/** Longest URL (path and query) accepted; browsers and proxies commonly stop at 8 KiB too. */
export const MAX_URL_BYTES = 8 * 1024;
/** Request line and headers together, Node's default made explicit. */
export const MAX_HEADER_BYTES = 16 * 1024;

const URL_TOO_LONG = new OpenAiError(414, `the URL is longer than ${MAX_URL_BYTES} bytes`, null, 'url_too_long');
const HEADERS_TOO_LARGE = new OpenAiError(
  431,
  `the request line and headers are larger than ${MAX_HEADER_BYTES} bytes`,
  null,
  'headers_too_large',
);

/** The refusal for a request whose URL is over the limit, or null. */
export function urlTooLong(request: IncomingMessage): OpenAiError | null {
  return (request.url?.length ?? 0) > MAX_URL_BYTES ? URL_TOO_LONG : null;
}

/** Writes a refusal on a raw socket (a parser error or an upgrade), then closes it. */
export function refuseOnSocket(socket: Duplex, error: OpenAiError): void {
  const body = openAiErrorBody(error);
  const reason = error.status === 414 ? 'URI Too Long' : error.status === 431 ? 'Request Header Fields Too Large' : 'Error';
  socket.end(
    `HTTP/1.1 ${error.status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** For node:http's 'clientError': oversized requests are answered, anything else is dropped. */
export function answerClientError(error: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex): void {
  if (error.code !== 'HPE_HEADER_OVERFLOW' || !socket.writable) {
    // A client that resets mid-request must cost nothing but its own request.
    socket.destroy();
    return;
  }
  const requestLineEnd = error.rawPacket?.indexOf('\r\n') ?? -1;
  refuseOnSocket(socket, requestLineEnd < 0 || requestLineEnd > MAX_URL_BYTES ? URL_TOO_LONG : HEADERS_TOO_LARGE);
}
