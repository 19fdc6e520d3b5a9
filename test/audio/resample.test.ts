import { describe, expect, it } from 'vitest';

import { Resampler, SAMPLE_RATE_RANGE, resample } from '../../src/audio/resample.js';

const AMPLITUDE = 0.5;

function sine(frequency: number, rate: number, seconds: number): Float32Array {
  const samples = new Float32Array(Math.round(rate * seconds));
  for (let i = 0; i < samples.length; i++) samples[i] = AMPLITUDE * Math.sin((2 * Math.PI * frequency * i) / rate);
  return samples;
}

/** The middle 80%, away from the filter's start-up and tail. */
function steadyState(samples: Float32Array): Float32Array {
  return samples.subarray(Math.floor(samples.length * 0.1), Math.floor(samples.length * 0.9));
}

function rms(samples: Float32Array): number {
  let sum = 0;
  for (const value of samples) sum += value * value;
  return Math.sqrt(sum / samples.length);
}

function decibels(ratio: number): number {
  return 20 * Math.log10(ratio);
}

interface SinusoidFit {
  /** Coefficients of sin and cos at the given frequency, with sample 0 of the whole signal as t = 0. */
  sinWeight: number;
  cosWeight: number;
  amplitude: number;
  /** RMS of what the sinusoid does not explain: aliases, images, noise. */
  residualRms: number;
}

/** Least-squares fit of a sin + b cos at a known frequency over samples [start, end). */
function fitSinusoid(samples: Float32Array, rate: number, frequency: number, start: number, end: number): SinusoidFit {
  let ss = 0, sc = 0, cc = 0, ys = 0, yc = 0;
  for (let n = start; n < end; n++) {
    const angle = (2 * Math.PI * frequency * n) / rate;
    const s = Math.sin(angle), c = Math.cos(angle);
    ss += s * s; sc += s * c; cc += c * c; ys += samples[n] * s; yc += samples[n] * c;
  }
  const determinant = ss * cc - sc * sc;
  const sinWeight = (ys * cc - yc * sc) / determinant;
  const cosWeight = (yc * ss - ys * sc) / determinant;
  let residual = 0;
  for (let n = start; n < end; n++) {
    const angle = (2 * Math.PI * frequency * n) / rate;
    const error = samples[n] - sinWeight * Math.sin(angle) - cosWeight * Math.cos(angle);
    residual += error * error;
  }
  return {
    sinWeight,
    cosWeight,
    amplitude: Math.hypot(sinWeight, cosWeight),
    residualRms: Math.sqrt(residual / (end - start)),
  };
}

function fitSteadyState(samples: Float32Array, rate: number, frequency: number): SinusoidFit {
  return fitSinusoid(samples, rate, frequency, Math.floor(samples.length * 0.1), Math.floor(samples.length * 0.9));
}

/** Deterministic white noise, so failures reproduce. */
function noise(length: number, seed = 12345): Float32Array {
  const samples = new Float32Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    samples[i] = state / 2 ** 31 - 1;
  }
  return samples;
}

const SOURCE_RATES_ABOVE_16K = [22050, 24000, 32000, 44100, 48000];

