/**
 * `POST /v1/audio/transcriptions` and `POST /v1/audio/translations`, compatible with OpenAI's
 * endpoints of those names, so OpenAI's SDKs and tools that speak them can send files to
 * Chorus: multipart/form-data with `file`, `model`, `language` (transcriptions only), `prompt`,
 * `response_format`, `temperature`, `timestamp_granularities[]` and `stream`; errors in
 * OpenAI's `{error: {message, type, param, code}}` shape. Fields OpenAI defines for other
 * models (`include[]`, `chunking_strategy`) are ignored. Translation into English is Whisper's
 * own second task, so only a multilingual model offers it.
 *
 * Every file endpoint (these and Deepgram's pre-recorded `POST /v1/listen`) runs its files
 * through one FileJobs: one at a time on the shared model (see SerialQueue), so uploads never
 * take more than one job's share of the engine from live sessions, whichever API they use.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import busboy from 'busboy';
import { decodeAudioBytes } from '../audio/load.js';
import { AudioFormatError } from '../audio/wav.js';
import { transcribe, type Transcript, type TranscribeOptions } from '../engine/transcribe.js';
import type { WhisperModel } from '../engine/whisper.js';
import { wordsFromAlignment } from '../stream/timestamps.js';
import type { GatewayLog } from './log.js';
import type { GatewayMetrics } from './metrics.js';
import { OpenAiError, sendOpenAiError } from './openai-errors.js';
import { checkAuth } from './protocol.js';
import { sendTranscriptEvents } from './openai-stream.js';
import { QueueFullError, SerialQueue } from './serial-queue.js';
import { toSrt, toVtt } from './subtitles.js';

/** What the endpoint needs of the engine; the product builds it from the loaded model. */
export interface FileTranscriber {
  readonly modelName: string;
  /** whether the model knows languages other than English, and so can translate into it */
  readonly multilingual: boolean;
  acceptsLanguage(code: string): boolean;
  /** null when the model detects the language itself. */
  readonly defaultLanguage: string | null;
  transcribe(pcm: Float32Array, options: Partial<TranscribeOptions>): Promise<Transcript>;
}

export function whisperFileTranscriber(model: WhisperModel, modelName: string): FileTranscriber {
  return {
    modelName,
    multilingual: model.multilingual,
    acceptsLanguage: (code) => (model.multilingual ? model.tokenizer.special.languages.has(code) : code === 'en'),
    defaultLanguage: model.multilingual ? null : 'en',
    // Files have no real-time bound: the device serves them after live streams' work (scheduler-step.ts).
    transcribe: (pcm, options) => transcribe(model, pcm, { ...options, urgency: 'batch' }),
  };
}

/**
 * The model, the wait line and the upload and duration limits that every file endpoint shares:
 * one line for all of them, so a burst on one API cannot get around the limit by arriving on
 * the other. A request takes its place in the line before its upload is read, and its audio
 * is decoded only when its turn comes, so a full line refuses at once, before spending memory
 * or time on the upload, and one file at a time is decoded (decoded audio is 64 kB a second).
 */
export class FileJobs {
  private readonly queue = new SerialQueue(MAX_WAITING_FILES);
  private transcriber: FileTranscriber | null = null;
  /** Places taken by requests whose upload is still being read. */
  private reserved = 0;

  constructor(
    readonly maxUploadBytes: number,
    readonly maxDurationS: number = MAX_FILE_DURATION_S,
  ) {}

  attach(transcriber: FileTranscriber): void {
    this.transcriber = transcriber;
  }

  /** null while the model is loading */
  get model(): FileTranscriber | null {
    return this.transcriber;
  }

  /** Throws QueueFullError at once when the line is full; release the place if the job never runs. */
  reserve(): FileSlot {
    if (this.queue.size + this.reserved > MAX_WAITING_FILES) {
      throw new QueueFullError(`${this.queue.size + this.reserved} files are already in line`);
    }
    this.reserved++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.reserved--;
    };
    return {
      run: (job) => {
        release();
        return this.queue.run(job);
      },
      release,
    };
  }
}

export interface FileSlot {
  /** Runs the job when its turn comes: decoding, then transcription. */
  run<T>(job: () => Promise<T>): Promise<T>;
  release(): void;
}

/**
 * Headers for an error answer to an upload that may not have been read to its end. Reading
 * the rest of a refused upload keeps the connection usable and lets the client finish sending
 * and read the answer; an upload far past the limit is not worth reading.
 */
export function refusedUploadHeaders(request: IncomingMessage, status: number, maxUploadBytes: number): Record<string, string | number> {
  const headers: Record<string, string | number> = {};
  if (status === 503) headers['Retry-After'] = 1;
  if (!request.complete) {
    if (Number(request.headers['content-length']) > 4 * maxUploadBytes) headers.Connection = 'close';
    else request.resume();
  }
  return headers;
}

