/**
 * Server-to-client messages of the Deepgram-compatible live protocol, built in Deepgram's
 * exact JSON shapes so its SDKs parse them unchanged, plus their encoding on the wire.
 * Chorus additions (`lag`, word `stability`, `request_id` on errors) are extra fields, which
 * Deepgram clients ignore.
 */

import { Packr } from 'msgpackr';
import type { ErrorCode, ParameterWarning, ResultEncoding } from './protocol.js';

/** Deepgram names the model in every result; `uuid` should stay fixed for the same weights. */
export interface ModelInfo {
  name: string;
  version: string;
  arch: string;
  uuid: string;
}

export interface ResultWordInput {
  /** The word as Whisper wrote it: cased, with attached punctuation, no surrounding spaces. */
  text: string;
  start: number;
  end: number;
  confidence: number;
  /** Probability the word survives into the final result; sent only when requested. */
  stability?: number;
  /** Who spoke it: with diarize=true on a multichannel stream, the channel. */
  speaker?: number;
}

export interface ResultsInput {
  requestId: string;
  model: ModelInfo;
  channelIndex: number;
  channelCount: number;
  start: number;
  duration: number;
  isFinal: boolean;
  speechFinal: boolean;
  fromFinalize: boolean;
  /** Whisper's text for the span; rendered plain when `punctuate` is false. */
  transcript: string;
  confidence: number;
  words: ResultWordInput[];
  punctuate: boolean;
  /** Seconds of received audio not yet transcribed; sent only when requested. */
  lag?: number;
}

export interface ResultWord {
  word: string;
  start: number;
  end: number;
  confidence: number;
  punctuated_word: string;
  stability?: number;
  speaker?: number;
}

export interface ResultsMessage {
  type: 'Results';
  channel_index: [number, number];
  duration: number;
  start: number;
  is_final: boolean;
  speech_final: boolean;
  from_finalize: boolean;
  channel: { alternatives: [{ transcript: string; confidence: number; words: ResultWord[] }] };
  metadata: { request_id: string; model_info: { name: string; version: string; arch: string }; model_uuid: string };
  lag?: number;
}

export interface MetadataMessage {
  type: 'Metadata';
  transaction_key: string;
  request_id: string;
  sha256: string;
  created: string;
  duration: number;
  channels: number;
  models: string[];
  model_info: Record<string, { name: string; version: string; arch: string }>;
  extra?: Record<string, string>;
  warnings?: ParameterWarning[];
}

export interface SpeechStartedMessage {
  type: 'SpeechStarted';
  channel: [number, number];
  timestamp: number;
}

export interface UtteranceEndMessage {
  type: 'UtteranceEnd';
  channel: [number, number];
  last_word_end: number;
}

/**
 * Deepgram's live error message as its SDKs parse it: `variant` and `description` are required
 * (the Python SDK's schema rejects a message without them), `message` is Deepgram's echo of a
 * client message it could not parse. `code` (Deepgram's field for a reason within a variant)
 * carries Chorus's stable error code.
 */
export interface ErrorMessage {
  type: 'Error';
  variant: string;
  description: string;
  message?: string;
  code: ErrorCode;
  request_id?: string;
}

export type ServerMessage = ResultsMessage | MetadataMessage | SpeechStartedMessage | UtteranceEndMessage | ErrorMessage;

