import { describe, expect, it } from 'vitest';

import { AudioInputError } from '../../src/stream/audio-input-error.js';
import { createAudioDecoder } from '../../src/stream/audio-decoder.js';
import { OggPacketReader } from '../../src/stream/ogg-packets.js';
import { OPUS_TAGS, concatBytes, filled, oggPage, opusHead } from './ogg-fixtures.js';

function captureError(action: () => unknown): AudioInputError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(AudioInputError);
    return error as AudioInputError;
  }
  throw new Error('expected an AudioInputError');
}

describe('OggPacketReader', () => {
  it('returns each packet once its page is complete, however the bytes are sliced', () => {
    const stream = concatBytes(
      oggPage([filled(3, 1)], { sequence: 0, begin: true, granule: 0n }),
      oggPage([filled(10, 2), filled(20, 3)], { sequence: 1, granule: 960n }),
    );
    for (const sliceLength of [1, 7, stream.length]) {
      const reader = new OggPacketReader();
      const packets = [];
      for (let offset = 0; offset < stream.length; offset += sliceLength) {
        packets.push(...reader.push(stream.subarray(offset, offset + sliceLength)));
      }
      expect(packets.map((packet) => packet.data)).toEqual([filled(3, 1), filled(10, 2), filled(20, 3)]);
      expect(reader.bufferedBytes).toBe(0);
    }
  });

  it('gives the page granule only to the last packet that ends on the page', () => {
    const reader = new OggPacketReader();
    const packets = reader.push(
      concatBytes(
        oggPage([filled(1, 0)], { sequence: 0, begin: true, granule: 0n }),
        oggPage([filled(2, 0), filled(2, 0)], { sequence: 1, granule: 1920n, end: true }),
      ),
    );
    expect(packets.map((packet) => [packet.granulePosition, packet.endOfStream])).toEqual([
      [0n, false],
      [null, false],
      [1920n, true],
    ]);
  });

  it('reassembles a packet laced across pages, including one of exactly 255 bytes', () => {
    const long = Uint8Array.from({ length: 600 }, (_, i) => i % 251);
    const reader = new OggPacketReader();
    const packets = reader.push(
      concatBytes(
        oggPage([filled(255, 9)], { sequence: 0, begin: true }),
        oggPage([long.subarray(0, 510)], { sequence: 1, lastUnfinished: true }),
        oggPage([long.subarray(510)], { sequence: 2, continued: true }),
      ),
    );
    expect(packets.map((packet) => packet.data)).toEqual([filled(255, 9), long]);
  });

  it('fails as soon as bytes that should start a page are not "OggS"', () => {
    const reader = new OggPacketReader();
    reader.push(oggPage([filled(3, 1)], { sequence: 0, begin: true }));
    const error = captureError(() => reader.push(new TextEncoder().encode('RIFF')));
    expect(error.code).toBe('malformed_audio');
    expect(error.message).toMatch(/out of sync: expected a page starting with "OggS" after page 0/);
  });

  it('requires the stream to begin with a beginning-of-stream page', () => {
    const error = captureError(() => new OggPacketReader().push(oggPage([filled(3, 1)], { sequence: 0 })));
    expect(error.message).toMatch(/does not start with a beginning-of-stream page/);
  });

  it('detects a page that claims to continue a packet the previous page had ended', () => {
    const reader = new OggPacketReader();
    reader.push(oggPage([filled(3, 1)], { sequence: 0, begin: true }));
    const error = captureError(() => reader.push(oggPage([filled(3, 1)], { sequence: 1, continued: true })));
    expect(error.message).toMatch(/page 1 continues a packet, but the previous page ended its last packet/);
  });

  it('refuses a second logical stream', () => {
    const reader = new OggPacketReader();
    reader.push(oggPage([filled(3, 1)], { sequence: 0, begin: true, serial: 1 }));
    const error = captureError(() => reader.push(oggPage([filled(3, 1)], { sequence: 0, begin: true, serial: 2 })));
    expect(error.code).toBe('unsupported_encoding');
  });

  it('counts the bytes of an unfinished page as buffered', () => {
    const reader = new OggPacketReader();
    const page = oggPage([filled(50, 1)], { sequence: 0, begin: true });
    expect(reader.push(page.subarray(0, 40))).toEqual([]);
    expect(reader.bufferedBytes).toBe(40);
  });
});

describe('Ogg/Opus headers', () => {
  async function decodeStream(...pages: Uint8Array[]): Promise<Float32Array> {
    const decoder = await createAudioDecoder({ encoding: 'opus' });
    return decoder.decode(concatBytes(...pages));
  }

  it('refuses an Ogg stream that is not Opus', async () => {
    const vorbis = concatBytes(Uint8Array.of(1), new TextEncoder().encode('vorbis'), new Uint8Array(23));
    await expect(decodeStream(oggPage([vorbis], { sequence: 0, begin: true }))).rejects.toThrow(
      /first packet is not an OpusHead header/,
    );
  });

  it('refuses surround streams, naming the mapping family', async () => {
    const head = opusHead({ channels: 6, mappingFamily: 1 });
    await expect(decodeStream(oggPage([head], { sequence: 0, begin: true }))).rejects.toMatchObject({
      code: 'unsupported_encoding',
      message: expect.stringMatching(/channel mapping family 1 \(6 channels\) is not supported; send mono or stereo/),
    });
  });

  it('requires OpusTags after OpusHead', async () => {
    const pages = [
      oggPage([opusHead()], { sequence: 0, begin: true }),
      oggPage([filled(10, 0)], { sequence: 1 }),
    ];
    await expect(decodeStream(...pages)).rejects.toThrow(/second packet is not an OpusTags header/);
  });

  it('accepts headers and no audio yet', async () => {
    const pages = [oggPage([opusHead()], { sequence: 0, begin: true }), oggPage([OPUS_TAGS], { sequence: 1 })];
    expect(await decodeStream(...pages)).toHaveLength(0);
  });
});
