/**
 * Opus input for `encoding=opus`: an Ogg/Opus stream (RFC 7845), a WebM stream with an Opus
 * track, or raw packets, one per message.
 *
 * Browsers' MediaRecorder sends Ogg (Firefox) or WebM (Chrome), while WebRTC-style and
 * embedded clients send bare packets, so the first bytes decide: the "OggS" capture pattern
 * means Ogg, the EBML magic means WebM, anything else is a raw packet. A first message shorter
 * than a pattern that could still begin it is held until the decision is possible.
 *
 * Ogg timing follows RFC 7845 §4: OpusHead's pre-skip is dropped from the start (see
 * opus-packets.ts) and the end-of-stream page's granule position trims the padding from the end.
 */
import { MIX_CHANNELS, type ChannelPick } from '../audio/channel-pick.js';
import type { AudioDecoder } from './audio-decoder.js';
import { AudioInputError } from './audio-input-error.js';
import { joinSamples } from '../audio/join.js';
import { DetectingDecoder, couldStartWith, startsWith } from './detecting-decoder.js';
import { OGG_CAPTURE_PATTERN, OggPacketReader } from './ogg-packets.js';
import { OpusPackets, checkKeptChannel, createLibopus, parseOpusHead, type Libopus, type OpusHead } from './opus-packets.js';
import { EBML_MAGIC, WebmOpusDecoder } from './webm-opus-input.js';

type OggHeaderState = 'expect_head' | 'expect_tags' | 'audio';

export async function createOpusStreamDecoder(keep: ChannelPick = MIX_CHANNELS): Promise<AudioDecoder> {
  const libopus = await createLibopus(keep);
  return new DetectingDecoder((head, final) => {
    if (startsWith(head, OGG_CAPTURE_PATTERN)) return new OggOpusDecoder(libopus, keep);
    if (startsWith(head, EBML_MAGIC)) return new WebmOpusDecoder(libopus, keep);
    const couldBeContainer = couldStartWith(head, OGG_CAPTURE_PATTERN) || couldStartWith(head, EBML_MAGIC);
    return couldBeContainer && !final ? null : new RawOpusDecoder(libopus, keep);
  });
}

/**
 * An Ogg/Opus byte stream, split anywhere. flush keeps the Ogg state, because it marks an
 * utterance end (Finalize), not the end of the byte stream; a page cut short by the client
 * closing is dropped, as Ogg readers do with a truncated file.
 */
export class OggOpusDecoder implements AudioDecoder {
  private readonly ogg = new OggPacketReader();
  private readonly packets: OpusPackets;
  private headerState: OggHeaderState = 'expect_head';
  private opusHead: OpusHead | null = null;

  /** `libopus` from createLibopus with the same `keep`. */
  constructor(
    libopus: Libopus,
    private readonly keep: ChannelPick = MIX_CHANNELS,
  ) {
    this.packets = new OpusPackets(libopus, keep);
  }

  /** The stream's OpusHead, once its first page has arrived. */
  get head(): OpusHead | null {
    return this.opusHead;
  }

  decode(message: Uint8Array): Float32Array {
    const outputs: Float32Array[] = [];
    for (const packet of this.ogg.push(message)) {
      if (this.headerState === 'expect_head') {
        this.opusHead = parseOpusHead(packet.data, 'Ogg stream', 'its first packet');
        checkKeptChannel(this.opusHead, this.keep, 'Ogg Opus stream');
        this.packets.applyHead(this.opusHead);
        this.headerState = 'expect_tags';
      } else if (this.headerState === 'expect_tags') {
        if (String.fromCharCode(...packet.data.subarray(0, 8)) !== 'OpusTags') {
          throw new AudioInputError('malformed_audio', 'Ogg Opus stream: second packet is not an OpusTags header');
        }
        this.headerState = 'audio';
      } else {
        const audio = this.packets.decode(packet.data);
        // The end-of-stream granule counts the real samples; beyond it is encoder padding.
        const last = packet.endOfStream && packet.granulePosition !== null;
        outputs.push(last ? this.packets.trimToTotal(audio, Number(packet.granulePosition)) : audio);
      }
    }
    return joinSamples(outputs);
  }

  flush(): Float32Array {
    return new Float32Array(0);
  }
}

/** One Opus packet per message, with no container, so no pre-skip or trimming either. */
class RawOpusDecoder implements AudioDecoder {
  private readonly packets: OpusPackets;

  /** `libopus` from createLibopus with the same `keep`; a mono packet counts as both channels. */
  constructor(libopus: Libopus, keep: ChannelPick) {
    this.packets = new OpusPackets(libopus, keep);
  }

  decode(message: Uint8Array): Float32Array {
    // An empty message has no packet in it, and libopus would read it as a lost packet and
    // synthesise 120 ms of concealment audio.
    return message.length === 0 ? new Float32Array(0) : this.packets.decode(message);
  }

  flush(): Float32Array {
    return new Float32Array(0);
  }
}
