/**
 * Incremental Ogg demultiplexing (RFC 3533): bytes in, whole packets out.
 *
 * WebSocket messages carry Ogg with no respect for page boundaries: a message may hold a
 * fragment of a page or several pages, and a packet may span pages through 255-valued lacing.
 * So the reader buffers bytes until a page is complete, then splits its body by the lacing
 * table and carries an unfinished packet into the next page.
 *
 * It is strict where a live stream gives no second chance: every page must start where the
 * last one ended, pass its CRC and follow the previous page's sequence number, because a gap
 * means a lost or reordered message and decoding on would produce garbage. One logical stream
 * is supported; interleaved (multiplexed) or chained streams are refused, since a speech
 * client has no reason to send them.
 */

import { AudioInputError } from './audio-input-error.js';

export interface OggPacket {
  data: Uint8Array;
  /**
   * Granule position of the page on which this packet ends, set only on the last packet that
   * ends on that page (the position refers to that packet's end); null for the others.
   */
  granulePosition: bigint | null;
  /** The packet ends the logical stream. */
  endOfStream: boolean;
}

export const OGG_CAPTURE_PATTERN: readonly number[] = [0x4f, 0x67, 0x67, 0x53]; // "OggS"
const HEADER_BYTES = 27;
const FLAG_CONTINUED = 0x01;
const FLAG_BEGIN = 0x02;
const FLAG_END = 0x04;
/** All ones in the granule field means "no packet ends on this page". */
const NO_GRANULE = -1n;
/**
 * Bounds memory a client can make us hold for one packet. Audio packets are a few hundred
 * bytes; only a comment header with embedded cover art gets near this.
 */
const MAX_PACKET_BYTES = 4 * 1024 * 1024;

