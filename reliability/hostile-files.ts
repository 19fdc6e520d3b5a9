// Uploads that try to make the file endpoints spend: WAV headers that declare what the test
// needs (a 10 Hz rate that would be 2,000 s of audio per 40 KB, a rate no resampler takes, 0
// bits per sample, hours of audio) over a few bytes of noise. Shared by the file-limit tests
// (test/gateway/file-limits.test.ts) and the reliability suite.

export interface WavHeader {
  rate: number;
  bits?: number;
  channels?: number;
  /** bytes of (noise) data after the header */
  dataBytes: number;
  /** what the header's data chunk declares, when it should lie about dataBytes */
  declaredDataBytes?: number;
}

/** A PCM WAV whose header says what the caller needs, with `dataBytes` of noise after it. */
export function forgedWav({ rate, bits = 16, channels = 1, dataBytes, declaredDataBytes = dataBytes }: WavHeader): Buffer {
  const header = Buffer.alloc(44);
  const blockAlign = channels * Math.ceil(bits / 8);
  header.write('RIFF', 0);
  header.writeUInt32LE((36 + declaredDataBytes) >>> 0, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(rate >>> 0, 24);
  header.writeUInt32LE((rate * blockAlign) >>> 0, 28);
  header.writeUInt16LE(blockAlign, 32);
  header.writeUInt16LE(bits, 34);
  header.write('data', 36);
  header.writeUInt32LE(declaredDataBytes >>> 0, 40);
  const data = Buffer.alloc(dataBytes);
  for (let i = 0; i < dataBytes; i++) data[i] = (i * 7919) & 0xff;
  return Buffer.concat([header, data]);
}

/**
 * An OpenAI transcription form around `file`, encoded before it is sent so that the client's
 * own work is not timed with the server's.
 */
export async function openAiForm(file: Buffer, fields: Record<string, string> = { model: 'whisper-1' }): Promise<{ body: Buffer; type: string }> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(file)], { type: 'audio/wav' }), 'upload.wav');
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  const encoded = new Response(form);
  return { body: Buffer.from(await encoded.arrayBuffer()), type: encoded.headers.get('content-type')! };
}
