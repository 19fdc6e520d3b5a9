/**
 * The client-facing half of the Deepgram-compatible live protocol (`GET /v1/listen`): query
 * parameters, credentials, client text messages, and the error/close-code table. Pure and
 * socket-free so the gateway, tests and load generators share one definition of the wire.
 * docs/protocol.md is the prose version of this file; change them together.
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import type { AudioInputErrorCode } from '../stream/audio-input-error.js';
import { FINALS_MODES, finalsModeNamed, type FinalsMode } from '../stream/commit-policy.js';

export type ProtocolErrorCode =
  | 'bad_parameter'
  | 'missing_credentials'
  | 'invalid_credentials'
  | 'too_many_failed_keys'
  | 'invalid_twilio_signature'
  | 'too_many_client_sessions'
  | 'capacity_exceeded'
  | 'malformed_message'
  | 'unknown_message_type'
  | 'audio_after_close'
  | 'idle_timeout'
  | 'frame_too_large'
  | 'slow_consumer'
  | 'ingest_too_fast'
  | 'server_overloaded'
  | 'shutting_down'
  | 'internal_error';

/** Every code a client can see in an Error message or a close reason. */
export type ErrorCode = ProtocolErrorCode | AudioInputErrorCode;

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';

  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * How each error reaches the client. Errors found before the upgrade are refused with an HTTP
 * status (as Deepgram does), so no socket is spent on a session that cannot run; errors in a
 * live session end it with a close code, except `unknown_message_type`, which only warns so a
 * client newer than this server is not cut off for sending a message type added later.
 * The close reason is always the code itself: short, stable, and machine-readable.
 */
export interface ErrorDisposition {
  httpStatus: number | null;
  closeCode: number | null;
}

export const ERROR_DISPOSITIONS: Readonly<Record<ErrorCode, ErrorDisposition>> = {
  bad_parameter: { httpStatus: 400, closeCode: null },
  missing_credentials: { httpStatus: 401, closeCode: null },
  invalid_credentials: { httpStatus: 401, closeCode: null },
  too_many_failed_keys: { httpStatus: 429, closeCode: null },
  // The key was right (or none is needed) but the request does not prove it came from Twilio.
  invalid_twilio_signature: { httpStatus: 403, closeCode: null },
  // This client address already holds or starts as many sessions as it may (--max-sessions-per-client).
  too_many_client_sessions: { httpStatus: 429, closeCode: null },
  // 429 as the issue asks: the client is asking for more than the server has room for now.
  capacity_exceeded: { httpStatus: 429, closeCode: null },
  malformed_message: { httpStatus: null, closeCode: 1008 },
  unknown_message_type: { httpStatus: null, closeCode: null },
  // The stream is already closing after CloseStream; the late audio is ignored, not fatal.
  audio_after_close: { httpStatus: null, closeCode: null },
  frame_too_large: { httpStatus: null, closeCode: 1009 },
  malformed_audio: { httpStatus: null, closeCode: 1007 },
  unsupported_encoding: { httpStatus: null, closeCode: 1007 },
  bad_sample_rate: { httpStatus: null, closeCode: 1007 },
  bad_channels: { httpStatus: null, closeCode: 1007 },
  idle_timeout: { httpStatus: null, closeCode: 4000 },
  slow_consumer: { httpStatus: null, closeCode: 4001 },
  ingest_too_fast: { httpStatus: null, closeCode: 4002 },
  // RFC 6455's "Try Again Later": the server shed an admitted stream it could no longer keep up with.
  server_overloaded: { httpStatus: null, closeCode: 1013 },
  shutting_down: { httpStatus: null, closeCode: 1001 },
  internal_error: { httpStatus: 500, closeCode: 1011 },
};

/** Close code after CloseStream once every result and the Metadata message are sent. */
export const NORMAL_CLOSE = 1000;

// ---------------------------------------------------------------------------------------------
// Query parameters

