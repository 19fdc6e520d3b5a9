/**
 * Appends every final result to a JSONL file, so a final is kept even when the client that
 * asked for it has gone or read too slowly to receive it. Appending (never truncating) lets
 * restarts and several processes share one file; each line is written whole by one write.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { GatewayLog } from './log.js';

export interface TranscriptSink {
  write(record: Record<string, unknown>): void;
  close(): Promise<void>;
}

export function openTranscriptSink(path: string, log: GatewayLog): TranscriptSink {
  const stream: WriteStream = createWriteStream(path, { flags: 'a' });
  let failed = false;
  // A full disk must not take live sessions down with it; the finals still reach the log.
  stream.on('error', (error) => {
    if (!failed) log('transcript_sink_failed', { path, error: error.message });
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