describe('resample: downsampling to 16 kHz', () => {
  it.each(SOURCE_RATES_ABOVE_16K)('keeps the pass band flat within ±0.1 dB up to 7.5 kHz from %i Hz', (fromRate) => {
    for (const frequency of [50, 440, 1000, 3000, 5000, 7000, 7500]) {
      const output = resample(sine(frequency, fromRate, 0.5), fromRate, 16000);
      const fit = fitSteadyState(output, 16000, frequency);
      const gainDb = decibels(fit.amplitude / AMPLITUDE);
      expect(Math.abs(gainDb), `${frequency} Hz gain ${gainDb.toFixed(4)} dB`).toBeLessThan(0.1);
      // Nothing else should appear next to the tone (distortion, aliasing of the tone itself).
      expect(decibels(fit.residualRms / (AMPLITUDE / Math.SQRT2)), `${frequency} Hz residual`).toBeLessThan(-60);
    }
  });

  const stopBandTones: Array<[number, number[]]> = [
    [48000, [8100, 9000, 12000, 16000, 20000, 23900]],
    [44100, [8100, 9000, 12000, 20000, 22000]],
    [32000, [8100, 9000, 12000, 15900]],
    [24000, [8100, 9000, 11900]],
    [22050, [8100, 9000, 11000]],
  ];
  it.each(stopBandTones)('attenuates tones above 8 kHz from %i Hz by at least 60 dB', (fromRate, frequencies) => {
    for (const frequency of frequencies) {
      const input = sine(frequency, fromRate, 0.5);
      const output = resample(input, fromRate, 16000);
      const attenuationDb = decibels(rms(steadyState(output)) / rms(steadyState(input)));
      expect(attenuationDb, `${frequency} Hz`).toBeLessThan(-60);
    }
  });

  it('introduces no delay: a tone keeps its phase', () => {
    const output = resample(sine(1000, 48000, 0.5), 48000, 16000);
    const fit = fitSteadyState(output, 16000, 1000);
    expect(fit.sinWeight).toBeCloseTo(AMPLITUDE, 3);
    expect(Math.abs(fit.cosWeight)).toBeLessThan(1e-3);
  });

  it('produces ceil(n * to / from) samples', () => {
    expect(resample(new Float32Array(48000), 48000, 16000).length).toBe(16000);
    expect(resample(new Float32Array(44101), 44100, 16000).length).toBe(Math.ceil((44101 * 16000) / 44100));
    expect(resample(new Float32Array(1), 8000, 16000).length).toBe(2);
    expect(resample(new Float32Array(0), 48000, 16000).length).toBe(0);
  });
});

describe('resample: other ratios', () => {
  it.each([300, 1000, 2000, 3000, 3700, 3900])('upsampling 8k -> 16k leaves no image of a %i Hz tone above -60 dB', (frequency) => {
    const output = resample(sine(frequency, 8000, 0.5), 8000, 16000);
    const fit = fitSteadyState(output, 16000, frequency);
    expect(decibels(fit.residualRms / (AMPLITUDE / Math.SQRT2))).toBeLessThan(-60);
    if (frequency <= 3700) expect(Math.abs(decibels(fit.amplitude / AMPLITUDE))).toBeLessThan(0.1);
  });

  it('upsampling 16k -> 48k keeps 7 kHz and leaves no images', () => {
    const output = resample(sine(7000, 16000, 0.5), 16000, 48000);
    const fit = fitSteadyState(output, 48000, 7000);
    expect(Math.abs(decibels(fit.amplitude / AMPLITUDE))).toBeLessThan(0.1);
    expect(decibels(fit.residualRms / (AMPLITUDE / Math.SQRT2))).toBeLessThan(-60);
  });

  it('downsampling 16k -> 8k passes 3 kHz and removes 4.1 and 6 kHz', () => {
    const pass = fitSteadyState(resample(sine(3000, 16000, 0.5), 16000, 8000), 8000, 3000);
    expect(Math.abs(decibels(pass.amplitude / AMPLITUDE))).toBeLessThan(0.1);
    for (const frequency of [4100, 6000]) {
      const input = sine(frequency, 16000, 0.5);
      const output = resample(input, 16000, 8000);
      expect(decibels(rms(steadyState(output)) / rms(steadyState(input)))).toBeLessThan(-60);
    }
  });

  it('upsampling 11025 -> 16000 keeps a 1 kHz tone clean', () => {
    const fit = fitSteadyState(resample(sine(1000, 11025, 0.5), 11025, 16000), 16000, 1000);
    expect(Math.abs(decibels(fit.amplitude / AMPLITUDE))).toBeLessThan(0.1);
    expect(decibels(fit.residualRms / (AMPLITUDE / Math.SQRT2))).toBeLessThan(-60);
  });

  it('returns an equal copy when the rates match', () => {
    const input = noise(1000);
    const output = resample(input, 16000, 16000);
    expect(output).toEqual(input);
    expect(output).not.toBe(input);
  });

  it('rejects rates that are not positive integers', () => {
    expect(() => resample(new Float32Array(4), 0, 16000)).toThrow(RangeError);
    expect(() => new Resampler(44100.5, 16000)).toThrow(/fromRate/);
  });

  it('rejects rates outside 8-192 kHz, before building anything', () => {
    expect(SAMPLE_RATE_RANGE).toEqual({ min: 8000, max: 192000 });
    for (const rate of [10, 7999, 192001, 4294967291]) {
      expect(() => new Resampler(rate, 16000), `${rate}`).toThrow(/fromRate must be an integer from 8000 to 192000 Hz/);
    }
    expect(() => new Resampler(16000, 4294967291)).toThrow(/toRate/);
  });
});

