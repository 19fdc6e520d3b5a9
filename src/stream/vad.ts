/**
 * Voice activity detection and endpointing over 16 kHz mono audio, as a pure processor.
 *
 * Why an energy detector: it runs in microseconds per frame on the event loop, needs no model,
 * and is deterministic; the Whisper decoder's no-speech probability is the second opinion.
 * What it measures: the energy of 20 ms frames after a 200 Hz – 4 kHz band-pass (rumble,
 * hum and hiss carry no speech information) compared with an adaptive noise floor plus a margin.
 *
 * The floor follows the energy of frames that are not voiced, quickly downwards and slowly
 * upwards, so it settles near the background level of a quiet or a noisy recording alike.
 * Two things a level threshold alone gets wrong are handled explicitly:
 *  - a sudden, lasting rise of the background (noise starting after digital silence, a fan
 *    switched on) looks like speech by level. Speech, though, is modulated: syllables make its
 *    energy swing by well over 10 dB within a fraction of a second, while stationary noise
 *    stays within a few dB. So speech starts only when a run of voiced frames is also
 *    modulated, and a voiced run that stays flat is absorbed into the floor.
 *  - digital silence (zeros, or nearly) says nothing about the background, so it neither
 *    counts as speech nor drags the floor down.
 * Within an utterance a frame must also come within 30 dB of the talker's recent peak, so
 * breath and room tone after the last word end the utterance even when they sit above a
 * floor learned in a very quiet pause.
 *
 * Times are seconds of stream audio (samples processed / 16000), never wall clock.
 *
 * Known limits, seen on the fixtures: speech must stand well above the background (a
 * LibriSpeech reader in pink noise is found at 15 dB SNR and missed entirely at 5 dB);
 * any loud modulated sound counts as speech (the robin whistle does, a crowd swelling after
 * JFK's last word does), and babble of other talkers is not told apart; an utterance that
 * begins with a long flat hum ("mmm") may be detected only at its first modulated syllable;
 * speech below -60 dBFS is ignored; weak initial consonants make onsets a frame or two late.
 */

export const VAD_SAMPLE_RATE = 16000;

/** Durations are rounded to whole 20 ms frames. */
export interface VadOptions {
  /**
   * Silence after the last voiced frame that ends an utterance. Any positive value is taken;
   * below MIN_ENDPOINT_SILENCE_MS (or the hangover) it means that minimum, see there.
   */
  endpointingMs?: number;
  /** Voiced audio needed before an utterance starts, so clicks and bumps do not start one. */
  minSpeechMs?: number;
  /**
   * How long speech is taken to continue after the last voiced frame: word endings (released
   * stops, breathy vowels) fade below the threshold before they end. An endpoint is never
   * decided within it, whatever `endpointingMs` says.
   */
  hangoverMs?: number;
  /** How far above the noise floor a frame must be to count as voiced. */
  marginDb?: number;
}

export type VadEvent =
  /** `atS`: where the speech began; `detectedAtS`: how much audio had been seen when it was known. */
  | { type: 'speech_start'; atS: number; detectedAtS: number }
  /** `atS`: where the speech ended, hangover included; `detectedAtS`: the endpoint silence after the last voiced frame. */
  | { type: 'speech_end'; atS: number; detectedAtS: number };

interface SpeechSpan {
  startS: number;
  /** Infinity while the utterance is still open. */
  endS: number;
}

const DEFAULTS = { endpointingMs: 300, minSpeechMs: 100, hangoverMs: 100, marginDb: 10 };
/**
 * Decision granularity. Not an option because the thresholds below are tuned to it: the
 * energy of 10 ms frames of noise fluctuates enough to pass for speech modulation (tape hiss
 * started JFK's first utterance 0.26 s early), and 30 ms only coarsens timing.
 */
