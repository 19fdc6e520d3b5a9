import { describe, expect, it } from 'vitest';

import { AudioFormatError, looksLikeWav, parseWav } from '../../src/audio/wav.js';

interface Chunk {
  id: string;
  body: Uint8Array;
  /** Overrides the size field, to fake truncated or streamed files. */
  declaredSize?: number;
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** Serialises chunks the way a writer would, including the pad byte after odd-sized bodies. */
function riff(chunks: Chunk[], container = 'RIFF'): Uint8Array {
  const parts: Uint8Array[] = [ascii('WAVE')];
  for (const { id, body, declaredSize } of chunks) {
    const header = new Uint8Array(8);
    header.set(ascii(id));
    new DataView(header.buffer).setUint32(4, declaredSize ?? body.length, true);
    parts.push(header, body);
    if (body.length % 2 === 1) parts.push(new Uint8Array(1));
  }
  const bodyLength = parts.reduce((sum, part) => sum + part.length, 0);
  const file = new Uint8Array(8 + bodyLength);
  file.set(ascii(container));
  new DataView(file.buffer).setUint32(4, bodyLength, true);
  let offset = 8;
  for (const part of parts) {
    file.set(part, offset);
    offset += part.length;
  }
  return file;
}

interface FmtOptions {
  tag: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Container bytes per sample when they differ from the bit depth (e.g. 24 bits in 4 bytes). */
  containerBytes?: number;
  /** Wraps `tag` in WAVE_FORMAT_EXTENSIBLE with this many valid bits. */
  extensibleValidBits?: number;
}

function fmtChunk(options: FmtOptions): Chunk {
  const { tag, channels, sampleRate, bitsPerSample, extensibleValidBits } = options;
  const containerBytes = options.containerBytes ?? Math.ceil(bitsPerSample / 8);
  const extensible = extensibleValidBits !== undefined;
  const body = new Uint8Array(extensible ? 40 : 16);
  const view = new DataView(body.buffer);
  view.setUint16(0, extensible ? 0xfffe : tag, true);
  view.setUint16(2, channels, true);
  view.setUint32(4, sampleRate, true);
  view.setUint32(8, sampleRate * channels * containerBytes, true);
  view.setUint16(12, channels * containerBytes, true);
  view.setUint16(14, extensible ? containerBytes * 8 : bitsPerSample, true);
  if (extensible) {
    view.setUint16(16, 22, true);
    view.setUint16(18, extensibleValidBits, true);
    view.setUint32(20, channels === 2 ? 0x3 : 0x4, true);
    view.setUint32(24, tag, true);
    body.set([0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71], 28);
  }
  return { id: 'fmt ', body };
}

function bytes(write: (view: DataView) => void, length: number): Uint8Array {
  const body = new Uint8Array(length);
  write(new DataView(body.buffer));
  return body;
}

function int16Data(values: number[]): Uint8Array {
  return bytes((view) => values.forEach((v, i) => view.setInt16(i * 2, v, true)), values.length * 2);
}

function int24Data(values: number[]): Uint8Array {
  return bytes((view) => {
    values.forEach((v, i) => {
      const u = v & 0xffffff;
      view.setUint8(i * 3, u & 0xff);
      view.setUint8(i * 3 + 1, (u >> 8) & 0xff);
      view.setUint8(i * 3 + 2, (u >> 16) & 0xff);
    });
  }, values.length * 3);
}

function pcm16Wav(values: number[], channels = 1, sampleRate = 16000): Uint8Array {
  return riff([
    fmtChunk({ tag: 1, channels, sampleRate, bitsPerSample: 16 }),
    { id: 'data', body: int16Data(values) },
  ]);
}

function expectSamples(actual: Float32Array, expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((value, i) => expect(actual[i]).toBeCloseTo(value, 6));
}

function captureError(action: () => unknown): AudioFormatError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(AudioFormatError);
    return error as AudioFormatError;
  }
  throw new Error('expected an AudioFormatError');
}

