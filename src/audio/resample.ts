/**
 * Band-limited sample-rate conversion by a rational factor (polyphase windowed sinc).
 *
 * Each output sample at input time t = n * fromRate / toRate is a weighted sum of the input
 * samples around t, weighted by a Kaiser-windowed sinc low-pass evaluated at t - i. Because
 * fromRate / toRate is rational (L/M after reduction), t's fractional part takes only L values
 * (phases), so the weights are computed once per ratio and cached.
 *
 * Filter design (both directions): the low-pass protects the lower of the two Nyquist
 * frequencies. Its pass band ends at 15/16 of that Nyquist (7.5 kHz when 16 kHz is involved)
 * and its stop band starts exactly at it, so nothing above 8 kHz can alias into a 16 kHz
 * output and no upsampling image above the source's Nyquist survives. The Kaiser window is
 * sized for 70 dB stop-band attenuation, which leaves margin over the 60 dB we promise and keeps
 * pass-band ripple around 0.003 dB.
 *
 * Cost: 48 kHz -> 16 kHz uses 416 taps per output sample. A ratio that reduces to L/M has L
 * phases. Common rates have few (160 for 44.1 kHz -> 16 kHz) and get one row of taps per
 * phase. An odd rate such as 44099 Hz has 16000: a row each would take ~25 MB and half a
 * second to build, and any client can name such a rate. Such ratios get a fixed table of
 * INTERPOLATED_ROWS rows instead, and each output interpolates linearly between the two rows
 * around its phase (the impulse response is smooth at that spacing: the error stays below
 * the 70 dB design, see test/audio/resample.test.ts), which costs a second dot product per
 * output. Tables are built on first use, not when a Resampler is made, so refusing a stream
 * costs nothing, and at most CACHED_BANKS of them are kept, least recently used first out.
 *
 * Rates are limited to SAMPLE_RATE_RANGE: the filter length grows with the input rate and the
 * work per input sample with the output-to-input ratio, so both must be bounded for clients
 * that choose them.
 */

const STOPBAND_ATTENUATION_DB = 70;
const PASSBAND_FRACTION_OF_NYQUIST = 15 / 16;
/** Rows of an interpolated table: enough that interpolating between rows adds no audible error. */
const INTERPOLATED_ROWS = 256;
/** Tables with one row per phase up to this many weights (1 MiB); every common rate fits. */
const MAX_EXACT_WEIGHTS = 1 << 18;
/** A few live rates at once; the largest table (192 kHz, interpolated) is 1.7 MB. */
const CACHED_BANKS = 8;

/** Sample rates Chorus converts, inclusive; audio outside them is refused where it arrives. */
export const SAMPLE_RATE_RANGE = { min: 8000, max: 192000 } as const;

/** What a ratio's filter is, cheap to work out; its weights are built on first use. */
interface FilterDesign {
  key: string;
  /** Output samples per `inputStep` input samples, after reducing toRate/fromRate. */
  phases: number;
  inputStep: number;
  /** Rows of weights: `phases` (one per phase), or INTERPOLATED_ROWS to interpolate between. */
  rows: number;
  /** Taps on either side of the output instant; each row has 2 * halfTaps weights. */
  halfTaps: number;
  /** Low-pass cutoff in cycles per input sample. */
  cutoff: number;
}

/** (rows + 1) x (2 * halfTaps) weights per design key, row-major, by increasing input index. */
const filterBanks = new Map<string, Float32Array>();

