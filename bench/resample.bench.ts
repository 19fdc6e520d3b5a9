/**
 * Resampler throughput: seconds of audio converted per wall-clock second, per source rate.
 *
 *   npx vite-node bench/resample.bench.ts          # from source
 *   node dist/bench/resample.bench.js              # after `npm run build:ts`
 */
import { Resampler, resample } from '../src/audio/resample.js';

const AUDIO_SECONDS = 30;
const REPEATS = 3;

function testSignal(rate: number): Float32Array {
  const samples = new Float32Array(rate * AUDIO_SECONDS);
  for (let i = 0; i < samples.length; i++) {
    samples[i] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / rate) + 0.1 * Math.sin((2 * Math.PI * 3100 * i) / rate);
  }
  return samples;
}

/** Best of several runs, so a GC pause or a noisy neighbour does not define the number. */
function bestSeconds(run: () => void): number {
  let best = Infinity;
  for (let i = 0; i < REPEATS; i++) {
    const start = process.hrtime.bigint();
    run();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return best;
}

const conversions: Array<[number, number]> = [
  [48000, 16000], [44100, 16000], [32000, 16000], [22050, 16000], [8000, 16000], [16000, 48000],
];

console.log(`resample throughput, ${AUDIO_SECONDS} s of audio, best of ${REPEATS}`);
console.log('from -> to      one-shot x realtime   streamed (20 ms chunks) x realtime');
for (const [fromRate, toRate] of conversions) {
  const input = testSignal(fromRate);
  resample(input.subarray(0, fromRate), fromRate, toRate); // builds and caches the filter bank
  const oneShot = bestSeconds(() => resample(input, fromRate, toRate));
  const chunk = fromRate / 50;
  const streamed = bestSeconds(() => {
    const resampler = new Resampler(fromRate, toRate);
    for (let start = 0; start < input.length; start += chunk) resampler.process(input.subarray(start, start + chunk));
    resampler.flush();
  });
  const label = `${fromRate} -> ${toRate}`.padEnd(16);
  console.log(`${label}${(AUDIO_SECONDS / oneShot).toFixed(0).padStart(10)}${(AUDIO_SECONDS / streamed).toFixed(0).padStart(30)}`);
}