describe('parseWav sample formats', () => {
  it('decodes 16-bit PCM with exact scaling and reports rate and duration', () => {
    const audio = parseWav(pcm16Wav([0, 16384, -32768, 32767], 1, 8000));
    expectSamples(audio.samples, [0, 0.5, -1, 32767 / 32768]);
    expect(audio.sampleRate).toBe(8000);
    expect(audio.channels).toBe(1);
    expect(audio.durationS).toBeCloseTo(4 / 8000, 12);
  });

  it('decodes 8-bit PCM as unsigned with 128 as silence', () => {
    const wav = riff([
      fmtChunk({ tag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 8 }),
      { id: 'data', body: Uint8Array.from([128, 0, 255, 192]) },
    ]);
    expectSamples(parseWav(wav).samples, [0, -1, 127 / 128, 0.5]);
  });

  it('decodes 24-bit PCM including negative values', () => {
    const wav = riff([
      fmtChunk({ tag: 1, channels: 1, sampleRate: 48000, bitsPerSample: 24 }),
      { id: 'data', body: int24Data([0, 4194304, -8388608, -1, 8388607]) },
    ]);
    expectSamples(parseWav(wav).samples, [0, 0.5, -1, -1 / 8388608, 8388607 / 8388608]);
  });

  it('decodes 32-bit PCM', () => {
    const data = bytes((view) => [0, 1073741824, -2147483648].forEach((v, i) => view.setInt32(i * 4, v, true)), 12);
    const wav = riff([fmtChunk({ tag: 1, channels: 1, sampleRate: 16000, bitsPerSample: 32 }), { id: 'data', body: data }]);
    expectSamples(parseWav(wav).samples, [0, 0.5, -1]);
  });

  it('decodes 32- and 64-bit IEEE float, clamping beyond full scale and mapping NaN to silence', () => {
    const values = [0.25, -0.75, 1.5, -3, Number.NaN];
    const expected = [0.25, -0.75, 1, -1, 0];
    const f32 = bytes((view) => values.forEach((v, i) => view.setFloat32(i * 4, v, true)), 20);
    const f64 = bytes((view) => values.forEach((v, i) => view.setFloat64(i * 8, v, true)), 40);
    const wav32 = riff([fmtChunk({ tag: 3, channels: 1, sampleRate: 16000, bitsPerSample: 32 }), { id: 'data', body: f32 }]);
    const wav64 = riff([fmtChunk({ tag: 3, channels: 1, sampleRate: 16000, bitsPerSample: 64 }), { id: 'data', body: f64 }]);
    expectSamples(parseWav(wav32).samples, expected);
    expectSamples(parseWav(wav64).samples, expected);
  });

  it('decodes G.711 mu-law and A-law with the standard table values', () => {
    // Reference points from the G.711 tables: mu-law 0x80 = +32124, 0x00 = -32124, 0xFF = 0;
    // A-law 0xAA = +32256, 0x2A = -32256, 0xD5 = +8.
    const mulaw = riff([
      fmtChunk({ tag: 7, channels: 1, sampleRate: 8000, bitsPerSample: 8 }),
      { id: 'data', body: Uint8Array.from([0x80, 0x00, 0xff, 0x7f]) },
    ]);
    const alaw = riff([
      fmtChunk({ tag: 6, channels: 1, sampleRate: 8000, bitsPerSample: 8 }),
      { id: 'data', body: Uint8Array.from([0xaa, 0x2a, 0xd5, 0x55]) },
    ]);
    expectSamples(parseWav(mulaw).samples, [32124 / 32768, -32124 / 32768, 0, 0]);
    expectSamples(parseWav(alaw).samples, [32256 / 32768, -32256 / 32768, 8 / 32768, -8 / 32768]);
  });

  it('decodes WAVE_FORMAT_EXTENSIBLE PCM (24 valid bits in 32-bit containers) and float', () => {
    // 24-bit audio stored MSB-aligned in 4-byte containers, as many DAWs write it.
    const pcm = bytes((view) => [0x40000000, -0x80000000].forEach((v, i) => view.setInt32(i * 4, v, true)), 8);
    const extensiblePcm = riff([
      fmtChunk({ tag: 1, channels: 1, sampleRate: 96000, bitsPerSample: 24, containerBytes: 4, extensibleValidBits: 24 }),
      { id: 'data', body: pcm },
    ]);
    const floats = bytes((view) => [0.5, -0.125].forEach((v, i) => view.setFloat32(i * 4, v, true)), 8);
    const extensibleFloat = riff([
      fmtChunk({ tag: 3, channels: 1, sampleRate: 44100, bitsPerSample: 32, extensibleValidBits: 32 }),
      { id: 'data', body: floats },
    ]);
    const decodedPcm = parseWav(extensiblePcm);
    expectSamples(decodedPcm.samples, [0.5, -1]);
    expect(decodedPcm.sampleRate).toBe(96000);
    expectSamples(parseWav(extensibleFloat).samples, [0.5, -0.125]);
  });

  it('downmixes any number of channels by averaging each frame', () => {
    const stereo = parseWav(pcm16Wav([16384, -16384, 32767, 32767, -32768, 0], 2));
    expect(stereo.channels).toBe(2);
    expectSamples(stereo.samples, [0, 32767 / 32768, -0.5]);

    const sixChannels = [8192, 8192, 8192, 8192, 8192, -32768];
    const surround = riff([
      fmtChunk({ tag: 1, channels: 6, sampleRate: 48000, bitsPerSample: 24, extensibleValidBits: 24 }),
      { id: 'data', body: int24Data(sixChannels.map((v) => v * 256)) },
    ]);
    const decoded = parseWav(surround);
    expect(decoded.channels).toBe(6);
    expectSamples(decoded.samples, [(5 * 0.25 - 1) / 6]);
    expect(decoded.durationS).toBeCloseTo(1 / 48000, 12);
  });
});