export type AudioEncoding = 'linear16' | 'mulaw' | 'alaw' | 'opus';
export type ResultEncoding = 'json' | 'msgpack';

/** Same shape as the `warnings` Deepgram attaches to metadata, so clients can log them as is. */
export interface ParameterWarning {
  parameter: string;
  type: 'unsupported_parameter' | 'unknown_parameter' | 'model_substituted';
  message: string;
}

export interface ListenParams {
  /** null: none given, so the container is detected from the first bytes (WebM, Ogg, WAV). */
  encoding: AudioEncoding | null;
  /**
   * Hz of the raw samples; for Opus and containers, informational only (packets decode at
   * any rate, and a container's header carries its own).
   */
  sampleRate: number;
  channels: number;
  /** Transcribe each channel on its own; otherwise channels are mixed down to one. */
  multichannel: boolean;
  interimResults: boolean;
  /** When words become final: as soon as the policy is sure (`early`) or at the utterance's end. */
  finals: FinalsMode;
  /** Silence that ends an utterance (`speech_final`); null disables endpointing. */
  endpointingMs: number | null;
  /** Gap after the last word that triggers UtteranceEnd; null disables it. */
  utteranceEndMs: number | null;
  vadEvents: boolean;
  /** Whisper language code; null asks the model to detect it. */
  language: string | null;
  /** As requested; null means the server's model. See resolveModel. */
  model: string | null;
  punctuate: boolean;
  /** `extra=key:value` pairs, echoed in Metadata. */
  extra: Record<string, string>;
  /**
   * `diarize=true`: only with multichannel, where each channel is one speaker, so each word's
   * `speaker` is its channel; otherwise ignored with a warning (no diarization model).
   */
  diarize: boolean;
  /** `tag` labels (repeatable), recorded with every final in the transcript sinks. */
  tag: string[];
  /**
   * Deepgram's `keyterm` (and `keywords`, their boosts ignored): terms the decoder is prompted
   * with, so that it spells rare names and jargon as given (see parseKeyterms for the limits).
   */
  keyterms: string[];
  /** Deepgram's `callback`: an http(s) URL that receives every final and the closing Metadata. */
  callback: string | null;
  /** `callback_method`: how the callback is called. */
  callbackMethod: 'POST' | 'PUT';
  resultEncoding: ResultEncoding;
  interimStability: boolean;
  reportLag: boolean;
  /** The `token` query parameter, for clients that can set neither headers nor subprotocols. */
  token: string | null;
  warnings: ParameterWarning[];
}

const PCM_SAMPLE_RATE = { min: 8000, max: 48000 };
const OPUS_DEFAULT_SAMPLE_RATE = 48000;
const MAX_CHANNELS = 8;
/**
 * Deepgram finalises after 10 ms of silence, tuned for a model that streams word by word.
 * Whisper decodes whole segments, so finalising at every short intra-sentence pause would cut
 * sentences in pieces (losing the context Whisper uses for casing and punctuation) and
 * multiply final decodes. 500 ms sits above most pauses inside a sentence.
 */
export const DEFAULT_ENDPOINTING_MS = 500;
/**
 * Utterance finals decode the speech before an endpoint without the words after it, so an
 * endpoint at a pause inside a sentence costs them what early finals lose: on held-out
 * LibriSpeech readers 500 ms gave +2.97 points over offline and 1000 ms +0.59
 * (bench/RESULTS.md, "Finals per utterance").
 */
export const UTTERANCE_FINALS_ENDPOINTING_MS = 1000;

/** What the server gives a stream that does not ask (`chorus serve --finals`). */
export interface ListenDefaults {
  finals: FinalsMode;
}
export const LISTEN_DEFAULTS: ListenDefaults = { finals: 'early' };

export function defaultEndpointingMs(finals: FinalsMode): number {
  return finals === 'utterance' ? UTTERANCE_FINALS_ENDPOINTING_MS : DEFAULT_ENDPOINTING_MS;
}

