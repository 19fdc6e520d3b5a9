import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { decodeAudioBytes, decodeStreamBytes, loadAudioFile } from '../../src/audio/load.js';
import { createAudioDecoder } from '../../src/stream/audio-decoder.js';
import { AudioFormatError, parseWav } from '../../src/audio/wav.js';
import { evalDir, loadManifest } from '../../src/eval/manifest.js';
import { AUDIO } from '../helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'chorus-load-test-'));
const originalPath = process.env.PATH;

afterEach(() => {
  process.env.PATH = originalPath;
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const realFfmpegAvailable = !spawnSync('ffmpeg', ['-version']).error;
const evalSetAvailable = existsSync(join(evalDir(), 'manifest.jsonl'));

function clipPath(id: string): string {
  const clip = loadManifest().find((candidate) => candidate.id === id);
  if (!clip) throw new Error(`clip ${id} is missing from the manifest`);
  return clip.path;
}

async function loadError(path: string): Promise<AudioFormatError> {
  const error = await loadAudioFile(path).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(AudioFormatError);
  return error as AudioFormatError;
}

/** A PATH folder holding only the given executables, written as Node scripts. */
function fakeToolFolder(name: string, tools: Record<string, string>): string {
  const folder = join(scratch, name);
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  for (const [tool, body] of Object.entries(tools)) {
    const file = join(folder, tool);
    writeFileSync(file, `#!${process.execPath}\n${body}\n`);
    chmodSync(file, 0o755);
  }
  return folder;
}

const fakeFfmpegDecoding = (samples: number[], argsFile: string) => `
  require('node:fs').writeFileSync(${JSON.stringify(argsFile)}, JSON.stringify(process.argv.slice(2)));
  process.stdout.write(Buffer.from(new Float32Array(${JSON.stringify(samples)}).buffer));
`;
const fakeFfprobe = `process.stdout.write(JSON.stringify({ streams: [{ sample_rate: '44100', channels: 2 }] }));`;

/** The start of an MP4 file (an 'ftyp' box of brand M4A): AAC, which only ffmpeg decodes here. */
const M4A_LIKE = '\u0000\u0000\u0000\u0018ftypM4A \u0000\u0000\u0000\u0000 fake aac';

function writeScratchFile(name: string, content: string | Uint8Array): string {
  const file = join(scratch, name);
  writeFileSync(file, content);
  return file;
}

/** A structurally valid WAV whose codec (IMA ADPCM) the native parser does not decode. */
function adpcmWav(): Uint8Array {
  const wav = new Uint8Array(44 + 8);
  const view = new DataView(wav.buffer);
  wav.set(Buffer.from('RIFF'), 0);
  view.setUint32(4, wav.length - 8, true);
  wav.set(Buffer.from('WAVEfmt '), 8);
  view.setUint32(16, 16, true);
  view.setUint16(20, 0x11, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, 8000, true);
  view.setUint32(28, 4000, true);
  view.setUint16(32, 1, true);
  view.setUint16(34, 4, true);
  wav.set(Buffer.from('data'), 36);
  view.setUint32(40, 8, true);
  return wav;
}

describe.skipIf(!evalSetAvailable)('loadAudioFile on the shared evaluation set', () => {
  it('decodes jfk.wav natively at 16 kHz', async () => {
    const path = clipPath('jfk');
    const audio = await loadAudioFile(path);
    expect(audio.decoder).toBe('wav');
    expect(audio.sourceRate).toBe(16000);
    expect(audio.channels).toBe(1);
    expect(audio.durationS).toBeCloseTo(11.0, 2);
    expect(audio.samples.length).toBe(176000);
    // Same rate in and out: the samples are exactly the file's.
    expect(audio.samples).toEqual(parseWav(readFileSync(path)).samples);
    const peak = audio.samples.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
    expect(peak).toBeGreaterThan(0.1);
    expect(peak).toBeLessThanOrEqual(1);
  });

  it('upsamples the 8 kHz telephone clip to match sox’s own 16 kHz version', async () => {
    const narrowband = await loadAudioFile(clipPath('tel8k-jfk'));
    const soxUpsampled = await loadAudioFile(clipPath('tel-jfk'));
    expect(narrowband.sourceRate).toBe(8000);
    expect(narrowband.durationS).toBeCloseTo(11.0, 2);
    expect(narrowband.samples.length).toBe(soxUpsampled.samples.length);
    let dot = 0, ours = 0, theirs = 0;
    for (let i = 0; i < narrowband.samples.length; i++) {
      dot += narrowband.samples[i] * soxUpsampled.samples[i];
      ours += narrowband.samples[i] ** 2;
      theirs += soxUpsampled.samples[i] ** 2;
    }
    // Two good band-limited interpolators of the same 8 kHz signal agree almost exactly.
    expect(dot / Math.sqrt(ours * theirs)).toBeGreaterThan(0.999);
  });
});

describe('loadAudioFile errors and ffmpeg fallback', () => {
  it("reports a missing file with code 'not_found'", async () => {
    const missing = join(scratch, 'nope.wav');
    const error = await loadError(missing);
    expect(error.code).toBe('not_found');
    expect(error.message).toContain(missing);
  });

  it('says to install ffmpeg when a format decoded only by ffmpeg (M4A) arrives and ffmpeg is absent', async () => {
    const m4a = writeScratchFile('clip.m4a', M4A_LIKE);
    process.env.PATH = fakeToolFolder('no-tools', {});
    const error = await loadError(m4a);
    expect(error.code).toBe('unsupported_format');
    expect(error.message).toContain(m4a);
    expect(error.message).toMatch(/not a format decoded in-process \(WAV .*MP3.*\), and ffmpeg is not installed.*install ffmpeg/);
  });

  it('does not hide a damaged WAV behind the ffmpeg fallback', async () => {
    const complete = adpcmWav();
    const header = new DataView(complete.buffer);
    header.setUint16(20, 1, true); // PCM, so the parser gets to the data chunk
    header.setUint16(34, 8, true);
    header.setUint32(40, 1000, true); // more data than the file holds
    const damaged = writeScratchFile('damaged.wav', complete);
    process.env.PATH = fakeToolFolder('no-tools', {});
    expect((await loadError(damaged)).code).toBe('truncated');
  });

  it('decodes through ffmpeg as f32le 16 kHz mono and probes the source format', async () => {
    const argsFile = join(scratch, 'ffmpeg-args.json');
    process.env.PATH = `${fakeToolFolder('fake-ok', {
      ffmpeg: fakeFfmpegDecoding([0.25, -0.5, 1, 0], argsFile),
      ffprobe: fakeFfprobe,
    })}:${originalPath}`;
    const m4a = writeScratchFile('clip.m4a', M4A_LIKE);
    const audio = await loadAudioFile(m4a);
    expect(audio.decoder).toBe('ffmpeg');
    expect(Array.from(audio.samples)).toEqual([0.25, -0.5, 1, 0]);
    expect(audio.durationS).toBe(4 / 16000);
    expect(audio.sourceRate).toBe(44100);
    expect(audio.channels).toBe(2);
    expect(JSON.parse(readFileSync(argsFile, 'utf8'))).toEqual([
      '-nostdin', '-v', 'error', '-i', m4a, '-f', 'f32le', '-ac', '1', '-ar', '16000', '-',
    ]);
  });

  it('sends WAVs with codecs it cannot decode to ffmpeg', async () => {
    const argsFile = join(scratch, 'ffmpeg-args-adpcm.json');
    // Only the fake ffmpeg: the set-up installs a real ffprobe, which must not be found here.
    process.env.PATH = fakeToolFolder('fake-adpcm', { ffmpeg: fakeFfmpegDecoding([0.125], argsFile) });
    const audio = await loadAudioFile(writeScratchFile('adpcm.wav', adpcmWav()));
    expect(audio.decoder).toBe('ffmpeg');
    expect(Array.from(audio.samples)).toEqual([0.125]);
    // Without ffprobe the source format is unknown rather than made up.
    expect(audio.sourceRate).toBe(0);
  });

  it("turns an ffmpeg failure into 'unsupported_format' carrying ffmpeg's last messages", async () => {
    process.env.PATH = `${fakeToolFolder('fake-fail', {
      ffmpeg: `process.stderr.write('noise line\\n[mov] moov atom not found\\nclip.m4a: Invalid data found when processing input\\n'); process.exit(1);`,
    })}:${originalPath}`;
    const m4a = writeScratchFile('clip.m4a', 'not really m4a');
    const error = await loadError(m4a);
    expect(error.code).toBe('unsupported_format');
    expect(error.message).toContain(m4a);
    expect(error.message).toContain('exited with code 1');
    expect(error.message).toContain('Invalid data found when processing input');
  });

});

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

const opusencAvailable = !spawnSync('opusenc', ['--version']).error;
if (!realFfmpegAvailable) console.warn('in-process decoding tests of MP3, FLAC and Vorbis skipped: they need ffmpeg (the set-up installs it) to make their inputs');

describe('loadAudioFile decodes common containers in-process, by their bytes, without ffmpeg', () => {
  const jfk = join(AUDIO, 'jfk.wav');
  let original: Float32Array;

  beforeAll(async () => {
    original = (await loadAudioFile(jfk)).samples;
  });

  /** Made by the real ffmpeg, then decoded with no ffmpeg on the PATH. */
  function convertedByFfmpeg(name: string, args: string[]): string {
    const file = join(scratch, name);
    process.env.PATH = originalPath;
    const conversion = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', jfk, ...args, file]);
    expect(conversion.status, conversion.stderr?.toString()).toBe(0);
    process.env.PATH = fakeToolFolder('no-tools', {});
    return file;
  }

  it("decodes Chrome's MediaRecorder WebM/Opus, whatever the file is called", async () => {
    const upload = writeScratchFile('upload.bin', readFileSync(join(AUDIO, 'jfk-mediarecorder.webm')));
    process.env.PATH = fakeToolFolder('no-tools', {});
    const audio = await loadAudioFile(upload);
    expect(audio.decoder).toBe('opus');
    expect(audio.sourceRate).toBe(48000);
    expect(audio.channels).toBe(1);
    expect(audio.durationS).toBeCloseTo(11.46, 2);
  });

  it.runIf(opusencAvailable)('decodes Ogg Opus to the original length and waveform', async () => {
    const opus = join(scratch, 'jfk.opus');
    expect(spawnSync('opusenc', ['--quiet', jfk, opus]).status).toBe(0);
    process.env.PATH = fakeToolFolder('no-tools', {});
    const audio = await loadAudioFile(opus);
    expect(audio.decoder).toBe('opus');
    expect(audio.samples.length).toBe(original.length);
    expect(similarity(audio.samples, original)).toBeGreaterThan(0.9);
  });

  it.runIf(realFfmpegAvailable)('decodes FLAC, native and in Ogg, like the original WAV to within one 16-bit step', async () => {
    for (const [name, args] of [['jfk.flac', []], ['jfk.oga', ['-c:a', 'flac']]] as const) {
      const audio = await loadAudioFile(convertedByFfmpeg(name, [...args]));
      expect(audio.decoder).toBe('flac');
      expect(audio.sourceRate).toBe(16000);
      expect(audio.samples.length).toBe(original.length);
      let maxDifference = 0;
      for (let i = 0; i < original.length; i++) maxDifference = Math.max(maxDifference, Math.abs(audio.samples[i] - original[i]));
      // libFLAC's build scales by 1/32767 where our WAV reader uses 1/32768.
      expect(maxDifference).toBeLessThan(1 / 32768);
    }
  });

  it.runIf(realFfmpegAvailable)('decodes 44.1 kHz stereo MP3, downmixed and resampled, even when named .wav', async () => {
    const audio = await loadAudioFile(convertedByFfmpeg('mislabelled.wav', ['-ar', '44100', '-ac', '2', '-f', 'mp3']));
    expect(audio.decoder).toBe('mp3');
    expect(audio.sourceRate).toBe(44100);
    expect(audio.channels).toBe(2);
    expect(Math.abs(audio.samples.length - original.length)).toBeLessThan(16000 * 0.06);
    expect(similarity(audio.samples, original)).toBeGreaterThan(0.8);
  });

  it.runIf(realFfmpegAvailable)('decodes Ogg Vorbis', async () => {
    const audio = await loadAudioFile(convertedByFfmpeg('jfk.ogg', ['-c:a', 'libvorbis']));
    expect(audio.decoder).toBe('vorbis');
    expect(audio.samples.length).toBe(original.length);
    expect(similarity(audio.samples, original)).toBeGreaterThan(0.9);
  });

  it('reports a damaged MP3 as corrupt rather than handing it to ffmpeg', async () => {
    const damaged = writeScratchFile('damaged.mp3', 'ID3\u0004\u0000\u0000\u0000\u0000\u0000\u0000 no frames at all');
    process.env.PATH = fakeToolFolder('no-tools', {});
    const error = await loadError(damaged);
    expect(error.code).toBe('corrupt');
    expect(error.message).toMatch(/damaged.mp3: not a decodable MP3 file/);
  });

  it.runIf(realFfmpegAvailable)('decodes M4A (AAC) through the ffmpeg the set-up installs', async () => {
    const m4a = join(scratch, 'jfk.m4a');
    expect(spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', jfk, '-c:a', 'aac', m4a]).status).toBe(0);
    const audio = await loadAudioFile(m4a);
    expect(audio.decoder).toBe('ffmpeg');
    expect(audio.sourceRate).toBe(16000);
    expect(similarity(audio.samples, original)).toBeGreaterThan(0.9);
  });
});

describe('decoding limits for uploads', () => {
  function pcmWav(rate: number, seconds: number): Buffer {
    const data = Math.round(rate * seconds) * 2;
    const header = Buffer.alloc(44);
    header.write('RIFF', 0);
    header.writeUInt32LE(36 + data, 4);
    header.write('WAVEfmt ', 8);
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(1, 20);
    header.writeUInt16LE(1, 22);
    header.writeUInt32LE(rate, 24);
    header.writeUInt32LE(rate * 2, 28);
    header.writeUInt16LE(2, 32);
    header.writeUInt16LE(16, 34);
    header.write('data', 36);
    header.writeUInt32LE(data, 40);
    return Buffer.concat([header, Buffer.alloc(data)]);
  }

  async function decodeError(decoding: Promise<unknown>): Promise<AudioFormatError> {
    const error = await decoding.then(() => undefined, (reason: unknown) => reason);
    expect(error).toBeInstanceOf(AudioFormatError);
    return error as AudioFormatError;
  }

  it("refuses a WAV whose header declares more than the limit, before decoding, with 'too_long'", async () => {
    const error = await decodeError(decodeAudioBytes(pcmWav(8000, 10), 'long.wav', { maxDurationS: 5 }));
    expect(error.code).toBe('too_long');
    expect(error.message).toBe('long.wav: declares 10.0 s of audio; the limit is 5.0 s');
    expect((await decodeAudioBytes(pcmWav(8000, 5), 'ok.wav', { maxDurationS: 5 })).samples.length).toBe(80000);
  });

  it('stops decoding compressed audio once it holds more than the limit', async () => {
    const webm = readFileSync(join(AUDIO, 'jfk-mediarecorder.webm'));
    const error = await decodeError(decodeAudioBytes(webm, 'jfk.webm', { maxDurationS: 5 }));
    expect(error.code).toBe('too_long');
    expect(error.message).toBe('jfk.webm: holds more than 5.0 s; the limit is 5.0 s');
  });

  it('stops decoding headerless audio once it holds more than the limit', async () => {
    const decoder = await createAudioDecoder({ encoding: 'mulaw', sampleRate: 8000 });
    const error = await decodeError(decodeStreamBytes(decoder, new Uint8Array(8000 * 10), 'the body', { maxDurationS: 5 }));
    expect(error.code).toBe('too_long');
  });

  it("refuses sample rates outside 8-192 kHz with 'bad_sample_rate', whatever the header says", async () => {
    for (const rate of [10, 7999, 192001, 4_294_967_291]) {
      const wav = pcmWav(16000, 0.1);
      wav.writeUInt32LE(rate, 24);
      const error = await decodeError(decodeAudioBytes(wav, 'odd.wav'));
      expect(error.code, `${rate}`).toBe('bad_sample_rate');
      expect(error.message).toBe(`odd.wav: fmt declares ${rate} Hz; supported sample rates are 8000–192000 Hz`);
    }
  });

  it('gives the event loop a turn while a long file decodes', async () => {
    let last = performance.now();
    let longestGap = 0;
    const ticker = setInterval(() => {
      longestGap = Math.max(longestGap, performance.now() - last);
      last = performance.now();
    }, 2);
    // Two minutes at 44.1 kHz: about a second of work in one piece, more on a busy machine.
    await decodeAudioBytes(pcmWav(44100, 120), 'long.wav');
    clearInterval(ticker);
    expect(longestGap).toBeLessThan(100);
  });
});
