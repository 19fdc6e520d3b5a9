/**
 * OpenAI's error shape, `{"error": {"message", "type", "param", "code"}}`, which OpenAI's SDKs
 * read into their typed exceptions. The file endpoints answer every failure in it, and so does
 * the gateway for unknown paths and wrong methods: a client of the OpenAI-compatible API that
 * calls something Chorus does not offer is told why in the shape it parses.
 */
import type { ServerResponse } from 'node:http';

export type OpenAiErrorType = 'invalid_request_error' | 'server_error';

export class OpenAiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type: OpenAiErrorType = status >= 500 ? 'server_error' : 'invalid_request_error',
  ) {
    super(message);
  }
}

export function openAiErrorBody(error: OpenAiError): string {
  return JSON.stringify({ error: { message: error.message, type: error.type, param: error.param, code: error.code } });
}

export function sendOpenAiError(response: ServerResponse, error: OpenAiError, headers: Record<string, string | number> = {}): void {
  const body = openAiErrorBody(error);
  response
    .writeHead(error.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers })
    .end(body);
}