function parseFinalsMode(name: string, value: string): FinalsMode {
  const mode = finalsModeNamed(value);
  if (!mode) throw badParameter(name, `expected ${FINALS_MODES.join(' or ')}, got "${value}"`);
  return mode;
}
const ENDPOINTING_RANGE = { min: 10, max: 10_000 };
const UTTERANCE_END_RANGE = { min: 1000, max: 60_000 };
const MAX_EXTRA_PAIR_CHARS = 2048;
const MAX_TAG_CHARS = 128;
const MAX_CALLBACK_URL_CHARS = 2048;

/** Deepgram spells Ogg-contained Opus several ways; all mean the same stream to us. */
const ENCODING_ALIASES: ReadonlyMap<string, AudioEncoding> = new Map([
  ['linear16', 'linear16'],
  ['mulaw', 'mulaw'],
  ['alaw', 'alaw'],
  ['opus', 'opus'],
  ['ogg-opus', 'opus'],
  ['ogg_opus', 'opus'],
]);

/**
 * Deepgram parameters Chorus accepts without acting on them. They are reported as warnings
 * rather than refused, because refusing them would break clients whose SDK sets them by
 * default, and ignoring them loses nothing a transcript consumer relies on.
 */
const IGNORED_DEEPGRAM_PARAMETERS = new Set([
  'alternatives',
  'detect_entities',
  'diarize_version',
  'dictation',
  'filler_words',
  'mip_opt_out',
  'no_delay',
  'numerals',
  'profanity_filter',
  'replace',
  'search',
  'tier',
  'version',
]);

/** Parameters that may repeat; every other parameter given twice is ambiguous and refused. */
const REPEATABLE_PARAMETERS = new Set(['extra', 'keyterm', 'keywords', 'replace', 'search', 'tag']);

function badParameter(name: string, problem: string): ProtocolError {
  return new ProtocolError('bad_parameter', `${name}: ${problem}`);
}

function parseBoolean(name: string, value: string): boolean {
  const lowered = value.toLowerCase();
  if (lowered === 'true') return true;
  if (lowered === 'false') return false;
  throw badParameter(name, `expected true or false, got "${value}"`);
}

function parseInteger(name: string, value: string, range: { min: number; max: number }): number {
  if (!/^\d+$/.test(value)) throw badParameter(name, `expected a whole number, got "${value}"`);
  const parsed = Number(value);
  if (parsed < range.min || parsed > range.max) {
    throw badParameter(name, `must be between ${range.min} and ${range.max}, got ${parsed}`);
  }
  return parsed;
}

function parseEndpointing(value: string, finals: FinalsMode): number | null {
  const lowered = value.toLowerCase();
  if (lowered === 'false') return null;
  if (lowered === 'true') return defaultEndpointingMs(finals);
  return parseInteger('endpointing', value, ENDPOINTING_RANGE);
}

/**
 * Whisper knows languages, not regions, so `en-US` becomes `en`. `multi` is Deepgram's
 * code-switching model; the nearest Whisper behaviour is detecting the language.
 */
function parseLanguage(value: string): string | null {
  const lowered = value.toLowerCase();
  if (lowered === 'multi' || lowered === 'auto') return null;
  const match = /^([a-z]{2,3})(?:[-_][a-z0-9]{2,8})*$/.exec(lowered);
  if (!match) throw badParameter('language', `expected a language code such as "en" or "en-US", got "${value}"`);
  return match[1];
}

function parseModelName(value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value)) {
    throw badParameter('model', `expected a model name such as "tiny.en", got "${value}"`);
  }
  return value;
}

function parseExtra(values: string[]): Record<string, string> {
  // fromEntries defines own properties, so a client's "__proto__" key stays a plain key.
  return Object.fromEntries(
    values.map((pair) => {
      const colon = pair.indexOf(':');
      if (colon <= 0) throw badParameter('extra', `expected key:value, got "${pair}"`);
      if (pair.length > MAX_EXTRA_PAIR_CHARS) {
        throw badParameter('extra', `a key:value pair may be at most ${MAX_EXTRA_PAIR_CHARS} characters`);
      }
      return [pair.slice(0, colon), pair.slice(colon + 1)];
    }),
  );
}

