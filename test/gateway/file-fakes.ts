// A file transcriber that answers with a fixed transcript, records what it was asked, and can
// be held, for the file endpoints' tests that are about the HTTP side rather than the model.
import type { Segment, TranscribeOptions, Transcript } from '../../src/engine/transcribe.js';
import type { FileTranscriber } from '../../src/gateway/transcriptions.js';

function segment(start: number, end: number, words: Array<[string, number, number]>): Segment {
  return {
    start,
    end,
    text: words.map(([w]) => w).join(''),
    tokens: [1, 2],
    avgLogprob: -0.2,
    noSpeechProb: 0.01,
    compressionRatio: 1.2,
    temperature: 0,
    words: words.map(([word, s, e]) => ({ word, start: s, end: e, probability: 0.9, tokens: [1] })),
  };
}

/** Two segments, a pause of 1.5 s between them, punctuation at both ends of some words. */
export const TWO_SENTENCES: Transcript = {
  text: ' Hello, world. "Yes!" she said.',
  language: 'en',
  durationS: 5,
  segments: [
    segment(0, 1.0, [
      [' Hello,', 0.1, 0.5],
      [' world.', 0.6, 1.0],
    ]),
    segment(2.5, 3.8, [
      [' "Yes!"', 2.5, 3.0],
      [' she', 3.0, 3.3],
      [' said.', 3.3, 3.8],
    ]),
  ],
};

export class FakeFileTranscriber implements FileTranscriber {
  readonly asked: Array<Partial<TranscribeOptions>> = [];
  /** samples (16 kHz) of each audio it was given */
  readonly samples: number[] = [];
  private gate: Promise<void> = Promise.resolve();
  private release: () => void = () => {};

  constructor(
    readonly modelName = 'tiny.en',
    readonly multilingual = false,
    private readonly transcript: Transcript = TWO_SENTENCES,
  ) {}

  get defaultLanguage(): string | null {
    return this.multilingual ? null : 'en';
  }

  acceptsLanguage(code: string): boolean {
    return this.multilingual || code === 'en';
  }

  /** Jobs started from now on wait until `open`. */
  hold(): void {
    this.gate = new Promise((resolve) => (this.release = resolve));
  }

  open(): void {
    this.release();
  }

  async transcribe(pcm: Float32Array, options: Partial<TranscribeOptions>): Promise<Transcript> {
    this.asked.push(options);
    this.samples.push(pcm.length);
    await this.gate;
    return this.transcript;
  }
}

/** A valid 16 kHz mono 16-bit WAV file of silence. */
/** A WAV of silence, as bytes fetch and Blob take. */
export function silentWav(seconds: number): Uint8Array<ArrayBuffer> {
  const data = Math.round(seconds * 16000) * 2;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(16000, 24);
  header.writeUInt32LE(32000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data, 40);
  return new Uint8Array(Buffer.concat([header, Buffer.alloc(data)]));
}
