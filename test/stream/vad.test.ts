import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { loadAudioFile } from '../../src/audio/load.js';
import { MIN_ENDPOINT_SILENCE_MS, VoiceActivityDetector, type VadEvent, type VadOptions } from '../../src/stream/vad.js';
import { AUDIO } from '../helpers.js';

/*
 * Where the speech in the fixtures really starts and stops, read off 10 ms frame energies
 * (broadband and 200 Hz - 4 kHz) by hand:
 *  - jfk.wav: tape hiss at about -41 dBFS from 0.06 s; "And so" rises out of it at 0.32 s;
 *    "Americans" ends at 2.11 s; "ask not" starts at 3.28 s. The clip's last 0.3 s hold a
 *    crowd noise rising to -25 dBFS, which an energy detector cannot tell from speech, so its
 *    final end is not asserted.
 *  - 1221-135766-0002.wav: background about -55 dBFS; speech from 0.46 s to 4.45 s.
 *  - 1089-134686-0000.wav: background about -65 dBFS; speech from 0.52 s to 10.08 s, then
 *    room tone creeping up to -55 dBFS.
 */
const JFK_SPEECH_START_S = 0.32;
const JFK_AMERICANS_END_S = 2.11;
const JFK_ASK_NOT_START_S = 3.28;
const CLIP_1221 = { startS: 0.46, endS: 4.45 };
const CLIP_1089 = { startS: 0.52, endS: 10.08 };

/** Onsets are reported at the first voiced frame; ends include the 100 ms hangover. */
const ONSET_TOLERANCE_S = 0.1;
const END_TOLERANCE_S = 0.2;

const SAMPLE_RATE = 16000;

let jfk: Float32Array;
let clip1221: Float32Array;
let clip1089: Float32Array;
let pinkNoise: Float32Array;

beforeAll(async () => {
  const load = async (name: string) => (await loadAudioFile(join(AUDIO, name))).samples;
  [jfk, clip1221, clip1089, pinkNoise] = await Promise.all([
    load('jfk.wav'),
    load('1221-135766-0002.wav'),
    load('1089-134686-0000.wav'),
    load('noise-pink-vol0.1-10s.wav'),
  ]);
});

function silence(seconds: number): Float32Array {
  return new Float32Array(Math.round(seconds * SAMPLE_RATE));
}

