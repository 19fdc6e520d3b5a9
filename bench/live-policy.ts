// The live session's commit policy on a virtual clock: every clip is pushed in 100 ms chunks
// and, after each chunk, the benchmark waits until the session's decodes are done, so each
// hop runs exactly when its audio is due whatever the machine's speed. That isolates what the
// policy itself costs from how busy the device is:
//   - algorithmic final latency: audio pushed when a word's final was emitted minus the end of
//     that word's audio (the DESIGN.md final latency on an infinitely fast device);
//   - device time per audio second: what one stream asks of the device, which bounds capacity;
//   - WER of the finals, beside the offline WER of the same clips.
// Variants run side by side on the same clips in the same process.
//   npx tsc -p tsconfig.json && node dist/bench/live-policy.js [--clips N] [--chain K] [--variants a,b]
import { parseArgs } from 'node:util';
import { loadAudioFile } from '../src/audio/load.js';
import { DEFAULT_LIVE_WINDOW, FULL_ENCODE_LIVE_WINDOW, LiveDecoder, type LiveWindowPolicy } from '../src/engine/live-decoder.js';
import { transcribe } from '../src/engine/transcribe.js';
import { WhisperModel } from '../src/engine/whisper.js';
import { clipsBySet } from '../src/eval/manifest.js';
import { scoreWer } from '../src/eval/wer.js';
import { DEFAULT_COMMIT_POLICY, StreamingSession, type CommitPolicy } from '../src/stream/session.js';
import type { SessionEvent } from '../src/stream/session-contract.js';

interface Variant {
  window: LiveWindowPolicy;
  commit: CommitPolicy;
}

const VARIANTS: Record<string, Variant> = {
  default: { window: DEFAULT_LIVE_WINDOW, commit: DEFAULT_COMMIT_POLICY },
  'full-encode': { window: FULL_ENCODE_LIVE_WINDOW, commit: DEFAULT_COMMIT_POLICY },
  'full-encode-window-30s': { window: { ...FULL_ENCODE_LIVE_WINDOW, minWindowS: 30 }, commit: DEFAULT_COMMIT_POLICY },
  'full-encode-window-7.5s': {
    window: { ...FULL_ENCODE_LIVE_WINDOW, minWindowS: 7.5, windowStepS: 2.5 },
    commit: DEFAULT_COMMIT_POLICY,
  },
  'final-padded': { window: { ...DEFAULT_LIVE_WINDOW, finalWindow: 'padded' }, commit: DEFAULT_COMMIT_POLICY },
  'lookahead-0.5s': { window: { ...DEFAULT_LIVE_WINDOW, lookaheadS: 0.5 }, commit: DEFAULT_COMMIT_POLICY },
  'lookahead-2s': { window: { ...DEFAULT_LIVE_WINDOW, lookaheadS: 2 }, commit: DEFAULT_COMMIT_POLICY },
  'recompute-all': { window: { ...DEFAULT_LIVE_WINDOW, lookaheadS: 60 }, commit: DEFAULT_COMMIT_POLICY },
  'window-30s': { window: { ...DEFAULT_LIVE_WINDOW, minWindowS: 30 }, commit: DEFAULT_COMMIT_POLICY },
  'guard-0.5s': { window: DEFAULT_LIVE_WINDOW, commit: { ...DEFAULT_COMMIT_POLICY, rightGuardS: 0.5 } },
  'window-10s-slide': { window: DEFAULT_LIVE_WINDOW, commit: { ...DEFAULT_COMMIT_POLICY, maxWindowS: 9 } },
  'hop-1s': { window: DEFAULT_LIVE_WINDOW, commit: { ...DEFAULT_COMMIT_POLICY, hopS: 1 } },
  'prompt-every-hop': { window: { ...DEFAULT_LIVE_WINDOW, reusePrompt: false }, commit: DEFAULT_COMMIT_POLICY },
};

const { values } = parseArgs({
  options: {
    clips: { type: 'string', default: '24' },
    // Clips played back to back in one stream, a second of silence between them (as the load
    // test plays them), so that later utterances are decoded with the earlier ones as prompt.
    chain: { type: 'string', default: '1' },
    variants: { type: 'string', default: Object.keys(VARIANTS).join(',') },
    model: { type: 'string', default: 'tiny.en' },
    sets: { type: 'string', default: 'librispeech-test-clean,librispeech-test-other' },
    verbose: { type: 'boolean', default: false },
  },
});

const CHUNK = 1600;
const all = clipsBySet(values.sets!.split(','));
const count = Math.min(all.length, Number(values.clips));
const clips = all.filter((_, i) => i % Math.max(1, Math.floor(all.length / count)) === 0).slice(0, count);
const device = { encodeMs: 0, decodeMs: 0, steps: 0, tokens: 0 };
const model = await WhisperModel.load(values.model!, {
  threads: 2,
  maxWindows: 4,
  maxSessions: 8,
  maxStreamingWindows: 2,
  onStep: (step) => {
    device.encodeMs += step.encodeMs;
    device.decodeMs += step.decodeMs;
    device.steps += step.decodeBatch > 0 ? 1 : 0;
    device.tokens += step.decodeTokens;
  },
});
const audio = await Promise.all(clips.map((c) => loadAudioFile(c.path)));