const RESPONSE_FORMATS = ['json', 'text', 'srt', 'vtt', 'verbose_json'] as const;
type ResponseFormat = (typeof RESPONSE_FORMATS)[number];
/** OpenAI streams only formats that are text as a whole; timed formats have nothing to add to a delta. */
const STREAMABLE_FORMATS: readonly ResponseFormat[] = ['json', 'text'];
const GRANULARITIES = ['word', 'segment'] as const;
type Granularity = (typeof GRANULARITIES)[number];

/** Uploads waiting behind the one being transcribed before more are refused with 503. */
const MAX_WAITING_FILES = 8;
/** Longest audio a file endpoint transcribes (25 MiB of Opus or MP3 can hold ten hours). */
export const MAX_FILE_DURATION_S = 2 * 60 * 60;
/** Whisper's fallback ladder step, used from the requested temperature upwards. */
const TEMPERATURE_STEP = 0.2;
/** Prompts longer than Whisper's context are cut by the decoder anyway. */
const MAX_FIELD_BYTES = 64 * 1024;

export type FileTask = 'transcribe' | 'translate';

interface Upload {
  /** A field may repeat (`timestamp_granularities[]`); get() reads the first. */
  fields: URLSearchParams;
  file: { name: string; bytes: Buffer } | null;
}

/** How the answer is to be shaped, read from the form before any audio is decoded. */
interface Reply {
  format: ResponseFormat;
  granularities: ReadonlySet<Granularity>;
  stream: boolean;
}

export class TranscriptionsEndpoint {
  constructor(
    private readonly apiKeys: ReadonlySet<string> | null,
    private readonly jobs: FileJobs,
    private readonly metrics: GatewayMetrics,
    private readonly log: GatewayLog,
  ) {}

  async handle(request: IncomingMessage, response: ServerResponse, task: FileTask): Promise<void> {
    let slot: FileSlot | null = null;
    try {
      const transcriber = this.admit(request, task);
      slot = this.jobs.reserve();
      const upload = await this.receive(request);
      const reply = replyShape(upload.fields);
      const options = this.transcribeOptions(upload.fields, transcriber, task);
      const file = upload.file;
      if (file === null) throw new OpenAiError(400, 'a file is required in the "file" field', 'file', 'missing_file');
      const transcript = await slot.run(async () => {
        const audio = await decodeUpload(file, this.jobs.maxDurationS);
        return transcriber.transcribe(audio, { ...options, wordTimestamps: reply.granularities.has('word') });
      });
      if (reply.stream) sendTranscriptEvents(response, transcript);
      else respond(response, reply, transcript, task);
    } catch (error) {
      this.fail(request, response, error);
    } finally {
      slot?.release();
    }
  }

  private admit(request: IncomingMessage, task: FileTask): FileTranscriber {
    if (this.apiKeys !== null) {
      const auth = checkAuth({ token: null }, request.headers, this.apiKeys);
      if (!auth.ok) throw new OpenAiError(401, auth.error.message, null, 'invalid_api_key');
    }
    const transcriber = this.jobs.model;
    if (transcriber === null) throw new OpenAiError(503, 'the model is still loading; try again shortly', null, 'model_loading');
    // Refused before the upload is read: no file can change the answer.
    if (task === 'translate' && !transcriber.multilingual) {
      throw new OpenAiError(
        400,
        `model ${transcriber.modelName} is English-only and cannot translate; the server must load a multilingual model`,
        'model',
        'translation_unavailable',
      );
    }
    const type = request.headers['content-type'] ?? '';
    if (!/^multipart\/form-data\s*;/i.test(type)) {
      throw new OpenAiError(400, 'the request must be multipart/form-data', null, 'invalid_content_type');
    }
    const declared = Number(request.headers['content-length']);
    // Multipart framing adds a few hundred bytes; anything beyond that can only be the file.
    if (Number.isFinite(declared) && declared > this.jobs.maxUploadBytes + MAX_FIELD_BYTES) throw this.tooLarge();
    return transcriber;
  }

  private tooLarge(): OpenAiError {
    return new OpenAiError(413, `the file is larger than the limit of ${this.jobs.maxUploadBytes} bytes`, 'file', 'file_too_large');
  }

