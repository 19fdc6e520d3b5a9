import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { loadAudioFile } from '../../src/audio/load.js';
import { resample } from '../../src/audio/resample.js';
import { AudioInputError, createAudioDecoder, type AudioDecoder } from '../../src/stream/audio-decoder.js';
import { parseWav } from '../../src/audio/wav.js';
import { OggPacketReader } from '../../src/stream/ogg-packets.js';
import { AUDIO, fixture } from '../helpers.js';
import { OPUS_TAGS, concatBytes, oggPage, opusHead } from './ogg-fixtures.js';

function int16Bytes(values: number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 2);
  const view = new DataView(bytes.buffer);
  values.forEach((value, i) => view.setInt16(i * 2, value, true));
  return bytes;
}

/** The 44-byte header of a 16-bit PCM stereo WAV file. */
function stereoWavHeader(sampleRate: number, dataBytes: number): Uint8Array {
  const header = new Uint8Array(44);
  const view = new DataView(header.buffer);
  header.set(new TextEncoder().encode('RIFF'), 0);
  view.setUint32(4, 36 + dataBytes, true);
  header.set(new TextEncoder().encode('WAVEfmt '), 8);
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 2, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 4, true);
  view.setUint16(32, 4, true);
  view.setUint16(34, 16, true);
  header.set(new TextEncoder().encode('data'), 36);
  view.setUint32(40, dataBytes, true);
  return header;
}

/** Feeds `bytes` in messages of the given sizes (cycled) and returns everything decoded, flush included. */
function decodeInMessages(decoder: AudioDecoder, bytes: Uint8Array, sizes: number[]): Float32Array {
  const parts: Float32Array[] = [];
  for (let offset = 0, i = 0; offset < bytes.length; i++) {
    const size = sizes[i % sizes.length];
    parts.push(decoder.decode(bytes.subarray(offset, offset + size)));
    offset += size;
  }
  parts.push(decoder.flush());
  const all = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all;
}

async function captureError(action: () => Promise<unknown> | unknown): Promise<AudioInputError> {
  try {
    await action();
  } catch (error) {
    expect(error).toBeInstanceOf(AudioInputError);
    return error as AudioInputError;
  }
  throw new Error('expected an AudioInputError');
}

function expectSamples(actual: Float32Array, expected: number[]): void {
  expect(Array.from(actual)).toHaveLength(expected.length);
  expected.forEach((value, i) => expect(actual[i]).toBeCloseTo(value, 6));
}

/** Normalised cross-correlation at zero lag: 1 for identical waveforms. */
function similarity(a: Float32Array, b: Float32Array): number {
  let dot = 0, energyA = 0, energyB = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    dot += a[i] * b[i];
    energyA += a[i] * a[i];
    energyB += b[i] * b[i];
  }
  return dot / Math.sqrt(energyA * energyB);
}

