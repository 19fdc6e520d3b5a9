/**
 * Live audio with no `encoding` parameter: as Deepgram does, the container is detected from
 * the first bytes. Chorus reads the containers live clients send: WebM with Opus (Chrome's
 * MediaRecorder), Ogg with Opus (Firefox's, and Opus tools), and WAV (any PCM, float or G.711
 * format; a recording piped as it is). Raw audio has no signature, so it needs `encoding`.
 */
import { CONTAINER_NAMES, CONTAINER_SIGNATURE_BYTES, detectContainer, oggCodec } from '../audio/container.js';
import { MIX_CHANNELS, type ChannelPick } from '../audio/channel-pick.js';
import type { AudioDecoder } from './audio-decoder.js';
import { AudioInputError } from './audio-input-error.js';
import { DetectingDecoder } from './detecting-decoder.js';
import { OggOpusDecoder } from './opus-input.js';
import { createLibopus } from './opus-packets.js';
import { WavStreamDecoder } from './wav-input.js';
import { WebmOpusDecoder } from './webm-opus-input.js';

/** An Ogg page's fixed header; its lacing table and then the codec's magic (8 bytes) follow. */
const OGG_PAGE_HEADER_BYTES = 27;
const CODEC_MAGIC_BYTES = 8;

export async function createContainerDecoder(keep: ChannelPick = MIX_CHANNELS): Promise<AudioDecoder> {
  // Instantiated before the container is known, because detection happens inside the
  // synchronous decode and WebAssembly instantiation is asynchronous.
  const libopus = await createLibopus(keep);
  // Too few bytes to tell means waiting for more, at a flush too (Finalize right away).
  return new DetectingDecoder((head) => {
    if (head.length < CONTAINER_SIGNATURE_BYTES) return null;
    const container = detectContainer(head);
    switch (container) {
      case 'webm':
        return new WebmOpusDecoder(libopus, keep);
      case 'wav':
        return new WavStreamDecoder(keep);
      case 'ogg': {
        if (head.length < OGG_PAGE_HEADER_BYTES + head[26] + CODEC_MAGIC_BYTES) return null;
        const codec = oggCodec(head);
        if (codec === 'opus') return new OggOpusDecoder(libopus, keep);
        throw new AudioInputError(
          'unsupported_encoding',
          `Ogg ${codec === null ? 'with an unknown codec' : codec === 'vorbis' ? 'Vorbis' : 'FLAC'} is not read live; send Ogg Opus`,
        );
      }
      case null:
        throw new AudioInputError(
          'unsupported_encoding',
          'no encoding parameter, and the audio does not start like a container Chorus reads ' +
            '(WebM, Ogg, WAV); raw audio needs encoding=linear16|mulaw|alaw|opus and, except for Opus, sample_rate',
        );
      default:
        throw new AudioInputError(
          'unsupported_encoding',
          `${CONTAINER_NAMES[container]} is not read live; send WebM or Ogg with Opus, WAV, or raw audio with encoding=`,
        );
    }
  });
}
