// Clients of a cluster's front for the cluster tests: a /v1/listen stream that records which
// gateway took it (x-chorus-gateway on the 101) or how it was refused, and JFK as PCM.
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { parseWav } from '../../src/audio/wav.js';
import { fixture } from '../helpers.js';

export interface Stream {
  ws: WebSocket;
  gateway: string | null;
  messages: Array<Record<string, any>>;
  /** performance.now() at which each of `messages` arrived */
  arrivals: number[];
  closed: Promise<{ code: number; reason: string }>;
}

/** Opens /v1/listen through `base`; resolves once open (with the gateway that took it) or with the refusal. */
export function openStream(base: string, query = 'encoding=linear16&sample_rate=16000'): Promise<Stream | { status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/listen?${query}`);
    const messages: Array<Record<string, any>> = [];
    const arrivals: number[] = [];
    let gateway: string | null = null;
    ws.on('upgrade', (response) => (gateway = (response.headers['x-chorus-gateway'] as string | undefined) ?? null));
    ws.on('message', (data: Buffer) => {
      messages.push(JSON.parse(data.toString()));
      arrivals.push(performance.now());
    });
    const closed = new Promise<{ code: number; reason: string }>((done) => ws.on('close', (code, reason) => done({ code, reason: reason.toString() })));
    ws.once('open', () => resolve({ ws, gateway, messages, arrivals, closed }));
    ws.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    ws.once('error', (error) => reject(error));
  });
}

export function isStream(value: Awaited<ReturnType<typeof openStream>>): value is Stream {
  return 'ws' in value;
}

export async function until(ok: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function jfkPcm(): Buffer {
  const wav = parseWav(readFileSync(fixture('jfk').path));
  const pcm = Buffer.alloc(wav.samples.length * 2);
  wav.samples.forEach((s, i) => pcm.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(s * 32768))), i * 2));
  return pcm;
}


/** JFK transcribed, allowing the odd word a loaded machine gets wrong ("what you country"). */
export const JFK_WORDS = /ask not what .*country/;