describe('linear16', () => {
  it('decodes little-endian 16-bit samples at 16 kHz unchanged', async () => {
    const decoder = await createAudioDecoder({ encoding: 'linear16', sampleRate: 16000 });
    expectSamples(decoder.decode(int16Bytes([0, 16384, -32768, 32767])), [0, 0.5, -1, 32767 / 32768]);
    expect(decoder.flush()).toHaveLength(0);
  });

  it('carries a sample split across messages into the next message', async () => {
    const decoder = await createAudioDecoder({ encoding: 'linear16', sampleRate: 16000 });
    const bytes = int16Bytes([1000, -2000, 3000]);
    expectSamples(decoder.decode(bytes.subarray(0, 3)), [1000 / 32768]);
    expectSamples(decoder.decode(bytes.subarray(3, 5)), [-2000 / 32768]);
    expectSamples(decoder.decode(bytes.subarray(5)), [3000 / 32768]);
  });

  it('averages interleaved channels, carrying a frame split between channels', async () => {
    const decoder = await createAudioDecoder({ encoding: 'linear16', sampleRate: 16000, channels: 3 });
    const bytes = int16Bytes([300, 600, 900, -300, -600, -900]);
    const output = decodeInMessages(decoder, bytes, [4, 5, 3]);
    expectSamples(output, [600 / 32768, -600 / 32768]);
  });

  it('keeps one channel of interleaved audio for multichannel, carrying a frame split between messages', async () => {
    const bytes = int16Bytes([300, 600, 900, -300, -600, -900, 30, 60, 90]);
    for (const keep of [0, 1, 2]) {
      const decoder = await createAudioDecoder({ encoding: 'linear16', sampleRate: 16000, channels: 3, keep });
      expectSamples(decodeInMessages(decoder, bytes, [4, 5, 3]), [[300, -300, 30], [600, -600, 60], [900, -900, 90]][keep].map((v) => v / 32768));
    }
    const mulaw = await createAudioDecoder({ encoding: 'mulaw', sampleRate: 8000, channels: 2, keep: 1 });
    expect(mulaw.decode(new Uint8Array([0x00, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00, 0xff])).every((s) => s === 0)).toBe(true);
  });

  it('refuses to keep a channel the stream does not have', async () => {
    for (const keep of [2, -1, 0.5]) {
      const error = await captureError(() => createAudioDecoder({ encoding: 'linear16', sampleRate: 16000, channels: 2, keep }));
      expect(error.code).toBe('bad_channels');
    }
  });

  it('resamples to 16 kHz exactly as the offline resampler does, whatever the message sizes', async () => {
    const values = Array.from({ length: 4410 }, (_, i) => Math.round(8000 * Math.sin(i / 7)));
    const expected = resample(new Float32Array(values.map((v) => v / 32768)), 44100, 16000);
    const decoder = await createAudioDecoder({ encoding: 'linear16', sampleRate: 44100 });
    const output = decodeInMessages(decoder, int16Bytes(values), [1, 333, 64, 1001]);
    expect(output).toHaveLength(expected.length);
    expect(output.length).toBe(1600);
    for (let i = 0; i < expected.length; i++) expect(output[i]).toBeCloseTo(expected[i], 5);
  });

  it('copies the carried bytes, because a WebSocket library may reuse its Buffer', async () => {
    const decoder = await createAudioDecoder({ encoding: 'linear16', sampleRate: 16000 });
    const message = Buffer.from(int16Bytes([0x1234]));
    decoder.decode(message.subarray(0, 1));
    message.fill(0xff);
    expectSamples(decoder.decode(Uint8Array.of(0x12)), [0x1234 / 32768]);
  });

  it('keeps a partial frame across flush, so a Finalize mid-stream does not shift later samples', async () => {
    const decoder = await createAudioDecoder({ encoding: 'linear16', sampleRate: 16000 });
    const bytes = int16Bytes([100, 200]);
    decoder.decode(bytes.subarray(0, 3));
    decoder.flush();
    expectSamples(decoder.decode(bytes.subarray(3)), [200 / 32768]);
  });
});

describe('G.711', () => {
  it('decodes mu-law and A-law with the standard table values', async () => {
    // mu-law 0x80 = +32124, 0x00 = -32124, 0xFF = 0; A-law 0xAA = +32256, 0x2A = -32256, 0xD5 = +8.
    const mulaw = await createAudioDecoder({ encoding: 'mulaw', sampleRate: 16000 });
    expectSamples(mulaw.decode(Uint8Array.from([0x80, 0x00, 0xff])), [32124 / 32768, -32124 / 32768, 0]);
    const alaw = await createAudioDecoder({ encoding: 'alaw', sampleRate: 16000 });
    expectSamples(alaw.decode(Uint8Array.from([0xaa, 0x2a, 0xd5])), [32256 / 32768, -32256 / 32768, 8 / 32768]);
  });

  it('upsamples 8 kHz telephone audio to twice as many samples', async () => {
    const decoder = await createAudioDecoder({ encoding: 'mulaw', sampleRate: 8000, channels: 2 });
    const output = decodeInMessages(decoder, new Uint8Array(1600).fill(0xff), [160]);
    expect(output).toHaveLength(1600);
    expect(output.every((sample) => sample === 0)).toBe(true);
  });
});

describe('options are validated with typed errors', () => {
  it.each([
    [
      { encoding: 'flac', sampleRate: 16000 },
      'unsupported_encoding',
      /"flac" is not supported \(supported: linear16, mulaw, alaw, opus\)/,
    ],
    [{ encoding: 'linear16' }, 'bad_sample_rate', /linear16 audio needs a sample_rate/],
    [{ encoding: 'linear16', sampleRate: 96000 }, 'bad_sample_rate', /from 8000 to 48000 Hz, got 96000/],
    [{ encoding: 'mulaw', sampleRate: 8000.5 }, 'bad_sample_rate', /got 8000.5/],
    [{ encoding: 'linear16', sampleRate: 16000, channels: 0 }, 'bad_channels', /from 1 to 8, got 0/],
    [{ encoding: 'alaw', sampleRate: 8000, channels: 9 }, 'bad_channels', /from 1 to 8, got 9/],
    [{ encoding: 'opus', sampleRate: 44100 }, 'bad_sample_rate', /44100 is not an Opus rate/],
    [{ encoding: 'opus', channels: 3 }, 'bad_channels', /Opus input supports 1 or 2 channels, got 3/],
  ])('%j -> %s', async (options, code, message) => {
    const error = await captureError(() => createAudioDecoder(options));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
  });
});

