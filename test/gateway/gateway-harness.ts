// A real gateway on 127.0.0.1 port 0 with fake live sessions, and real `ws` clients for it.
import { unpack } from 'msgpackr';
import WebSocket from 'ws';
import type { CallbackPolicy } from '../../src/gateway/callback-delivery.js';
import { GATEWAY_DEFAULTS, type GatewayConfig } from '../../src/gateway/config.js';
import { GatewayServer } from '../../src/gateway/server.js';
import type { TranscriptSink } from '../../src/gateway/transcript-sink.js';
import type { FileTranscriber } from '../../src/gateway/transcriptions.js';
import { FakeSessionFactory } from './fake-sessions.js';

export interface Harness {
  server: GatewayServer;
  url: string;
  wsUrl: string;
  factory: FakeSessionFactory;
  logged: Array<{ event: string; fields: Record<string, unknown> }>;
  sunk: Array<Record<string, unknown>>;
}

/** The transport tests never reach the file endpoint; it has its own tests with a real model. */
const NO_FILES: FileTranscriber = {
  modelName: 'fake.en',
  multilingual: false,
  acceptsLanguage: () => true,
  defaultLanguage: 'en',
  transcribe: () => Promise.reject(new Error('file transcription is not part of the transport tests')),
};

export async function startGateway(
  overrides: Partial<GatewayConfig> = {},
  options: { factory?: FakeSessionFactory; files?: FileTranscriber; attach?: boolean; callbackPolicy?: CallbackPolicy } = {},
): Promise<Harness> {
  const logged: Harness['logged'] = [];
  const sunk: Harness['sunk'] = [];
  const sink: TranscriptSink = { write: (record) => void sunk.push(record), close: async () => {} };
  const config: GatewayConfig = { ...GATEWAY_DEFAULTS, apiKeys: null, host: '127.0.0.1', port: 0, ...overrides };
  const server = new GatewayServer({ config, log: (event, fields = {}) => void logged.push({ event, fields }), sink, callbackPolicy: options.callbackPolicy });
  const factory = options.factory ?? new FakeSessionFactory();
  if (options.attach !== false) server.attach({ sessions: factory, files: options.files ?? NO_FILES });
  const url = await server.start();
  return { server, url, wsUrl: url.replace(/^http/, 'ws'), factory, logged, sunk };
}

/** 16 kHz linear16 mono: the fake session counts samples, so the values do not matter. */
export const PCM_QUERY = 'encoding=linear16&sample_rate=16000';

export function pcmSeconds(seconds: number): Buffer {
  return Buffer.alloc(Math.round(seconds * 16000) * 2);
}

// Server messages are loosely typed here: tests check fields by name.
export type Received = Record<string, any>;

export class ListenClient {
  readonly messages: Received[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary) => {
      this.messages.push(isBinary ? (unpack(data) as Received) : (JSON.parse(data.toString('utf8')) as Received));
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.closed.then(() => {
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Resolves with the first message (from the start) that matches, or rejects after `ms`. */
  async waitFor(match: (m: Received) => boolean, ms = 5000): Promise<Received> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.messages.find(match);
      if (found) return found;
      if (Date.now() > deadline || this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(`no matching message; got ${JSON.stringify(this.messages.map((m) => m.type))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.ws.send(data, (error) => (error ? reject(error) : resolve())));
  }
}

export function openListen(
  harness: Harness,
  query: string,
  /** localAddress: the client's own loopback address (127.0.0.2, ...), to be another client */
  options: { headers?: Record<string, string>; protocols?: string[]; localAddress?: string } = {},
): Promise<ListenClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${harness.wsUrl}/v1/listen?${query}`, options.protocols ?? [], { headers: options.headers, localAddress: options.localAddress });
    const client = new ListenClient(ws);
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_request, response) => reject(new Error(`refused with ${response.statusCode}`)));
    ws.once('error', reject);
  });
}

export interface Refusal {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Received;
}

export function refusedListen(harness: Harness, query: string, options: { headers?: Record<string, string>; localAddress?: string } = {}): Promise<Refusal> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${harness.wsUrl}/v1/listen?${query}`, { headers: options.headers, localAddress: options.localAddress });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        ws.terminate();
      });
    });
    ws.once('error', () => {});
  });
}

/** The value of one sample of a Prometheus text exposition, e.g. `chorus_errors_total{code="x"}`. */
/** `key`: for a gateway with API keys, which guard /metrics too. */
export async function metricValue(harness: Harness, sample: string, key?: string): Promise<number> {
  const headers: Record<string, string> = key === undefined ? {} : { Authorization: `Bearer ${key}` };
  const text = await (await fetch(`${harness.url}/metrics`, { headers })).text();
  const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

export async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
