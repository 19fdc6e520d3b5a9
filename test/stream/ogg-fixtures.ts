// Builds Ogg pages by hand, so the demuxer's edge cases can be tested without an encoder.

export interface PageOptions {
  sequence: number;
  begin?: boolean;
  end?: boolean;
  /** The page's first piece continues a packet from the previous page. */
  continued?: boolean;
  /** The last piece does not end its packet (its length must be a multiple of 255). */
  lastUnfinished?: boolean;
  granule?: bigint;
  serial?: number;
}

/** CRC-32 of RFC 3533, computed bit by bit as a check on the table-driven implementation. */
function oggCrc(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 24;
    for (let bit = 0; bit < 8; bit++) crc = (crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1) >>> 0;
  }
  return crc >>> 0;
}

export function oggPage(pieces: Uint8Array[], options: PageOptions): Uint8Array {
  const lacing: number[] = [];
  pieces.forEach((piece, i) => {
    for (let left = piece.length; left >= 255; left -= 255) lacing.push(255);
    const unfinished = options.lastUnfinished && i === pieces.length - 1;
    if (unfinished && piece.length % 255 !== 0) throw new Error('an unfinished piece must fill whole segments');
    if (!unfinished) lacing.push(piece.length % 255);
  });
  const bodyLength = pieces.reduce((sum, piece) => sum + piece.length, 0);
  const page = new Uint8Array(27 + lacing.length + bodyLength);
  const view = new DataView(page.buffer);
  page.set([0x4f, 0x67, 0x67, 0x53]);
  page[5] = (options.continued ? 1 : 0) | (options.begin ? 2 : 0) | (options.end ? 4 : 0);
  view.setBigInt64(6, options.granule ?? -1n, true);
  view.setUint32(14, options.serial ?? 1, true);
  view.setUint32(18, options.sequence, true);
  page[26] = lacing.length;
  page.set(lacing, 27);
  let offset = 27 + lacing.length;
  for (const piece of pieces) {
    page.set(piece, offset);
    offset += piece.length;
  }
  view.setUint32(22, oggCrc(page), true);
  return page;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

export function filled(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}

export interface OpusHeadOptions {
  channels?: number;
  preSkip?: number;
  /** Q7.8 dB. */
  outputGain?: number;
  mappingFamily?: number;
}

export function opusHead(options: OpusHeadOptions = {}): Uint8Array {
  const family = options.mappingFamily ?? 0;
  const channels = options.channels ?? 1;
  const head = new Uint8Array(family === 0 ? 19 : 21 + channels);
  const view = new DataView(head.buffer);
  head.set(new TextEncoder().encode('OpusHead'));
  head[8] = 1;
  head[9] = channels;
  view.setUint16(10, options.preSkip ?? 312, true);
  view.setUint32(12, 48000, true);
  view.setInt16(16, options.outputGain ?? 0, true);
  head[18] = family;
  return head;
}

export const OPUS_TAGS = concatBytes(new TextEncoder().encode('OpusTags'), new Uint8Array(8));