const opusencMissing = spawnSync('opusenc', ['--version']).error !== undefined;
if (opusencMissing) {
  console.warn('Opus decoder tests skipped: install opusenc (Debian package opus-tools) to run them');
}

describe.skipIf(opusencMissing)('Opus (fixtures encoded by opusenc at test time)', () => {
  let speech: Float32Array;
  let oggOpus: Uint8Array;

  beforeAll(async () => {
    speech = (await loadAudioFile(join(AUDIO, 'jfk.wav'))).samples;
    oggOpus = new Uint8Array(execFileSync('opusenc', ['--quiet', '--serial', '7', join(AUDIO, 'jfk.wav'), '-']));
  });

  function oggPackets(bytes: Uint8Array): Uint8Array[] {
    return new OggPacketReader().push(bytes).map((packet) => packet.data);
  }

  it('decodes an Ogg/Opus stream sent in arbitrary slices to the original length and waveform', async () => {
    for (const sizes of [[oggOpus.length], [1000], [1, 2, 4093]]) {
      const decoder = await createAudioDecoder({ encoding: 'opus' });
      const output = decodeInMessages(decoder, oggOpus, sizes);
      // Pre-skip and the end-of-stream granule trim the codec's padding off both ends.
      expect(output).toHaveLength(speech.length);
      expect(similarity(output, speech)).toBeGreaterThan(0.9);
    }
  });

  it('decodes raw Opus packets, one per message, without container trimming', async () => {
    const packets = oggPackets(oggOpus).slice(2);
    const decoder = await createAudioDecoder({ encoding: 'opus', sampleRate: 48000 });
    const output = new Float32Array(speech.length + 1000);
    let written = 0;
    for (const packet of packets) {
      const samples = decoder.decode(packet);
      output.set(samples, written);
      written += samples.length;
    }
    expect(written).toBe(packets.length * 320);
    // Without OpusHead nothing says to drop the encoder's 104-sample (6.5 ms) look-ahead.
    expect(similarity(output.subarray(104), speech)).toBeGreaterThan(0.9);
  });

  it('downmixes stereo Ogg/Opus to the average of its channels', async () => {
    const frames = 48000;
    const interleaved = new Int16Array(frames * 2);
    for (let i = 0; i < frames; i++) {
      interleaved[2 * i] = Math.round(8000 * Math.sin((2 * Math.PI * 300 * i) / 48000));
      interleaved[2 * i + 1] = Math.round(8000 * Math.sin((2 * Math.PI * 500 * i) / 48000));
    }
    const ogg = new Uint8Array(execFileSync(
      'opusenc',
      ['--quiet', '--raw', '--raw-rate', '48000', '--raw-chan', '2', '--bitrate', '128', '-', '-'],
      { input: new Uint8Array(interleaved.buffer) },
    ));
    const decoder = await createAudioDecoder({ encoding: 'opus' });
    const output = decodeInMessages(decoder, ogg, [777]);
    expect(output).toHaveLength(16000);
    const average = new Float32Array(frames);
    for (let i = 0; i < frames; i++) average[i] = (interleaved[2 * i] + interleaved[2 * i + 1]) / 2 / 32768;
    expect(similarity(output, resample(average, 48000, 16000))).toBeGreaterThan(0.95);
  });

  it('keeps either channel of stereo Ogg/Opus apart, for multichannel', async () => {
    const frames = 48000;
    const interleaved = new Int16Array(frames * 2);
    const tones = [300, 500];
    for (let i = 0; i < frames; i++) {
      for (const c of [0, 1]) interleaved[2 * i + c] = Math.round(8000 * Math.sin((2 * Math.PI * tones[c] * i) / 48000));
    }
    const ogg = new Uint8Array(execFileSync(
      'opusenc',
      ['--quiet', '--raw', '--raw-rate', '48000', '--raw-chan', '2', '--bitrate', '128', '-', '-'],
      { input: new Uint8Array(interleaved.buffer) },
    ));
    for (const keep of [0, 1]) {
      const channel = Float32Array.from({ length: frames }, (_, i) => interleaved[2 * i + keep] / 32768);
      const expected = resample(channel, 48000, 16000);
      for (const encoding of ['opus', null]) {
        const output = decodeInMessages(await createAudioDecoder({ encoding, channels: 2, keep }), ogg, [777]);
        expect(output).toHaveLength(16000);
        expect(similarity(output, expected)).toBeGreaterThan(0.95);
        // The other channel's tone is not in it.
        const other = resample(Float32Array.from({ length: frames }, (_, i) => interleaved[2 * i + 1 - keep] / 32768), 48000, 16000);
        expect(Math.abs(similarity(output, other))).toBeLessThan(0.1);
      }
    }
  });

  it('fails with bad_channels when a mono Ogg/Opus stream is asked for its second channel', async () => {
    const decoder = await createAudioDecoder({ encoding: 'opus', channels: 2, keep: 1 });
    const error = await captureError(() => decodeInMessages(decoder, oggOpus, [4096]));
    expect(error.code).toBe('bad_channels');
    expect(error.message).toMatch(/Ogg Opus stream has 1 channel, so it has no channel 1/);
  });

  it('applies the OpusHead output gain', async () => {
    const audioPackets = oggPackets(oggOpus).slice(2);
    const pages = [
      // Output gain is Q7.8 dB: +6.02 dB doubles the amplitude.
      oggPage([opusHead({ outputGain: Math.round(256 * 20 * Math.log10(2)) })], { sequence: 0, begin: true }),
      oggPage([OPUS_TAGS], { sequence: 1 }),
    ];
    for (let first = 0; first < audioPackets.length; first += 50) {
      pages.push(oggPage(audioPackets.slice(first, first + 50), { sequence: pages.length }));
    }
    const louder = (await createAudioDecoder({ encoding: 'opus' })).decode(concatBytes(...pages));
    const plain = (await createAudioDecoder({ encoding: 'opus' })).decode(oggOpus);
    for (let i = 0; i < plain.length; i += 997) expect(louder[i]).toBeCloseTo(2 * plain[i], 3);
  });

  it('rejects an Ogg page whose bytes were altered', async () => {
    const corrupted = oggOpus.slice();
    corrupted[5000] ^= 0x10;
    const decoder = await createAudioDecoder({ encoding: 'opus' });
    const error = await captureError(() => decodeInMessages(decoder, corrupted, [4096]));
    expect(error.code).toBe('malformed_audio');
    expect(error.message).toMatch(/fails its CRC check/);
  });

  it('rejects a lost page instead of decoding garbage', async () => {
    const pageStarts = [0];
    while (pageStarts.length < 5) {
      const start = pageStarts[pageStarts.length - 1];
      const segments = oggOpus.subarray(start + 27, start + 27 + oggOpus[start + 26]);
      pageStarts.push(start + 27 + segments.length + segments.reduce((sum, lacing) => sum + lacing, 0));
    }
    const withoutFourthPage = new Uint8Array([
      ...oggOpus.subarray(0, pageStarts[3]),
      ...oggOpus.subarray(pageStarts[4]),
    ]);
    const decoder = await createAudioDecoder({ encoding: 'opus' });
    const error = await captureError(() => decodeInMessages(decoder, withoutFourthPage, [withoutFourthPage.length]));
    expect(error.message).toMatch(/sequence jumped from 2 to 4/);
  });

  it('reports an undecodable raw packet as malformed audio', async () => {
    const decoder = await createAudioDecoder({ encoding: 'opus' });
    // TOC code 3 with a frame count of zero is invalid by RFC 6716 §3.2.5.
    const error = await captureError(() => decoder.decode(Uint8Array.from([0x03, 0x00])));
    expect(error.code).toBe('malformed_audio');
    expect(error.message).toBe('not an Opus packet: it declares 0 frames');
  });

  it('ignores empty messages rather than synthesising concealment audio', async () => {
    const decoder = await createAudioDecoder({ encoding: 'opus' });
    expect(decoder.decode(new Uint8Array(0))).toHaveLength(0);
    expect(decoder.flush()).toHaveLength(0);
  });
});

