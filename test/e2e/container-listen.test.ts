// Containers streamed to /v1/listen with no `encoding`, as Deepgram's browser tutorial does with
// Chrome's MediaRecorder: a real gateway with real tiny.en weights must detect the container,
// transcribe it, and refuse what it cannot read with a reason the client can act on.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { scoreWer } from '../../src/eval/wer.js';
import { startTinyGateway, type TinyGateway } from '../tiny-gateway.js';
import { AUDIO, fixture } from '../helpers.js';

const CLIP = fixture('jfk');
/** Chrome's capture path (resampling, its audio processing) costs a little accuracy. */
const MAX_WER = 0.25;
/** MediaRecorder's 250 ms timeslice gives chunks of about this size at 24 kb/s. */
const CHUNK_BYTES = 800;

let gateway: TinyGateway;
let wsUrl: string;

beforeAll(async () => {
  gateway = await startTinyGateway({ maxSessions: 2 });
  wsUrl = gateway.wsUrl + '/v1/listen';
});

afterAll(async () => {
  await gateway?.close();
});

interface Outcome {
  finals: string[];
  errors: Array<{ variant?: string; description?: string; message?: string; err_code?: string }>;
  close: { code: number; reason: string };
}

/** Sends `bytes` in chunks every `intervalMs`, then CloseStream, and gathers what comes back. */
function stream(bytes: Uint8Array, intervalMs: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsUrl}?interim_results=true`);
    const outcome: Omit<Outcome, 'close'> = { finals: [], errors: [] };
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8'));
      if (message.type === 'Results' && message.is_final) outcome.finals.push(message.channel.alternatives[0].transcript);
      if (message.type === 'Error') outcome.errors.push(message);
    });
    ws.on('close', (code, reason) => resolve({ ...outcome, close: { code, reason: reason.toString() } }));
    ws.on('error', reject);
    ws.on('open', async () => {
      for (let offset = 0; offset < bytes.length && ws.readyState === WebSocket.OPEN; offset += CHUNK_BYTES) {
        ws.send(bytes.subarray(offset, offset + CHUNK_BYTES));
        await new Promise((wake) => setTimeout(wake, intervalMs));
      }
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'CloseStream' }));
    });
  });
}

describe('/v1/listen with no encoding', () => {
  it("transcribes Chrome's MediaRecorder WebM/Opus into finals", async () => {
    const webm = new Uint8Array(readFileSync(join(AUDIO, 'jfk-mediarecorder.webm')));
    // About 3x real time: 11.46 s of audio in 47 chunks of 80 ms.
    const { finals, errors, close } = await stream(webm, 80);
    expect(errors).toEqual([]);
    expect(close.code).toBe(1000);
    const text = finals.join(' ');
    expect(scoreWer([{ ref: CLIP.text, hyp: text }]).wer!, `finals: ${text}`).toBeLessThanOrEqual(MAX_WER);
  });

  it('transcribes a WAV file streamed as it is', async () => {
    const wav = new Uint8Array(readFileSync(CLIP.path));
    // 16 kHz 16-bit mono: 800 bytes are 25 ms, sent every 10 ms.
    const { finals, close } = await stream(wav, 10);
    expect(close.code).toBe(1000);
    expect(scoreWer([{ ref: CLIP.text, hyp: finals.join(' ') }]).wer!).toBeLessThanOrEqual(0.1);
  });

  it('closes 1007 on raw PCM, telling the client to name its encoding', async () => {
    const pcm = new Uint8Array(new Int16Array(16000).map((_, i) => Math.round(3000 * Math.sin(i / 5))).buffer);
    const { finals, errors, close } = await stream(pcm, 10);
    expect(finals).toEqual([]);
    expect(close).toEqual({ code: 1007, reason: 'unsupported_encoding' });
    expect(JSON.stringify(errors)).toMatch(/raw audio needs encoding=/);
  });
});
