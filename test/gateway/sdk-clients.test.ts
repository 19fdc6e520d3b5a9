// The official client libraries, unmodified, against an in-process gateway with tiny.en on
// loopback: what a user who only changes the base URL of the client they already use gets.
// @deepgram/sdk (pre-recorded transcribeFile; live on its defaults, with endpointing 10 and
// Finalize, Chrome's WebM Opus, Ogg Opus and 8 kHz mu-law) and openai (transcriptions with word
// timestamps, and streamed).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeepgramClient, type Deepgram } from '@deepgram/sdk';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { floatToMulaw } from '../../src/audio/g711.js';
import { parseWav } from '../../src/audio/wav.js';
import { scoreWer } from '../../src/eval/wer.js';
import { startTinyGateway, type TinyGateway } from '../tiny-gateway.js';
import { deepgramClientFor } from './deepgram-client.js';
import { fixture } from '../helpers.js';

const API_KEY = 'sdk-test-key';
const jfk = fixture('jfk');
const jfkBytes = readFileSync(jfk.path);

let gateway: TinyGateway;
let url: string;

beforeAll(async () => {
  // Keys on, so the SDKs' own ways of sending them are part of what is tested.
  gateway = await startTinyGateway({ maxSessions: 1 }, { apiKeys: new Set([API_KEY]) });
  url = gateway.url;
});

afterAll(async () => {
  await gateway?.close();
});

function deepgram(): DeepgramClient {
  return deepgramClientFor(url, API_KEY);
}

function openai(): OpenAI {
  return new OpenAI({ apiKey: API_KEY, baseURL: `${url}/v1`, maxRetries: 0 });
}

function wer(reference: string, hypothesis: string): number {
  return scoreWer([{ ref: reference, hyp: hypothesis }]).wer!;
}

/** The SDK types a pre-recorded answer as a transcript or a callback's acceptance; no callback is asked here. */
function transcriptOf(response: Deepgram.listen.v1.MediaTranscribeResponse): Deepgram.ListenV1Response {
  if (!('results' in response)) throw new Error(`expected a transcript, got ${JSON.stringify(response)}`);
  return response;
}

// The SDK's message union, read by field name as a client does.
type LiveMessage = Record<string, any>;

/**
 * One live session through the SDK: the audio in 100 ms messages, then either CloseStream, or
 * Finalize and CloseStream once Finalize's results are in; it ends when the server closes.
 */
async function live(args: Record<string, unknown>, audio: Buffer, bytesPerSecond: number, end: 'finalize' | 'close'): Promise<LiveMessage[]> {
  const connection = await deepgram().listen.v1.connect({ model: 'nova-3', reconnectAttempts: 0, ...args } as Parameters<DeepgramClient['listen']['v1']['connect']>[0]);
  const messages: LiveMessage[] = [];
  let closeSent = false;
  connection.connect();
  await connection.waitForOpen();
  const received = (async () => {
    for await (const message of connection as AsyncIterable<LiveMessage>) {
      messages.push(message);
      if (end === 'finalize' && message.type === 'Results' && message.from_finalize === true && !closeSent) {
        closeSent = true;
        connection.sendCloseStream({ type: 'CloseStream' });
      }
    }
  })();
  // A tenth of a second of audio every 50 ms: twice real time, as a client catching up might.
  // All at once, the session would decode a backlog whose hops fall wherever the machine's load
  // puts them, and its finals would differ from run to run.
  const step = Math.round(bytesPerSecond / 10);
  const started = performance.now();
  for (let at = 0, n = 0; at < audio.length; at += step, n++) {
    const wait = started + n * 50 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    connection.sendMedia(audio.subarray(at, at + step));
  }
  // Finalize must flush at once: with CloseStream held back, nothing else would end the session.
  if (end === 'finalize') connection.sendFinalize({ type: 'Finalize' });
  else connection.sendCloseStream({ type: 'CloseStream' });
  await received;
  return messages;
}

function finalText(messages: LiveMessage[]): string {
  return messages
    .filter((m) => m.type === 'Results' && m.is_final)
    .map((m) => m.channel.alternatives[0].transcript as string)
    .join(' ');
}