describe('resample: odd rates (any integer a client may declare)', () => {
  const oddRates = [8001, 11111, 44099, 47999, 96001, 191999];

  it.each(oddRates)('%i Hz -> 16 kHz keeps the pass band clean and removes 9 kHz by 60 dB', (fromRate) => {
    for (const frequency of [1000, Math.min(7000, Math.floor(fromRate * 0.45))]) {
      const fit = fitSteadyState(resample(sine(frequency, fromRate, 0.3), fromRate, 16000), 16000, frequency);
      expect(Math.abs(decibels(fit.amplitude / AMPLITUDE)), `${frequency} Hz gain`).toBeLessThan(0.1);
      expect(decibels(fit.residualRms / (AMPLITUDE / Math.SQRT2)), `${frequency} Hz residual`).toBeLessThan(-60);
    }
    if (fromRate > 18000) {
      const input = sine(9000, fromRate, 0.3);
      expect(decibels(rms(steadyState(resample(input, fromRate, 16000))) / rms(steadyState(input)))).toBeLessThan(-60);
    }
  });

  it('streams an odd rate chunk by chunk exactly as in one piece', () => {
    const input = noise(Math.round(44099 * 0.2));
    const expected = resample(input, 44099, 16000);
    const resampler = new Resampler(44099, 16000);
    const pieces = [];
    for (let start = 0; start < input.length; start += 883) pieces.push(...resampler.process(input.subarray(start, start + 883)));
    pieces.push(...resampler.flush());
    expect(Float32Array.from(pieces)).toEqual(expected);
  });

  // Bounds with room for a busy machine: a table per phase took 0.5-1.9 s.
  it("converts a new odd rate's first 20 ms chunk within 250 ms (a table per phase took 0.5 s)", () => {
    resample(noise(480), 48000, 16000); // compiled once, so only the table is timed
    for (const fromRate of [44097, 47993, 191993]) {
      const started = performance.now();
      new Resampler(fromRate, 16000).process(noise(Math.round(fromRate * 0.02)));
      expect(performance.now() - started, `${fromRate} Hz`).toBeLessThan(250);
    }
  });

  it('builds no table when a Resampler is made, only at its first output', () => {
    const started = performance.now();
    for (let rate = 40001; rate < 40041; rate += 2) new Resampler(rate, 16000);
    expect(performance.now() - started).toBeLessThan(50);
  });
});

describe('Resampler streaming', () => {
  function streamed(resampler: Resampler, input: Float32Array, chunkSize: number): Float32Array {
    const pieces: Float32Array[] = [];
    for (let start = 0; start < input.length; start += chunkSize) {
      pieces.push(resampler.process(input.subarray(start, start + chunkSize)));
    }
    pieces.push(resampler.flush());
    const output = new Float32Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
    let offset = 0;
    for (const piece of pieces) {
      output.set(piece, offset);
      offset += piece.length;
    }
    return output;
  }

  const ratios: Array<[number, number]> = [[48000, 16000], [44100, 16000], [8000, 16000], [16000, 48000], [16000, 16000]];
  it.each(ratios)('%i -> %i: chunked output equals the one-shot result for chunk sizes 1, 7, 160, 4096', (fromRate, toRate) => {
    const input = noise(Math.round(fromRate * 0.3));
    const expected = resample(input, fromRate, toRate);
    for (const chunkSize of [1, 7, 160, 4096]) {
      const actual = streamed(new Resampler(fromRate, toRate), input, chunkSize);
      expect(actual.length, `chunk ${chunkSize}`).toBe(expected.length);
      expect(actual, `chunk ${chunkSize}`).toEqual(expected);
    }
  });

  it('starts a fresh stream after flush', () => {
    const resampler = new Resampler(48000, 16000);
    const first = streamed(resampler, noise(4800, 1), 160);
    const second = streamed(resampler, noise(4800, 2), 160);
    expect(first).toEqual(resample(noise(4800, 1), 48000, 16000));
    expect(second).toEqual(resample(noise(4800, 2), 48000, 16000));
  });

  it('emits output before the stream ends, lagging by less than 5 ms', () => {
    const resampler = new Resampler(48000, 16000);
    const emitted = resampler.process(new Float32Array(4800)).length;
    expect(emitted).toBeGreaterThan(1600 - 0.005 * 16000);
  });
});
