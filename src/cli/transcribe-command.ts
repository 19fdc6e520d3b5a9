import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { loadAudioFile } from '../audio/load.js';
import { decodeFileChannels } from '../gateway/channel-split.js';
import { transcribe, type TranscribeOptions } from '../engine/transcribe.js';
import { parsePrecision, WhisperModel, type Precision } from '../engine/whisper.js';
import { DEFAULT_MODEL } from '../model/registry.js';

function formatTime(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const frac = String(ms % 1000).padStart(3, '0');
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${frac}`;
  return h > 0 ? `${String(h).padStart(2, '0')}:${mmss}` : mmss;
}

/** A one-line bar on stderr, only when a person is watching the terminal. */
function progressBar(label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stdout.isTTY || !process.stderr.isTTY) return undefined;
  return (done, total) => {
    const width = 30;
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(fraction * width);
    process.stderr.write(
      `\r${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${Math.round(fraction * 100)
        .toString()
        .padStart(3)}%` + (fraction >= 1 ? '\r\x1b[K' : ''),
    );
  };
}

export async function runTranscribe(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      model: { type: 'string', default: DEFAULT_MODEL },
      json: { type: 'boolean', default: false },
      language: { type: 'string' },
      threads: { type: 'string' },
      precision: { type: 'string' },
      'beam-size': { type: 'string', default: '1' },
      task: { type: 'string', default: 'transcribe' },
      prompt: { type: 'string' },
      'without-timestamps': { type: 'boolean', default: false },
      multichannel: { type: 'boolean', default: false },
    },
  });
  if (positionals.length === 0) {
    process.stderr.write('chorus transcribe: no input files\n');
    return 2;
  }
  const task = values.task;
  if (task !== 'transcribe' && task !== 'translate') {
    process.stderr.write(`chorus transcribe: --task must be transcribe or translate, not "${task}"\n`);
    return 2;
  }
  const beamSize = Number(values['beam-size']);
  const threads = values.threads === undefined ? 0 : Number(values.threads);
  if (!Number.isInteger(beamSize) || beamSize < 1 || beamSize > 16 || !Number.isInteger(threads) || threads < 0) {
    process.stderr.write('chorus transcribe: --beam-size must be 1..16 and --threads a non-negative integer\n');
    return 2;
  }
  let precision: Precision | undefined;
  try {
    precision = values.precision === undefined ? undefined : parsePrecision(values.precision, '--precision');
  } catch (err) {
    process.stderr.write(`chorus transcribe: ${(err as Error).message}\n`);
    return 2;
  }
  const model = await WhisperModel.load(values.model!, {
    threads,
    precision,
    maxWindows: 1,
    maxSessions: Math.max(5, beamSize),
  });
  if (values.language && !model.multilingual && values.language !== 'en') {
    model.close();
    process.stderr.write(`chorus transcribe: ${values.model} is English-only; --language ${values.language} is not available\n`);
    return 2;
  }
  const options: Partial<TranscribeOptions> = {
    language: model.multilingual ? (values.language ?? null) : 'en',
    task,
    beamSize,
    initialPrompt: values.prompt ?? null,
    withoutTimestamps: values['without-timestamps'],
  };
  let failures = 0;
  try {
    for (const file of positionals) {
      const started = performance.now();
      try {
        // --multichannel: each channel of the file transcribed on its own, one after the other.
        const channels = values.multichannel ? await fileChannels(file) : [(await loadAudioFile(file)).samples];
        for (const [channel, samples] of channels.entries()) {
          const label = channels.length > 1 ? `${basename(file)} channel ${channel}` : basename(file);
          const result = await transcribe(model, samples, { ...options, onProgress: progressBar(label) });
          const elapsed = (performance.now() - started) / 1000;
          const durationS = samples.length / 16000;
          const which = values.multichannel ? { channel, channels: channels.length } : {};
          if (values.json) {
            const record = {
              file,
              ...which,
              duration_s: Number(durationS.toFixed(3)),
              elapsed_s: Number(elapsed.toFixed(3)),
              language: result.language,
              text: result.text.trim(),
              segments: result.segments.map((s) => ({
                start: Number(s.start.toFixed(2)),
                end: Number(s.end.toFixed(2)),
                text: s.text.trim(),
              })),
            };
            process.stdout.write(JSON.stringify(record) + '\n');
          } else {
            const heading = values.multichannel ? `${file}, channel ${channel} of ${channels.length}` : file;
            process.stdout.write(`# ${heading} (${durationS.toFixed(1)} s of audio in ${elapsed.toFixed(1)} s)\n`);
            for (const s of result.segments) {
              process.stdout.write(`[${formatTime(s.start)} --> ${formatTime(s.end)}] ${s.text.trim()}\n`);
            }
            process.stdout.write(`${result.text.trim()}\n\n`);
          }
        }
      } catch (err) {
        failures++;
        process.stderr.write(`chorus transcribe: ${file}: ${(err as Error).message}\n`);
      }
    }
  } finally {
    model.close();
  }
  return failures === 0 ? 0 : 1;
}

/** Each channel's 16 kHz samples of a WAV, Ogg Opus or WebM Opus file. */
async function fileChannels(file: string): Promise<Float32Array[]> {
  const channels = await decodeFileChannels(await readFile(file), file);
  if (channels === null) throw new Error('--multichannel reads WAV, Ogg Opus and WebM Opus files, whose channels can be read apart');
  return channels;
}
