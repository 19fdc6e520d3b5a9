/**
 * Deepgram's pre-recorded API, `POST /v1/listen`: the audio file is the request body, the
 * query parameters are those of the live `/v1/listen` (docs/protocol.md), and the answer is
 * Deepgram's pre-recorded JSON (prerecorded-response.ts), so `transcribeFile` of Deepgram's
 * SDKs works against Chorus unchanged.
 *
 * Deepgram also takes a JSON body `{"url": ...}` and fetches the audio itself; Chorus fetches
 * nothing (a gateway that fetches what clients name can be made to reach inside its network),
 * so such a request is refused with 400 and told to send the bytes.
 *
 * Files share the OpenAI endpoints' FileJobs: the same upload limit and the same one-at-a-time
 * line in front of the model. Errors are in Deepgram's REST shape, `{err_code, err_msg,
 * request_id}`.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeAudioBytes, decodeStreamBytes } from '../audio/load.js';
import { AudioFormatError, looksLikeWav } from '../audio/wav.js';
import { AudioInputError, createAudioDecoder } from '../stream/audio-decoder.js';
import { decodeChannels, decodeFileChannels, type InterleavedAudio } from './channel-split.js';
import type { GatewayLog } from './log.js';
import type { GatewayMetrics } from './metrics.js';
import { modelInfoFor } from './model-info.js';
import { DEFAULT_UTT_SPLIT_S, prerecordedResponse, type PrerecordedOptions } from './prerecorded-response.js';
import { checkAuth, parseListenParams, ProtocolError, resolveModel, type ListenParams, type ParameterWarning } from './protocol.js';
import { QueueFullError } from './serial-queue.js';
import { refusedUploadHeaders, type FileJobs, type FileSlot } from './transcriptions.js';

/** Parameters of the pre-recorded API that the live parser does not know. */
const PRERECORDED_PARAMETERS = ['utterances', 'paragraphs', 'utt_split', 'detect_language'] as const;
/**
 * Deepgram's pre-recorded-only features Chorus does not offer: accepted and reported in
 * `metadata.warnings`, as the live API does with its ignored parameters, since SDKs and
 * dashboards send some of them by default.
 */
const IGNORED_PRERECORDED_PARAMETERS = new Set([
  'custom_intent',
  'custom_intent_mode',
  'custom_topic',
  'custom_topic_mode',
  'diarize_model',
  'intents',
  'measurements',
  'sentiment',
  'summarize',
  'topics',
]);
const UTT_SPLIT_RANGE = { min: 0.01, max: 60 };
/** Types that carry audio (or video with an audio track) as Deepgram takes them. */
const AUDIO_CONTENT_TYPE = /^(?:audio\/|video\/|application\/octet-stream|application\/ogg)/i;

class PrerecordedError extends Error {
  constructor(
    readonly status: number,
    /** Deepgram's `err_code`: stable, for programs */
    readonly errCode: string,
    message: string,
  ) {
    super(message);
  }
}

interface PrerecordedQuery {
  listen: ListenParams;
  /** whether `encoding` was given: the body is then raw samples unless it is a WAV file */
  rawEncoding: boolean;
  options: PrerecordedOptions;
}