describe('parseWav container handling', () => {
  it('skips unknown chunks, including odd-sized ones followed by a pad byte', () => {
    const wav = riff([
      { id: 'LIST', body: ascii('INFOISFT\x05\x00\x00\x00lavf\x00') }, // 17 bytes: padded
      fmtChunk({ tag: 1, channels: 1, sampleRate: 16000, bitsPerSample: 16 }),
      { id: 'junk', body: new Uint8Array(3).fill(0x7f) },
      { id: 'data', body: int16Data([1000, -1000]) },
      { id: 'id3 ', body: new Uint8Array(5).fill(0xff) },
    ]);
    expectSamples(parseWav(wav).samples, [1000 / 32768, -1000 / 32768]);
  });

  it('accepts fmt after data', () => {
    const wav = riff([
      { id: 'data', body: int16Data([1, 2, 3]) },
      fmtChunk({ tag: 1, channels: 1, sampleRate: 22050, bitsPerSample: 16 }),
    ]);
    const audio = parseWav(wav);
    expect(audio.sampleRate).toBe(22050);
    expectSamples(audio.samples, [1 / 32768, 2 / 32768, 3 / 32768]);
  });

  it('allows zero-length data (empty audio)', () => {
    const audio = parseWav(pcm16Wav([]));
    expect(audio.samples.length).toBe(0);
    expect(audio.durationS).toBe(0);
  });

  it('uses the bytes present when the data size is a streaming placeholder', () => {
    for (const placeholder of [0, 0xffffffff]) {
      const wav = riff([
        fmtChunk({ tag: 1, channels: 1, sampleRate: 16000, bitsPerSample: 16 }),
        { id: 'data', body: int16Data([100, 200, 300]), declaredSize: placeholder },
      ]);
      expectSamples(parseWav(wav).samples, [100 / 32768, 200 / 32768, 300 / 32768]);
    }
  });

  it('drops a trailing partial frame', () => {
    const data = new Uint8Array([...int16Data([1000, 2000, 3000]), 0x01]);
    const wav = riff([fmtChunk({ tag: 1, channels: 2, sampleRate: 16000, bitsPerSample: 16 }), { id: 'data', body: data }]);
    expectSamples(parseWav(wav).samples, [1500 / 32768]);
  });

  it('reads RF64 files, taking the data size from ds64', () => {
    const ds64 = bytes((view) => {
      view.setBigUint64(0, 0n, true);
      view.setBigUint64(8, 4n, true);
      view.setBigUint64(16, 2n, true);
    }, 28);
    const wav = riff(
      [
        { id: 'ds64', body: ds64 },
        fmtChunk({ tag: 1, channels: 1, sampleRate: 16000, bitsPerSample: 16 }),
        { id: 'data', body: int16Data([500, -500]), declaredSize: 0xffffffff },
        { id: 'LIST', body: new Uint8Array(4) },
      ],
      'RF64',
    );
    expectSamples(parseWav(wav).samples, [500 / 32768, -500 / 32768]);
  });

  it('recognises WAV bytes by their header', () => {
    expect(looksLikeWav(pcm16Wav([1]))).toBe(true);
    expect(looksLikeWav(ascii('ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00'))).toBe(false);
  });
});