const FRAME_MS = 20;
/**
 * The shortest silence that ends an utterance, whatever `endpointingMs` asks for. Inside one
 * word this detector hears silences of 100 ms and more (stop closures; /s/, /f/ and /θ/, whose
 * energy lies mostly above the band), and the session decodes the audio on each side of an
 * endpoint on its own, so an endpoint inside a word hands Whisper two halves of it. Measured
 * on the four speech fixtures, each utterance decoded by tiny.en: ending at the first silent
 * frame (what 10 ms means at 20 ms frames, with no hangover) cut each clip into 13 to 25
 * pieces, WER 0.35 to 1.36; 100 ms still split words ("fat m- | pieces"), WER 0.15 to 0.27,
 * and 140 ms phrases ("ask what you | you can do"); from 200 ms every cut fell on a pause
 * between phrases, WER 0 to 0.09, as with 500 ms. So a shorter `endpointingMs` (Deepgram's
 * default 10, LiveKit's 25) means: end at the first pause that cannot be inside a word.
 */
export const MIN_ENDPOINT_SILENCE_MS = 200;
/** Below this a frame is (near) digital silence and tells nothing about the background. */
const DIGITAL_SILENCE_DB = -90;
/** Quieter than this is not speech anyone wants transcribed, whatever the floor. */
const MIN_SPEECH_DB = -60;
/** Energy swing within a voiced run that marks it as speech rather than a level step. */
const SPEECH_MODULATION_DB = 8;
/** A voiced run this long without that swing is background, and becomes the new floor. */
const STATIONARY_RUN_S = 0.25;
/**
 * Within an utterance, audio this far below the talker's recent peak is not their speech
 * (speech spans about 30-40 dB); it catches a breath or room tone that creeps above the floor.
 */
const TALKER_DYNAMIC_RANGE_DB = 30;
/** How fast the remembered peak fades, so one shout does not mute the next quiet sentence. */
const PEAK_DECAY_DB_PER_S = 3;
/** Floor smoothing as time constants: down fast (a pause), up slowly (noise). */
const FLOOR_FALL_TIME_S = 0.04;
const FLOOR_RISE_TIME_S = 1.0;
const BAND_LOW_HZ = 200;
const BAND_HIGH_HZ = 4000;

/** Second-order section, RBJ cookbook coefficients, transposed direct form II. */
class Biquad {
  private z1 = 0;
  private z2 = 0;

  private constructor(
    private readonly b0: number,
    private readonly b1: number,
    private readonly b2: number,
    private readonly a1: number,
    private readonly a2: number,
  ) {}

  static highPass(cutoffHz: number, sampleRate: number): Biquad {
    const { cos, alpha } = Biquad.prewarp(cutoffHz, sampleRate);
    const a0 = 1 + alpha;
    return new Biquad((1 + cos) / 2 / a0, -(1 + cos) / a0, (1 + cos) / 2 / a0, (-2 * cos) / a0, (1 - alpha) / a0);
  }

  static lowPass(cutoffHz: number, sampleRate: number): Biquad {
    const { cos, alpha } = Biquad.prewarp(cutoffHz, sampleRate);
    const a0 = 1 + alpha;
    return new Biquad((1 - cos) / 2 / a0, (1 - cos) / a0, (1 - cos) / 2 / a0, (-2 * cos) / a0, (1 - alpha) / a0);
  }

  private static prewarp(cutoffHz: number, sampleRate: number): { cos: number; alpha: number } {
    const omega = (2 * Math.PI * cutoffHz) / sampleRate;
    // Q = 1/sqrt(2): Butterworth, flat in the pass band.
    return { cos: Math.cos(omega), alpha: Math.sin(omega) / Math.SQRT2 };
  }

  filter(x: number): number {
    const y = this.b0 * x + this.z1;
    this.z1 = this.b1 * x - this.a1 * y + this.z2;
    this.z2 = this.b2 * x - this.a2 * y;
    return y;
  }
}

export class VoiceActivityDetector {
  private readonly frameSamples: number;
  private readonly endpointingFrames: number;
  private readonly minSpeechFrames: number;
  private readonly hangoverFrames: number;
  private readonly stationaryFrames: number;
  private readonly marginDb: number;
  private readonly floorFall: number;
  private readonly floorRise: number;
  private readonly peakDecayPerFrame: number;
  private readonly highPass = Biquad.highPass(BAND_LOW_HZ, VAD_SAMPLE_RATE);
  private readonly lowPass = Biquad.lowPass(BAND_HIGH_HZ, VAD_SAMPLE_RATE);

