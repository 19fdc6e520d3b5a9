/**
 * WebM (Matroska) with an Opus track to 16 kHz mono samples: what Chrome's MediaRecorder
 * sends for `audio/webm;codecs=opus`.
 *
 * ts-ebml parses the EBML incrementally (bytes in, whole elements out, in stream order), so
 * a message may end anywhere; live recorders write the Segment and each Cluster with an
 * unknown size, which it accepts. Elements are read in order, not as a tree: the first audio
 * TrackEntry is the track, its CodecPrivate is the OpusHead, and every SimpleBlock or Block of
 * that track holds Opus packets (one per frame, laced or not). A BlockGroup's DiscardPadding
 * trims the encoder's padding from the end, as the end granule does in Ogg.
 */
import { Decoder, tools, type EBMLElementDetail } from 'ts-ebml';

import type { AudioDecoder } from './audio-decoder.js';
import { AudioInputError } from './audio-input-error.js';
import { joinSamples } from '../audio/join.js';
import { MIX_CHANNELS, type ChannelPick } from '../audio/channel-pick.js';
import { OPUS_GRANULE_RATE, OpusPackets, checkKeptChannel, parseOpusHead, type Libopus, type OpusHead } from './opus-packets.js';

export const EBML_MAGIC: readonly number[] = [0x1a, 0x45, 0xdf, 0xa3];

const AUDIO_TRACK_TYPE = 2;
const NANOSECONDS_PER_SECOND = 1e9;
/**
 * ts-ebml holds an element's bytes until the whole element has arrived, so a client declaring
 * a huge one could make us buffer without end. An audio block is a few hundred bytes.
 */
const MAX_PENDING_BYTES = 1024 * 1024;

interface TrackEntry {
  number: number | null;
  type: number | null;
  codec: string | null;
  codecPrivate: Buffer | null;
}

interface PendingBlock {
  block: Buffer | null;
  discardPaddingNs: number;
}

export class WebmOpusDecoder implements AudioDecoder {
  private readonly ebml = new Decoder();
  private readonly packets: OpusPackets;
  private entry: TrackEntry | null = null;
  private audioTrack: number | null = null;
  private opusHead: OpusHead | null = null;
  private blockGroup: PendingBlock | null = null;
  /** Bytes given to ts-ebml since it last completed an element. */
  private pendingBytes = 0;

  /** `libopus` from createLibopus with the same `keep`. */
  constructor(
    libopus: Libopus,
    private readonly keep: ChannelPick = MIX_CHANNELS,
  ) {
    this.packets = new OpusPackets(libopus, keep);
  }

  /** The track's OpusHead, once the track header has arrived. */
  get head(): OpusHead | null {
    return this.opusHead;
  }

  decode(message: Uint8Array): Float32Array {
    // A copy as its own ArrayBuffer: ts-ebml wants one, and the caller may reuse the message.
    const elements = this.parse(new Uint8Array(message).buffer);
    this.pendingBytes = elements.length > 0 ? 0 : this.pendingBytes + message.length;
    if (this.pendingBytes > MAX_PENDING_BYTES) {
      throw new AudioInputError(
        'malformed_audio',
        `WebM stream: an element is still incomplete after ${this.pendingBytes} bytes; audio blocks are far smaller`,
      );
    }
    const outputs: Float32Array[] = [];
    for (const element of elements) outputs.push(...this.take(element));
    return joinSamples(outputs);
  }

  /** Blocks are decoded as they complete, so there is nothing held back. */
  flush(): Float32Array {
    return new Float32Array(0);
  }

  private parse(bytes: ArrayBuffer): EBMLElementDetail[] {
    try {
      return this.ebml.decode(bytes);
    } catch (error) {
      throw new AudioInputError('malformed_audio', `WebM stream could not be parsed: ${briefly(error)}`);
    }
  }

