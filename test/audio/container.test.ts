import { describe, expect, it } from 'vitest';

import { CONTAINER_SIGNATURE_BYTES, detectContainer, oggCodec } from '../../src/audio/container.js';

const bytes = (...parts: Array<string | number[]>) =>
  new Uint8Array(parts.flatMap((part) => (typeof part === 'string' ? Array.from(part, (c) => c.charCodeAt(0)) : part)));

describe('detectContainer', () => {
  it.each([
    ['wav', bytes('RIFF', [0, 0, 0, 0], 'WAVEfmt ')],
    ['wav', bytes('RF64', [0xff, 0xff, 0xff, 0xff], 'WAVEds64')],
    ['ogg', bytes('OggS', [0, 2, 0, 0, 0, 0, 0, 0])],
    ['webm', bytes([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0xf7, 0x81])],
    ['flac', bytes('fLaC', [0, 0, 0, 0x22, 0, 0, 0, 0])],
    ['mp4', bytes([0, 0, 0, 0x20], 'ftypM4A ')],
    ['mp3', bytes('ID3', [4, 0, 0, 0, 0, 0, 0, 0, 0])],
    // MPEG-1 Layer III, 128 kb/s, 44.1 kHz: a bare frame with no ID3 tag.
    ['mp3', bytes([0xff, 0xfb, 0x90, 0x64, 0, 0, 0, 0, 0, 0, 0, 0])],
  ])('reads %s from its signature', (container, head) => {
    expect(head.length).toBeGreaterThanOrEqual(CONTAINER_SIGNATURE_BYTES);
    expect(detectContainer(head)).toBe(container);
  });

  it('does not take AAC in ADTS, whose sync word MP3 shares, for MP3', () => {
    expect(detectContainer(bytes([0xff, 0xf1, 0x50, 0x80, 0, 0, 0, 0, 0, 0, 0, 0]))).toBeNull();
  });

  it('finds nothing in raw PCM, or in a RIFF that is not WAVE', () => {
    expect(detectContainer(new Uint8Array(new Int16Array([100, -100, 200, -200, 300, -300]).buffer))).toBeNull();
    expect(detectContainer(bytes('RIFF', [0, 0, 0, 0], 'AVI LIST'))).toBeNull();
  });
});

describe('oggCodec', () => {
  const firstPage = (packet: string | number[]) => bytes('OggS', new Array(22).fill(0), [1, 19], packet);

  it.each([
    ['opus', firstPage('OpusHead')],
    ['vorbis', firstPage([1, ...Array.from('vorbis', (c) => c.charCodeAt(0)), 0])],
    ['flac', firstPage([0x7f, ...Array.from('FLAC', (c) => c.charCodeAt(0)), 1, 0, 0])],
    [null, firstPage('Speex   ')],
  ])('reads %s from the first packet', (codec, page) => {
    expect(oggCodec(page)).toBe(codec);
  });
});
