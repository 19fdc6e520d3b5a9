// OpenAI's `timestamp_granularities[]` and `stream` on /v1/audio/transcriptions, on the HTTP
// side with a fixed transcript (file-fakes.ts); sdk-clients.test.ts runs the real model
// through the openai SDK.
import { afterEach, describe, expect, it } from 'vitest';
import { FakeFileTranscriber, silentWav } from './file-fakes.js';
import { startGateway, type Harness } from './gateway-harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.server.shutdown();
  harness = undefined;
});

async function transcribe(files: FakeFileTranscriber, fields: Array<[string, string]>): Promise<Response> {
  harness ??= await startGateway({}, { files });
  const form = new FormData();
  form.append('file', new Blob([silentWav(0.5)], { type: 'audio/wav' }), 'a.wav');
  form.append('model', 'whisper-1');
  for (const [name, value] of fields) form.append(name, value);
  return fetch(`${harness.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
}

async function expectInvalid(response: Response, param: string, message: RegExp): Promise<void> {
  expect(response.status).toBe(400);
  const { error } = (await response.json()) as { error: Record<string, string> };
  expect(error).toMatchObject({ type: 'invalid_request_error', param, code: 'invalid_value' });
  expect(error.message).toMatch(message);
}

describe('timestamp_granularities[]', () => {
  it('word: aligns words and answers them without their punctuation, and without segments', async () => {
    const files = new FakeFileTranscriber();
    const body = (await (await transcribe(files, [['response_format', 'verbose_json'], ['timestamp_granularities[]', 'word']])).json()) as Record<string, unknown>;
    expect(files.asked[0].wordTimestamps).toBe(true);
    expect(body.words).toEqual([
      { word: 'Hello', start: 0.1, end: 0.5 },
      { word: 'world', start: 0.6, end: 1 },
      { word: 'Yes', start: 2.5, end: 3 },
      { word: 'she', start: 3, end: 3.3 },
      { word: 'said', start: 3.3, end: 3.8 },
    ]);
    expect(body).not.toHaveProperty('segments');
  });

  it('word and segment: both; neither: segments only, and no alignment work', async () => {
    const files = new FakeFileTranscriber();
    const both = (await (
      await transcribe(files, [['response_format', 'verbose_json'], ['timestamp_granularities[]', 'word'], ['timestamp_granularities[]', 'segment']])
    ).json()) as Record<string, unknown[]>;
    expect(both.words).toHaveLength(5);
    expect(both.segments).toHaveLength(2);
    const plain = (await (await transcribe(files, [['response_format', 'verbose_json']])).json()) as Record<string, unknown[]>;
    expect(plain).not.toHaveProperty('words');
    expect(plain.segments).toHaveLength(2);
    // The form field without brackets, as curl users write it, means the same.
    const unbracketed = (await (await transcribe(files, [['response_format', 'verbose_json'], ['timestamp_granularities', 'word']])).json()) as Record<string, unknown[]>;
    expect(unbracketed.words).toHaveLength(5);
    expect(files.asked.map((o) => o.wordTimestamps)).toEqual([true, false, true]);
  });

  it('is refused outside verbose_json and for unknown granularities', async () => {
    const files = new FakeFileTranscriber();
    await expectInvalid(await transcribe(files, [['timestamp_granularities[]', 'word']]), 'timestamp_granularities', /requires response_format verbose_json/);
    await expectInvalid(
      await transcribe(files, [['response_format', 'verbose_json'], ['timestamp_granularities[]', 'char']]),
      'timestamp_granularities',
      /word or segment, got "char"/,
    );
    expect(files.asked).toEqual([]);
  });
});

describe('stream=true', () => {
  it('answers server-sent events: a delta per segment, then done with the whole text', async () => {
    const response = await transcribe(new FakeFileTranscriber(), [['stream', 'true']]);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(await response.text()).toBe(
      'data: {"type":"transcript.text.delta","delta":"Hello, world."}\n\n' +
        'data: {"type":"transcript.text.delta","delta":" \\"Yes!\\" she said."}\n\n' +
        'data: {"type":"transcript.text.done","text":"Hello, world. \\"Yes!\\" she said."}\n\n',
    );
  });

  it('streams text as it streams json, and a file without speech as done alone', async () => {
    const silent = new FakeFileTranscriber('tiny.en', false, { text: '', language: 'en', durationS: 0.5, segments: [] });
    const response = await transcribe(silent, [['stream', 'true'], ['response_format', 'text']]);
    expect(await response.text()).toBe('data: {"type":"transcript.text.done","text":""}\n\n');
  });

  it('is refused with formats that cannot stream, and for values other than true or false', async () => {
    const files = new FakeFileTranscriber();
    for (const format of ['verbose_json', 'srt', 'vtt']) {
      await expectInvalid(await transcribe(files, [['stream', 'true'], ['response_format', format]]), 'stream', new RegExp(`not ${format}`));
    }
    await expectInvalid(await transcribe(files, [['stream', 'yes']]), 'stream', /true or false/);
    expect(files.asked).toEqual([]);
    expect((await transcribe(files, [['stream', 'false'], ['response_format', 'srt']])).status).toBe(200);
  });
});