  private frameEnergy = 0;
  private frameFill = 0;
  private framesDone = 0;
  /** Null until the first frame that is not digital silence. */
  private floorDb: number | null = null;
  private talkerPeakDb = -Infinity;
  private inSpeech = false;
  /** Frame index where the current run of voiced frames began, or -1. */
  private runStart = -1;
  private runMinDb = Infinity;
  private runMaxDb = -Infinity;
  private runSumDb = 0;
  /** Index of the last voiced frame of the current utterance. */
  private lastVoicedFrame = -1;
  private spans: SpeechSpan[] = [];

  constructor(options: VadOptions = {}) {
    const { endpointingMs, minSpeechMs, hangoverMs, marginDb } = { ...DEFAULTS, ...options };
    if (!(endpointingMs > 0)) throw new RangeError(`endpointingMs must be positive, got ${endpointingMs}`);
    if (!(minSpeechMs >= 0)) throw new RangeError(`minSpeechMs must not be negative, got ${minSpeechMs}`);
    if (!(hangoverMs >= 0)) throw new RangeError(`hangoverMs must not be negative, got ${hangoverMs}`);
    if (!(marginDb > 0)) throw new RangeError(`marginDb must be positive, got ${marginDb}`);
    this.frameSamples = (VAD_SAMPLE_RATE * FRAME_MS) / 1000;
    const frames = (ms: number) => Math.max(1, Math.round(ms / FRAME_MS));
    this.endpointingFrames = frames(Math.max(endpointingMs, hangoverMs, MIN_ENDPOINT_SILENCE_MS));
    this.minSpeechFrames = frames(minSpeechMs);
    this.hangoverFrames = Math.round(hangoverMs / FRAME_MS);
    this.stationaryFrames = frames(STATIONARY_RUN_S * 1000);
    this.marginDb = marginDb;
    const frameS = FRAME_MS / 1000;
    this.floorFall = 1 - Math.exp(-frameS / FLOOR_FALL_TIME_S);
    this.floorRise = 1 - Math.exp(-frameS / FLOOR_RISE_TIME_S);
    this.peakDecayPerFrame = PEAK_DECAY_DB_PER_S * frameS;
  }

  /** Events completed by these samples, in order. A partial frame waits for the next call. */
  process(samples: Float32Array): VadEvent[] {
    const events: VadEvent[] = [];
    for (let i = 0; i < samples.length; i++) {
      const banded = this.lowPass.filter(this.highPass.filter(samples[i]));
      this.frameEnergy += banded * banded;
      if (++this.frameFill === this.frameSamples) {
        this.classifyFrame(this.frameEnergy / this.frameSamples, events);
        this.frameEnergy = 0;
        this.frameFill = 0;
      }
    }
    return events;
  }

  /** Ends an open utterance because the audio ended (CloseStream), not because of silence. */
  flush(): VadEvent[] {
    if (!this.inSpeech) return [];
    const event = this.endUtterance(Math.min(this.lastVoicedFrame + 1 + this.hangoverFrames, this.framesDone));
    return [event];
  }

  /**
   * An utterance is open: speech started and its endpoint has not been detected yet, though
   * the latest frames may be a pause shorter than the endpointing silence.
   */
  get inUtterance(): boolean {
    return this.inSpeech;
  }

  /** Speech at the end of the audio processed so far (voiced, or within the hangover). */
  get isSpeech(): boolean {
    return this.inSpeech && this.framesDone - 1 - this.lastVoicedFrame <= this.hangoverFrames;
  }

  /** Seconds of audio analysed (whole frames only). */
  get processedS(): number {
    return this.secondsAt(this.framesDone);
  }

  /** The background level the detector currently assumes, in dBFS; null before any sound. */
  get noiseFloorDb(): number | null {
    return this.floorDb;
  }

