import { describe, expect, it } from 'vitest';
import { ALAW_TO_FLOAT, floatToAlaw, floatToMulaw, MULAW_TO_FLOAT } from '../../src/audio/g711.js';

describe('G.711 companding', () => {
  it('mu-law encoding inverts the decoding table (0x7f, negative zero, encodes as 0xff)', () => {
    for (let code = 0; code < 256; code++) {
      expect(floatToMulaw(MULAW_TO_FLOAT[code])).toBe(code === 0x7f ? 0xff : code);
    }
  });

  it('A-law encoding inverts the decoding table', () => {
    for (let code = 0; code < 256; code++) expect(floatToAlaw(ALAW_TO_FLOAT[code])).toBe(code);
  });

  it('keeps the relative error of loud samples within the law (about 3 %)', () => {
    for (let x = -1; x <= 1; x += 0.001) {
      if (Math.abs(x) < 0.05) continue;
      expect(Math.abs(MULAW_TO_FLOAT[floatToMulaw(x)] - x) / Math.abs(x)).toBeLessThan(0.035);
      expect(Math.abs(ALAW_TO_FLOAT[floatToAlaw(x)] - x) / Math.abs(x)).toBeLessThan(0.035);
    }
  });
});
