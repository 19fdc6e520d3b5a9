// The live transcript measured against the same engine offline, on the same clips.
//
// Each stream (one clip, or several chained with a second of silence between them, so later
// utterances are decoded with the earlier ones as prompt) is played through the real session
// path (StreamingSession over LiveDecoder over the shared scheduler) in 100 ms chunks, and
// closed at its end as CloseStream does. Two clocks:
//   - 'virtual': after every chunk the player waits until the session's decodes are done, so
//     each hop starts at exactly the audio position real time would start it on a device that
//     finishes a decode within one chunk. Deterministic, whatever the machine's speed, which
//     is what a CI bound needs; latency is then the policy's own (audio clock).
//   - 'real': chunks are paced by the wall clock and `concurrency` streams play at once; final
//     latency is the DESIGN.md one (wall clock of the final minus when its audio was sent).
import { alignWords, scoreWer, type WerScore } from './wer.js';
import { normalizeFor } from '../text/normalize.js';
import { LiveDecoder, type LiveWindowPolicy } from '../engine/live-decoder.js';
import type { WhisperModel } from '../engine/whisper.js';
import type { CommitPolicy } from '../stream/commit-policy.js';
import { StreamingSession } from '../stream/session.js';
import type { SessionEvent } from '../stream/session-contract.js';

export const CHUNK_SAMPLES = 1600;
const SAMPLE_RATE = 16000;
/** A clip whose finals lack this many of its offline words is a defect (DESIGN.md). */
export const LOST_WORDS_DEFECT = 3;

export interface LiveClip {
  id: string;
  set: string;
  text: string;
  samples: Float32Array;
  /** the same build's offline transcript of the clip */
  offline: string;
}

export interface LiveStream {
  ids: string[];
  set: string;
  pcm: Float32Array;
  ref: string;
  offline: string;
  /** the stream's keyterms, as a client would send them (bench/keyterms.ts) */
  keyterms?: readonly string[];
}

/** Streams of `chain` consecutive clips of one set each, a second of silence between clips. */
export function chainClips(clips: readonly LiveClip[], chain: number): LiveStream[] {
  const gap = new Float32Array(SAMPLE_RATE);
  const bySet = new Map<string, LiveClip[]>();
  for (const clip of clips) bySet.set(clip.set, [...(bySet.get(clip.set) ?? []), clip]);
  const streams: LiveStream[] = [];
  for (const [set, members] of bySet) {
    for (let first = 0; first < members.length; first += chain) {
      const group = members.slice(first, first + chain);
      const parts = group.flatMap((c, k) => (k === 0 ? [c.samples] : [gap, c.samples]));
      const pcm = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => (pcm.set(p, at), at + p.length), 0);
      streams.push({
        ids: group.map((c) => c.id),
        set,
        pcm,
        ref: group.map((c) => c.text).join(' '),
        offline: group.map((c) => c.offline).join(' '),
      });
    }
  }
  return streams;
}

export interface StreamResult {
  stream: LiveStream;
  /** transcripts of the final results, in order (empty ones left out) */
  finals: string[];
  /** per word of the finals, seconds from the end of its audio being sent to its final */
  latencies: number[];
}

/** Counts every decode the session starts, so the virtual clock can wait for them. */
class WatchedDecoder extends LiveDecoder {
  private readonly pending = new Set<Promise<unknown>>();
  private watch<T>(work: Promise<T>): Promise<T> {
    this.pending.add(work);
    return work.finally(() => this.pending.delete(work));
  }
  override hypothesis(...args: Parameters<LiveDecoder['hypothesis']>) {
    return this.watch(super.hypothesis(...args));
  }
  override final(...args: Parameters<LiveDecoder['final']>) {
    return this.watch(super.final(...args));
  }
  override judgeSpeech(...args: Parameters<LiveDecoder['judgeSpeech']>) {
    return this.watch(super.judgeSpeech(...args));
  }
  async idle(): Promise<void> {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.pending.size === 0) return;
      await Promise.allSettled([...this.pending]);
    }
  }
}

export interface LivePlayOptions {
  clock: 'virtual' | 'real';
  /** streams played at once ('real' only; the virtual clock plays one at a time) */
  concurrency: number;
  commit?: CommitPolicy;
  window?: LiveWindowPolicy;
  endpointingMs?: number;
  onStream?: (result: StreamResult) => void;
}