export class PrerecordedEndpoint {
  constructor(
    private readonly apiKeys: ReadonlySet<string> | null,
    private readonly jobs: FileJobs,
    private readonly metrics: GatewayMetrics,
    private readonly log: GatewayLog,
  ) {}

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    let slot: FileSlot | null = null;
    try {
      const url = new URL(request.url ?? '/', 'http://chorus.invalid');
      this.authenticate(request, url);
      const transcriber = this.jobs.model;
      if (transcriber === null) throw new PrerecordedError(503, 'MODEL_LOADING', 'the model is still loading; try again shortly');
      const query = prerecordedQuery(url.searchParams);
      checkContentType(request);
      const requested = query.listen.language;
      if (requested !== null && !transcriber.acceptsLanguage(requested)) {
        throw new PrerecordedError(400, 'INVALID_QUERY_PARAMETER', `language: "${requested}" is not available with model ${transcriber.modelName}`);
      }
      // Taken before the body is read: a full line refuses at once.
      slot = this.jobs.reserve();
      const body = await this.readBody(request);
      if (body.length === 0) throw new PrerecordedError(400, 'EMPTY_BODY', 'the request body holds no audio; send the audio file as the body');
      const { warning } = resolveModel(query.listen.model, [transcriber.modelName], transcriber.modelName);
      const created = new Date();
      const options = { task: 'transcribe' as const, language: requested ?? transcriber.defaultLanguage, wordTimestamps: true, keyterms: query.listen.keyterms };
      const transcript = await slot.run(async () => {
        if (!query.listen.multichannel) return transcriber.transcribe(await decodeBody(body, query, this.jobs.maxDurationS), options);
        // One channel after the other, in the one file slot: a stereo file costs two files' time.
        const transcripts = [];
        for (const samples of await decodeChannelsOf(body, query, this.jobs.maxDurationS)) transcripts.push(await transcriber.transcribe(samples, options));
        return transcripts;
      });
      const answer = prerecordedResponse(transcript, query.options, {
        requestId,
        sha256: createHash('sha256').update(body).digest('hex'),
        created,
        model: modelInfoFor(transcriber.modelName),
        extra: query.listen.extra,
        warnings: warning ? [...query.listen.warnings, warning] : query.listen.warnings,
      });
      const text = JSON.stringify(answer);
      response
        .writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'dg-request-id': requestId })
        .end(text);
    } catch (error) {
      this.fail(request, response, requestId, error);
    } finally {
      slot?.release();
    }
  }

  private authenticate(request: IncomingMessage, url: URL): void {
    if (this.apiKeys === null) return;
    const auth = checkAuth({ token: url.searchParams.get('token') }, request.headers, this.apiKeys);
    if (!auth.ok) throw new PrerecordedError(401, 'INVALID_AUTH', auth.error.message);
  }

  private tooLarge(): PrerecordedError {
    return new PrerecordedError(413, 'PAYLOAD_TOO_LARGE', `the audio is larger than the limit of ${this.jobs.maxUploadBytes} bytes`);
  }

  /** Refuses past the limit as soon as it is known, from the declared length or while reading. */
  private readBody(request: IncomingMessage): Promise<Buffer> {
    const limit = this.jobs.maxUploadBytes;
    if (Number(request.headers['content-length']) > limit) return Promise.reject(this.tooLarge());
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let refused = false;
      request.on('data', (chunk: Buffer) => {
        if (refused) return;
        size += chunk.length;
        if (size > limit) {
          // The rest is still read (and dropped), so the client can finish sending and read the answer.
          refused = true;
          chunks.length = 0;
          reject(this.tooLarge());
        } else {
          chunks.push(chunk);
        }
      });
      request.on('end', () => {
        if (!refused) resolve(Buffer.concat(chunks));
      });
      request.on('error', (error) => reject(new PrerecordedError(400, 'UPLOAD_FAILED', `the upload failed: ${error.message}`)));
    });
  }

  private fail(request: IncomingMessage, response: ServerResponse, requestId: string, error: unknown): void {
    let failure: PrerecordedError;
    if (error instanceof PrerecordedError) failure = error;
    else if (error instanceof QueueFullError) failure = new PrerecordedError(503, 'SERVER_BUSY', 'too many files are waiting to be transcribed; try again later');
    else {
      this.log('prerecorded_failed', { request_id: requestId, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      failure = new PrerecordedError(500, 'INTERNAL_ERROR', 'the server failed to transcribe the audio');
    }
    this.metrics.errors.inc({ code: failure.errCode.toLowerCase() });
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const body = JSON.stringify({ err_code: failure.errCode, err_msg: failure.message, request_id: requestId });
    response
      .writeHead(failure.status, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        'dg-request-id': requestId,
        ...refusedUploadHeaders(request, failure.status, this.jobs.maxUploadBytes),
      })
      .end(body);
  }
}

/**
 * The live parameters through the live parser (one definition of what they mean), and the
 * pre-recorded ones, which that parser would report as unknown, read here.
 */
function prerecordedQuery(search: URLSearchParams): PrerecordedQuery {
  const shared = new URLSearchParams();
  const own = new Map<string, string>();
  for (const [name, value] of search) {
    if (!(PRERECORDED_PARAMETERS as readonly string[]).includes(name)) shared.append(name, value);
    else if (own.has(name)) throw badParameter(name, 'given more than once');
    else own.set(name, value);
  }
  let listen: ListenParams;
  try {
    listen = parseListenParams(shared);
  } catch (error) {
    if (error instanceof ProtocolError) throw new PrerecordedError(400, 'INVALID_QUERY_PARAMETER', error.message);
    throw error;
  }
  // One transcript per channel is what true asks for: each channel is decoded from its own
  // samples, which raw interleaved audio and a WAV file give (checked with the body); other
  // files are decoded mixed.
  if (listen.multichannel && search.has('encoding') && (listen.encoding === null || listen.encoding === 'opus')) {
    throw badParameter('multichannel', 'true needs raw interleaved audio (encoding linear16, mulaw or alaw) or a WAV file; Opus is decoded mixed');
  }
  // Deepgram answers a file with a callback at once and posts the transcript later; answering
  // with the transcript instead would leave the client waiting for a POST that never comes.
  if (listen.callback !== null) throw badParameter('callback', 'asynchronous transcription of files is not supported; leave callback out to get the transcript in the response');
  const flag = (name: string): boolean => {
    const value = own.get(name)?.toLowerCase();
    if (value === undefined || value === 'false') return false;
    if (value === 'true') return true;
    throw badParameter(name, `expected true or false, got "${own.get(name)}"`);
  };
  const detectLanguage = flag('detect_language') || listen.language === null;
  const paragraphs = flag('paragraphs');
  return {
    listen: {
      ...listen,
      language: detectLanguage ? null : listen.language,
      warnings: listen.warnings.map(reclassify),
    },
    rawEncoding: search.has('encoding'),
    options: {
      // As with Deepgram, paragraphs are found from punctuation, so they turn it on.
      punctuate: listen.punctuate || paragraphs,
      utterances: flag('utterances'),
      uttSplit: parseUttSplit(own.get('utt_split')),
      paragraphs,
      detectLanguage,
      speakerPerChannel: listen.diarize,
    },
  };
}

