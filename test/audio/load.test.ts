import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { loadAudioFile } from '../../src/audio/load.js';
import { AudioFormatError, parseWav } from '../../src/audio/wav.js';
import { evalDir, loadManifest } from '../../src/eval/manifest.js';

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

  it('says to install ffmpeg when a non-WAV file arrives and ffmpeg is absent', async () => {
    const mp3 = writeScratchFile('clip.mp3', 'ID3\u0004\u0000\u0000\u0000\u0000\u0000\u0000 fake mp3 bytes');
    process.env.PATH = fakeToolFolder('no-tools', {});
    const error = await loadError(mp3);
    expect(error.code).toBe('unsupported_format');
    expect(error.message).toContain(mp3);
    expect(error.message).toMatch(/ffmpeg is not installed.*install ffmpeg/);
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
    const ogg = writeScratchFile('clip.ogg', 'OggS fake');
    const audio = await loadAudioFile(ogg);
    expect(audio.decoder).toBe('ffmpeg');
    expect(Array.from(audio.samples)).toEqual([0.25, -0.5, 1, 0]);
    expect(audio.durationS).toBe(4 / 16000);
    expect(audio.sourceRate).toBe(44100);
    expect(audio.channels).toBe(2);
    expect(JSON.parse(readFileSync(argsFile, 'utf8'))).toEqual([
      '-nostdin', '-v', 'error', '-i', ogg, '-f', 'f32le', '-ac', '1', '-ar', '16000', '-',
    ]);
  });

  it('sends WAVs with codecs it cannot decode to ffmpeg', async () => {
    const argsFile = join(scratch, 'ffmpeg-args-adpcm.json');
    process.env.PATH = `${fakeToolFolder('fake-adpcm', { ffmpeg: fakeFfmpegDecoding([0.125], argsFile) })}:${originalPath}`;
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

  it.runIf(realFfmpegAvailable && evalSetAvailable)('decodes a FLAC made by the real ffmpeg like the original WAV', async () => {
    const flac = join(scratch, 'jfk.flac');
    const conversion = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', clipPath('jfk'), flac]);
    expect(conversion.status).toBe(0);
    const viaFfmpeg = await loadAudioFile(flac);
    const native = await loadAudioFile(clipPath('jfk'));
    expect(viaFfmpeg.decoder).toBe('ffmpeg');
    expect(viaFfmpeg.sourceRate).toBe(16000);
    expect(viaFfmpeg.samples.length).toBe(native.samples.length);
    let maxDifference = 0;
    for (let i = 0; i < native.samples.length; i++) {
      maxDifference = Math.max(maxDifference, Math.abs(viaFfmpeg.samples[i] - native.samples[i]));
    }
    expect(maxDifference).toBeLessThan(1e-6);
  });
});
