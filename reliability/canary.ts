// The canary: an honest client streaming real speech at real-time pace beside every abuse,
// round after round, whose words are checked. What it measures is what the abuse took from an
// honest stream: p95 final latency (DESIGN.md), WER of its finals against the clips' text,
// finals lost (written to the transcript sink but never received), and how its streams ended.
import { scoreWer } from '../src/eval/wer.js';
import { framesFor, type AudioFrames } from '../loadtest/audio-frames.js';
import { clipsFromFiles, clipsFromSets, streamProgram, type StreamProgram } from '../loadtest/speech-source.js';
import { runStream, type StreamRecord } from '../loadtest/stream-client.js';
import { streamMetrics } from '../loadtest/stream-metrics.js';
import { percentile } from '../loadtest/distribution.js';
import { sinkFinals, type ServerProcess } from './server-process.js';
import { sleep } from './check.js';

/** The canary is a client of its own: the abuses come from 127.0.0.1 and their per-client limits are not its. */
export const CANARY_ADDRESS = '127.0.0.2';

export interface CanaryFigures {
  rounds: number;
  finalWords: number;
  p95FinalMs: number | null;
  wer: number | null;
  refWords: number;
  /** finals in the transcript sink that the client never received */
  lostFinals: number;
  /** rounds that did not end with 1000 and Metadata, described */
  badEnds: string[];
}

export interface CanaryOptions {
  server: ServerProcess;
  sinkPath: string;
  headers: Record<string, string>;
  program: StreamProgram;
}

/** A program of real speech for the canary: evaluation clips when present, else the JFK fixture. */
export async function canaryProgram(seconds: number, evalSets: string[], fallbackFile: string): Promise<StreamProgram> {
  let clips = [] as Awaited<ReturnType<typeof clipsFromFiles>>;
  try {
    clips = clipsFromSets(evalSets).filter((c) => c.text !== null);
  } catch {
    clips = [];
  }
  if (clips.length === 0) clips = await clipsFromFiles([fallbackFile]);
  return streamProgram(clips, seconds, 0);
}

export class Canary {
  private readonly audio: AudioFrames;
  private readonly records: StreamRecord[] = [];
  private running: Promise<void> | null = null;
  private stopping = false;

  constructor(private readonly options: CanaryOptions) {
    this.audio = framesFor(options.program.pcm, 'linear16', 16000);
  }

  get programSeconds(): number {
    return this.audio.durationS;
  }

  get programPcm(): Float32Array {
    return this.options.program.pcm;
  }

  /** Streams rounds back to back until stop(). */
  start(): void {
    this.stopping = false;
    this.records.length = 0;
    this.running = (async () => {
      do {
        const record = await this.round();
        this.records.push(record);
        // A refused canary asks again, but not in a tight loop.
        if (record.refusedStatus !== null || record.closeCode === null) await sleep(500);
      } while (!this.stopping);
    })();
  }

  /** Lets the round in progress finish, then scores every round since start(). */
  async stop(): Promise<CanaryFigures> {
    this.stopping = true;
    await this.running;
    await sleep(500); // the sink's last lines
    return this.score();
  }

  /** One round on its own: start, and stop after the first round. */
  async once(): Promise<CanaryFigures> {
    this.start();
    return this.stop();
  }

  private round(): Promise<StreamRecord> {
    return runStream({
      url: `${this.options.server.wsUrl}/v1/listen`,
      params: { encoding: 'linear16', sample_rate: 16000, interim_results: true },
      audio: this.audio,
      speed: 1,
      headers: this.options.headers,
      timeoutMs: 30_000,
      localAddress: CANARY_ADDRESS,
    });
  }

  private score(): CanaryFigures {
    const sink = sinkFinals(this.options.sinkPath);
    const latencies: number[] = [];
    const pairs: { ref: string; hyp: string }[] = [];
    const badEnds: string[] = [];
    let lostFinals = 0;
    for (const record of this.records) {
      const m = streamMetrics(record);
      latencies.push(...m.finalLatencyMs);
      if (record.refusedStatus !== null) {
        badEnds.push(`refused with ${record.refusedStatus}`);
        continue;
      }
      if (record.closeCode !== 1000 || !m.gotMetadata || m.errors.length > 0) {
        badEnds.push(`closed ${record.closeCode} ${record.closeReason}${m.errors.length ? ' after ' + m.errors.join('; ') : ''}${record.error ? ' (' + record.error + ')' : ''}`);
      }
      if (this.options.program.ref !== null) pairs.push({ ref: this.options.program.ref, hyp: m.finalText });
      const id = requestIdOf(record);
      const received = record.received.filter((r) => r.message.type === 'Results' && r.message.is_final === true).length;
      const stored = id === null ? 0 : (sink.get(id)?.length ?? 0);
      lostFinals += Math.max(0, stored - received);
    }
    const score = pairs.length > 0 ? scoreWer(pairs) : null;
    return {
      rounds: this.records.length,
      finalWords: latencies.length,
      p95FinalMs: percentile(latencies, 95),
      wer: score?.wer ?? null,
      refWords: score?.refWords ?? 0,
      lostFinals,
      badEnds,
    };
  }
}

/** The request id the server gave a stream (every Results and Metadata carries it). */
export function requestIdOf(record: StreamRecord): string | null {
  for (const { message } of record.received) {
    if (typeof message.request_id === 'string') return message.request_id;
    const metadata = message.metadata as { request_id?: unknown } | undefined;
    if (metadata && typeof metadata.request_id === 'string') return metadata.request_id;
  }
  return null;
}