/** One live stream: `chain` consecutive clips, a second of silence between them. */
interface Stream {
  ids: string;
  pcm: Float32Array;
  ref: string;
}
const GAP = new Float32Array(16000);
const chain = Math.max(1, Number(values.chain));
const streams: Stream[] = [];
for (let first = 0; first < clips.length; first += chain) {
  const members = clips.slice(first, first + chain).map((clip, k) => ({ clip, samples: audio[first + k].samples }));
  const parts = members.flatMap((m, k) => (k === 0 ? [m.samples] : [GAP, m.samples]));
  const pcm = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (pcm.set(p, at), at + p.length), 0);
  streams.push({ ids: members.map((m) => m.clip.id).join('+'), pcm, ref: members.map((m) => m.clip.text).join(' ') });
}
const audioSeconds = streams.reduce((s, st) => s + st.pcm.length / 16000, 0);

// Offline, each clip is transcribed on its own: the baseline is what a file upload would get.
const offline = [];
for (let i = 0; i < clips.length; i++) {
  const result = await transcribe(model, audio[i].samples, { language: 'en' });
  offline.push({ ref: clips[i].text, hyp: result.text });
}
const offlineWer = scoreWer(offline).wer ?? 0;

/** Counts every decode the session starts, so the clock can wait for them, and times them. */
class TimedDecoder extends LiveDecoder {
  readonly pending = new Set<Promise<unknown>>();
  busyMs = 0;
  calls = 0;
  private track<T>(work: Promise<T>, started: number): Promise<T> {
    this.calls++;
    this.pending.add(work);
    return work.finally(() => {
      this.pending.delete(work);
      this.busyMs += performance.now() - started;
    });
  }
  override hypothesis(...args: Parameters<LiveDecoder['hypothesis']>) {
    return this.track(super.hypothesis(...args), performance.now());
  }
  override final(...args: Parameters<LiveDecoder['final']>) {
    return this.track(super.final(...args), performance.now());
  }
  async idle(): Promise<void> {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.pending.size === 0) return;
      await Promise.allSettled([...this.pending]);
    }
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

process.stdout.write(
  `${clips.length} clips in ${streams.length} streams, ${audioSeconds.toFixed(0)} s of audio; offline WER ${(offlineWer * 100).toFixed(2)} %\n\n` +
    '| variant | WER of finals | final latency p50 / p95 (audio clock) | decodes per audio s | ms per audio s: session decodes / encoder / decoder | decoder steps, tokens per audio s |\n' +
    '|---|---|---|---|---|---|\n',
);
for (const name of values.variants!.split(',')) {
  const variant = VARIANTS[name];
  if (!variant) throw new Error(`unknown variant ${name}: one of ${Object.keys(VARIANTS).join(', ')}`);
  const decoder = new TimedDecoder(model, variant.window);
  Object.assign(device, { encodeMs: 0, decodeMs: 0, steps: 0, tokens: 0 });
  const pairs = [];
  const latencies: number[] = [];
  for (const stream of streams) {
    let pushedS = 0;
    const finals: string[] = [];
    const onEvent = (e: SessionEvent) => {
      if (e.type !== 'results' || !e.isFinal) return;
      finals.push(e.transcript);
      for (const w of e.words) latencies.push(pushedS - w.end);
    };
    const session = new StreamingSession(
      decoder,
      { interimResults: false, endpointingMs: 500, utteranceEndMs: null, vadEvents: false, language: 'en' },
      onEvent,
      (err) => {
        throw err;
      },
      variant.commit,
    );
    const { pcm } = stream;
    for (let at = 0; at < pcm.length; at += CHUNK) {
      const chunk = pcm.subarray(at, at + CHUNK);
      pushedS += chunk.length / 16000;
      session.pushAudio(chunk);
      await decoder.idle();
    }
    await session.close();
    const pair = { ref: stream.ref, hyp: finals.join(' ') };
    pairs.push(pair);
    if (values.verbose) {
      const streamed = scoreWer([pair]).wer ?? 0;
      process.stderr.write(
        `${stream.ids} (${(pcm.length / 16000).toFixed(1)} s) streamed ${(streamed * 100).toFixed(1)} %\n` +
          `  ref:      ${stream.ref}\n  streamed: ${finals.join(' | ')}\n`,
      );
    }
  }
  latencies.sort((a, b) => a - b);
  const wer = (scoreWer(pairs).wer ?? 0) * 100;
  process.stdout.write(
    `| ${name} | ${wer.toFixed(2)} % | ${(percentile(latencies, 50) * 1000).toFixed(0)} / ${(percentile(latencies, 95) * 1000).toFixed(0)} ms | ` +
      `${(decoder.calls / audioSeconds).toFixed(2)} | ${(decoder.busyMs / audioSeconds).toFixed(0)} / ` +
      `${(device.encodeMs / audioSeconds).toFixed(0)} / ${(device.decodeMs / audioSeconds).toFixed(0)} | ` +
      `${(device.steps / audioSeconds).toFixed(1)}, ${(device.tokens / audioSeconds).toFixed(1)} |\n`,
  );
}
model.close();
