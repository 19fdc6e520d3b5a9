/**
 * Band-limited sample-rate conversion by a rational factor (polyphase windowed sinc).
 *
 * Each output sample at input time t = n * fromRate / toRate is a weighted sum of the input
 * samples around t, weighted by a Kaiser-windowed sinc low-pass evaluated at t - i. Because
 * fromRate / toRate is rational (L/M after reduction), t's fractional part takes only L values,
 * so the weights for every phase are computed once per ratio and cached.
 *
 * Filter design (both directions): the low-pass protects the lower of the two Nyquist
 * frequencies. Its pass band ends at 15/16 of that Nyquist (7.5 kHz when 16 kHz is involved)
 * and its stop band starts exactly at it, so nothing above 8 kHz can alias into a 16 kHz
 * output and no upsampling image above the source's Nyquist survives. The Kaiser window is
 * sized for 70 dB stop-band attenuation, which leaves margin over the 60 dB we promise and keeps
 * pass-band ripple around 0.003 dB.
 *
 * Cost: 48 kHz -> 16 kHz uses 416 taps per output sample. A bank holds (toRate / gcd) phases of
 * taps, e.g. 160 x 384 floats for 44.1 kHz -> 16 kHz; banks stay cached for the process
 * lifetime, which is fine for the handful of rates real audio uses, while an odd pair such
 * as 44099 -> 16000 costs ~24 MB once.
 */

const STOPBAND_ATTENUATION_DB = 70;
const PASSBAND_FRACTION_OF_NYQUIST = 15 / 16;

interface FilterBank {
  /** Output samples per `inputStep` input samples, after reducing toRate/fromRate. */
  phases: number;
  inputStep: number;
  /** Taps on either side of the output instant; each phase has 2 * halfTaps weights. */
  halfTaps: number;
  /** phases x (2 * halfTaps) weights, phase-major, ordered by increasing input index. */
  weights: Float32Array;
}

const filterBanks = new Map<string, FilterBank>();

