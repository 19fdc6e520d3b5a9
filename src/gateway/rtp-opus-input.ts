/**
 * Opus RTP payloads (RFC 7587) to 16 kHz samples on the stream's timeline.
 *
 * Each RTP payload is one raw Opus packet, which the Opus stream decoder already takes. What
 * RTP adds is time: packets can be lost or reordered on UDP, and a sender using DTX stops
 * sending during silence. The session's word times count received samples, so a gap in RTP
 * timestamps is filled with silence of the same length; otherwise every later word would be
 * stamped early and endpointing would never see the pause. A packet older than one already
 * decoded is dropped: decoding it late would put its audio in the wrong place.
 */
import { STREAM_SAMPLE_RATE, type AudioDecoder } from '../stream/audio-decoder.js';

/** RFC 7587: Opus RTP timestamps always count 48 kHz samples, whatever the decoded rate. */
const RTP_CLOCK_RATE = 48000;
const CLOCK_TO_STREAM = STREAM_SAMPLE_RATE / RTP_CLOCK_RATE;
/**
 * A larger jump is a sender restarting its clock (or a hostile one), not a pause; filling it
 * would push seconds of silence through the engine for nothing.
 */
const MAX_GAP_CLOCK = 10 * RTP_CLOCK_RATE;

export class RtpOpusInput {
  /** RTP timestamp at which the next packet is expected (last packet's start plus its length). */
  private expectedTimestamp: number | null = null;

  constructor(private readonly decoder: AudioDecoder) {}

  /** Samples for this packet, preceded by silence for any time the packets before it skipped. */
  push(timestamp: number, payload: Uint8Array): Float32Array {
    const gap = this.expectedTimestamp === null ? 0 : wrappedDifference(timestamp, this.expectedTimestamp);
    if (gap < 0) return new Float32Array(0);
    const decoded = this.decoder.decode(payload);
    this.expectedTimestamp = (timestamp + Math.round(decoded.length / CLOCK_TO_STREAM)) >>> 0;
    if (gap === 0 || gap > MAX_GAP_CLOCK) return decoded;
    const silence = Math.round(gap * CLOCK_TO_STREAM);
    const samples = new Float32Array(silence + decoded.length);
    samples.set(decoded, silence);
    return samples;
  }
}

/** a − b for 32-bit RTP timestamps that may have wrapped around. */
function wrappedDifference(a: number, b: number): number {
  return ((a - b + 2 ** 31) >>> 0) - 2 ** 31;
}