async function linear16(path: string): Promise<Buffer> {
  const { samples } = await loadAudioFile(path);
  const pcm = Buffer.alloc(samples.length * 2);
  samples.forEach((x, i) => pcm.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(x * 32767))), i * 2));
  return pcm;
}

describe('@deepgram/sdk pre-recorded', () => {
  it('transcribeFile answers with words, utterances and paragraphs', async () => {
    const response = transcriptOf(await deepgram().listen.v1.media.transcribeFile(jfkBytes, {
      model: 'nova-3',
      smart_format: true,
      utterances: true,
      paragraphs: true,
    }));
    expect(response.metadata).toMatchObject({ channels: 1, models: [expect.any(String)] });
    expect(response.metadata.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.metadata.duration).toBeCloseTo(jfk.duration_s, 1);
    expect(response.metadata.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.values(response.metadata.model_info)[0]).toMatchObject({ name: 'tiny.en', arch: 'whisper' });
    // nova-3 is not served here: the SDK's usual model still works, with a warning.
    expect(JSON.stringify(response.metadata)).toContain('model_substituted');

    const alternative = response.results.channels[0].alternatives![0];
    expect(wer(jfk.text, alternative.transcript!)).toBe(0);
    expect(alternative.confidence).toBeGreaterThan(0.5);
    const words = alternative.words as Array<{ word: string; start: number; end: number; confidence: number; punctuated_word: string }>;
    expect(words.map((w) => w.word).join(' ')).toBe(alternative.transcript!.toLowerCase().replace(/[^a-z ]/g, ''));
    for (const [i, w] of words.entries()) {
      expect(w.punctuated_word.toLowerCase()).toContain(w.word);
      expect(w.end).toBeGreaterThan(w.start);
      if (i > 0) expect(w.start).toBeGreaterThanOrEqual(words[i - 1].end);
    }
    expect(words[words.length - 1].end).toBeLessThanOrEqual(jfk.duration_s);

    const utterances = response.results.utterances!;
    expect(utterances.length).toBeGreaterThan(0);
    expect(utterances.flatMap((u) => u.words!.map((w) => w.word))).toEqual(words.map((w) => w.word));
    expect(utterances[0]).toMatchObject({ channel: 0, start: words[0].start, id: expect.any(String) });

    const paragraphs = alternative.paragraphs!;
    expect(paragraphs.transcript!.startsWith('\n')).toBe(true);
    expect(paragraphs.paragraphs!.reduce((n, p) => n + p.num_words!, 0)).toBe(words.length);
    expect(wer(jfk.text, paragraphs.paragraphs!.flatMap((p) => p.sentences!.map((s) => s.text)).join(' '))).toBe(0);
  });

  it('transcribeFile takes raw 8 kHz mu-law with encoding and sample_rate', async () => {
    // The SDK's pre-recorded options lack sample_rate, so it goes as an extra query parameter, as Deepgram documents.
    const clip = fixture('tel8k-2830-3980-0029');
    const wav = parseWav(readFileSync(clip.path));
    expect(wav.sampleRate).toBe(8000);
    const mulaw = Buffer.from(wav.samples.map(floatToMulaw));
    const response = transcriptOf(await deepgram().listen.v1.media.transcribeFile(
      mulaw,
      { encoding: 'mulaw', punctuate: false },
      { queryParams: { sample_rate: 8000 } },
    ));
    const alternative = response.results.channels[0].alternatives![0];
    expect(wer(clip.text, alternative.transcript!)).toBeLessThanOrEqual(0.15);
    expect(alternative.transcript).toBe(alternative.transcript!.toLowerCase());
    expect(alternative.words![0]).not.toHaveProperty('punctuated_word');
    expect(response.metadata.duration).toBeCloseTo(clip.duration_s, 1);
  });

  it('transcribeFile spells a keyterm as given', async () => {
    const clip = fixture('1221-135766-0002');
    const response = transcriptOf(await deepgram().listen.v1.media.transcribeFile(readFileSync(clip.path), { keyterm: ['Hester Prynne', 'Pearl'] }));
    expect(response.results.channels[0].alternatives![0].transcript).toContain('Hester Prynne');
    expect(JSON.stringify(response.metadata)).not.toContain('keyterm');
  });

  it('transcribeFile reads a WebM recording from its bytes', async () => {
    const webm = readFileSync(jfk.path.replace(/jfk\.wav$/, 'jfk-mediarecorder.webm'));
    const response = transcriptOf(await deepgram().listen.v1.media.transcribeFile(webm, {}));
    expect(wer(jfk.text, response.results.channels[0].alternatives![0].transcript!)).toBeLessThanOrEqual(0.1);
  });

  it('transcribeUrl is refused with 400: the gateway fetches nothing', async () => {
    const failure = await deepgram()
      .listen.v1.media.transcribeUrl({ url: 'https://dpgr.am/spacewalk.wav' })
      .then(() => null, (error: unknown) => error as { statusCode: number; body: { err_code: string; err_msg: string } });
    expect(failure?.statusCode).toBe(400);
    expect(failure?.body.err_code).toBe('REMOTE_URL_UNSUPPORTED');
    expect(failure?.body.err_msg).toMatch(/does not fetch audio from URLs/);
  });

  it('a wrong key is refused with 401', async () => {
    const client = deepgramClientFor(url, 'wrong');
    const failure = await client.listen.v1.media.transcribeFile(jfkBytes, {}).then(
      () => null,
      (error: unknown) => error as { statusCode: number; body: { err_code: string } },
    );
    expect(failure?.statusCode).toBe(401);
    expect(failure?.body.err_code).toBe('INVALID_AUTH');
  });
});