  /** Whether any detected speech (an utterance, hangover included) overlaps [fromS, toS). */
  containsSpeech(fromS: number, toS: number): boolean {
    return this.speechSecondsIn(fromS, toS) > 0;
  }

  /** Seconds of detected speech within [fromS, toS); an open utterance counts up to now. */
  speechSecondsIn(fromS: number, toS: number): number {
    const now = this.processedS;
    let total = 0;
    for (const span of this.spans) {
      const overlap = Math.min(toS, span.endS, now) - Math.max(fromS, span.startS);
      if (overlap > 0) total += overlap;
    }
    return total;
  }

  /** Drops the record of utterances that ended before `timeS`, once nobody will ask about them. */
  forgetBefore(timeS: number): void {
    this.spans = this.spans.filter((span) => span.endS >= timeS);
  }

  private classifyFrame(meanSquare: number, events: VadEvent[]): void {
    const frame = this.framesDone++;
    const energyDb = 10 * Math.log10(meanSquare + 1e-12);
    this.talkerPeakDb -= this.peakDecayPerFrame;
    if (energyDb < DIGITAL_SILENCE_DB) {
      this.endRun();
      this.checkEndpoint(frame, events);
      return;
    }
    if (this.floorDb === null) this.floorDb = energyDb;

    const threshold = Math.max(
      this.floorDb + this.marginDb,
      this.talkerPeakDb - TALKER_DYNAMIC_RANGE_DB,
      MIN_SPEECH_DB,
    );
    const voiced = energyDb >= threshold;
    if (!voiced) {
      this.endRun();
      this.trackFloor(energyDb);
      this.checkEndpoint(frame, events);
      return;
    }

    if (this.inSpeech) {
      this.lastVoicedFrame = frame;
      this.talkerPeakDb = Math.max(this.talkerPeakDb, energyDb);
      return;
    }
    if (this.runStart < 0) this.runStart = frame;
    this.runMinDb = Math.min(this.runMinDb, energyDb);
    this.runMaxDb = Math.max(this.runMaxDb, energyDb);
    this.runSumDb += energyDb;
    const runFrames = frame - this.runStart + 1;
    const modulated = this.runMaxDb - this.runMinDb >= SPEECH_MODULATION_DB;
    if (modulated && runFrames >= this.minSpeechFrames) {
      this.inSpeech = true;
      this.lastVoicedFrame = frame;
      this.talkerPeakDb = Math.max(this.talkerPeakDb, this.runMaxDb);
      const startS = this.secondsAt(this.runStart);
      this.spans.push({ startS, endS: Infinity });
      events.push({ type: 'speech_start', atS: startS, detectedAtS: this.secondsAt(frame + 1) });
      this.endRun();
    } else if (!modulated && runFrames >= this.stationaryFrames) {
      // A flat level this long is the new background, not a voice.
      this.floorDb = this.runSumDb / runFrames;
      this.endRun();
    }
  }

  private trackFloor(energyDb: number): void {
    const floor = this.floorDb!;
    this.floorDb = floor + (energyDb - floor) * (energyDb < floor ? this.floorFall : this.floorRise);
  }

  private checkEndpoint(frame: number, events: VadEvent[]): void {
    if (this.inSpeech && frame - this.lastVoicedFrame >= this.endpointingFrames) {
      events.push(this.endUtterance(this.lastVoicedFrame + 1 + this.hangoverFrames));
    }
  }

  private endUtterance(endFrame: number): VadEvent {
    this.inSpeech = false;
    const endS = this.secondsAt(endFrame);
    this.spans[this.spans.length - 1].endS = endS;
    return { type: 'speech_end', atS: endS, detectedAtS: this.processedS };
  }

  private endRun(): void {
    this.runStart = -1;
    this.runMinDb = Infinity;
    this.runMaxDb = -Infinity;
    this.runSumDb = 0;
  }

  private secondsAt(frame: number): number {
    return (frame * this.frameSamples) / VAD_SAMPLE_RATE;
  }
}
