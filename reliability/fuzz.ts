// A seeded, bounded protocol fuzzer for /v1/listen: odd query parameters, malformed and
// wrongly typed JSON control messages, text that is not UTF-8, binary garbage, oversized
// frames, random close codes and abrupt disconnects. What it must never see: a crash, a 5xx
// answer to an upgrade, an Error `internal_error`, a 1011 close, or a connection the server
// neither answers nor closes. The same seed sends the same frames.
import WebSocket from 'ws';
import { rng, sleep } from './check.js';

export interface FuzzOptions {
  wsBase: string;
  headers: Record<string, string>;
  seed: number;
  /** frames to send in all (text and binary messages, close frames included) */
  frames: number;
  /** fuzzing clients at once */
  concurrency: number;
  /** 16 kHz linear16 speech to draw valid audio frames from */
  speech: Buffer;
  /** the server's largest message (--max-frame-bytes) */
  maxFrameBytes: number;
}

export interface FuzzFigures {
  sessions: number;
  frames: number;
  refusals: Record<string, number>;
  closeCodes: Record<string, number>;
  errorCodes: Record<string, number>;
  /** what must never happen, described */
  violations: string[];
}

type Random = () => number;
const pick = <T>(r: Random, items: readonly T[]): T => items[Math.floor(r() * items.length)];
const int = (r: Random, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

const ENCODINGS = ['linear16', 'mulaw', 'alaw', 'opus', 'ogg-opus', 'LINEAR16', 'flac', 'amr-nb', '', '%00', 'linear16%20', 'x'.repeat(300)];
const RATES = ['16000', '8000', '48000', '44100', '0', '-1', '1e9', '4294967296', '192001', '7999', 'NaN', 'abc', '', '16000.5', '0x3e80'];
const ODD_VALUES = ['', 'true', 'false', 'TRUE', 'null', 'undefined', '-1', '0', '1e308', 'NaN', '[]', '{}', '%ff%fe', '\u0000', 'é', '🙂', 'a'.repeat(2000)];
const PARAMETERS = [
  'channels', 'interim_results', 'endpointing', 'utterance_end_ms', 'vad_events', 'language', 'model', 'punctuate', 'smart_format',
  'keywords', 'keyterm', 'extra', 'tag', 'multichannel', 'diarize', 'result_encoding', 'lag', 'interim_stability', 'callback',
  'callback_method', 'sample_rate', 'encoding', 'no_delay', 'filler_words', 'search', 'replace', 'version', 'token',
];

/** A query: mostly one a client could mean, with odd extras; sometimes nothing but oddities. */
function query(r: Random): string {
  const params = new URLSearchParams();
  if (r() < 0.75) {
    params.set('encoding', pick(r, ['linear16', 'linear16', 'mulaw', 'alaw', 'opus']));
    params.set('sample_rate', pick(r, ['16000', '16000', '8000', '48000']));
    params.set('interim_results', pick(r, ['true', 'false']));
    for (let i = int(r, 0, 3); i > 0; i--) {
      const name = pick(r, PARAMETERS);
      // A wrong key would count against this address in the failed-key throttle and lock the
      // canary out with it; the throttle has its own test.
      if (name === 'token') continue;
      params.append(name, pick(r, ODD_VALUES));
    }
  } else {
    params.set('encoding', pick(r, ENCODINGS));
    params.set('sample_rate', pick(r, RATES));
    for (let i = int(r, 0, 8); i > 0; i--) {
      const name = r() < 0.8 ? pick(r, PARAMETERS) : String.fromCharCode(...Array.from({ length: int(r, 1, 12) }, () => int(r, 33, 0x2fff)));
      if (name === 'token') continue;
      params.append(name, pick(r, ODD_VALUES));
    }
  }
  return params.toString();
}

const CONTROL_TEXTS = [
  '{', '}', '[]', 'null', '0', '"KeepAlive"', '{"type":', '{"type":null}', '{"type":5}', '{"type":["Finalize"]}', '{"type":{}}',
  '{"type":"keepalive"}', '{"type":"Unknown"}', '{"type":"Configure","processors":{}}', '{"type":"Finalize","channel":"x"}',
  '{"type":"Finalize","channel":[0,1,-7]}', '{"type":"KeepAlive","extra":{"deep":[1,2,{"x":null}]}}', '{"type":"CloseStream","x":1}',
  '{"type":"KeepAlive"}', '{"type":"Finalize"}', '{"TYPE":"KeepAlive"}', '{"type":"KeepAlive"}garbage', '\u0000\u0001', '',
];

type Frame = { kind: 'text' | 'binary'; data: Buffer; label: string };

function frame(r: Random, options: FuzzOptions): Frame {
  const roll = r();
  if (roll < 0.3) return { kind: 'text', data: Buffer.from(pick(r, CONTROL_TEXTS)), label: 'control' };
  if (roll < 0.35) {
    // Deep nesting and long strings inside JSON.
    const depth = int(r, 100, 50_000);
    const text = r() < 0.5 ? '['.repeat(depth) + ']'.repeat(depth) : `{"type":"${'K'.repeat(int(r, 1000, 200_000))}"}`;
    return { kind: 'text', data: Buffer.from(text), label: 'nested' };
  }
  if (roll < 0.4) {
    // Not UTF-8: a lone continuation byte, an overlong encoding, a surrogate.
    return { kind: 'text', data: Buffer.from(pick(r, [[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x7b, 0xff, 0x7d]])), label: 'not-utf8' };
  }
  if (roll < 0.7) {
    // Real speech, at a random offset and length (the canary's words are not the only speech the server hears).
    const length = 2 * int(r, 1, 1600);
    const at = 2 * int(r, 0, Math.max(0, options.speech.length / 2 - length / 2 - 1));
    return { kind: 'binary', data: options.speech.subarray(at, at + length), label: 'speech' };
  }
  if (roll < 0.97) {
    const bytes = Buffer.alloc(int(r, 0, 4096));
    for (let i = 0; i < bytes.length; i++) bytes[i] = int(r, 0, 255);
    // An Ogg capture pattern now and then, so that the container parsers see plausible garbage.
    if (bytes.length > 4 && r() < 0.2) bytes.write('OggS', 0);
    return { kind: 'binary', data: bytes, label: 'garbage' };
  }
  return { kind: 'binary', data: Buffer.alloc(options.maxFrameBytes + int(r, 1, 65536)), label: 'oversized' };
}

const CLIENT_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4001, 4002, 4999];

