import { describe, expect, it } from 'vitest';
import type { AudioDecoder } from '../../src/stream/audio-decoder.js';
import { RtpOpusInput } from '../../src/gateway/rtp-opus-input.js';

/** Every packet decodes to 20 ms of ones at 16 kHz, as a 20 ms Opus frame would. */
const twentyMsOfOnes: AudioDecoder = { decode: () => new Float32Array(320).fill(1), flush: () => new Float32Array(0) };

describe('RtpOpusInput', () => {
  it('passes consecutive packets through and fills a timestamp gap with silence', () => {
    const input = new RtpOpusInput(twentyMsOfOnes);
    expect(input.push(1000, new Uint8Array(1)).length).toBe(320);
    expect(input.push(1960, new Uint8Array(1)).length).toBe(320);
    // One 20 ms packet lost: its 320 samples come back as silence before the next packet.
    const afterLoss = input.push(3880, new Uint8Array(1));
    expect(afterLoss.length).toBe(640);
    expect(afterLoss[319]).toBe(0);
    expect(afterLoss[320]).toBe(1);
  });

  it('drops a late packet and follows timestamps across the 32-bit wrap', () => {
    const input = new RtpOpusInput(twentyMsOfOnes);
    input.push(2 ** 32 - 960, new Uint8Array(1));
    expect(input.push(0, new Uint8Array(1)).length).toBe(320);
    expect(input.push(2 ** 32 - 960, new Uint8Array(1)).length).toBe(0);
  });
});