describe('Opus framing detection', () => {
  it('holds a first message too short to tell Ogg from a raw packet', async () => {
    const decoder = await createAudioDecoder({ encoding: 'opus' });
    expect(decoder.decode(new TextEncoder().encode('Og'))).toHaveLength(0);
    // "Ogx" is no capture pattern, so the held "Og" is a raw packet: TOC 0x4f asks for code 3
    // framing, whose count byte 0x67 claims 39 frames of 20 ms, over Opus's 120 ms limit.
    const error = await captureError(() => decoder.decode(new TextEncoder().encode('x')));
    expect(error.code).toBe('malformed_audio');
  });
});

const ffmpegMissing = spawnSync('ffmpeg', ['-version']).error !== undefined;
if (ffmpegMissing) console.warn('WebM remuxing tests skipped: install ffmpeg (the set-up does) to run them');

/** Chrome's MediaRecorder output for jfk.wav, recorded by test/fixtures/record-mediarecorder.ts. */
const CHROME_WEBM = join(AUDIO, 'jfk-mediarecorder.webm');

function ffmpeg(args: string[], input?: Uint8Array): Uint8Array {
  return new Uint8Array(execFileSync('ffmpeg', ['-nostdin', '-v', 'error', ...args], { input, maxBuffer: 64 << 20 }));
}

