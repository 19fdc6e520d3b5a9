// Bounds on what one upload can make the server spend (issue 18): the wait line is checked
// before an upload is read, decoding gives the event loop a turn every few milliseconds, and
// sample rates and durations outside the documented limits are refused before decoding.
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { forgedWav as wav, openAiForm } from '../../reliability/hostile-files.js';
import { FakeFileTranscriber } from './file-fakes.js';
import { startGateway, type Harness } from './gateway-harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.server.shutdown();
  harness = undefined;
});

async function gateway(files: FakeFileTranscriber, maxUploadBytes = 1024 * 1024): Promise<Harness> {
  harness = await startGateway({ maxUploadBytes }, { files });
  return harness;
}

async function openAi(h: Harness, file: Buffer): Promise<Response> {
  const { body, type } = await openAiForm(file);
  return fetch(`${h.url}/v1/audio/transcriptions`, { method: 'POST', body: new Uint8Array(body), headers: { 'Content-Type': type } });
}

function deepgram(h: Harness, file: Buffer, query = ''): Promise<Response> {
  return fetch(`${h.url}/v1/listen${query}`, { method: 'POST', body: new Uint8Array(file), headers: { 'Content-Type': 'audio/wav' } });
}

/** The slowest /healthz answer while `work` runs. */
async function slowestHealthz(h: Harness, work: Promise<unknown>): Promise<number> {
  let done = false;
  void work.finally(() => (done = true));
  let slowest = 0;
  while (!done) {
    const started = performance.now();
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    slowest = Math.max(slowest, performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return slowest;
}

describe('file uploads leave the event loop free', () => {
  // 8 MiB of 8 kHz 16-bit audio: 9 minutes, about 2 s of decoding and resampling here.
  const large = wav({ rate: 8000, dataBytes: 8 * 1024 * 1024 });

  it.each(['openai', 'deepgram'] as const)('/healthz answers within 200 ms while a large upload decodes (%s)', async (api) => {
    const files = new FakeFileTranscriber();
    const h = await gateway(files, 16 * 1024 * 1024);
    const form = await openAiForm(large);
    const upload =
      api === 'openai'
        ? fetch(`${h.url}/v1/audio/transcriptions`, { method: 'POST', body: new Uint8Array(form.body), headers: { 'Content-Type': form.type } })
        : deepgram(h, large);
    const slowest = await slowestHealthz(h, upload);
    expect((await upload).status).toBe(200);
    expect(files.samples).toEqual([Math.ceil(((large.length - 44) / 2) * 2)]);
    expect(slowest).toBeLessThan(200);
  });
});

describe('sample rates and durations outside the limits are refused before decoding', () => {
  it.each([10, 4000, 4_294_967_291])('a WAV declaring %i Hz gets 400 naming the supported rates, at once', async (rate) => {
    const h = await gateway(new FakeFileTranscriber());
    // 40 KB at 10 Hz would be 2,000 s of audio to upsample.
    const file = wav({ rate, dataBytes: 40_000 });
    const started = performance.now();
    const openAiAnswer = await openAi(h, file);
    expect(openAiAnswer.status).toBe(400);
    expect(await openAiAnswer.json()).toMatchObject({
      error: { code: 'invalid_file_format', param: 'file', message: expect.stringMatching(new RegExp(`${rate} Hz.*8000–192000 Hz`)) },
    });
    const deepgramAnswer = await deepgram(h, file);
    expect(deepgramAnswer.status).toBe(400);
    expect(await deepgramAnswer.json()).toMatchObject({ err_code: 'INVALID_AUDIO', err_msg: expect.stringMatching(/supported sample rates are 8000–192000 Hz/) });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('a WAV with 0 bits per sample is called that, not "not a WAV file"', async () => {
    const h = await gateway(new FakeFileTranscriber());
    const answer = await openAi(h, wav({ rate: 16000, bits: 0, dataBytes: 3200 }));
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: { code: 'invalid_file_format', message: expect.stringMatching(/fmt declares 0 bits per sample/) } });
  });
});

describe('the wait line is checked before an upload is read', () => {
  /** Sends the headers and a first piece of a body that never ends; resolves with the status. */
  function neverEndingUpload(h: Harness, path: string, headers: Record<string, string>, first: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      const sent = request(`${h.url}${path}`, { method: 'POST', headers: { ...headers, 'Transfer-Encoding': 'chunked' } }, (response) => {
        resolve(response.statusCode ?? 0);
        sent.destroy();
      });
      sent.on('error', (error) => (error.message.includes('socket hang up') ? undefined : reject(error)));
      sent.write(first);
    });
  }

  it('a full line answers 503 while the upload is still arriving', async () => {
    const files = new FakeFileTranscriber();
    files.hold();
    const h = await gateway(files);
    const small = wav({ rate: 16000, dataBytes: 3200 });
    // One being transcribed and eight waiting fill the line.
    const queued = Array.from({ length: 9 }, () => deepgram(h, small));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const status = await Promise.race([
      neverEndingUpload(h, '/v1/listen', { 'Content-Type': 'audio/wav' }, small.subarray(0, 100)),
      new Promise((resolve) => setTimeout(() => resolve('no answer before the body ended'), 2000)),
    ]);
    expect(status).toBe(503);
    const openAiStatus = await Promise.race([
      neverEndingUpload(h, '/v1/audio/transcriptions', { 'Content-Type': 'multipart/form-data; boundary=x' }, Buffer.from('--x\r\n')),
      new Promise((resolve) => setTimeout(() => resolve('no answer before the body ended'), 2000)),
    ]);
    expect(openAiStatus).toBe(503);
    files.open();
    expect((await Promise.all(queued)).map((r) => r.status)).toEqual(Array(9).fill(200));
  });

  it('gives the place back when a request fails before its turn', async () => {
    const h = await gateway(new FakeFileTranscriber());
    for (let i = 0; i < 12; i++) expect((await deepgram(h, Buffer.alloc(0))).status).toBe(400);
    for (let i = 0; i < 12; i++) expect((await openAi(h, Buffer.alloc(0))).status).toBe(400);
    expect((await deepgram(h, wav({ rate: 16000, dataBytes: 3200 }))).status).toBe(200);
  });
});
