// The live policies side by side on the same clips, in one process: for each variant (a
// window policy and a commit policy, by name), the WER of finals beside the offline WER of the
// same clips, lost words, per-word final latency, words per final, and what one stream asks
// of the device. Streams are played by src/eval/live.ts on its virtual clock (each hop exactly
// when its audio is due, the decodes done before the next chunk), so latency is the policy's
// own and device time is what the policy asks, whatever else the machine does.
//   npx tsc -p tsconfig.json && node dist/bench/live-policy.js [--sets a,b] [--chain N] \
//     [--variants window:policy,...] [--plot FILE.png]   (names: LIVE_WINDOWS and COMMIT_POLICIES)
// --plot draws the frontier: each variant's WER gap against its p50 final latency.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { loadAudioFile } from '../src/audio/load.js';
import { LIVE_WINDOWS } from '../src/engine/live-decoder.js';
import { transcribe } from '../src/engine/transcribe.js';
import { WhisperModel } from '../src/engine/whisper.js';
import { chainClips, playStreams, scoreLive, type LiveClip } from '../src/eval/live.js';
import { clipsBySet } from '../src/eval/manifest.js';
import { svgToPng } from '../loadtest/png-plot.js';
import { lineChart, type Series } from '../loadtest/svg-chart.js';
import { COMMIT_POLICIES } from '../src/stream/commit-policy.js';

const { values } = parseArgs({
  options: {
    chain: { type: 'string', default: '1' },
    variants: { type: 'string', default: 'default:default,full-encode:default,default:endpoint-only' },
    model: { type: 'string', default: 'tiny.en' },
    sets: { type: 'string', default: 'librispeech-test-clean,librispeech-test-other' },
    plot: { type: 'string' },
  },
});

const device = { encodeMs: 0, decodeMs: 0 };
const model = await WhisperModel.load(values.model!, {
  threads: 2,
  maxWindows: 4,
  maxSessions: 8,
  maxStreamingWindows: 2,
  onStep: (step) => {
    device.encodeMs += step.encodeMs;
    device.decodeMs += step.decodeMs;
  },
});
const clips: LiveClip[] = [];
for (const clip of clipsBySet(values.sets!.split(','))) {
  const { samples } = await loadAudioFile(clip.path);
  const offline = (await transcribe(model, samples, { language: 'en' })).text.trim();
  clips.push({ id: clip.id, set: clip.set, text: clip.text, samples, offline });
}
const streams = chainClips(clips, Math.max(1, Number(values.chain)));
const audioSeconds = streams.reduce((s, st) => s + st.pcm.length / 16000, 0);

process.stdout.write(
  `${clips.length} clips in ${streams.length} streams, ${audioSeconds.toFixed(0)} s; ${values.model} ${model.info.precision}, ` +
    `${cpus()[0]?.model ?? 'unknown CPU'}, kernels ${model.info.isa}, 2 threads, virtual clock\n\n` +
    '| window : commit policy | offline WER | WER of finals | gap | lost words | final latency p50 / p95 | words per final | device ms per audio s: encoder / decoder |\n' +
    '|---|---|---|---|---|---|---|---|\n',
);
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const frontier: Series[] = [];
for (const variant of values.variants!.split(',')) {
  const [windowName, commitName = 'default'] = variant.split(':');
  const window = LIVE_WINDOWS[windowName];
  const commit = COMMIT_POLICIES[commitName];
  if (!window || !commit) {
    throw new Error(`unknown variant ${variant}: windows ${Object.keys(LIVE_WINDOWS)}; policies ${Object.keys(COMMIT_POLICIES)}`);
  }
  Object.assign(device, { encodeMs: 0, decodeMs: 0 });
  const score = scoreLive(await playStreams(model, streams, { clock: 'virtual', concurrency: 1, window, commit }));
  const pct = (wer: number | null) => `${((wer ?? 0) * 100).toFixed(2)} %`;
  process.stdout.write(
    `| ${windowName} : ${commitName} | ${pct(score.offline.wer)} | ${pct(score.live.wer)} | ${score.gapPoints >= 0 ? '+' : ''}${score.gapPoints.toFixed(2)} | ` +
      `${score.lostWords} | ${(score.latencyP50S * 1000).toFixed(0)} / ${(score.latencyP95S * 1000).toFixed(0)} ms | ${score.wordsPerFinal.toFixed(1)} | ` +
      `${(device.encodeMs / audioSeconds).toFixed(0)} / ${(device.decodeMs / audioSeconds).toFixed(0)} |\n`,
  );
  frontier.push({
    name: `${windowName} : ${commitName}`,
    color: COLORS[frontier.length % COLORS.length],
    points: [[score.latencyP50S * 1000, Math.max(0, score.gapPoints)]],
    markers: true,
  });
}
if (values.plot) {
  const title = `Live WER gap vs p50 latency, ${clips.length} clips, ${values.chain} per stream`;
  writeFileSync(values.plot, svgToPng(lineChart({ title, xLabel: 'p50 final latency, ms (audio clock)', yLabel: 'WER of finals - offline, points', series: frontier })));
  process.stdout.write(`\nplot: ${values.plot}\n`);
}
model.close();
