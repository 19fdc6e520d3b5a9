import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WhisperModel } from '../../src/engine/whisper.js';
import type { TranscribeOptions } from '../../src/engine/transcribe.js';
import { whisperFileTranscriber, type FileTranscriber } from '../../src/gateway/transcriptions.js';
import { scoreWer } from '../../src/eval/wer.js';
import { fixture } from '../helpers.js';
import { metricValue, startGateway, type Harness } from './gateway-harness.js';

const UPLOAD_LIMIT = 512 * 1024;
const jfk = fixture('jfk');
const jfkBytes = readFileSync(jfk.path);

let model: WhisperModel;
let harness: Harness;

beforeAll(async () => {
  model = await WhisperModel.load('tiny.en', { threads: 2, maxWindows: 1, maxSessions: 5 });
  harness = await startGateway({ maxUploadBytes: UPLOAD_LIMIT }, { files: whisperFileTranscriber(model, 'tiny.en') });
});
afterAll(async () => {
  await harness?.server.shutdown();
  model?.close();
});

function form(fields: Record<string, string>, file: Buffer | null = jfkBytes): FormData {
  const body = new FormData();
  if (file) body.append('file', new Blob([new Uint8Array(file)], { type: 'audio/wav' }), 'jfk.wav');
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  return body;
}

function post(body: FormData | string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${harness.url}/v1/audio/transcriptions`, { method: 'POST', body, headers });
}

describe('POST /v1/audio/transcriptions with tiny.en', () => {
  it('answers json and verbose_json in OpenAI shapes', async () => {
    const json = await post(form({ model: 'whisper-1' }));
    expect(json.status).toBe(200);
    const { text } = (await json.json()) as { text: string };
    expect(scoreWer([{ ref: jfk.text, hyp: text }]).wer).toBe(0);
    expect(text).toBe(text.trim());

    const verbose = await post(form({ model: 'whisper-1', response_format: 'verbose_json' }));
    const body = (await verbose.json()) as Record<string, unknown> & { segments: Array<Record<string, unknown>> };
    expect(body).toMatchObject({ task: 'transcribe', language: 'english', text });
    expect(body.duration).toBeCloseTo(jfk.duration_s, 1);
    expect(body.segments.length).toBeGreaterThan(0);
    for (const key of ['id', 'seek', 'start', 'end', 'text', 'tokens', 'temperature', 'avg_logprob', 'compression_ratio', 'no_speech_prob']) {
      expect(body.segments[0]).toHaveProperty(key);
    }
  });

  it('answers text, srt and vtt as plain text', async () => {
    const text = await post(form({ model: 'whisper-1', response_format: 'text', temperature: '0', prompt: 'JFK inaugural address.' }));
    expect(text.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await text.text()).toMatch(/ask not what your country can do for you.*\n$/i);

    const srt = await (await post(form({ model: 'whisper-1', response_format: 'srt' }))).text();
    expect(srt).toMatch(/^1\n00:00:00,000 --> 00:00:\d\d,\d{3}\n\S.*\n\n/);

    const vtt = await (await post(form({ model: 'whisper-1', response_format: 'vtt', language: 'en' }))).text();
    expect(vtt).toMatch(/^WEBVTT\n\n00:00:00\.000 --> 00:00:\d\d\.\d{3}\n\S.*\n\n/);
  });
});

describe('POST /v1/audio/transcriptions refusals', () => {
  async function expectError(response: Response, status: number, param: string | null, code: string): Promise<void> {
    expect(response.status).toBe(status);
    const body = (await response.json()) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({ type: 'invalid_request_error', param, code });
    expect(typeof body.error.message).toBe('string');
  }

  it('refuses broken or incomplete multipart with 400', async () => {
    await expectError(await post('--x\r\nnot a part', { 'Content-Type': 'multipart/form-data; boundary=x' }), 400, null, 'invalid_multipart');
    await expectError(await post('{}', { 'Content-Type': 'application/json' }), 400, null, 'invalid_content_type');
    await expectError(await post(form({ model: 'whisper-1' }, null)), 400, 'file', 'missing_file');
    await expectError(await post(form({})), 400, 'model', 'missing_model');
    await expectError(await post(form({ model: 'whisper-1', response_format: 'xml' })), 400, 'response_format', 'invalid_value');
    await expectError(await post(form({ model: 'whisper-1', temperature: '3' })), 400, 'temperature', 'invalid_value');
    await expectError(await post(form({ model: 'whisper-1', language: 'de' })), 400, 'language', 'unsupported_language');
    await expectError(await post(form({ model: 'whisper-1' }, Buffer.from('RIFF....WAVEjunk'))), 400, 'file', 'invalid_file_format');
  });

  it('refuses a file over the size limit with 413', async () => {
    const big = Buffer.concat([jfkBytes, jfkBytes]);
    expect(big.length).toBeGreaterThan(UPLOAD_LIMIT);
    await expectError(await post(form({ model: 'whisper-1' }, big)), 413, 'file', 'file_too_large');
    // Just over the limit: refused while reading, not from the declared length.
    const justOver = Buffer.alloc(UPLOAD_LIMIT + 1);
    await expectError(await post(form({ model: 'whisper-1' }, justOver)), 413, 'file', 'file_too_large');
    expect(await metricValue(harness, 'chorus_errors_total{code="file_too_large"}')).toBe(2);
    expect((await fetch(`${harness.url}/healthz`)).status).toBe(200);
  });
});

describe('POST /v1/audio/translations', () => {
  it('refuses with 400 on an English-only model', async () => {
    const response = await fetch(`${harness.url}/v1/audio/translations`, { method: 'POST', body: form({ model: 'whisper-1' }) });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: Record<string, unknown> }).error).toMatchObject({
      type: 'invalid_request_error',
      param: 'model',
      code: 'translation_unavailable',
    });
  });

  it('translates into English with a multilingual model, detecting the spoken language', async () => {
    const asked: Array<Partial<TranscribeOptions>> = [];
    const multilingual: FileTranscriber = {
      modelName: 'small',
      multilingual: true,
      acceptsLanguage: () => true,
      defaultLanguage: null,
      transcribe: async (_pcm, options) => {
        asked.push(options);
        const segment = { start: 0, end: 2, text: ' Ask not.', tokens: [1], avgLogprob: -0.1, noSpeechProb: 0.01, compressionRatio: 1, temperature: 0 };
        return { text: ' Ask not.', language: 'de', durationS: 2, segments: [segment] };
      },
    };
    const translator = await startGateway({}, { files: multilingual });
    try {
      const translate = (fields: Record<string, string>) =>
        fetch(`${translator.url}/v1/audio/translations`, { method: 'POST', body: form(fields) });
      const json = await translate({ model: 'whisper-1', language: 'fr' });
      expect(json.status).toBe(200);
      expect(await json.json()).toEqual({ text: 'Ask not.' });
      // OpenAI's translations take no language: the spoken one is detected, not the field's.
      expect(asked[0]).toMatchObject({ task: 'translate', language: null });
      const verbose = await translate({ model: 'whisper-1', response_format: 'verbose_json' });
      // OpenAI names the language of the output: a translation's is always English.
      expect(await verbose.json()).toMatchObject({ task: 'translate', language: 'english', text: 'Ask not.' });
    } finally {
      await translator.server.shutdown();
    }
  });
});