/**
 * Whisper has no biasing of its own; the terms go at the start of every decode's prompt (the
 * text the model takes as what came before), the way OpenAI documents prompting Whisper with
 * the spellings of uncommon words. The prompt holds 223 tokens, shared with the stream's own
 * recent text, so the terms are bounded to leave most of it to that text.
 */
export const KEYTERM_LIMITS = { terms: 50, termChars: 64, totalChars: 400 };

/**
 * `keyterm=T` (nova-3) and `keywords=T[:BOOST]` (nova-2) give the same list. A boost has no
 * meaning for a prompt: positive ones are accepted with a warning, and a negative one (Deepgram's
 * way to suppress a word) is refused, since a prompt can only make a word more likely.
 */
function parseKeyterms(keyterm: string[], keywords: string[], warnings: ParameterWarning[]): string[] {
  const terms = keyterm.flatMap(jsonListOrValue);
  let boosted = false;
  for (const value of keywords.flatMap(jsonListOrValue)) {
    const match = /^(.*?):(-?\d+(?:\.\d+)?)$/.exec(value);
    if (match === null) {
      terms.push(value);
      continue;
    }
    if (Number(match[2]) < 0) throw badParameter('keywords', `"${value}": a negative boost (suppressing a word) is not supported`);
    boosted = true;
    terms.push(match[1]);
  }
  if (boosted) {
    warnings.push({ parameter: 'keywords', type: 'unsupported_parameter', message: 'keywords boosts are ignored: every term is prompted alike' });
  }
  const cleaned = terms.map((t) => t.trim().replace(/\s+/g, ' '));
  const name = keyterm.length > 0 ? 'keyterm' : 'keywords';
  if (cleaned.length > KEYTERM_LIMITS.terms) throw badParameter(name, `at most ${KEYTERM_LIMITS.terms} terms, got ${cleaned.length}`);
  for (const term of cleaned) {
    if (term.length === 0 || term.length > KEYTERM_LIMITS.termChars) throw badParameter(name, `a term must be 1 to ${KEYTERM_LIMITS.termChars} characters`);
  }
  const total = cleaned.reduce((n, t) => n + t.length, 0);
  if (total > KEYTERM_LIMITS.totalChars) throw badParameter(name, `at most ${KEYTERM_LIMITS.totalChars} characters of terms in all, got ${total}`);
  return [...new Set(cleaned)];
}

/**
 * @deepgram/sdk's live client sends an array parameter as one JSON text (`keyterm=["a","b"]`)
 * where its pre-recorded client repeats the parameter; both mean the same list.
 */
function jsonListOrValue(value: string): string[] {
  if (!value.trimStart().startsWith('[')) return [value];
  try {
    const parsed: unknown = JSON.parse(value);
    if (Array.isArray(parsed) && parsed.every((item) => typeof item === 'string')) return parsed;
  } catch {
    // Not JSON: a term that starts with a bracket.
  }
  return [value];
}

function parseTags(values: string[]): string[] {
  for (const tag of values) {
    if (tag.length === 0 || tag.length > MAX_TAG_CHARS) throw badParameter('tag', `a tag must be 1 to ${MAX_TAG_CHARS} characters`);
  }
  return values;
}

/**
 * Deepgram accepts http(s) callbacks for files and also ws(s) for streams; Chorus delivers
 * over http(s) only. Whether this server calls the host at all is its operator's decision
 * (--callback-host), checked at admission.
 */
