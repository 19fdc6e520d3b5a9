// How much accuracy Whisper loses when the encoder sees less than its 30 s window: decodes
// LibriSpeech clips (every other one of test-clean and test-other) once per window policy,
// greedy without timestamps, and prints the WER of each side by side.
//   npx tsc -p tsconfig.json && node dist/bench/encoder-window.js
import { loadAudioFile } from '../src/audio/load.js';
import { WindowDecoder } from '../src/engine/decoder.js';
import { logMelSpectrogram, melWindow, WINDOW_FRAMES } from '../src/engine/features.js';
import { cutRepetitionLoop } from '../src/engine/guards.js';
import { WhisperModel } from '../src/engine/whisper.js';
import { clipsBySet } from '../src/eval/manifest.js';
import { scoreWer } from '../src/eval/wer.js';

const POLICIES: Record<string, (contentFrames: number) => number> = {
  'padded 30 s': () => WINDOW_FRAMES,
  'exact length': (content) => content,
  'length + 1 s': (content) => content + 100,
  'at least 10 s': (content) => Math.max(1000, content),
  'at least 15 s': (content) => Math.max(1500, content),
};

const model = await WhisperModel.load('tiny.en', { threads: 2, maxWindows: 1, maxSessions: 2 });
const decoder = new WindowDecoder(model);
const clips = clipsBySet(['librispeech-test-clean', 'librispeech-test-other']).filter((_, i) => i % 2 === 0);
const window = model.native.createWindow();
process.stdout.write(`| encoder window | WER | insertions | deletions | seconds |\n|---|---|---|---|---|\n`);
for (const [name, framesFor] of Object.entries(POLICIES)) {
  const pairs = [];
  const started = performance.now();
  for (const clip of clips) {
    const audio = await loadAudioFile(clip.path);
    const mel = await logMelSpectrogram(model, audio.samples);
    let frames = Math.min(WINDOW_FRAMES, framesFor(mel.contentFrames));
    frames += frames % 2;
    await model.scheduler.encode(window, melWindow(mel, 0, frames), frames, 'live');
    const result = await decoder.decode(
      {
        window,
        previous: [],
        language: 'en',
        task: 'transcribe',
        withoutTimestamps: true,
        maxInitialTimestamp: null,
        suppressBlank: true,
        // A budget proportional to the audio stops the loops that short windows provoke.
        sampleLen: frames === WINDOW_FRAMES ? 224 : Math.min(224, Math.ceil(audio.durationS * 6) + 4),
        urgency: 'live',
      },
      { temperature: 0, beamSize: 1, bestOf: 1, patience: 1, lengthPenalty: null, random: Math.random },
    );
    pairs.push({ ref: clip.text, hyp: model.tokenizer.decode(cutRepetitionLoop(result.tokens)) });
  }
  const score = scoreWer(pairs);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(
    `| ${name} | ${((score.wer ?? 0) * 100).toFixed(2)} % | ${score.insertions} | ${score.deletions} | ${seconds} |\n`,
  );
}
await model.native.releaseWindow(window);
model.close();