const count = (table: Record<string, number>, key: string | number) => void (table[key] = (table[key] ?? 0) + 1);

export async function fuzzListen(options: FuzzOptions): Promise<FuzzFigures> {
  const figures: FuzzFigures = { sessions: 0, frames: 0, refusals: {}, closeCodes: {}, errorCodes: {}, violations: [] };
  let session = 0;
  const client = async () => {
    while (figures.frames < options.frames) {
      const r = rng(options.seed * 1_000_003 + session++);
      figures.sessions++;
      await fuzzSession(r, options, figures);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  return figures;
}

async function fuzzSession(r: Random, options: FuzzOptions, figures: FuzzFigures): Promise<void> {
  const q = query(r);
  const ws = new WebSocket(`${options.wsBase}/v1/listen?${q}`, { headers: options.headers, handshakeTimeout: 10_000, maxPayload: 64 * 2 ** 20 });
  const state: { closed: null | { code: number; reason: string } } = { closed: null };
  const closed = new Promise<void>((resolve) =>
    ws.on('close', (code, reason) => {
      state.closed = { code, reason: reason.toString() };
      resolve();
    }),
  );
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    let message: { type?: unknown; code?: unknown } = {};
    try {
      message = JSON.parse(data.toString()) as typeof message;
    } catch {
      figures.violations.push(`unparsable server message ${data.toString().slice(0, 80)} (query ${q.slice(0, 120)})`);
    }
    if (message.type === 'Error') {
      count(figures.errorCodes, String(message.code));
      if (message.code === 'internal_error') figures.violations.push(`Error internal_error (query ${q.slice(0, 120)})`);
    }
  });
  const opened = await new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('unexpected-response', (_request, response) => {
      count(figures.refusals, response.statusCode ?? 0);
      if ((response.statusCode ?? 0) >= 500) figures.violations.push(`upgrade answered ${response.statusCode} (query ${q.slice(0, 120)})`);
      response.resume();
      resolve(false);
    });
    ws.once('error', (error) => {
      figures.violations.push(`upgrade failed: ${error.message} (query ${q.slice(0, 120)})`);
      resolve(false);
    });
  });
  figures.frames++; // the upgrade request is the session's first frame
  if (!opened) return;

  const frames = int(r, 1, 40);
  for (let i = 0; i < frames && ws.readyState === WebSocket.OPEN && figures.frames < options.frames; i++) {
    const f = frame(r, options);
    ws.send(f.data, { binary: f.kind === 'binary' });
    figures.frames++;
    if (r() < 0.3) await sleep(int(r, 0, 30));
  }
  // How it ends: CloseStream, a close code of the client's choosing, an abrupt drop, or silence
  // until the server gives up on it (4000 after the idle timeout is too long to wait for).
  const end = r();
  let closedByClient: number | null = null;
  if (ws.readyState === WebSocket.OPEN) {
    if (end < 0.35) ws.send(JSON.stringify({ type: 'CloseStream' }));
    else if (end < 0.7) ws.close((closedByClient = pick(r, CLIENT_CLOSE_CODES)), 'fuzz');
    else if (end < 0.9) ws.terminate();
    else ws.send(Buffer.alloc(0));
    figures.frames++;
  }
  await Promise.race([closed, sleep(20_000)]);
  if (state.closed === null) {
    figures.violations.push(`the server neither closed nor finished a stream 20 s after its end (query ${q.slice(0, 120)})`);
    ws.terminate();
    return;
  }
  count(figures.closeCodes, state.closed.code);
  // The server echoes a client's close code (RFC 6455 §5.5.1): a 1011 the fuzzer sent itself is not the server failing.
  if (state.closed.code === 1011 && closedByClient !== 1011) figures.violations.push(`closed 1011 ${state.closed.reason} (query ${q.slice(0, 120)})`);
}
