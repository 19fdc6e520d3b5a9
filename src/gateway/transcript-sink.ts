/**
 * Where every final result goes besides the client's socket, so a final is kept even when the
 * client that asked for it has gone, read too slowly, or (Twilio) never reads at all.
 *
 * One interface, several destinations, chosen by `--transcript-sink` (repeatable):
 *  - a file path (or `file://PATH`): JSONL, appended, never truncated, so restarts and several
 *    processes share one file; each line is written whole by one write;
 *  - `nats://HOST:PORT/SUBJECT`: NATS JetStream (nats-sink.ts), one message per final on
 *    `SUBJECT.<request_id>`, with a message id per final so a retry is never a duplicate.
 *
 * Every record names its final uniquely (`id`: request id, channel, sequence number), so a
 * consumer that sees one twice, from two sinks or from a re-publish, can tell.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { GatewayLog } from './log.js';
import { NatsTranscriptSink } from './nats-sink.js';
import type { ResultsMessage } from './protocol-messages.js';

/** How the audio reached the gateway. */
export type Transport = 'websocket' | 'webrtc' | 'twilio';

/** What a telephony platform said about the call (Twilio's `start` message). */
export interface CallInfo {
  provider: 'twilio';
  call_sid: string;
  stream_sid: string;
  account_sid: string;
  /** The track each channel carries, in channel order: `inbound` is 0, `outbound` 1. */
  tracks: string[];
  custom_parameters: Record<string, string>;
}

/** One final of one channel of one stream, as every sink receives it. */
export type FinalRecord = {
  /** `<request_id>.<channel>.<seq>`: stable for this final, the de-duplication key downstream. */
  id: string;
  /** Wall time at which the final was produced. */
  time: string;
  request_id: string;
  transport: Transport;
  model: string;
  /** The channel this final transcribes, and how many the stream has (Deepgram's `channel_index`). */
  channel: number;
  channels: number;
  /** 1, 2, ... per channel, in the order the finals were produced; no gaps. */
  seq: number;
  /** Seconds of the stream's audio from its first sample. */
  start: number;
  duration: number;
  transcript: string;
  speech_final: boolean;
  from_finalize: boolean;
  words: ResultsMessage['channel']['alternatives'][0]['words'];
  /** The client's `tag` and `extra` query parameters. */
  tag: string[];
  extra: Record<string, string>;
  /** Telephony metadata, or null for a stream that is not a call. */
  call: CallInfo | null;
};

export type SinkOutcome = 'stored' | 'duplicate' | 'dropped';

export interface TranscriptSink {
  /** Never throws and never blocks the stream: a failing destination logs, it does not fail sessions. */
  write(record: FinalRecord): void;
  /** Delivers what is pending (within the sink's own bounds), then releases the destination. */
  close(): Promise<void>;
  /** Records written and not yet stored, for sinks that queue (metrics); absent: none queue. */
  pending?(): number;
  /** Tells `onOutcome` what became of each record, for sinks that acknowledge (metrics). */
  watch?(onOutcome: (outcome: SinkOutcome) => void): void;
}

export function openJsonlSink(path: string, log: GatewayLog): TranscriptSink {
  const stream: WriteStream = createWriteStream(path, { flags: 'a' });
  let failed = false;
  // A full disk must not take live sessions down with it; the finals still reach the log.
  stream.on('error', (error) => {
    if (!failed) log('transcript_sink_failed', { sink: 'file', path, error: error.message });
    failed = true;
  });
  return {
    write(record) {
      if (!failed) stream.write(JSON.stringify(record) + '\n');
    },
    close() {
      return new Promise((resolve) => stream.end(resolve));
    },
  };
}

/** Every record to every sink; null when there are none. */
export function fanOut(sinks: TranscriptSink[]): TranscriptSink | null {
  if (sinks.length === 0) return null;
  if (sinks.length === 1) return sinks[0];
  return {
    write(record) {
      for (const sink of sinks) sink.write(record);
    },
    async close() {
      await Promise.all(sinks.map((sink) => sink.close()));
    },
    pending() {
      return sinks.reduce((sum, sink) => sum + (sink.pending?.() ?? 0), 0);
    },
    watch(onOutcome) {
      for (const sink of sinks) sink.watch?.(onOutcome);
    },
  };
}

/** The sinks `--transcript-sink` names, as one; null when it names none. */
export function openTranscriptSinks(specs: SinkSpec[], log: GatewayLog): TranscriptSink | null {
  return fanOut(
    specs.map((spec) =>
      spec.kind === 'file' ? openJsonlSink(spec.path, log) : new NatsTranscriptSink({ servers: spec.servers, subject: spec.subject }, log),
    ),
  );
}

/** A `--transcript-sink` value: a JSONL path, or a NATS JetStream subject. */
export type SinkSpec = { kind: 'file'; path: string } | { kind: 'nats'; servers: string; subject: string };

const SUBJECT_TOKEN = /^[A-Za-z0-9_-]+$/;

/** Throws Error with a message naming what is wrong; the caller adds the flag's name. */
export function parseSinkSpec(value: string): SinkSpec {
  if (value.startsWith('nats://')) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new Error(`"${value}" is not a URL; expected nats://HOST:PORT/SUBJECT`);
    }
    const subject = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (subject === '' || !subject.split('.').every((token) => SUBJECT_TOKEN.test(token))) {
      throw new Error(`"${value}" needs a subject of letters, digits, '-' and '_' separated by '.', e.g. nats://127.0.0.1:4222/chorus.finals`);
    }
    const auth = url.username === '' ? '' : `${url.username}${url.password === '' ? '' : `:${url.password}`}@`;
    return { kind: 'nats', servers: `nats://${auth}${url.host === '' ? '127.0.0.1:4222' : url.host}`, subject };
  }
  if (value.startsWith('file://')) return { kind: 'file', path: decodeURIComponent(new URL(value).pathname) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) throw new Error(`"${value}": only file paths and nats:// URLs are sinks`);
  return { kind: 'file', path: value };
}