describe('containers detected when no encoding is given', () => {
  const chromeWebm = new Uint8Array(readFileSync(CHROME_WEBM));

  it("decodes Chrome's MediaRecorder WebM/Opus whatever the message sizes, to its 11.46 s of audio", async () => {
    const outputs: Float32Array[] = [];
    for (const sizes of [[chromeWebm.length], [1], [7, 250, 4093]]) {
      outputs.push(decodeInMessages(await createAudioDecoder({ encoding: null }), chromeWebm, sizes));
    }
    // 191 blocks of 60 ms, and Chrome's OpusHead declares no pre-skip.
    expect(outputs[0]).toHaveLength(191 * 960);
    expect(outputs[1]).toEqual(outputs[0]);
    expect(outputs[2]).toEqual(outputs[0]);
    const rms = Math.sqrt(outputs[0].reduce((sum, x) => sum + x * x, 0) / outputs[0].length);
    expect(rms).toBeGreaterThan(0.05);
  });

  it('decodes the same WebM with encoding=opus, for clients that name the codec anyway', async () => {
    const detected = decodeInMessages(await createAudioDecoder({ encoding: null }), chromeWebm, [4096]);
    expect(decodeInMessages(await createAudioDecoder({ encoding: 'opus' }), chromeWebm, [4096])).toEqual(detected);
  });

  it('decodes a WAV stream like the file, stopping at the declared data size', async () => {
    const wav = new Uint8Array(readFileSync(fixture('jfk').path));
    const expected = parseWav(wav).samples;
    // A LIST chunk after the samples, as some editors write, must not be heard as audio.
    const trailer = new Uint8Array([...new TextEncoder().encode('LIST'), 4, 0, 0, 0, 1, 2, 3, 4]);
    const output = decodeInMessages(await createAudioDecoder({ encoding: null }), concatBytes(wav, trailer), [3, 1000]);
    expect(output).toHaveLength(expected.length);
    expectSamples(output.subarray(0, 50), Array.from(expected.subarray(0, 50)));
  });

  it('keeps one channel of a stereo WAV stream, and refuses one the header does not have', async () => {
    const pcm = int16Bytes([1000, -2000, 3000, -4000, 5000, -6000]);
    const wav = concatBytes(stereoWavHeader(16000, pcm.length), pcm);
    expectSamples(decodeInMessages(await createAudioDecoder({ encoding: null, keep: 1 }), wav, [7, 100]), [-2000, -4000, -6000].map((v) => v / 32768));
    const third = await createAudioDecoder({ encoding: null, keep: 2 });
    const error = await captureError(() => decodeInMessages(third, wav, [100]));
    expect(error.code).toBe('bad_channels');
  });

  it("decodes a streaming writer's WAV, whose header cannot know the data size", async () => {
    const wav = new Uint8Array(readFileSync(fixture('1221-135766-0002').path));
    const streamed = new Uint8Array(wav);
    const dataSize = new DataView(streamed.buffer).getUint32(40, true);
    expect(new TextDecoder().decode(streamed.subarray(36, 40))).toBe('data');
    new DataView(streamed.buffer).setUint32(40, 0xffffffff, true);
    const output = decodeInMessages(await createAudioDecoder({ encoding: null }), streamed, [512]);
    expect(output).toHaveLength(dataSize / 2);
  });

  it('refuses raw audio without encoding, saying which parameter to send', async () => {
    const decoder = await createAudioDecoder({ encoding: null });
    const error = await captureError(() => decoder.decode(int16Bytes([100, -100, 200, -200, 300, -300, 0, 0])));
    expect(error.code).toBe('unsupported_encoding');
    expect(error.message).toMatch(/no encoding parameter.*encoding=linear16/);
  });

  it('holds fewer bytes than a signature, even across a Finalize, and decides when more arrive', async () => {
    const decoder = await createAudioDecoder({ encoding: null });
    expect(decoder.decode(chromeWebm.subarray(0, 3))).toHaveLength(0);
    expect(decoder.flush()).toHaveLength(0);
    const rest = decodeInMessages(decoder, chromeWebm.subarray(3), [chromeWebm.length]);
    expect(rest).toHaveLength(191 * 960);
  });

  it('refuses containers it detects but does not read live, naming them', async () => {
    const mp3Frame = new Uint8Array([0xff, 0xfb, 0x90, 0x64, ...new Array(60).fill(0)]);
    const decoder = await createAudioDecoder({ encoding: null });
    const error = await captureError(() => decoder.decode(mp3Frame));
    expect(error.code).toBe('unsupported_encoding');
    expect(error.message).toMatch(/^MP3 is not read live/);
  });

  it('refuses a WebM element that keeps growing instead of buffering without end', async () => {
    const decoder = await createAudioDecoder({ encoding: null });
    const firstCluster = Buffer.from(chromeWebm).indexOf(Buffer.from([0x1f, 0x43, 0xb6, 0x75]));
    decoder.decode(chromeWebm.subarray(0, firstCluster));
    // A Cluster of unknown size holding a SimpleBlock (0xA3) that declares 4 GiB.
    decoder.decode(new Uint8Array([0x1f, 0x43, 0xb6, 0x75, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    decoder.decode(new Uint8Array([0xa3, 0x01, 0, 0, 0, 1, 0, 0, 0]));
    const filler = new Uint8Array(64 * 1024);
    const error = await captureError(() => {
      for (let i = 0; i < 32; i++) decoder.decode(filler);
    });
    expect(error.code).toBe('malformed_audio');
    expect(error.message).toMatch(/still incomplete/);
  });

  it("reports damaged WebM as malformed audio, in a message short enough to read (the parser's can quote megabytes)", async () => {
    const decoder = await createAudioDecoder({ encoding: null });
    const error = await captureError(() => {
      decoder.decode(chromeWebm.subarray(0, 200));
      decoder.decode(new Uint8Array([0xa3, 0x08, 0x01, 0, 0, 0, 0, 0, 0]));
      decoder.decode(new Uint8Array(64 * 1024));
    });
    expect(error.code).toBe('malformed_audio');
    expect(error.message).toMatch(/^WebM stream could not be parsed: .{1,123}$/);
  });

  describe.skipIf(ffmpegMissing || opusencMissing)('WebM remuxed by ffmpeg', () => {
    let oggOpus: Uint8Array;

    beforeAll(() => {
      oggOpus = new Uint8Array(execFileSync('opusenc', ['--quiet', join(AUDIO, 'jfk.wav'), '-']));
    });

    it('decodes the same Opus packets in WebM exactly as in Ogg, trimming the padding with DiscardPadding', async () => {
      const webm = ffmpeg(['-f', 'ogg', '-i', 'pipe:0', '-c:a', 'copy', '-f', 'webm', 'pipe:1'], oggOpus);
      const fromOgg = decodeInMessages(await createAudioDecoder({ encoding: null }), oggOpus, [999]);
      const fromWebm = decodeInMessages(await createAudioDecoder({ encoding: null }), webm, [999]);
      expect(fromOgg).toHaveLength(11 * 16000);
      expect(fromWebm).toEqual(fromOgg);
    });

    it('refuses WebM whose audio is not Opus, naming the codec', async () => {
      const vorbis = ffmpeg(['-i', join(AUDIO, 'jfk.wav'), '-t', '1', '-c:a', 'libvorbis', '-f', 'webm', 'pipe:1']);
      const decoder = await createAudioDecoder({ encoding: null });
      const error = await captureError(() => decoder.decode(vorbis));
      expect(error.code).toBe('unsupported_encoding');
      expect(error.message).toMatch(/A_VORBIS/);
    });
  });
});