  private take(element: EBMLElementDetail): Float32Array[] {
    if (element.type === 'm') {
      this.takeMaster(element.name, element.isEnd);
      return element.name === 'BlockGroup' && element.isEnd ? this.endBlockGroup() : [];
    }
    const { entry } = this;
    switch (element.name) {
      case 'DocType':
        if (element.value !== 'webm' && element.value !== 'matroska') {
          throw new AudioInputError('unsupported_encoding', `EBML document type "${element.value}" is not WebM or Matroska`);
        }
        return [];
      case 'TrackNumber':
        if (entry) entry.number = numberValue(element);
        return [];
      case 'TrackType':
        if (entry) entry.type = numberValue(element);
        return [];
      case 'CodecID':
        if (entry) entry.codec = String(element.value);
        return [];
      case 'CodecPrivate':
        if (entry) entry.codecPrivate = element.data;
        return [];
      case 'DiscardPadding':
        if (this.blockGroup) this.blockGroup.discardPaddingNs = numberValue(element);
        return [];
      case 'Block':
        if (this.blockGroup) this.blockGroup.block = element.data;
        return [];
      case 'SimpleBlock':
        return this.decodeBlock(element.data);
      default:
        return [];
    }
  }

  private takeMaster(name: string, isEnd: boolean | undefined): void {
    if (name === 'TrackEntry') {
      if (!isEnd) this.entry = { number: null, type: null, codec: null, codecPrivate: null };
      else if (this.entry) this.endTrackEntry(this.entry);
    } else if (name === 'BlockGroup' && !isEnd) {
      this.blockGroup = { block: null, discardPaddingNs: 0 };
    } else if (name === 'Tracks' && isEnd && this.audioTrack === null) {
      throw new AudioInputError('unsupported_encoding', 'WebM stream has no audio track');
    }
  }

  private endTrackEntry(entry: TrackEntry): void {
    this.entry = null;
    if (this.audioTrack !== null || entry.type !== AUDIO_TRACK_TYPE || entry.number === null) return;
    if (entry.codec !== 'A_OPUS') {
      throw new AudioInputError(
        'unsupported_encoding',
        `WebM audio codec ${entry.codec ?? '(none)'} is not supported; Chorus reads Opus, what browsers record`,
      );
    }
    if (!entry.codecPrivate) {
      throw new AudioInputError('malformed_audio', 'WebM Opus track has no CodecPrivate (OpusHead)');
    }
    this.opusHead = parseOpusHead(entry.codecPrivate, 'WebM track', 'its CodecPrivate');
    checkKeptChannel(this.opusHead, this.keep, 'WebM Opus track');
    this.packets.applyHead(this.opusHead);
    this.audioTrack = entry.number;
  }

  private endBlockGroup(): Float32Array[] {
    const group = this.blockGroup;
    this.blockGroup = null;
    if (!group?.block) return [];
    const audio = this.decodeBlock(group.block);
    if (group.discardPaddingNs <= 0 || audio.length === 0) return audio;
    const padding = (group.discardPaddingNs * OPUS_GRANULE_RATE) / NANOSECONDS_PER_SECOND;
    const last = audio.length - 1;
    audio[last] = this.packets.trimToTotal(audio[last], this.packets.totalAt48k - padding);
    return audio;
  }

  private decodeBlock(data: Buffer): Float32Array[] {
    let block: ReturnType<typeof tools.ebmlBlock>;
    try {
      block = tools.ebmlBlock(data);
    } catch (error) {
      throw new AudioInputError('malformed_audio', `WebM block could not be parsed: ${briefly(error)}`);
    }
    if (block.trackNumber !== this.audioTrack) return [];
    return block.frames.map((frame) => this.packets.decode(frame));
  }
}

/** ts-ebml types values by the Matroska schema, so a number element holds a number. */
function numberValue(element: EBMLElementDetail): number {
  const value = element.type === 'm' ? undefined : element.value;
  if (typeof value !== 'number') throw new AudioInputError('malformed_audio', `WebM element ${element.name} is not a number`);
  return value;
}

/** ts-ebml's messages can quote whole buffers; a client needs only the gist. */
function briefly(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 120 ? `${message.slice(0, 120)}...` : message;
}
