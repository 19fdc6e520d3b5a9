/**
 * When each stretch of a stream's audio reached the server, so that a result can be timed
 * against the arrival of the audio it transcribes (the server-side latency approximation in
 * metrics.ts). Marks are kept per audio message and forgotten once results have passed them,
 * so a long session holds only the marks of audio not yet finalised.
 */
export class ArrivalClock {
  /** Stream seconds at the end of each message's audio, ascending, with its arrival time. */
  private ends: number[] = [];
  private arrivals: number[] = [];
  private streamEnd = 0;

  /** Records that audio up to `seconds` more of the stream arrived at `wallMs`. */
  record(seconds: number, wallMs: number): void {
    if (seconds <= 0) return;
    this.streamEnd += seconds;
    this.ends.push(this.streamEnd);
    this.arrivals.push(wallMs);
  }

  /**
   * Wall time at which the audio at `streamSeconds` had arrived; null before any audio. A time
   * past the audio received counts as its last message: Whisper's timestamps come in 20 ms
   * steps and a word at the very end can overshoot the audio slightly.
   */
  arrivalOf(streamSeconds: number): number | null {
    let low = 0;
    let high = this.ends.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.ends[middle] < streamSeconds) low = middle + 1;
      else high = middle;
    }
    if (this.arrivals.length === 0) return null;
    return this.arrivals[Math.min(low, this.arrivals.length - 1)];
  }

  /** Forgets marks wholly before `streamSeconds`, which no later result will ask about. */
  forgetBefore(streamSeconds: number): void {
    let keep = 0;
    while (keep < this.ends.length - 1 && this.ends[keep] < streamSeconds) keep++;
    if (keep === 0) return;
    this.ends = this.ends.slice(keep);
    this.arrivals = this.arrivals.slice(keep);
  }
}