  private receive(request: IncomingMessage): Promise<Upload> {
    return new Promise((resolve, reject) => {
      let parser: busboy.Busboy;
      try {
        parser = busboy({
          headers: request.headers,
          limits: { fileSize: this.jobs.maxUploadBytes, fieldSize: MAX_FIELD_BYTES, fields: 32, files: 1, parts: 40 },
        });
      } catch (error) {
        reject(new OpenAiError(400, `malformed multipart request: ${(error as Error).message}`, null, 'invalid_multipart'));
        return;
      }
      const upload: Upload = { fields: new URLSearchParams(), file: null };
      let failed = false;
      const stop = (error: OpenAiError) => {
        if (failed) return;
        failed = true;
        request.unpipe(parser);
        // Read and discard the rest, so the client sees the response rather than a reset.
        request.resume();
        reject(error);
      };
      parser.on('field', (name, value, info) => {
        if (info.valueTruncated) stop(new OpenAiError(400, `the "${name}" field is too long`, name, 'field_too_long'));
        else upload.fields.append(name, value);
      });
      parser.on('file', (name, stream, info) => {
        if (name !== 'file') {
          stream.resume();
          return;
        }
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('limit', () => stop(this.tooLarge()));
        stream.on('close', () => {
          if (!failed) upload.file = { name: info.filename ?? 'upload', bytes: Buffer.concat(chunks) };
        });
      });
      parser.on('error', (error: Error) => stop(new OpenAiError(400, `malformed multipart request: ${error.message}`, null, 'invalid_multipart')));
      parser.on('close', () => {
        if (!failed) resolve(upload);
      });
      request.on('error', (error) => stop(new OpenAiError(400, `the upload failed: ${error.message}`, null, 'upload_failed')));
      request.pipe(parser);
    });
  }

  private transcribeOptions(fields: URLSearchParams, transcriber: FileTranscriber, task: FileTask): Partial<TranscribeOptions> {
    const model = fields.get('model');
    // OpenAI requires the field; any name is served by the loaded model, as with `whisper-1`.
    if (model === null || model.trim() === '') {
      throw new OpenAiError(400, 'you must provide a model parameter', 'model', 'missing_model');
    }
    // OpenAI's translations take no language: the spoken one is detected.
    const language = task === 'transcribe' ? fields.get('language')?.trim().toLowerCase() : undefined;
    if (language !== undefined && language !== '' && !transcriber.acceptsLanguage(language)) {
      throw new OpenAiError(400, `language "${language}" is not available with model ${transcriber.modelName}`, 'language', 'unsupported_language');
    }
    const temperature = parseTemperature(fields.get('temperature'));
    const prompt = fields.get('prompt');
    return {
      task,
      language: language || (task === 'transcribe' ? transcriber.defaultLanguage : null),
      initialPrompt: prompt && prompt.trim() !== '' ? prompt : null,
      // 0 lets Whisper raise the temperature when a window fails its checks, as OpenAI documents.
      temperatures: temperatureLadder(temperature),
    };
  }