describe('parseWav errors', () => {
  it("rejects non-WAV input with code 'not_wav' and names the file", () => {
    const error = captureError(() => parseWav(ascii('fLaC\x00\x00\x00\x22 definitely not a wav'), 'song.flac'));
    expect(error.code).toBe('not_wav');
    expect(error.message).toContain('song.flac');
    expect(error.message).toContain('not a WAV');
    expect(captureError(() => parseWav(new Uint8Array(0), 'empty.wav')).code).toBe('not_wav');
    const avi = captureError(() => parseWav(riff([{ id: 'avih', body: new Uint8Array(8) }]).fill(0x41, 8, 12)));
    expect(avi.code).toBe('not_wav');
    expect(avi.message).toContain('form type "AAAA"');
  });

  it("reports a data chunk that runs past the end of the file as 'truncated'", () => {
    const complete = pcm16Wav(Array.from({ length: 100 }, (_, i) => i));
    const cut = complete.subarray(0, complete.length - 50);
    const error = captureError(() => parseWav(cut, 'cut.wav'));
    expect(error.code).toBe('truncated');
    expect(error.message).toMatch(/cut\.wav: data chunk declares 200 bytes but the file ends after 150/);
  });

  it("reports files cut inside the header or before the data as 'truncated'", () => {
    const wav = pcm16Wav([1, 2, 3]);
    expect(captureError(() => parseWav(wav.subarray(0, 8))).code).toBe('truncated');
    expect(captureError(() => parseWav(wav.subarray(0, 30))).code).toBe('truncated');
  });

  it("names codecs it cannot decode as 'unsupported_format'", () => {
    const adpcm = riff([
      fmtChunk({ tag: 2, channels: 1, sampleRate: 8000, bitsPerSample: 4, containerBytes: 1 }),
      { id: 'data', body: new Uint8Array(8) },
    ]);
    const error = captureError(() => parseWav(adpcm, 'voicemail.wav'));
    expect(error.code).toBe('unsupported_format');
    expect(error.message).toContain('voicemail.wav');
    expect(error.message).toContain('Microsoft ADPCM');

    const float16 = riff([fmtChunk({ tag: 3, channels: 1, sampleRate: 8000, bitsPerSample: 16 }), { id: 'data', body: new Uint8Array(4) }]);
    expect(captureError(() => parseWav(float16)).code).toBe('unsupported_format');
  });

  it("reports impossible headers as 'corrupt'", () => {
    const zeroChannels = riff([fmtChunk({ tag: 1, channels: 0, sampleRate: 16000, bitsPerSample: 16 }), { id: 'data', body: new Uint8Array(4) }]);
    expect(captureError(() => parseWav(zeroChannels)).code).toBe('corrupt');
    const noFmt = riff([{ id: 'data', body: int16Data([1, 2]) }]);
    expect(captureError(() => parseWav(noFmt)).message).toContain("no 'fmt ' chunk");
    const noData = riff([fmtChunk({ tag: 1, channels: 1, sampleRate: 16000, bitsPerSample: 16 })]);
    expect(captureError(() => parseWav(noData)).code).toBe('corrupt');
  });
});