/** Ogg's CRC-32: polynomial 0x04c11db7, not reflected, zero initial value, no final xor. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 24;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
    table[byte] = crc >>> 0;
  }
  return table;
})();

function pageCrc(page: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < page.length; i++) {
    // The checksum field itself (bytes 22..25) counts as zeros.
    const byte = i >= 22 && i < 26 ? 0 : page[i];
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ byte) & 0xff]) >>> 0;
  }
  return crc;
}

export class OggPacketReader {
  private pending: Uint8Array = new Uint8Array(0);
  private partialPacket: Uint8Array[] = [];
  private partialPacketBytes = 0;
  private serial: number | null = null;
  private nextSequence = 0;
  private ended = false;

  /** Returns the packets completed by these bytes, in stream order. */
  push(bytes: Uint8Array): OggPacket[] {
    this.pending = concat(this.pending, bytes);
    const packets: OggPacket[] = [];
    let offset = 0;
    for (;;) {
      const pageLength = this.completePageLength(offset);
      if (pageLength === 0) break;
      this.readPage(this.pending.subarray(offset, offset + pageLength), packets);
      offset += pageLength;
    }
    this.pending = this.pending.subarray(offset);
    return packets;
  }

  /** Bytes of an unfinished page or packet that a stream ending now would lose. */
  get bufferedBytes(): number {
    return this.pending.length + this.partialPacketBytes;
  }

  /** Length of the page starting at `offset` if all of it has arrived, else 0. */
  private completePageLength(offset: number): number {
    const available = this.pending.length - offset;
    // Check the pattern as soon as its bytes exist, so garbage fails now, not a page later.
    const patternBytes = Math.min(available, OGG_CAPTURE_PATTERN.length);
    for (let i = 0; i < patternBytes; i++) {
      if (this.pending[offset + i] !== OGG_CAPTURE_PATTERN[i]) {
        throw new AudioInputError(
          'malformed_audio',
          `Ogg stream out of sync: expected a page starting with "OggS" ` +
            (this.nextSequence === 0 ? 'at the start' : `after page ${this.nextSequence - 1}`),
        );
      }
    }
    if (available < HEADER_BYTES) return 0;
    const segmentCount = this.pending[offset + 26];
    if (available < HEADER_BYTES + segmentCount) return 0;
    let bodyLength = 0;
    for (let i = 0; i < segmentCount; i++) bodyLength += this.pending[offset + HEADER_BYTES + i];
    const pageLength = HEADER_BYTES + segmentCount + bodyLength;
    return available >= pageLength ? pageLength : 0;
  }

  private readPage(page: Uint8Array, packets: OggPacket[]): void {
    const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
    const version = page[4];
    const flags = page[5];
    const granule = view.getBigInt64(6, true);
    const serial = view.getUint32(14, true);
    const sequence = view.getUint32(18, true);
    const storedCrc = view.getUint32(22, true);
    const segmentCount = page[26];

    if (version !== 0) throw new AudioInputError('malformed_audio', `Ogg page version ${version} is not 0`);
    if (pageCrc(page) !== storedCrc) {
      throw new AudioInputError('malformed_audio', `Ogg page ${sequence} fails its CRC check: the bytes were altered`);
    }
    this.checkStreamIdentity(flags, serial, sequence);

    const continued = (flags & FLAG_CONTINUED) !== 0;
    if (continued !== this.partialPacket.length > 0) {
      throw new AudioInputError(
        'malformed_audio',
        continued
          ? `Ogg page ${sequence} continues a packet, but the previous page ended its last packet`
          : `Ogg page ${sequence} starts a new packet, but the previous page left one unfinished`,
      );
    }

    const completedHere: Uint8Array[] = [];
    let bodyOffset = HEADER_BYTES + segmentCount;
    for (let i = 0; i < segmentCount; i++) {
      const lacing = page[HEADER_BYTES + i];
      this.appendToPacket(page.subarray(bodyOffset, bodyOffset + lacing), sequence);
      bodyOffset += lacing;
      // A lacing value under 255 ends the packet; 255 means it goes on in the next segment.
      if (lacing < 255) completedHere.push(this.takePacket());
    }

    const endsStream = (flags & FLAG_END) !== 0;
    completedHere.forEach((data, i) => {
      const last = i === completedHere.length - 1;
      packets.push({
        data,
        granulePosition: last && granule !== NO_GRANULE ? granule : null,
        endOfStream: last && endsStream,
      });
    });
    if (endsStream) this.ended = true;
  }

  private checkStreamIdentity(flags: number, serial: number, sequence: number): void {
    if (this.serial === null) {
      if (!(flags & FLAG_BEGIN)) {
        throw new AudioInputError('malformed_audio', 'Ogg stream does not start with a beginning-of-stream page');
      }
      this.serial = serial;
    } else if (this.ended || serial !== this.serial) {
      throw new AudioInputError(
        'unsupported_encoding',
        'only one logical Ogg stream per connection is supported (got a chained or multiplexed stream)',
      );
    }
    if (sequence !== this.nextSequence) {
      throw new AudioInputError(
        'malformed_audio',
        `Ogg page sequence jumped from ${this.nextSequence - 1} to ${sequence}: a page was lost or reordered`,
      );
    }
    this.nextSequence = sequence + 1;
  }

  private appendToPacket(segment: Uint8Array, sequence: number): void {
    this.partialPacketBytes += segment.length;
    if (this.partialPacketBytes > MAX_PACKET_BYTES) {
      throw new AudioInputError(
        'malformed_audio',
        `Ogg packet grows past ${MAX_PACKET_BYTES} bytes at page ${sequence}`,
      );
    }
    this.partialPacket.push(segment);
  }

  private takePacket(): Uint8Array {
    const packet = new Uint8Array(this.partialPacketBytes);
    let offset = 0;
    for (const segment of this.partialPacket) {
      packet.set(segment, offset);
      offset += segment.length;
    }
    this.partialPacket = [];
    this.partialPacketBytes = 0;
    return packet;
  }
}

function concat(head: Uint8Array, tail: Uint8Array): Uint8Array {
  // A copy, not tail.slice(): that is a view when the caller passes a Node Buffer.
  if (head.length === 0) return new Uint8Array(tail);
  const joined = new Uint8Array(head.length + tail.length);
  joined.set(head);
  joined.set(tail, head.length);
  return joined;
}
