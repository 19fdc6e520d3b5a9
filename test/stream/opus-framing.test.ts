// Opus packets are checked against RFC 6716's framing rules before libopus sees them, so a
// client's corrupt packet is refused with a reason and libopus (whose build writes every
// refusal to stderr) never prints a raw line into the JSON log (issue 18 item 8).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AudioInputError, createAudioDecoder } from '../../src/stream/audio-decoder.js';
import { opusFramingProblem } from '../../src/stream/opus-framing.js';
import { createLibopus } from '../../src/stream/opus-packets.js';

afterEach(() => vi.restoreAllMocks());

/** Deterministic bytes, so a failure reproduces. */
function randomPackets(count: number, seed = 7): Uint8Array[] {
  let state = seed;
  // The high byte: an LCG's low bits repeat with short periods.
  const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) >>> 24;
  return Array.from({ length: count }, () => {
    const packet = new Uint8Array(1 + (next() % 48));
    for (let i = 0; i < packet.length; i++) packet[i] = next();
    // Frame-count bytes with few frames, so that code 3 packets are often well formed too.
    if ((packet[0] & 3) === 3 && packet.length > 1 && next() % 2 === 0) packet[1] = (packet[1] & 0xc0) | (1 + (next() % 4));
    return packet;
  });
}

describe('opusFramingProblem', () => {
  it('agrees with libopus on 20,000 random packets: what it passes decodes, what it refuses libopus refuses', async () => {
    const libopus = await createLibopus();
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {});
    let passed = 0;
    try {
      for (const packet of randomPackets(20_000)) {
        const problem = opusFramingProblem(packet);
        const errors = libopus.decodeFrame(packet).errors.length;
        expect(errors === 0, `${Buffer.from(packet).toString('hex')}: ${problem}`).toBe(problem === null);
        if (problem === null) passed++;
      }
    } finally {
      libopus.free();
    }
    expect(passed).toBeGreaterThan(2000);
    expect(printed).toHaveBeenCalled();
  });

  it('names what is wrong', () => {
    expect(opusFramingProblem(Uint8Array.from([0x03, 0x00]))).toBe('it declares 0 frames');
    expect(opusFramingProblem(Uint8Array.from([0x01, 1, 2, 3]))).toBe('its two equal frames share an odd 3 bytes');
    expect(opusFramingProblem(Uint8Array.from([0x1b, 0x03]))).toBe('its 3 frames of 60 ms are more than 120 ms');
    expect(opusFramingProblem(new Uint8Array(0))).toBeNull();
  });
});

describe('a corrupt Opus packet from a client', () => {
  it('is refused as malformed_audio with the reason, and nothing is written to stderr', async () => {
    const printed = vi.spyOn(console, 'error');
    const decoder = await createAudioDecoder({ encoding: 'opus', channels: 1 });
    expect(() => decoder.decode(Uint8Array.from([0x03, 0x00]))).toThrow(AudioInputError);
    expect(() => decoder.decode(Uint8Array.from([0x03, 0x00]))).toThrow('not an Opus packet: it declares 0 frames');
    expect(printed).not.toHaveBeenCalled();
  });
});