export async function playStreams(
  model: WhisperModel,
  streams: readonly LiveStream[],
  options: LivePlayOptions,
): Promise<StreamResult[]> {
  const decoder = new WatchedDecoder(model, options.window);
  const results: StreamResult[] = new Array(streams.length);
  let next = 0;
  const worker = async () => {
    while (next < streams.length) {
      const index = next++;
      results[index] = await playOne(decoder, streams[index], options);
      options.onStream?.(results[index]);
    }
  };
  const workers = options.clock === 'virtual' ? 1 : Math.max(1, options.concurrency);
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}

async function playOne(decoder: WatchedDecoder, stream: LiveStream, options: LivePlayOptions): Promise<StreamResult> {
  const finals: string[] = [];
  const latencies: number[] = [];
  let failure: Error | null = null;
  const startedMs = performance.now();
  let sentS = 0;
  // The stream's audio clock when a final arrives (DESIGN.md: started at the first byte, paced
  // in real time): audio pushed so far (virtual), or wall time since the first chunk (real).
  const now = () => (options.clock === 'virtual' ? sentS : (performance.now() - startedMs) / 1000);
  // When the end of a word's audio left the client: on the virtual clock, the audio itself
  // (what an infinitely fast device would give); in real time, the start of the 100 ms chunk
  // that carried it, which the client sent at that second of its audio clock.
  const chunkS = CHUNK_SAMPLES / SAMPLE_RATE;
  const sentAt = (endS: number) => (options.clock === 'virtual' ? endS : Math.floor(endS / chunkS) * chunkS);
  const onEvent = (e: SessionEvent) => {
    if (e.type !== 'results' || !e.isFinal) return;
    if (e.transcript.trim()) finals.push(e.transcript);
    const at = now();
    for (const w of e.words) latencies.push(Math.max(0, at - sentAt(w.end)));
  };
  const session = new StreamingSession(
    decoder,
    {
      interimResults: false,
      endpointingMs: options.endpointingMs ?? 500,
      utteranceEndMs: null,
      vadEvents: false,
      language: 'en',
      keyterms: stream.keyterms,
    },
    onEvent,
    (err) => (failure = err),
    options.commit,
  );
  const { pcm } = stream;
  for (let at = 0, k = 0; at < pcm.length; at += CHUNK_SAMPLES, k++) {
    if (options.clock === 'real') {
      const due = startedMs + k * 100 - performance.now();
      if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
    }
    const chunk = pcm.subarray(at, at + CHUNK_SAMPLES);
    sentS += chunk.length / SAMPLE_RATE;
    session.pushAudio(chunk);
    if (options.clock === 'virtual') await decoder.idle();
  }
  await session.close();
  if (failure) throw failure;
  return { stream, finals, latencies };
}

export interface LiveScore {
  streams: number;
  live: WerScore;
  offline: WerScore;
  /** live WER minus offline WER, in points */
  gapPoints: number;
  /** offline words missing from the finals, summed */
  lostWords: number;
  /** streams whose finals lack LOST_WORDS_DEFECT or more offline words */
  defects: Array<{ ids: string[]; lost: number; live: string; offline: string }>;
  latencyP50S: number;
  latencyP95S: number;
  wordsPerFinal: number;
}

function tokens(text: string): string[] {
  return normalizeFor('en', text).split(' ').filter(Boolean);
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Offline words that the live finals lack: deletions when the offline text is the reference. */
export function lostWords(offline: string, live: string): number {
  return alignWords(tokens(offline), tokens(live)).deletions;
}

export function scoreLive(results: readonly StreamResult[]): LiveScore {
  const live = scoreWer(results.map((r) => ({ ref: r.stream.ref, hyp: r.finals.join(' ') })));
  const offline = scoreWer(results.map((r) => ({ ref: r.stream.ref, hyp: r.stream.offline })));
  let lost = 0;
  const defects: LiveScore['defects'] = [];
  for (const r of results) {
    const text = r.finals.join(' ');
    const n = lostWords(r.stream.offline, text);
    lost += n;
    if (n >= LOST_WORDS_DEFECT) defects.push({ ids: r.stream.ids, lost: n, live: text, offline: r.stream.offline });
  }
  const latencies = results.flatMap((r) => r.latencies);
  const finals = results.reduce((n, r) => n + r.finals.length, 0);
  const words = results.reduce((n, r) => n + r.finals.reduce((m, f) => m + f.split(/\s+/).filter(Boolean).length, 0), 0);
  return {
    streams: results.length,
    live,
    offline,
    gapPoints: ((live.wer ?? 0) - (offline.wer ?? 0)) * 100,
    lostWords: lost,
    defects,
    latencyP50S: percentile(latencies, 50),
    latencyP95S: percentile(latencies, 95),
    wordsPerFinal: finals > 0 ? words / finals : 0,
  };
}