  private fail(request: IncomingMessage, response: ServerResponse, error: unknown): void {
    let failure: OpenAiError;
    if (error instanceof OpenAiError) failure = error;
    else if (error instanceof QueueFullError) failure = new OpenAiError(503, 'too many files are waiting to be transcribed; try again later', null, 'server_busy');
    else {
      this.log('transcription_failed', { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      failure = new OpenAiError(500, 'the server failed to transcribe the file', null, 'internal_error');
    }
    this.metrics.errors.inc({ code: failure.code ?? failure.type });
    if (response.headersSent) {
      response.destroy();
      return;
    }
    sendOpenAiError(response, failure, refusedUploadHeaders(request, failure.status, this.jobs.maxUploadBytes));
  }
}

function replyShape(fields: URLSearchParams): Reply {
  const value = fields.get('response_format') ?? 'json';
  const format = RESPONSE_FORMATS.find((f) => f === value);
  if (!format) {
    throw new OpenAiError(400, `response_format must be one of ${RESPONSE_FORMATS.join(', ')}, got "${value}"`, 'response_format', 'invalid_value');
  }
  // OpenAI's SDKs send a list as repeated `name[]` fields; plain `name` is what curl users write.
  const asked = [...fields.getAll('timestamp_granularities[]'), ...fields.getAll('timestamp_granularities')];
  const granularities = new Set<Granularity>();
  for (const entry of asked) {
    const granularity = GRANULARITIES.find((g) => g === entry);
    if (!granularity) {
      throw new OpenAiError(400, `timestamp_granularities must hold word or segment, got "${entry}"`, 'timestamp_granularities', 'invalid_value');
    }
    granularities.add(granularity);
  }
  // Only verbose_json has a place for timestamps; ignoring the request would lose them silently.
  if (granularities.size > 0 && format !== 'verbose_json') {
    throw new OpenAiError(400, 'timestamp_granularities requires response_format verbose_json', 'timestamp_granularities', 'invalid_value');
  }
  const stream = parseStream(fields.get('stream'));
  // An OpenAI SDK asked to stream reads the answer as events whatever it is, so a JSON answer
  // would reach its caller as an empty stream: a format that cannot stream is refused instead.
  if (stream && !STREAMABLE_FORMATS.includes(format)) {
    throw new OpenAiError(400, `stream is available with response_format ${STREAMABLE_FORMATS.join(' or ')}, not ${format}`, 'stream', 'invalid_value');
  }
  return { format, granularities: granularities.size > 0 ? granularities : new Set(['segment']), stream };
}

function parseStream(value: string | null): boolean {
  if (value === null || value === '' || value === 'false') return false;
  if (value === 'true') return true;
  throw new OpenAiError(400, `stream must be true or false, got "${value}"`, 'stream', 'invalid_value');
}

function parseTemperature(value: string | null): number {
  if (value === null || value.trim() === '') return 0;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0 || parsed > 1) {
    throw new OpenAiError(400, `temperature must be a number from 0 to 1, got "${value}"`, 'temperature', 'invalid_value');
  }
  return parsed;
}

function temperatureLadder(from: number): number[] {
  const ladder: number[] = [];
  for (let t = from; t <= 1 + 1e-9; t += TEMPERATURE_STEP) ladder.push(Math.round(t * 100) / 100);
  return ladder;
}

async function decodeUpload(file: { name: string; bytes: Buffer }, maxDurationS: number): Promise<Float32Array> {
  if (file.bytes.length === 0) throw new OpenAiError(400, 'the uploaded file is empty', 'file', 'invalid_file_format');
  try {
    return (await decodeAudioBytes(file.bytes, file.name, { maxDurationS })).samples;
  } catch (error) {
    if (!(error instanceof AudioFormatError)) throw error;
    if (error.code === 'too_long') throw new OpenAiError(413, error.message, 'file', 'audio_too_long');
    throw new OpenAiError(400, error.message, 'file', 'invalid_file_format');
  }
}

/** OpenAI names the language in full ("english"), not by its code. */
const languageNames = new Intl.DisplayNames(['en'], { type: 'language' });

function respond(response: ServerResponse, reply: Reply, transcript: Transcript, task: FileTask): void {
  const text = transcript.text.trim();
  const cues = transcript.segments.map((s) => ({ start: s.start, end: s.end, text: s.text }));
  switch (reply.format) {
    case 'json':
      return sendBody(response, 'application/json', JSON.stringify({ text }));
    case 'text':
      return sendBody(response, 'text/plain; charset=utf-8', text + '\n');
    case 'srt':
      return sendBody(response, 'text/plain; charset=utf-8', toSrt(cues));
    case 'vtt':
      return sendBody(response, 'text/vtt; charset=utf-8', toVtt(cues));
    case 'verbose_json':
      return sendBody(
        response,
        'application/json',
        JSON.stringify({
          task,
          // OpenAI names the language of the text: a translation's is always English.
          language: task === 'translate' ? 'english' : spokenLanguage(transcript),
          duration: transcript.durationS,
          text,
          ...(reply.granularities.has('word') ? { words: openAiWords(transcript) } : {}),
          // As OpenAI does, asking for words alone leaves segments out.
          ...(reply.granularities.has('segment') ? { segments: openAiSegments(transcript) } : {}),
        }),
      );
  }
}

function openAiSegments(transcript: Transcript): Array<Record<string, unknown>> {
  return transcript.segments.map((s, id) => ({
    id,
    // Whisper's seek is the window offset in 10 ms frames; the segment start is the closest we keep.
    seek: Math.round(s.start * 100),
    start: s.start,
    end: s.end,
    text: s.text,
    tokens: s.tokens,
    temperature: s.temperature,
    avg_logprob: s.avgLogprob,
    compression_ratio: s.compressionRatio,
    no_speech_prob: s.noSpeechProb,
  }));
}

// OpenAI's words are spoken words: punctuation at either end is not part of them, case is.
const EDGE_PUNCTUATION = /^\p{P}+|\p{P}+$/gu;

function openAiWords(transcript: Transcript): Array<{ word: string; start: number; end: number }> {
  return transcript.segments
    .flatMap((s) => wordsFromAlignment(s.words ?? [], 0))
    .map((w) => ({ word: w.word.replace(EDGE_PUNCTUATION, ''), start: w.start, end: w.end }))
    .filter((w) => w.word !== '');
}

function spokenLanguage(transcript: Transcript): string {
  return transcript.language ? (languageNames.of(transcript.language) ?? transcript.language).toLowerCase() : 'unknown';
}

function sendBody(response: ServerResponse, contentType: string, body: string): void {
  response.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) }).end(body);
}