function greatestCommonDivisor(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * Zeroth-order modified Bessel function of the first kind, by Abramowitz and Stegun's
 * polynomial approximations 9.8.1 and 9.8.2 (relative error under 2e-7, below float32's
 * resolution): a table has up to 430,000 weights, and the power series made it 3x slower.
 */
function besselI0(x: number): number {
  if (x < 3.75) {
    const t = (x / 3.75) ** 2;
    return 1 + t * (3.5156229 + t * (3.0899424 + t * (1.2067492 + t * (0.2659732 + t * (0.0360768 + t * 0.0045813)))));
  }
  const t = 3.75 / x;
  const polynomial =
    0.39894228 +
    t * (0.01328592 + t * (0.00225319 + t * (-0.00157565 + t * (0.00916281 + t * (-0.02057706 + t * (0.02635537 + t * (-0.01647633 + t * 0.00392377)))))));
  return (Math.exp(x) / Math.sqrt(x)) * polynomial;
}

function weightsFor(design: FilterDesign): Float32Array {
  const cached = filterBanks.get(design.key);
  if (cached) {
    // Re-inserted, so the Map's insertion order is least recently used first.
    filterBanks.delete(design.key);
    filterBanks.set(design.key, cached);
    return cached;
  }
  const weights = buildWeights(design);
  filterBanks.set(design.key, weights);
  if (filterBanks.size > CACHED_BANKS) filterBanks.delete(filterBanks.keys().next().value!);
  return weights;
}

function designFilter(fromRate: number, toRate: number): FilterDesign {
  const divisor = greatestCommonDivisor(fromRate, toRate);
  const phases = toRate / divisor;
  const inputStep = fromRate / divisor;

  // Frequencies below are in cycles per input sample.
  const stopEdge = Math.min(fromRate, toRate) / 2 / fromRate;
  const passEdge = stopEdge * PASSBAND_FRACTION_OF_NYQUIST;
  const transitionWidth = stopEdge - passEdge;

  // Kaiser's empirical formula for the length achieving the attenuation.
  const length = (STOPBAND_ATTENUATION_DB - 7.95) / (2.285 * 2 * Math.PI * transitionWidth);
  // Even, so each row's 2 * halfTaps weights split into groups of four for the inner loop.
  const halfTaps = 2 * Math.ceil(length / 4);
  const rows = (phases + 1) * 2 * halfTaps <= MAX_EXACT_WEIGHTS ? phases : INTERPOLATED_ROWS;
  return { key: `${fromRate}:${toRate}`, phases, inputStep, rows, halfTaps, cutoff: (passEdge + stopEdge) / 2 };
}

function buildWeights({ rows, halfTaps, cutoff }: FilterDesign): Float32Array {
  // Kaiser's empirical formula for the window shape achieving the attenuation.
  const beta = 0.1102 * (STOPBAND_ATTENUATION_DB - 8.7);
  const tapsPerRow = 2 * halfTaps;
  // The extra last row is the first one a whole input sample later, the far end of interpolation.
  const weights = new Float32Array((rows + 1) * tapsPerRow);
  const windowNorm = besselI0(beta);
  for (let row = 0; row <= rows; row++) {
    for (let tap = 0; tap < tapsPerRow; tap++) {
      // Distance in input samples from the output instant back to this tap's input sample.
      const distance = row / rows + (halfTaps - 1) - tap;
      const x = 2 * cutoff * distance;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const relative = distance / halfTaps;
      const window = besselI0(beta * Math.sqrt(Math.max(0, 1 - relative * relative))) / windowNorm;
      weights[row * tapsPerRow + tap] = 2 * cutoff * sinc * window;
    }
  }
  return weights;
}

function checkRate(rate: number, label: string): void {
  const { min, max } = SAMPLE_RATE_RANGE;
  if (!Number.isInteger(rate) || rate < min || rate > max) {
    throw new RangeError(`${label} must be an integer from ${min} to ${max} Hz, got ${rate}`);
  }
}

/**
 * Streaming converter: feed chunks of any size to `process`, then call `flush` once at the end.
 * The concatenated outputs equal `resample()` over the whole signal. Output lags input by about
 * `halfTaps` input samples (4.3 ms for 48 kHz -> 16 kHz) until `flush` releases the tail.
 * After `flush` the instance is ready for a new, unrelated stream.
 */
export class Resampler {
  private readonly design: FilterDesign | null;
  /** The design's weights, fetched on the first output rather than at construction. */
  private weights: Float32Array | null = null;
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
    this.design = fromRate === toRate ? null : designFilter(fromRate, toRate);
    this.reset();
  }

  process(chunk: Float32Array): Float32Array {
    if (!this.design) return chunk.slice();
    this.append(chunk);
    this.received += chunk.length;
    const bufferEnd = this.bufferStart + this.bufferLength;
    // Output n needs inputs up to base(n) + halfTaps, so only instants before this are ready.
    return this.emitUntilInstant(bufferEnd - this.design.halfTaps);
  }

  flush(): Float32Array {
    if (!this.design) return new Float32Array(0);
    // Past the end the signal is silence; enough of it lets every remaining output be computed.
    this.append(new Float32Array(this.design.halfTaps));
    const tail = this.emitUntilInstant(this.received);
    this.reset();
    return tail;
  }

  private reset(): void {
    const leadingZeros = this.design ? this.design.halfTaps - 1 : 0;
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
    const { phases, inputStep, rows, halfTaps } = this.design!;
    // Outputs n with n * inputStep / phases < limit, i.e. n < ceil(limit * phases / inputStep).
    const end = Math.ceil((limit * phases) / inputStep);
    const count = Math.max(0, end - this.produced);
    const output = new Float32Array(count);
    if (count === 0) return output;
    const weights = (this.weights ??= weightsFor(this.design!));
    const tapsPerRow = 2 * halfTaps;
    const buffer = this.buffer;
    let base = this.base;
    let phase = this.phase;
    for (let k = 0; k < count; k++) {
      const firstInput = base - (halfTaps - 1) - this.bufferStart;
      // The output instant lies `fraction` of the way from one row to the next.
      const scaled = phase * rows;
      const row = Math.floor(scaled / phases);
      const fraction = (scaled - row * phases) / phases;
      const near = dot(weights, row * tapsPerRow, buffer, firstInput, tapsPerRow);
      output[k] = fraction === 0 ? near : near + fraction * (dot(weights, (row + 1) * tapsPerRow, buffer, firstInput, tapsPerRow) - near);
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

function dot(weights: Float32Array, firstWeight: number, buffer: Float32Array, firstInput: number, taps: number): number {
  // Four independent partial sums shorten the floating-point dependency chain: about 2.5x
  // the throughput of a single accumulator in V8 (bench/resample.bench.ts).
  let sum0 = 0, sum1 = 0, sum2 = 0, sum3 = 0;
  for (let tap = 0; tap < taps; tap += 4) {
    const w = firstWeight + tap, x = firstInput + tap;
    sum0 += weights[w] * buffer[x];
    sum1 += weights[w + 1] * buffer[x + 1];
    sum2 += weights[w + 2] * buffer[x + 2];
    sum3 += weights[w + 3] * buffer[x + 3];
  }
  return sum0 + sum1 + (sum2 + sum3);
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