function parseCallback(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badParameter('callback', `expected an http or https URL, got "${value.slice(0, 100)}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw badParameter('callback', `only http and https callbacks are delivered, got ${url.protocol.replace(':', '')}`);
  }
  if (value.length > MAX_CALLBACK_URL_CHARS) throw badParameter('callback', `a URL may be at most ${MAX_CALLBACK_URL_CHARS} characters`);
  return url.toString();
}

/**
 * Reads and validates the query string of a listen request. Throws ProtocolError
 * 'bad_parameter' naming the first offending parameter; never returns a half-valid result.
 */
export function parseListenParams(query: URL | URLSearchParams, defaults: ListenDefaults = LISTEN_DEFAULTS): ListenParams {
  const search = query instanceof URL ? query.searchParams : query;
  const single = new Map<string, string>();
  const repeated = new Map<string, string[]>();
  for (const [name, value] of search) {
    if (REPEATABLE_PARAMETERS.has(name)) {
      repeated.set(name, [...(repeated.get(name) ?? []), value]);
    } else if (single.has(name)) {
      throw badParameter(name, 'given more than once');
    } else {
      single.set(name, value);
    }
  }
  const take = (name: string): string | undefined => {
    const value = single.get(name);
    single.delete(name);
    return value;
  };

  const encodingValue = take('encoding');
  // With no encoding Deepgram expects a container and detects it; so does Chorus.
  const encoding = encodingValue === undefined ? null : ENCODING_ALIASES.get(encodingValue.toLowerCase());
  if (encoding === undefined) {
    throw badParameter(
      'encoding',
      `"${encodingValue}" is not supported; use linear16, mulaw, alaw or opus (Ogg or raw packets)`,
    );
  }

  const sampleRateValue = take('sample_rate');
  let sampleRate: number;
  if (sampleRateValue !== undefined) {
    sampleRate = parseInteger('sample_rate', sampleRateValue, PCM_SAMPLE_RATE);
  } else if (encoding === 'opus' || encoding === null) {
    sampleRate = OPUS_DEFAULT_SAMPLE_RATE;
  } else {
    throw badParameter('sample_rate', `required with encoding=${encoding}, since raw samples carry no rate`);
  }

  const channelsValue = take('channels');
  const channels = channelsValue === undefined ? 1 : parseInteger('channels', channelsValue, { min: 1, max: MAX_CHANNELS });
  if (encoding === 'opus' && channels > 2) {
    throw badParameter('channels', `Opus streams carry 1 or 2 channels, got ${channels}`);
  }

  const booleanParam = (name: string, fallback: boolean): boolean => {
    const value = take(name);
    return value === undefined ? fallback : parseBoolean(name, value);
  };
  const multichannel = booleanParam('multichannel', false);
  const interimResults = booleanParam('interim_results', false);
  const vadEvents = booleanParam('vad_events', false);
  // As with Deepgram, smart formatting includes punctuation, so it overrides punctuate=false.
  const smartFormat = booleanParam('smart_format', false);
  const punctuate = booleanParam('punctuate', true) || smartFormat;
  const interimStability = booleanParam('interim_stability', false);
  const reportLag = booleanParam('lag', false);

  const finalsValue = take('finals');
  const finals = finalsValue === undefined ? defaults.finals : parseFinalsMode('finals', finalsValue);
  const endpointingValue = take('endpointing');
  const endpointingMs = endpointingValue === undefined ? defaultEndpointingMs(finals) : parseEndpointing(endpointingValue, finals);

  const utteranceEndValue = take('utterance_end_ms');
  const utteranceEndMs =
    utteranceEndValue === undefined ? null : parseInteger('utterance_end_ms', utteranceEndValue, UTTERANCE_END_RANGE);

  const languageValue = take('language');
  const language = languageValue === undefined ? 'en' : parseLanguage(languageValue);

  const modelValue = take('model');
  const model = modelValue === undefined ? null : parseModelName(modelValue);

  const resultEncodingValue = take('result_encoding');
  if (resultEncodingValue !== undefined && resultEncodingValue !== 'json' && resultEncodingValue !== 'msgpack') {
    throw badParameter('result_encoding', `expected json or msgpack, got "${resultEncodingValue}"`);
  }
  const resultEncoding = resultEncodingValue ?? 'json';

  // Redaction is refused rather than ignored: a client that asked for it must never receive
  // the unredacted text it was trying to keep out of its systems.
  const redact = take('redact');
  if (redact !== undefined && redact.toLowerCase() !== 'false') {
    throw badParameter('redact', 'redaction is not supported by Chorus');
  }

  const token = take('token') ?? null;
  const extra = parseExtra(repeated.get('extra') ?? []);
  repeated.delete('extra');
  const tag = parseTags(repeated.get('tag') ?? []);
  repeated.delete('tag');
  const callbackValue = take('callback');
  const callback = callbackValue === undefined ? null : parseCallback(callbackValue);
  const callbackMethodValue = take('callback_method');
  const callbackMethod = callbackMethodValue === undefined ? 'POST' : callbackMethodValue.toUpperCase();
  if (callbackMethod !== 'POST' && callbackMethod !== 'PUT') {
    throw badParameter('callback_method', `expected post or put, got "${callbackMethodValue}"`);
  }

  const warnings: ParameterWarning[] = [];
  const keyterms = parseKeyterms(repeated.get('keyterm') ?? [], repeated.get('keywords') ?? [], warnings);
  repeated.delete('keyterm');
  repeated.delete('keywords');
  // Lenient, as when it was only ignored: anything but true is false.
  const diarizeValue = take('diarize');
  const diarize = diarizeValue?.toLowerCase() === 'true' && multichannel;
  if (diarizeValue !== undefined && !diarize) {
    warnings.push({
      parameter: 'diarize',
      type: 'unsupported_parameter',
      message: 'diarize is not supported by Chorus and was ignored',
    });
  }
  for (const name of [...single.keys(), ...repeated.keys()]) {
    warnings.push(
      IGNORED_DEEPGRAM_PARAMETERS.has(name)
        ? { parameter: name, type: 'unsupported_parameter', message: `${name} is not supported by Chorus and was ignored` }
        : { parameter: name, type: 'unknown_parameter', message: `${name} is not a known parameter and was ignored` },
    );
  }

  return {
    encoding,
    sampleRate,
    channels,
    multichannel,
    interimResults,
    finals,
    endpointingMs,
    utteranceEndMs,
    vadEvents,
    language,
    model,
    punctuate,
    extra,
    diarize,
    tag,
    keyterms,
    callback,
    callbackMethod,
    resultEncoding,
    interimStability,
    reportLag,
    token,
    warnings,
  };
}

/**
 * Picks the model a session runs on. A name the server does not serve (Deepgram's `nova-3`,
 * which many SDKs send by default) falls back to the server's model with a warning instead of
 * failing, so an unmodified Deepgram client keeps working.
 */
export function resolveModel(
  requested: string | null,
  served: readonly string[],
  serverDefault: string,
): { model: string; warning: ParameterWarning | null } {
  if (requested === null || served.includes(requested)) return { model: requested ?? serverDefault, warning: null };
  return {
    model: serverDefault,
    warning: {
      parameter: 'model',
      type: 'model_substituted',
      message: `model "${requested}" is not served here; using "${serverDefault}"`,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Authentication

export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

export type AuthResult =
  | { ok: true; subprotocol: 'token' | null }
  | { ok: false; error: ProtocolError; subprotocol: 'token' | null };

function headerValue(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Browsers cannot set headers on a WebSocket, so Deepgram's browser SDK offers the
 * subprotocols `token, <key>`. The server must then select `token`, or the browser aborts the
 * handshake, which is why the subprotocol is reported even when auth is disabled.
 */
function keyFromSubprotocols(headers: RequestHeaders): { offered: boolean; key: string | null } {
  const protocols = (headerValue(headers, 'sec-websocket-protocol') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const at = protocols.indexOf('token');
  if (at < 0) return { offered: false, key: null };
  return { offered: true, key: protocols[at + 1] ?? null };
}

/** undefined: no Authorization header; null: one in a scheme other than Token or Bearer. */
function keyFromAuthorization(headers: RequestHeaders): string | null | undefined {
  const value = headerValue(headers, 'authorization');
  if (value === undefined) return undefined;
  const match = /^(?:token|bearer)\s+(\S+)\s*$/i.exec(value);
  return match ? match[1] : null;
}

/** Comparing digests keeps the time taken independent of where, or whether, the keys differ. */
function keyMatches(candidate: string, keys: ReadonlySet<string>): boolean {
  const digest = createHash('sha256').update(candidate).digest();
  let matched = false;
  for (const key of keys) {
    matched = timingSafeEqual(digest, createHash('sha256').update(key).digest()) || matched;
  }
  return matched;
}

/**
 * Checks the credentials of a listen request. Accepted, in order of precedence:
 * `Authorization: Token <key>` (or `Bearer <key>`), the subprotocols `token, <key>`, and the
 * `token` query parameter. `keys` null means authentication is disabled.
 */
export function checkAuth(params: Pick<ListenParams, 'token'>, headers: RequestHeaders, keys: ReadonlySet<string> | null): AuthResult {
  const fromSubprotocols = keyFromSubprotocols(headers);
  const subprotocol = fromSubprotocols.offered ? 'token' : null;
  if (keys === null) return { ok: true, subprotocol };
  const fromAuthorization = keyFromAuthorization(headers);
  if (fromAuthorization === null) {
    return {
      ok: false,
      subprotocol,
      error: new ProtocolError('invalid_credentials', 'the Authorization header must be "Token <key>" or "Bearer <key>"'),
    };
  }
  const presented = fromAuthorization ?? fromSubprotocols.key ?? params.token;
  if (presented === null) {
    return {
      ok: false,
      subprotocol,
      error: new ProtocolError(
        'missing_credentials',
        'no API key: send "Authorization: Token <key>", the subprotocols "token, <key>", or ?token=<key>',
      ),
    };
  }
  if (!keyMatches(presented, keys)) {
    return { ok: false, subprotocol, error: new ProtocolError('invalid_credentials', 'the API key is not valid') };
  }
  return { ok: true, subprotocol };
}

// ---------------------------------------------------------------------------------------------
// Client text messages

export type ClientMessage =
  | { type: 'KeepAlive' }
  /** `channel` limits the flush to one channel; absent flushes all of them. */
  | { type: 'Finalize'; channel: number | null }
  | { type: 'CloseStream' };

/**
 * Parses one text frame from the client. Throws ProtocolError 'malformed_message' for text
 * that is not a JSON object with a string `type`, and 'unknown_message_type' otherwise.
 * Fields other than those listed in ClientMessage are ignored, as Deepgram does.
 */
export function parseClientMessage(text: string): ClientMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ProtocolError('malformed_message', 'text messages must be JSON, such as {"type":"KeepAlive"}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ProtocolError('malformed_message', 'text messages must be JSON objects with a "type" field');
  }
  const message = parsed as Record<string, unknown>;
  if (typeof message.type !== 'string') {
    throw new ProtocolError('malformed_message', 'the "type" field must be a string');
  }
  switch (message.type) {
    case 'KeepAlive':
      return { type: 'KeepAlive' };
    case 'CloseStream':
      return { type: 'CloseStream' };
    case 'Finalize': {
      const channel = message.channel;
      if (channel === undefined) return { type: 'Finalize', channel: null };
      if (typeof channel !== 'number' || !Number.isInteger(channel) || channel < 0) {
        throw new ProtocolError('malformed_message', 'Finalize "channel" must be a channel index (0, 1, ...)');
      }
      return { type: 'Finalize', channel };
    }
    default:
      throw new ProtocolError(
        'unknown_message_type',
        `unknown message type "${message.type}"; expected KeepAlive, Finalize or CloseStream`,
      );
  }
}
