/**
 * The framing rules every Opus packet obeys (RFC 6716, section 3.4, R1-R7), checked before a
 * packet reaches libopus. The opus-decoder build writes each packet libopus refuses to stderr
 * itself (`console.error`), which puts raw lines between the gateway's JSON log records, on
 * input any client controls; a packet refused here gets a precise reason in the session's
 * own error instead. Whatever passes these rules libopus decodes without an error (its other
 * failures are about buffers and arguments, which the caller fixes).
 */

/** Longest frame in bytes (R2). */
const MAX_FRAME_BYTES = 1275;
/** Longest audio one packet may carry, in tenths of a millisecond (R5). */
const MAX_PACKET_DURATION = 1200;
/** Frame duration by configuration number (the TOC byte's top five bits), in tenths of a ms. */
const FRAME_DURATION = [
  ...[100, 200, 400, 600, 100, 200, 400, 600, 100, 200, 400, 600], // SILK-only
  ...[100, 200, 100, 200], // hybrid
  ...[25, 50, 100, 200, 25, 50, 100, 200, 25, 50, 100, 200, 25, 50, 100, 200], // CELT-only
];

/** Why `packet` is not a well-formed Opus packet, or null when it is. */
export function opusFramingProblem(packet: Uint8Array): string | null {
  // Not a packet by R1, but what a container holds for a lost one, which libopus conceals.
  if (packet.length === 0) return null;
  const toc = packet[0];
  const frameDuration = FRAME_DURATION[toc >> 3];
  const payload = packet.length - 1;
  switch (toc & 3) {
    case 0:
      return payload > MAX_FRAME_BYTES ? `its frame is ${payload} bytes, more than ${MAX_FRAME_BYTES}` : null;
    case 1:
      if (payload % 2 !== 0) return `its two equal frames share an odd ${payload} bytes`;
      return payload / 2 > MAX_FRAME_BYTES ? `its frames are ${payload / 2} bytes, more than ${MAX_FRAME_BYTES}` : null;
    case 2: {
      const first = frameLength(packet, 1);
      if (first === null) return 'it ends inside the length of its first frame';
      const second = payload - first.bytes - first.length;
      if (second < 0) return `its first frame of ${first.length} bytes runs past the end`;
      return Math.max(first.length, second) > MAX_FRAME_BYTES ? `a frame is more than ${MAX_FRAME_BYTES} bytes` : null;
    }
    default:
      return arbitraryFramesProblem(packet, frameDuration);
  }
}

/** Code 3: a frame count byte, optional padding, then equal frames or coded lengths (R5-R7). */
function arbitraryFramesProblem(packet: Uint8Array, frameDuration: number): string | null {
  if (packet.length < 2) return 'it ends before its frame count';
  const countByte = packet[1];
  const frames = countByte & 0x3f;
  if (frames === 0) return 'it declares 0 frames';
  if (frames * frameDuration > MAX_PACKET_DURATION) {
    return `its ${frames} frames of ${frameDuration / 10} ms are more than ${MAX_PACKET_DURATION / 10} ms`;
  }
  let offset = 2;
  let padding = 0;
  if (countByte & 0x40) {
    // Each padding-length byte of 255 adds 254 and says another byte follows.
    for (;;) {
      if (offset >= packet.length) return 'it ends inside its padding length';
      const value = packet[offset++];
      padding += value === 255 ? 254 : value;
      if (value !== 255) break;
    }
  }
  let remaining = packet.length - offset - padding;
  if (remaining < 0) return `its ${padding} bytes of padding run past the end`;
  if (!(countByte & 0x80)) {
    if (remaining % frames !== 0) return `${remaining} bytes do not split into ${frames} equal frames`;
    return remaining / frames > MAX_FRAME_BYTES ? `its frames are more than ${MAX_FRAME_BYTES} bytes` : null;
  }
  for (let frame = 0; frame < frames - 1; frame++) {
    const length = frameLength(packet, offset);
    if (length === null) return `it ends inside the length of frame ${frame + 1}`;
    offset += length.bytes;
    remaining -= length.bytes + length.length;
    if (length.length > MAX_FRAME_BYTES || remaining < 0) return `frame ${frame + 1} of ${length.length} bytes does not fit`;
  }
  return remaining > MAX_FRAME_BYTES ? `its last frame is more than ${MAX_FRAME_BYTES} bytes` : null;
}

/** A frame length in one byte (0-251) or two (252-1275); null when the packet ends first. */
function frameLength(packet: Uint8Array, offset: number): { length: number; bytes: number } | null {
  if (offset >= packet.length) return null;
  const first = packet[offset];
  if (first < 252) return { length: first, bytes: 1 };
  if (offset + 1 >= packet.length) return null;
  return { length: packet[offset + 1] * 4 + first, bytes: 2 };
}