/** Millisecond precision is all a timestamp can mean at Whisper's 20 ms token resolution. */
function seconds(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function probability(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

// Punctuation and symbols at either end are dropped; inside a word ("don't", "e-mail") they stay.
const EDGE_PUNCTUATION = /^[\p{P}\p{S}]+|[\p{P}\p{S}]+$/gu;

/** Deepgram's `word` field: lower case, without the punctuation that `punctuated_word` keeps. */
export function plainWord(text: string): string {
  return text.replace(EDGE_PUNCTUATION, '').toLowerCase();
}

/** The transcript as Deepgram renders it with punctuate=false. */
export function plainTranscript(text: string): string {
  return text
    .split(/\s+/)
    .map(plainWord)
    .filter((word) => word !== '')
    .join(' ');
}

export function resultsMessage(input: ResultsInput): ResultsMessage {
  const words = input.words.map((w): ResultWord => {
    const word = plainWord(w.text);
    const rendered: ResultWord = {
      word,
      start: seconds(w.start),
      end: seconds(w.end),
      confidence: probability(w.confidence),
      punctuated_word: input.punctuate ? w.text : word,
    };
    if (w.stability !== undefined) rendered.stability = probability(w.stability);
    if (w.speaker !== undefined) rendered.speaker = w.speaker;
    return rendered;
  });
  const message: ResultsMessage = {
    type: 'Results',
    channel_index: [input.channelIndex, input.channelCount],
    duration: seconds(input.duration),
    start: seconds(input.start),
    is_final: input.isFinal,
    speech_final: input.speechFinal,
    from_finalize: input.fromFinalize,
    channel: {
      alternatives: [
        {
          transcript: input.punctuate ? input.transcript.trim() : plainTranscript(input.transcript),
          confidence: probability(input.confidence),
          words,
        },
      ],
    },
    metadata: {
      request_id: input.requestId,
      model_info: { name: input.model.name, version: input.model.version, arch: input.model.arch },
      model_uuid: input.model.uuid,
    },
  };
  if (input.lag !== undefined) message.lag = seconds(input.lag);
  return message;
}

export interface MetadataInput {
  requestId: string;
  /** Hex SHA-256 of every audio byte the client sent, in order. */
  sha256: string;
  created: Date;
  /** Seconds of audio received. */
  duration: number;
  channels: number;
  model: ModelInfo;
  extra: Record<string, string>;
  warnings: ParameterWarning[];
}

export function metadataMessage(input: MetadataInput): MetadataMessage {
  const message: MetadataMessage = {
    type: 'Metadata',
    // Deepgram still sends this field but only ever with this value.
    transaction_key: 'deprecated',
    request_id: input.requestId,
    sha256: input.sha256,
    created: input.created.toISOString(),
    duration: seconds(input.duration),
    channels: input.channels,
    models: [input.model.uuid],
    model_info: { [input.model.uuid]: { name: input.model.name, version: input.model.version, arch: input.model.arch } },
  };
  if (Object.keys(input.extra).length > 0) message.extra = input.extra;
  if (input.warnings.length > 0) message.warnings = input.warnings;
  return message;
}

export function speechStartedMessage(input: { channelIndex: number; channelCount: number; timestamp: number }): SpeechStartedMessage {
  return { type: 'SpeechStarted', channel: [input.channelIndex, input.channelCount], timestamp: seconds(input.timestamp) };
}

export function utteranceEndMessage(input: { channelIndex: number; channelCount: number; lastWordEnd: number }): UtteranceEndMessage {
  return { type: 'UtteranceEnd', channel: [input.channelIndex, input.channelCount], last_word_end: seconds(input.lastWordEnd) };
}

/** Where Deepgram's `SchemaError` applies: client text that is not a message it knows. */
const SCHEMA_ERRORS: ReadonlySet<ErrorCode> = new Set(['malformed_message', 'unknown_message_type']);
/**
 * A client message is echoed only this far: it may be as large as the frame limit, and an
 * Error must not be what fills a slow reader's outbound queue.
 */
export const MAX_ECHOED_CLIENT_CHARS = 1024;

/** Deepgram's `variant`: `SchemaError` where Deepgram uses it, else the code in its PascalCase. */
function errorVariant(code: ErrorCode): string {
  if (SCHEMA_ERRORS.has(code)) return 'SchemaError';
  return code.replace(/(?:^|_)([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}

/** `clientText`: the text message that could not be parsed, for a SchemaError. */
export function errorMessage(error: { code: ErrorCode; message: string }, requestId?: string, clientText?: string): ErrorMessage {
  const message: ErrorMessage = { type: 'Error', variant: errorVariant(error.code), description: error.message, code: error.code };
  if (clientText !== undefined && SCHEMA_ERRORS.has(error.code)) message.message = clientText.slice(0, MAX_ECHOED_CLIENT_CHARS);
  if (requestId !== undefined) message.request_id = requestId;
  return message;
}

// Records (msgpackr's structure-sharing extension) would make the output unreadable to
// MessagePack decoders in other languages, so plain maps it is; sized maps keep the many
// small objects of a Results message two bytes shorter each.
const packer = new Packr({ useRecords: false, variableMapSize: true });

/** JSON goes out as a text frame (string), MessagePack as a binary frame (bytes). */
export function encodeServerMessage(message: ServerMessage, encoding: ResultEncoding): string | Uint8Array {
  return encoding === 'msgpack' ? packer.pack(message) : JSON.stringify(message);
}