function reclassify(warning: ParameterWarning): ParameterWarning {
  if (warning.type !== 'unknown_parameter' || !IGNORED_PRERECORDED_PARAMETERS.has(warning.parameter)) return warning;
  return { parameter: warning.parameter, type: 'unsupported_parameter', message: `${warning.parameter} is not supported by Chorus and was ignored` };
}

function parseUttSplit(value: string | undefined): number {
  if (value === undefined) return DEFAULT_UTT_SPLIT_S;
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < UTT_SPLIT_RANGE.min || seconds > UTT_SPLIT_RANGE.max) {
    throw badParameter('utt_split', `expected seconds from ${UTT_SPLIT_RANGE.min} to ${UTT_SPLIT_RANGE.max}, got "${value}"`);
  }
  return seconds;
}

function badParameter(name: string, problem: string): PrerecordedError {
  return new PrerecordedError(400, 'INVALID_QUERY_PARAMETER', `${name}: ${problem}`);
}

function checkContentType(request: IncomingMessage): void {
  const type = request.headers['content-type'];
  // A body without a type is taken as audio, as Deepgram does.
  if (type === undefined || AUDIO_CONTENT_TYPE.test(type)) return;
  if (/^application\/json/i.test(type)) {
    throw new PrerecordedError(
      400,
      'REMOTE_URL_UNSUPPORTED',
      'Chorus does not fetch audio from URLs: send the audio file itself as the request body with Content-Type audio/* or application/octet-stream (transcribeFile, not transcribeUrl)',
    );
  }
  throw new PrerecordedError(415, 'UNSUPPORTED_CONTENT_TYPE', `Content-Type ${type} is not audio: send the audio file as the body with Content-Type audio/* or application/octet-stream`);
}

/**
 * multichannel=true: each channel's 16 kHz samples. From raw interleaved audio (`encoding`), or
 * a WAV, Ogg Opus or WebM Opus file, whose header says how many channels it holds.
 */
async function decodeChannelsOf(body: Buffer, query: PrerecordedQuery, maxDurationS: number): Promise<Float32Array[]> {
  const label = 'the request body';
  try {
    if (query.rawEncoding && !looksLikeWav(body) && query.listen.encoding !== null && query.listen.encoding !== 'opus') {
      const raw: InterleavedAudio = { encoding: query.listen.encoding, sampleRate: query.listen.sampleRate, channels: query.listen.channels, bytes: body };
      return await decodeChannels(raw, label, { maxDurationS });
    }
    const channels = await decodeFileChannels(body, label, { maxDurationS });
    if (channels === null) {
      throw badParameter('multichannel', 'true needs raw interleaved audio (encoding linear16, mulaw or alaw) or a WAV, Ogg Opus or WebM Opus file; other files are decoded mixed');
    }
    return channels;
  } catch (error) {
    if (error instanceof AudioFormatError && error.code === 'too_long') throw new PrerecordedError(413, 'AUDIO_TOO_LONG', error.message);
    if (error instanceof AudioFormatError || error instanceof AudioInputError) throw new PrerecordedError(400, 'INVALID_AUDIO', error.message);
    throw error;
  }
}

async function decodeBody(body: Buffer, query: PrerecordedQuery, maxDurationS: number): Promise<Float32Array> {
  const label = 'the request body';
  try {
    // `encoding` describes headerless audio; a WAV file says what it holds itself.
    if (!query.rawEncoding || looksLikeWav(body)) return (await decodeAudioBytes(body, label, { maxDurationS })).samples;
    const { encoding, sampleRate, channels } = query.listen;
    const decoder = await createAudioDecoder({ encoding, sampleRate, channels });
    return await decodeStreamBytes(decoder, body, label, { maxDurationS });
  } catch (error) {
    if (error instanceof AudioFormatError && error.code === 'too_long') throw new PrerecordedError(413, 'AUDIO_TOO_LONG', error.message);
    if (error instanceof AudioFormatError || error instanceof AudioInputError) throw new PrerecordedError(400, 'INVALID_AUDIO', error.message);
    throw error;
  }
}