function greatestCommonDivisor(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Zeroth-order modified Bessel function of the first kind, by its power series. */
function besselI0(x: number): number {
  const quarterSquare = (x * x) / 4;
  let term = 1;
  let sum = 1;
  for (let k = 1; term > sum * 1e-17; k++) {
    term *= quarterSquare / (k * k);
    sum += term;
  }
  return sum;
}

function filterBankFor(fromRate: number, toRate: number): FilterBank {
  const key = `${fromRate}:${toRate}`;
  const cached = filterBanks.get(key);
  if (cached) return cached;

  const divisor = greatestCommonDivisor(fromRate, toRate);
  const phases = toRate / divisor;
  const inputStep = fromRate / divisor;

  // Frequencies below are in cycles per input sample.
  const stopEdge = Math.min(fromRate, toRate) / 2 / fromRate;
  const passEdge = stopEdge * PASSBAND_FRACTION_OF_NYQUIST;
  const cutoff = (passEdge + stopEdge) / 2;
  const transitionWidth = stopEdge - passEdge;

  // Kaiser's empirical formulas for window shape and the length achieving the attenuation.
  const beta = 0.1102 * (STOPBAND_ATTENUATION_DB - 8.7);
  const length = (STOPBAND_ATTENUATION_DB - 7.95) / (2.285 * 2 * Math.PI * transitionWidth);
  // Even, so each phase's 2 * halfTaps weights split into groups of four for the inner loop.
  const halfTaps = 2 * Math.ceil(length / 4);
  const tapsPerPhase = 2 * halfTaps;

  const weights = new Float32Array(phases * tapsPerPhase);
  const windowNorm = besselI0(beta);
  for (let phase = 0; phase < phases; phase++) {
    for (let tap = 0; tap < tapsPerPhase; tap++) {
      // Distance in input samples from the output instant back to this tap's input sample.
      const distance = phase / phases + (halfTaps - 1) - tap;
      const x = 2 * cutoff * distance;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const relative = distance / halfTaps;
      const window = besselI0(beta * Math.sqrt(Math.max(0, 1 - relative * relative))) / windowNorm;
      weights[phase * tapsPerPhase + tap] = 2 * cutoff * sinc * window;
    }
  }

  const bank = { phases, inputStep, halfTaps, weights };
  filterBanks.set(key, bank);
  return bank;
}

function checkRate(rate: number, label: string): void {
  if (!Number.isInteger(rate) || rate <= 0) {
    throw new RangeError(`${label} must be a positive integer number of Hz, got ${rate}`);
  }
}

/**
 * Streaming converter: feed chunks of any size to `process`, then call `flush` once at the end.
 * The concatenated outputs equal `resample()` over the whole signal. Output lags input by about
 * `halfTaps` input samples (4.3 ms for 48 kHz -> 16 kHz) until `flush` releases the tail.
 * After `flush` the instance is ready for a new, unrelated stream.
 */
export class Resampler {
  private readonly bank: FilterBank | null;
  /** Input samples not yet fully consumed; index 0 holds absolute input index `bufferStart`. */
  private buffer = new Float32Array(0);
  private bufferLength = 0;
  private bufferStart = 0;
  private received = 0;
  private produced = 0;
  /** Absolute index of the latest input sample at or before the next output instant. */
  private base = 0;
  /** Fractional position of the next output instant, in units of 1/phases input samples. */
  private phase = 0;

  constructor(
    readonly fromRate: number,
    readonly toRate: number,
  ) {
    checkRate(fromRate, 'fromRate');
    checkRate(toRate, 'toRate');
    this.bank = fromRate === toRate ? null : filterBankFor(fromRate, toRate);
    this.reset();
  }

  process(chunk: Float32Array): Float32Array {
    if (!this.bank) return chunk.slice();
    this.append(chunk);
    this.received += chunk.length;
    const bufferEnd = this.bufferStart + this.bufferLength;
    // Output n needs inputs up to base(n) + halfTaps, so only instants before this are ready.
    return this.emitUntilInstant(bufferEnd - this.bank.halfTaps);
  }

  flush(): Float32Array {
    if (!this.bank) return new Float32Array(0);
    // Past the end the signal is silence; enough of it lets every remaining output be computed.
    this.append(new Float32Array(this.bank.halfTaps));
    const tail = this.emitUntilInstant(this.received);
    this.reset();
    return tail;
  }

  private reset(): void {
    const leadingZeros = this.bank ? this.bank.halfTaps - 1 : 0;
    // Before the start the signal is silence, so the first outputs see zeros to their left.
    this.buffer = new Float32Array(Math.max(1024, leadingZeros * 4));
    this.bufferLength = leadingZeros;
    this.bufferStart = -leadingZeros;
    this.received = 0;
    this.produced = 0;
    this.base = 0;
    this.phase = 0;
  }

  private append(chunk: Float32Array): void {
    const needed = this.bufferLength + chunk.length;
    if (needed > this.buffer.length) {
      const grown = new Float32Array(Math.max(needed, this.buffer.length * 2));
      grown.set(this.buffer.subarray(0, this.bufferLength));
      this.buffer = grown;
    }
    this.buffer.set(chunk, this.bufferLength);
    this.bufferLength = needed;
  }

  /** Emits every output whose instant lies before input index `limit` (exclusive). */
  private emitUntilInstant(limit: number): Float32Array {
    const { phases, inputStep, halfTaps, weights } = this.bank!;
    // Outputs n with n * inputStep / phases < limit, i.e. n < ceil(limit * phases / inputStep).
    const end = Math.ceil((limit * phases) / inputStep);
    const count = Math.max(0, end - this.produced);
    const output = new Float32Array(count);
    const tapsPerPhase = 2 * halfTaps;
    const buffer = this.buffer;
    let base = this.base;
    let phase = this.phase;
    for (let k = 0; k < count; k++) {
      const firstInput = base - (halfTaps - 1) - this.bufferStart;
      const firstWeight = phase * tapsPerPhase;
      // Four independent partial sums shorten the floating-point dependency chain: about 2.5x
      // the throughput of a single accumulator in V8 (bench/resample.bench.ts).
      let sum0 = 0, sum1 = 0, sum2 = 0, sum3 = 0;
      for (let tap = 0; tap < tapsPerPhase; tap += 4) {
        const w = firstWeight + tap, x = firstInput + tap;
        sum0 += weights[w] * buffer[x];
        sum1 += weights[w + 1] * buffer[x + 1];
        sum2 += weights[w + 2] * buffer[x + 2];
        sum3 += weights[w + 3] * buffer[x + 3];
      }
      output[k] = sum0 + sum1 + (sum2 + sum3);
      phase += inputStep;
      base += Math.floor(phase / phases);
      phase %= phases;
    }
    this.base = base;
    this.phase = phase;
    this.produced += count;
    this.discardBefore(base - (halfTaps - 1));
    return output;
  }

  private discardBefore(absoluteIndex: number): void {
    const drop = Math.min(absoluteIndex - this.bufferStart, this.bufferLength);
    if (drop <= 0) return;
    this.buffer.copyWithin(0, drop, this.bufferLength);
    this.bufferLength -= drop;
    this.bufferStart += drop;
  }
}

/** Converts a whole signal; returns a copy when the rates match. */
export function resample(samples: Float32Array, fromRate: number, toRate: number): Float32Array {
  const resampler = new Resampler(fromRate, toRate);
  const body = resampler.process(samples);
  const tail = resampler.flush();
  if (tail.length === 0) return body;
  const whole = new Float32Array(body.length + tail.length);
  whole.set(body);
  whole.set(tail, body.length);
  return whole;
}
