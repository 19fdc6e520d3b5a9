// POST /v1/listen, Deepgram's pre-recorded API, on the HTTP side: parameters, refusals, and
// the upload limit and wait line it shares with the OpenAI file endpoints. The transcript is a
// fixed one (file-fakes.ts); sdk-clients.test.ts runs the real model through Deepgram's SDK.
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { floatToMulaw } from '../../src/audio/g711.js';
import { FakeFileTranscriber, silentWav } from './file-fakes.js';
import { metricValue, startGateway, type Harness } from './gateway-harness.js';

const UPLOAD_LIMIT = 64 * 1024;

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.server.shutdown();
  harness = undefined;
});

async function gateway(files = new FakeFileTranscriber(), overrides = {}): Promise<Harness> {
  harness = await startGateway({ maxUploadBytes: UPLOAD_LIMIT, ...overrides }, { files });
  return harness;
}

function listen(h: Harness, query: string, body: BodyInit, headers: Record<string, string> = { 'Content-Type': 'audio/wav' }): Promise<Response> {
  return fetch(`${h.url}/v1/listen${query}`, { method: 'POST', body, headers });
}

async function expectRefusal(response: Response, status: number, errCode: string, message?: RegExp): Promise<void> {
  expect(response.status).toBe(status);
  const body = (await response.json()) as Record<string, string>;
  expect(body).toEqual({ err_code: errCode, err_msg: expect.any(String), request_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  expect(response.headers.get('dg-request-id')).toBe(body.request_id);
  if (message) expect(body.err_msg).toMatch(message);
}

describe('POST /v1/listen', () => {
  it('transcribes the body with word timestamps and answers in Deepgram shape', async () => {
    const files = new FakeFileTranscriber();
    const h = await gateway(files);
    const response = await listen(
      h,
      '?model=nova-3&utterances=true&utt_split=1&paragraphs=true&extra=team:a&diarize=true&sentiment=true&keyterm=Prynne',
      silentWav(1),
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = (await response.json()) as Record<string, any>;
    expect(files.asked).toEqual([{ task: 'transcribe', language: 'en', wordTimestamps: true, keyterms: ['Prynne'] }]);
    expect(body.metadata.request_id).toBe(response.headers.get('dg-request-id'));
    expect(body.metadata.extra).toEqual({ team: 'a' });
    expect(body.metadata.warnings.map((w: Record<string, string>) => [w.parameter, w.type])).toEqual([
      ['diarize', 'unsupported_parameter'],
      ['sentiment', 'unsupported_parameter'],
      ['model', 'model_substituted'],
    ]);
    expect(body.results.channels[0].alternatives[0].transcript).toBe('Hello, world. "Yes!" she said.');
    expect(body.results.utterances.map((u: Record<string, string>) => u.transcript)).toEqual(['Hello, world.', '"Yes!" she said.']);
    expect(body.results.channels[0].alternatives[0].paragraphs.paragraphs).toHaveLength(1);
  });

  it('with multichannel=true gives one transcript per channel of raw, WAV or Ogg Opus audio, utterances naming their channel, speaker with diarize', async () => {
    const files = new FakeFileTranscriber();
    const h = await gateway(files);
    // 0.5 s of 8 kHz stereo mu-law: headerless with encoding, and the same samples in a WAV file.
    const stereo = new Uint8Array(8000).fill(0xff);
    const wav = Buffer.concat([Buffer.alloc(44), stereo]);
    wav.write('RIFF', 0);
    wav.writeUInt32LE(36 + stereo.length, 4);
    wav.write('WAVEfmt ', 8);
    wav.writeUInt32LE(16, 16);
    wav.writeUInt16LE(7, 20); // mu-law
    wav.writeUInt16LE(2, 22);
    wav.writeUInt32LE(8000, 24);
    wav.writeUInt32LE(16000, 28);
    wav.writeUInt16LE(2, 32);
    wav.writeUInt16LE(8, 34);
    wav.write('data', 36);
    wav.writeUInt32LE(stereo.length, 40);
    // The same length of stereo Ogg Opus (opusenc is part of the set-up).
    const ogg = execFileSync('opusenc', ['--quiet', '--raw', '--raw-rate', '16000', '--raw-chan', '2', '-', '-'], { input: new Uint8Array(32000) });
    for (const [query, body] of [
      ['?multichannel=true&channels=2&encoding=mulaw&sample_rate=8000&utterances=true&diarize=true', stereo],
      ['?multichannel=true&utterances=true&diarize=true', wav],
      ['?multichannel=true&utterances=true&diarize=true', ogg],
    ] as const) {
      const response = await listen(h, query, body);
      expect(response.status).toBe(200);
      const answer = (await response.json()) as Record<string, any>;
      expect(answer.metadata.channels).toBe(2);
      expect(answer.metadata.warnings).toBeUndefined();
      expect(answer.results.channels).toHaveLength(2);
      expect(answer.results.channels.map((c: any) => c.alternatives[0].words.map((w: any) => w.speaker)[0])).toEqual([0, 1]);
      expect(answer.results.utterances.map((u: any) => [u.channel, u.speaker])).toEqual([
        [0, 0],
        [1, 1],
        [0, 0],
        [1, 1],
      ]);
    }
    // Each channel on its own, two jobs per file: half a second each, 8,000 samples at 16 kHz.
    expect(files.samples).toEqual([8000, 8000, 8000, 8000, 8000, 8000]);
  });

  it('detects the language with language=multi or detect_language=true', async () => {
    const files = new FakeFileTranscriber('small', true);
    const h = await gateway(files);
    for (const query of ['?language=multi', '?detect_language=true']) {
      const body = (await (await listen(h, query, silentWav(1))).json()) as Record<string, any>;
      expect(body.results.channels[0].detected_language).toBe('en');
    }
    expect(files.asked.map((o) => o.language)).toEqual([null, null]);
  });

  it('reads raw samples as encoding and sample_rate describe them, and a WAV file whatever they say', async () => {
    const files = new FakeFileTranscriber();
    const h = await gateway(files);
    const mulaw = Buffer.from(new Float32Array(8000).map(() => floatToMulaw(0)));
    expect((await listen(h, '?encoding=mulaw&sample_rate=8000', mulaw, { 'Content-Type': 'application/octet-stream' })).status).toBe(200);
    // Read as raw 8 kHz samples, the WAV file would last twice as long, its header a click.
    expect((await listen(h, '?encoding=linear16&sample_rate=8000', silentWav(1))).status).toBe(200);
    expect(files.samples).toEqual([16000, 16000]);
    await expectRefusal(await listen(h, '?encoding=linear16', Buffer.alloc(100)), 400, 'INVALID_QUERY_PARAMETER', /^sample_rate: /);
  });

  it('refuses what it cannot transcribe with 400 and a Deepgram error body', async () => {
    const h = await gateway();
    await expectRefusal(
      await listen(h, '', JSON.stringify({ url: 'https://example.com/a.wav' }), { 'Content-Type': 'application/json' }),
      400,
      'REMOTE_URL_UNSUPPORTED',
      /does not fetch audio from URLs/,
    );
    await expectRefusal(await listen(h, '', 'hello', { 'Content-Type': 'text/plain' }), 415, 'UNSUPPORTED_CONTENT_TYPE');
    await expectRefusal(await listen(h, '', new Uint8Array(0)), 400, 'EMPTY_BODY');
    await expectRefusal(await listen(h, '', Buffer.from('RIFF....WAVEjunk')), 400, 'INVALID_AUDIO');
    await expectRefusal(await listen(h, '?utterances=maybe', silentWav(1)), 400, 'INVALID_QUERY_PARAMETER', /^utterances: /);
    await expectRefusal(await listen(h, '?utt_split=0', silentWav(1)), 400, 'INVALID_QUERY_PARAMETER', /^utt_split: /);
    await expectRefusal(await listen(h, '?paragraphs=true&paragraphs=false', silentWav(1)), 400, 'INVALID_QUERY_PARAMETER', /^paragraphs: /);
    await expectRefusal(await listen(h, '?multichannel=true&encoding=opus', Buffer.from('raw packets have no header')), 400, 'INVALID_QUERY_PARAMETER', /^multichannel: /);
    await expectRefusal(await listen(h, '?redact=pci', silentWav(1)), 400, 'INVALID_QUERY_PARAMETER', /^redact: /);
    await expectRefusal(await listen(h, '?language=de', silentWav(1)), 400, 'INVALID_QUERY_PARAMETER', /^language: /);
    expect(await metricValue(h, 'chorus_errors_total{code="invalid_query_parameter"}')).toBe(6);
    // A plain GET is still a live client that forgot to upgrade.
    expect((await fetch(`${h.url}/v1/listen`)).status).toBe(426);
  });

  it('checks keys as /v1/listen does: Token or Bearer header, or ?token=', async () => {
    const h = await gateway(undefined, { apiKeys: new Set(['k1']) });
    await expectRefusal(await listen(h, '', silentWav(1)), 401, 'INVALID_AUTH');
    await expectRefusal(await listen(h, '', silentWav(1), { 'Content-Type': 'audio/wav', Authorization: 'Token wrong' }), 401, 'INVALID_AUTH');
    expect((await listen(h, '', silentWav(1), { 'Content-Type': 'audio/wav', Authorization: 'Token k1' })).status).toBe(200);
    expect((await listen(h, '', silentWav(1), { 'Content-Type': 'audio/wav', Authorization: 'Bearer k1' })).status).toBe(200);
    expect((await listen(h, '?token=k1', silentWav(1))).status).toBe(200);
  });

  it('answers 503 while the model loads', async () => {
    harness = await startGateway({}, { attach: false });
    const response = await listen(harness, '', silentWav(1));
    await expectRefusal(response, 503, 'MODEL_LOADING');
  });
});

describe('limits shared with /v1/audio/transcriptions', () => {
  it('refuses a body over --max-upload-bytes with 413, declared or streamed', async () => {
    const h = await gateway();
    await expectRefusal(await listen(h, '', Buffer.alloc(UPLOAD_LIMIT + 1)), 413, 'PAYLOAD_TOO_LARGE');
    // Without a declared length the limit is found while reading.
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 5; i++) controller.enqueue(new Uint8Array(UPLOAD_LIMIT / 4));
        controller.close();
      },
    });
    const streamed = await fetch(`${h.url}/v1/listen`, { method: 'POST', body: chunks, headers: { 'Content-Type': 'audio/wav' }, duplex: 'half' } as RequestInit);
    await expectRefusal(streamed, 413, 'PAYLOAD_TOO_LARGE');
    expect((await listen(h, '', silentWav(1))).status).toBe(200);
  });

  it('waits in the same line as OpenAI uploads, and is refused with 503 when it is full', async () => {
    const files = new FakeFileTranscriber();
    const h = await gateway(files);
    files.hold();
    const openAi = (): Promise<Response> => {
      const form = new FormData();
      form.append('file', new Blob([silentWav(0.1)], { type: 'audio/wav' }), 'a.wav');
      form.append('model', 'whisper-1');
      return fetch(`${h.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    };
    // One running and eight waiting fill the line, whichever API they came by.
    const admitted = [openAi(), ...Array.from({ length: 4 }, () => listen(h, '', silentWav(0.1))), ...Array.from({ length: 4 }, openAi)];
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(files.asked).toHaveLength(1);
    await expectRefusal(await listen(h, '', silentWav(0.1)), 503, 'SERVER_BUSY');
    expect((await openAi()).status).toBe(503);
    files.open();
    expect((await Promise.all(admitted)).map((r) => r.status)).toEqual(Array(9).fill(200));
    expect(files.asked).toHaveLength(9);
  });
});