function concat(...parts: Float32Array[]): Float32Array {
  const joined = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

/** `signal` with pink noise added at `gain` (the noise file repeats as needed). */
function withNoise(signal: Float32Array, gain: number, noiseOffset = 0): Float32Array {
  return signal.map((sample, i) => sample + gain * pinkNoise[(i + noiseOffset) % pinkNoise.length]);
}

function detect(audio: Float32Array, options: VadOptions = {}, chunkSamples = 1234): VadEvent[] {
  const vad = new VoiceActivityDetector(options);
  const events: VadEvent[] = [];
  for (let offset = 0; offset < audio.length; offset += chunkSamples) {
    events.push(...vad.process(audio.subarray(offset, offset + chunkSamples)));
  }
  return [...events, ...vad.flush()];
}

function starts(events: VadEvent[]): number[] {
  return events.filter((event) => event.type === 'speech_start').map((event) => event.atS);
}

function ends(events: VadEvent[]): number[] {
  return events.filter((event) => event.type === 'speech_end').map((event) => event.atS);
}

function expectNear(actual: number | undefined, expected: number, tolerance: number): void {
  expect(actual).toBeDefined();
  expect(Math.abs(actual! - expected)).toBeLessThanOrEqual(tolerance);
}

describe('speech in silence', () => {
  it('finds where JFK starts, pauses and resumes, ignoring the tape hiss that begins before him', () => {
    const padS = 1;
    const events = detect(concat(silence(padS), jfk, silence(padS)));
    expectNear(starts(events)[0], padS + JFK_SPEECH_START_S, ONSET_TOLERANCE_S);
    expectNear(ends(events)[0], padS + JFK_AMERICANS_END_S, END_TOLERANCE_S);
    expectNear(starts(events)[1], padS + JFK_ASK_NOT_START_S, ONSET_TOLERANCE_S);
  });

  it.each([
    ['1221-135766-0002', () => clip1221, CLIP_1221],
    ['1089-134686-0000', () => clip1089, CLIP_1089],
  ])('finds the first onset and the final end of %s', (_name, clip, truth) => {
    const padS = 1;
    const events = detect(concat(silence(padS), clip(), silence(padS)));
    expectNear(starts(events)[0], padS + truth.startS, ONSET_TOLERANCE_S);
    expectNear(ends(events).at(-1), padS + truth.endS, END_TOLERANCE_S);
    // The end was decided by silence, not by flush at the end of the audio.
    expect(events.at(-1)!.detectedAtS).toBeLessThan(padS * 2 + clip().length / SAMPLE_RATE);
  });

  it('alternates start and end events, ending every utterance it starts', () => {
    const events = detect(concat(jfk, silence(1), clip1221, silence(1)));
    events.forEach((event, i) => expect(event.type).toBe(i % 2 === 0 ? 'speech_start' : 'speech_end'));
    expect(events.length % 2).toBe(0);
  });
});

describe('speech in noise', () => {
  it('finds speech in pink noise at 15 dB SNR, and nothing in the noise around it', () => {
    const leadS = 2;
    const audio = withNoise(concat(silence(leadS), clip1221, silence(leadS)), 0.3);
    const events = detect(audio);
    expectNear(starts(events)[0], leadS + CLIP_1221.startS, ONSET_TOLERANCE_S);
    expectNear(ends(events).at(-1), leadS + CLIP_1221.endS, END_TOLERANCE_S);
  });

  it('finds JFK in pink noise at 17 dB SNR', () => {
    const leadS = 2;
    const events = detect(withNoise(concat(silence(leadS), jfk), 1));
    expectNear(starts(events)[0], leadS + JFK_SPEECH_START_S, ONSET_TOLERANCE_S);
  });
});

describe('no speech', () => {
  it.each([
    ['digital silence', () => silence(5)],
    ['pink noise', () => pinkNoise],
    ['pink noise starting after digital silence', () => concat(silence(1), pinkNoise)],
    ['pink noise stepping up by 10 dB', () => {
      return concat(pinkNoise.subarray(0, 3 * SAMPLE_RATE), pinkNoise.map((x) => 3.16 * x));
    }],
    ['a 40 ms click in quiet noise', () => {
      const audio = withNoise(silence(2), 0.05);
      for (let i = 0; i < 0.04 * SAMPLE_RATE; i++) audio[SAMPLE_RATE + i] = 0.5 * Math.sin(i / 3) * Math.sin(i / 40);
      return audio;
    }],
  ])('%s starts no speech', (_name, audio) => {
    expect(detect(audio())).toEqual([]);
  });
});

describe('options and queries', () => {
  it('holds the utterance open through pauses shorter than endpointingMs', () => {
    const short = detect(jfk, { endpointingMs: 300 });
    const long = detect(jfk, { endpointingMs: 1500 });
    // JFK's 1.2 s pause after "Americans" ends an utterance only with the shorter setting.
    expect(ends(short)[0]).toBeLessThan(JFK_ASK_NOT_START_S);
    expect(ends(long)[0]).toBeGreaterThan(JFK_ASK_NOT_START_S);
  });

  it('keeps the utterance open, though not speech now, in a pause shorter than endpointingMs', () => {
    const vad = new VoiceActivityDetector({ endpointingMs: 1500 });
    // Into JFK's pause after "Americans": past the hangover, short of the endpoint.
    vad.process(jfk.subarray(0, Math.round((JFK_AMERICANS_END_S + 0.6) * SAMPLE_RATE)));
    expect(vad.isSpeech).toBe(false);
    expect(vad.inUtterance).toBe(true);
  });

  it('decides an end endpointingMs after the last voiced frame, reporting it hangoverMs after that frame', () => {
    const events = detect(concat(clip1221, silence(1)), { endpointingMs: 500, hangoverMs: 200 });
    const end = events.find((event) => event.type === 'speech_end')!;
    expect(end.detectedAtS - end.atS).toBeCloseTo(0.5 - 0.2, 6);
  });

  it('gives the same events however the audio is chunked', () => {
    const audio = concat(silence(0.5), jfk);
    expect(detect(audio, {}, 160)).toEqual(detect(audio, {}, 7919));
  });

  it('answers whether speech is going on now and whether a span held speech', () => {
    const vad = new VoiceActivityDetector();
    vad.process(concat(silence(1), clip1221.subarray(0, 2 * SAMPLE_RATE)));
    expect(vad.isSpeech).toBe(true);
    expect(vad.processedS).toBeCloseTo(3, 6);
    vad.process(concat(clip1221.subarray(2 * SAMPLE_RATE), silence(1)));
    expect(vad.isSpeech).toBe(false);

    expect(vad.containsSpeech(0, 1.4)).toBe(false);
    expect(vad.containsSpeech(1.4, 1.6)).toBe(true);
    expect(vad.containsSpeech(5.7, 6.8)).toBe(false);
    const speechS = vad.speechSecondsIn(0, 10);
    expect(speechS).toBeGreaterThan(3.5);
    expect(speechS).toBeLessThan(4.2);

    vad.forgetBefore(6);
    expect(vad.containsSpeech(0, 10)).toBe(false);
  });

  it('reports an open utterance as ended at the end of the audio on flush', () => {
    const vad = new VoiceActivityDetector();
    vad.process(concat(silence(0.5), clip1221.subarray(0, 2 * SAMPLE_RATE)));
    expect(vad.flush()).toEqual([{ type: 'speech_end', atS: 2.5, detectedAtS: 2.5 }]);
    expect(vad.flush()).toEqual([]);
  });

  it('never decides an end while the hangover still counts the audio as speech', () => {
    const events = detect(concat(clip1221, silence(1)), { endpointingMs: 200, hangoverMs: 300 });
    const end = events.find((event) => event.type === 'speech_end')!;
    expect(end.detectedAtS).toBeCloseTo(end.atS, 6);
  });

  it('rejects options that mean nothing', () => {
    expect(() => new VoiceActivityDetector({ endpointingMs: 0 })).toThrow(/endpointingMs/);
    expect(() => new VoiceActivityDetector({ hangoverMs: -20 })).toThrow(/hangoverMs/);
    expect(() => new VoiceActivityDetector({ marginDb: 0 })).toThrow(/marginDb/);
  });
});

describe('endpointing shorter than a pause inside a word', () => {
  // Deepgram's default is 10 ms and LiveKit's plugin sends 25: both must work, and mean the
  // shortest endpoint that cannot fall inside a word.
  it.each([10, 25, 100])('takes endpointingMs %i as the minimum endpoint silence', (endpointingMs) => {
    const audio = concat(jfk, silence(1), clip1089, silence(1));
    expect(detect(audio, { endpointingMs })).toEqual(detect(audio, { endpointingMs: MIN_ENDPOINT_SILENCE_MS }));
  });

  it('keeps a sentence spoken without a pause in one utterance at endpointingMs 10', () => {
    // "Yet these thoughts affected Hester Prynne less with hope than apprehension": ending at
    // every silent frame cut it into 13 pieces, and at 100 ms into 3, one inside "than apprehension".
    const events = detect(concat(silence(0.5), clip1221, silence(1)), { endpointingMs: 10 });
    expect(events.map((event) => event.type)).toEqual(['speech_start', 'speech_end']);
  });

  it('still ends utterances at pauses between phrases that a longer endpointing holds open', () => {
    const short = detect(jfk, { endpointingMs: 10 });
    const long = detect(jfk, { endpointingMs: 500 });
    expect(ends(short)[0]).toBeLessThan(JFK_ASK_NOT_START_S);
    expect(starts(short).length).toBeGreaterThan(starts(long).length);
  });
});
