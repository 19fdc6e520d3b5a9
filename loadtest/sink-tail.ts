// Reads a gateway's JSONL transcript sink (`chorus serve --transcript-sink PATH`) as it grows,
// for load-test calls whose finals never come back on their socket (Twilio): each record is
// handed to the call it names (by `callSid`), stamped with when the load test read it, which
// is when the final "appears in the sink" for its latency. The file is read from its size at
// open, so finals of earlier runs sharing the file are not mistaken for this run's.
import { open, type FileHandle } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import type { FinalRecord } from '../src/gateway/transcript-sink.js';

/** A final as the load test saw it arrive. */
export interface SunkFinal {
  /** performance.now() when the record was read from the file */
  atMs: number;
  record: FinalRecord;
}

/**
 * How often the file is read when no change event comes (fs.watch is immediate on Linux, but
 * not promised everywhere): the most a final's latency can be over-counted by.
 */
const POLL_MS = 20;
/** After a call's socket closes its last finals are written; this long without news is "all". */
const QUIET_MS = 100;

export class JsonlSinkTail {
  private readonly followers = new Map<string, (final: SunkFinal) => void>();
  private offset: number;
  private partial = Buffer.alloc(0);
  private reading: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private readonly watcher: FSWatcher;

  private constructor(
    private readonly path: string,
    private readonly file: FileHandle,
    size: number,
  ) {
    this.offset = size;
    this.timer = setInterval(() => void this.read(), POLL_MS);
    this.watcher = watch(path, () => void this.read());
  }

  /** Refuses a path that does not exist: the gateway creates it when started with the sink. */
  static async open(path: string): Promise<JsonlSinkTail> {
    let file: FileHandle;
    try {
      file = await open(path, 'r');
    } catch (error) {
      throw new Error(
        `cannot read the transcript sink ${path} (${(error as Error).message}); start the gateway with --transcript-sink ${path}`,
      );
    }
    return new JsonlSinkTail(path, file, (await file.stat()).size);
  }

  /** Hands every record of this call read from now on to `onFinal`, until `unfollow`. */
  follow(callSid: string, onFinal: (final: SunkFinal) => void): void {
    this.followers.set(callSid, onFinal);
  }

  unfollow(callSid: string): void {
    this.followers.delete(callSid);
  }

  /** Resolves once the file has been read to its end and nothing more came for QUIET_MS. */
  async settle(): Promise<void> {
    for (let before = -1; before !== this.offset; ) {
      before = this.offset;
      await this.read();
      await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
      await this.read();
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.watcher.close();
    await this.reading;
    await this.file.close();
  }

  /** One read at a time, in order; each reads whatever the file has grown by. */
  private read(): Promise<void> {
    this.reading = this.reading.then(() => this.readMore()).catch((error: unknown) => {
      process.stderr.write(`loadtest: reading ${this.path}: ${(error as Error).message}\n`);
    });
    return this.reading;
  }

  private async readMore(): Promise<void> {
    const { size } = await this.file.stat();
    if (size <= this.offset) return;
    const buffer = Buffer.alloc(size - this.offset);
    const { bytesRead } = await this.file.read(buffer, 0, buffer.length, this.offset);
    const atMs = performance.now();
    this.offset += bytesRead;
    // The sink writes each line whole, but a read can still land inside one: the bytes after
    // the last newline wait for the next read (as bytes, so a character cut in two survives).
    const bytes = Buffer.concat([this.partial, buffer.subarray(0, bytesRead)]);
    const end = bytes.lastIndexOf(0x0a) + 1;
    this.partial = bytes.subarray(end);
    for (const line of bytes.subarray(0, end).toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      const record = JSON.parse(line) as FinalRecord;
      const callSid = record.call?.call_sid;
      if (callSid !== undefined) this.followers.get(callSid)?.({ atMs, record });
    }
  }
}
