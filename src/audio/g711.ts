/**
 * ITU-T G.711 mu-law and A-law expansion to float samples.
 *
 * Both laws map each 8-bit code to a 13/14-bit linear value, so a 256-entry table built once
 * is both exact and the fastest decoder; WAV files and telephony streams share these tables.
 */

function buildG711Table(toLinear16: (code: number) => number): Float32Array {
  const table = new Float32Array(256);
  for (let code = 0; code < 256; code++) table[code] = toLinear16(code) / 32768;
  return table;
}

/** Index by the mu-law code byte; values in [-1, 1]. */
export const MULAW_TO_FLOAT = buildG711Table((code) => {
  const inverted = ~code & 0xff;
  const exponent = (inverted >> 4) & 0x07;
  const mantissa = inverted & 0x0f;
  const magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
  return inverted & 0x80 ? -magnitude : magnitude;
});

/** Index by the A-law code byte; values in [-1, 1]. */
export const ALAW_TO_FLOAT = buildG711Table((code) => {
  const toggled = code ^ 0x55;
  const exponent = (toggled >> 4) & 0x07;
  const mantissa = toggled & 0x0f;
  const magnitude = exponent === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  // A-law's sign bit is set for positive values, the opposite of mu-law.
  return toggled & 0x80 ? magnitude : -magnitude;
});

/** Compands one sample in [-1, 1] to a mu-law code byte (clients and tests produce G.711). */
export function floatToMulaw(sample: number): number {
  const BIAS = 0x84;
  const CLIP = 32635;
  let linear = Math.round(Math.max(-1, Math.min(1, sample)) * 32767);
  const sign = linear < 0 ? 0x80 : 0;
  if (linear < 0) linear = -linear;
  linear = Math.min(linear, CLIP) + BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (linear & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (linear >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** Compands one sample in [-1, 1] to an A-law code byte. */
export function floatToAlaw(sample: number): number {
  let linear = Math.round(Math.max(-1, Math.min(1, sample)) * 32767) >> 3;
  const sign = linear >= 0 ? 0x80 : 0;
  if (linear < 0) linear = -linear - 1;
  let code: number;
  if (linear < 32) {
    code = linear >> 1;
  } else {
    let exponent = 1;
    while (linear >> (exponent + 4) > 1 && exponent < 7) exponent++;
    code = (exponent << 4) | ((linear >> exponent) & 0x0f);
  }
  return (code | sign) ^ 0x55;
}
