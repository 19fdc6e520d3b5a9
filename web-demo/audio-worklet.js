// Runs on the audio thread: collects the microphone's samples (already at the context's rate,
// mono from the first channel) into chunks of `chunkMs` and posts each to the page. Chunks
// rather than the 128-sample render quanta, because a message per quantum would mean 125
// socket sends a second.
class ChorusCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.chunk = new Float32Array(Math.round((sampleRate * (options.processorOptions?.chunkMs ?? 100)) / 1000));
    this.filled = 0;
  }

  process(inputs) {
    const input = inputs[0]?.[0];
    if (input) {
      let offset = 0;
      while (offset < input.length) {
        const take = Math.min(input.length - offset, this.chunk.length - this.filled);
        this.chunk.set(input.subarray(offset, offset + take), this.filled);
        this.filled += take;
        offset += take;
        if (this.filled === this.chunk.length) {
          this.port.postMessage(this.chunk.slice());
          this.filled = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor('chorus-capture', ChorusCapture);