describe('@deepgram/sdk live', () => {
  it('on its defaults, transcribes a stream closed with CloseStream and ends with Metadata', async () => {
    const messages = await live({ encoding: 'linear16', sample_rate: 16000 }, await linear16(jfk.path), 32000, 'close');
    expect(wer(jfk.text, finalText(messages))).toBeLessThanOrEqual(0.1);
    expect(messages[messages.length - 1]).toMatchObject({ type: 'Metadata', channels: 1 });
  });

  it('with endpointing 10, Finalize flushes what was sent as from_finalize results', async () => {
    const messages = await live({ encoding: 'linear16', sample_rate: 16000, endpointing: 10, interim_results: true }, await linear16(jfk.path), 32000, 'finalize');
    // One Finalize, one answer: a client that closes on from_finalize closes once.
    const answers = messages.filter((m) => m.type === 'Results' && m.from_finalize === true);
    expect(answers).toHaveLength(1);
    // Finalize flushed everything: CloseStream, sent after its answer, found nothing left.
    const afterFlush = messages.slice(messages.indexOf(answers[0]) + 1).filter((m) => m.type === 'Results' && m.is_final);
    expect(afterFlush.map((m) => m.channel.alternatives[0].transcript).join('')).toBe('');
    expect(wer(jfk.text, finalText(messages))).toBeLessThanOrEqual(0.1);
  });

  it('spells a keyterm as given, sent as the SDK sends a list', async () => {
    // tiny.en alone writes "Hester Prin" here (test/engine/keyterms.test.ts).
    const clip = fixture('1221-135766-0002');
    const messages = await live({ encoding: 'linear16', sample_rate: 16000, keyterm: ['Hester Prynne'] }, await linear16(clip.path), 32000, 'close');
    expect(finalText(messages)).toContain('Hester Prynne');
  });

  it("transcribes Chrome MediaRecorder's WebM Opus sent with no encoding, as Deepgram's browser tutorial does", async () => {
    const webm = readFileSync(jfk.path.replace(/jfk\.wav$/, 'jfk-mediarecorder.webm'));
    // MediaRecorder hands over a chunk every so often; about a tenth of a second each here.
    const messages = await live({}, webm, Math.ceil(webm.length / jfk.duration_s), 'close');
    expect(wer(jfk.text, finalText(messages))).toBeLessThanOrEqual(0.1);
  });

  it('transcribes Ogg Opus sent with encoding=opus, as a file encoder writes it', async () => {
    // opusenc is part of the set-up (scripts/setup.sh installs opus-tools).
    const scratch = mkdtempSync(join(tmpdir(), 'chorus-sdk-ogg-'));
    try {
      const ogg = join(scratch, 'jfk.opus');
      const encoded = spawnSync('opusenc', ['--quiet', jfk.path, ogg]);
      expect(encoded.error, 'opusenc is missing: apt-get install opus-tools').toBeUndefined();
      const bytes = readFileSync(ogg);
      const messages = await live({ encoding: 'opus', sample_rate: 48000 }, bytes, Math.ceil(bytes.length / jfk.duration_s), 'close');
      expect(wer(jfk.text, finalText(messages)), finalText(messages)).toBeLessThanOrEqual(0.1);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('transcribes 8 kHz mu-law', async () => {
    const clip = fixture('tel8k-2830-3980-0029');
    const wav = parseWav(readFileSync(clip.path));
    const mulaw = Buffer.from(wav.samples.map(floatToMulaw));
    const messages = await live({ encoding: 'mulaw', sample_rate: 8000 }, mulaw, 8000, 'close');
    expect(wer(clip.text, finalText(messages))).toBeLessThanOrEqual(0.2);
  });
});

describe('openai audio.transcriptions', () => {
  it('verbose_json with word granularity has the aligned words', async () => {
    const result = await openai().audio.transcriptions.create({
      file: await toFile(jfkBytes, 'jfk.wav', { type: 'audio/wav' }),
      model: 'whisper-1',
      response_format: 'verbose_json',
      timestamp_granularities: ['word', 'segment'],
    });
    expect(wer(jfk.text, result.text)).toBe(0);
    const words = result.words!;
    expect(words.map((w) => w.word.toLowerCase()).join(' ')).toBe(result.text.toLowerCase().replace(/[^a-z ]/g, '').trim());
    for (const [i, w] of words.entries()) {
      expect(w.word).toMatch(/^\S+$/);
      expect(w.end).toBeGreaterThan(w.start);
      if (i > 0) expect(w.start).toBeGreaterThanOrEqual(words[i - 1].end);
    }
    // "ask" (the second one) begins after 7 s in the recording.
    expect(words.filter((w) => w.word.toLowerCase() === 'ask')[1].start).toBeGreaterThan(7);
    expect(result.segments!.length).toBeGreaterThan(0);
  });

  it('word granularity alone leaves the segments out, as OpenAI does', async () => {
    const result = await openai().audio.transcriptions.create({
      file: await toFile(jfkBytes, 'jfk.wav'),
      model: 'whisper-1',
      response_format: 'verbose_json',
      timestamp_granularities: ['word'],
    });
    expect(result.words!.length).toBeGreaterThan(10);
    expect(result.segments).toBeUndefined();
  });

  it('stream: true yields text deltas, then the done event with the whole text', async () => {
    const stream = await openai().audio.transcriptions.create({
      file: await toFile(jfkBytes, 'jfk.wav'),
      model: 'gpt-4o-mini-transcribe',
      stream: true,
    });
    const events = [];
    for await (const event of stream) events.push(event);
    const deltas = events.filter((e) => e.type === 'transcript.text.delta');
    const done = events.filter((e) => e.type === 'transcript.text.done');
    expect(deltas.length).toBeGreaterThan(0);
    expect(done).toHaveLength(1);
    expect(events[events.length - 1]).toBe(done[0]);
    expect(deltas.map((d) => d.delta).join('')).toBe(done[0].text);
    expect(wer(jfk.text, done[0].text)).toBe(0);
  });

  it('stream: true with a format that cannot stream is refused with 400, not an empty stream', async () => {
    const failure = await openai()
      .audio.transcriptions.create({ file: await toFile(jfkBytes, 'jfk.wav'), model: 'whisper-1', response_format: 'srt', stream: true })
      .then(() => null, (error: unknown) => error);
    expect(failure).toBeInstanceOf(OpenAI.BadRequestError);
    expect(failure).toMatchObject({ status: 400, param: 'stream', code: 'invalid_value' });
  });
});
