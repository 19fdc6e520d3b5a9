// One client stream against a /v1/listen endpoint: sends prepared frames paced against the
// wall clock, records when each frame left and when each server message arrived, then closes
// with CloseStream. Latencies follow the project's definitions (../shared/DESIGN.md): the
// client audio clock starts at the first byte sent and runs in real time (times `speed`).
import WebSocket from 'ws';
import { unpack } from 'msgpackr';
import type { AudioFrames } from './audio-frames.js';

export interface StreamOptions {
  /** ws://host:port/v1/listen */
  url: string;
  params: Record<string, string | number | boolean>;
  audio: AudioFrames;
  /** 1 = real time; 4 = four times faster than real time */
  speed: number;
  headers?: Record<string, string>;
  /** give up on the server after this long past the audio's end */
  timeoutMs?: number;
  /** give up on an upgrade the server does not answer (default 10 s) */
  handshakeTimeoutMs?: number;
  /** the client's own address (another loopback address is another client to the server) */
  localAddress?: string;
}

export interface ReceivedMessage {
  atMs: number;
  message: Record<string, unknown>;
}

export interface StreamRecord {
  /** performance.now() at the first byte */
  startedAtMs: number;
  /** when each frame left, with the stream time its audio ends at */
  sent: { endS: number; atMs: number }[];
  received: ReceivedMessage[];
  closeSentAtMs: number | null;
  closedAtMs: number | null;
  closeCode: number | null;
  closeReason: string;
  /** an HTTP status when the upgrade was refused */
  refusedStatus: number | null;
  /** the gateway that took (or refused) the stream, from a balancer's `x-chorus-gateway` header; null without one */
  gateway: string | null;
  error: string | null;
}

function listenUrl(base: string, params: StreamOptions['params']): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
  return url.toString();
}

/** A record before anything was sent or received, for a client to fill in. */
export function newStreamRecord(): StreamRecord {
  return {
    startedAtMs: 0,
    sent: [],
    received: [],
    closeSentAtMs: null,
    closedAtMs: null,
    closeCode: null,
    closeReason: '',
    refusedStatus: null,
    gateway: null,
    error: null,
  };
}

export function runStream(options: StreamOptions): Promise<StreamRecord> {
  const record = newStreamRecord();
  const msgpack = options.params.result_encoding === 'msgpack';
  return new Promise((resolve) => {
    const ws = new WebSocket(listenUrl(options.url, options.params), {
      headers: options.headers,
      handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
      localAddress: options.localAddress,
    });
    let timer: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      clearTimeout(deadline);
      resolve(record);
    };
    const gatewayOf = (headers: Record<string, string | string[] | undefined>) => {
      const value = headers['x-chorus-gateway'];
      return typeof value === 'string' ? value : null;
    };
    ws.on('upgrade', (res) => (record.gateway = gatewayOf(res.headers)));
    ws.on('unexpected-response', (_req, res) => {
      record.refusedStatus = res.statusCode ?? null;
      record.gateway = gatewayOf(res.headers);
      res.resume();
      finish();
    });
    ws.on('error', (err) => {
      record.error ??= err.message;
      if (ws.readyState !== WebSocket.OPEN) finish();
    });
    ws.on('message', (data, isBinary) => {
      const atMs = performance.now();
      const message = (isBinary && msgpack ? unpack(data as Buffer) : JSON.parse(data.toString())) as Record<string, unknown>;
      record.received.push({ atMs, message });
    });
    ws.on('close', (code, reason) => {
      record.closedAtMs = performance.now();
      record.closeCode = code;
      record.closeReason = reason.toString();
      finish();
    });
    ws.on('open', () => {
      const frames = options.audio.frames;
      record.startedAtMs = performance.now();
      let next = 0;
      const sendDue = () => {
        const elapsedS = ((performance.now() - record.startedAtMs) / 1000) * options.speed;
        while (next < frames.length && frames[next].startS <= elapsedS) {
          if (ws.readyState !== WebSocket.OPEN) return;
          ws.send(frames[next].bytes);
          record.sent.push({ endS: frames[next].endS, atMs: performance.now() });
          next++;
        }
        if (next < frames.length) {
          const waitMs = ((frames[next].startS / options.speed) * 1000 - (performance.now() - record.startedAtMs));
          timer = setTimeout(sendDue, Math.max(0, waitMs));
          return;
        }
        if (ws.readyState === WebSocket.OPEN) {
          ws.send(JSON.stringify({ type: 'CloseStream' }));
          record.closeSentAtMs = performance.now();
        }
        deadline = setTimeout(() => {
          record.error ??= 'timed out waiting for the server to close';
          ws.terminate();
        }, options.timeoutMs ?? 30_000);
      };
      sendDue();
    });
  });
}
