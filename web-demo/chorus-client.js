// Chorus live captions in the browser: microphone in, interim and final captions out, over
// a WebSocket (/v1/listen) or WebRTC (/v1/whip). A plain ES module with no dependencies, so
// a page can import it straight from the gateway:
//
//   import { startCaptions } from '/chorus-client.js';
//   const captions = await startCaptions({
//     server: location.origin, transport: 'webrtc',
//     onInterim: (text) => …, onFinal: (text, info) => …, onState: (state) => …, onError: (error) => …,
//   });
//   … later: await captions.stop();
//
// Transports: 'websocket-pcm' (an AudioWorklet producing 16 kHz PCM16), 'websocket-opus'
// (the same worklet feeding WebCodecs' Opus encoder; raw Opus packets, one per message) and
// 'webrtc' (the browser's own Opus over RTP, captions on a DataChannel). Every transport
// delivers /v1/listen's Results messages, so the captions logic below is shared.

const PCM_RATE = 16000;
const OPUS_RATE = 48000;

/** Errors carry a `kind` a page can map to words: microphone, server_full, connection_lost, unsupported, server. */
export class CaptionsError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'CaptionsError';
    this.kind = kind;
  }
}

/**
 * Starts captioning; resolves once audio flows. `options`: server (http(s) origin), transport,
 * params (extra /v1/listen query parameters), token (API key), stream (a MediaStream instead
 * of asking for the microphone), and the callbacks onInterim(text), onFinal(text, {latencyMs,
 * start, end}), onState(state: 'connecting' | 'live' | 'stopping' | 'closed'), onError(error).
 */
export async function startCaptions(options) {
  const client = new CaptionsClient(options);
  await client.start();
  return client;
}

class CaptionsClient {
  constructor(options) {
    this.options = { transport: 'websocket-pcm', params: {}, ...options };
    this.server = new URL(options.server ?? location.origin);
    this.state = 'closed';
    this.cleanups = [];
    /** Wall time at which stream time 0 was captured, for per-utterance latency. */
    this.streamEpoch = null;
    this.stopping = null;
  }

  async start() {
    this.setState('connecting');
    try {
      this.stream = this.options.stream ?? (await openMicrophone());
      if (!this.options.stream) this.cleanups.push(() => this.stream.getTracks().forEach((t) => t.stop()));
      const transport = this.options.transport;
      if (transport === 'webrtc') await this.startWebRtc();
      else if (transport === 'websocket-pcm' || transport === 'websocket-opus') await this.startWebSocket(transport);
      else throw new CaptionsError('unsupported', `unknown transport ${transport}`);
      this.setState('live');
    } catch (error) {
      await this.teardown();
      this.setState('closed');
      throw error;
    }
  }

  /** Sends what is left, waits for its finals, then closes. */
  stop() {
    this.stopping ??= (async () => {
      if (this.state === 'closed') return;
      this.setState('stopping');
      try {
        await this.finish?.();
      } finally {
        await this.teardown();
        this.setState('closed');
      }
    })();
    return this.stopping;
  }

  // -----------------------------------------------------------------------------------------
  // WebSocket: PCM16 or Opus packets as binary messages

  async startWebSocket(transport) {
    const opus = transport === 'websocket-opus';
    if (opus && typeof AudioEncoder === 'undefined') {
      throw new CaptionsError('unsupported', 'this browser has no WebCodecs Opus encoder; choose PCM or WebRTC');
    }
    const url = new URL('/v1/listen', this.server);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = opus ? { encoding: 'opus' } : { encoding: 'linear16', sample_rate: PCM_RATE };
    for (const [key, value] of Object.entries({ interim_results: true, ...this.options.params, ...query })) {
      url.searchParams.set(key, String(value));
    }
    // Browsers cannot set headers on a WebSocket; Deepgram's subprotocol carries the key.
    const socket = new WebSocket(url, this.options.token ? ['token', this.options.token] : undefined);
    socket.binaryType = 'arraybuffer';
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(null);
      socket.onclose = () => reject(null);
    }).catch(async () => {
      throw await this.refusalReason();
    });
    this.cleanups.push(() => socket.readyState <= WebSocket.OPEN && socket.close());

    const closed = new Promise((resolve) => {
      socket.onclose = (event) => {
        resolve();
        if (this.state === 'live') this.fail(new CaptionsError('connection_lost', `the connection closed (code ${event.code})`));
      };
    });
    socket.onerror = null;
    socket.onmessage = (event) => typeof event.data === 'string' && this.onMessage(JSON.parse(event.data));

    const audio = await this.openAudioGraph(opus ? OPUS_RATE : PCM_RATE);
    if (opus) {
      const encoder = new AudioEncoder({
        output: (chunk) => {
          const packet = new Uint8Array(chunk.byteLength);
          chunk.copyTo(packet);
          if (socket.readyState === WebSocket.OPEN) socket.send(packet);
        },
        error: (error) => this.fail(new CaptionsError('unsupported', `Opus encoding failed: ${error.message}`)),
      });
      encoder.configure({ codec: 'opus', sampleRate: OPUS_RATE, numberOfChannels: 1, bitrate: 32000 });
      let timestamp = 0;
      audio.onSamples = (samples) => {
        encoder.encode(
          new AudioData({ format: 'f32', sampleRate: OPUS_RATE, numberOfFrames: samples.length, numberOfChannels: 1, timestamp, data: samples }),
        );
        timestamp += (samples.length / OPUS_RATE) * 1e6;
      };
      this.cleanups.push(() => encoder.state !== 'closed' && encoder.close());
      this.beforeFinish = () => encoder.flush();
    } else {
      audio.onSamples = (samples) => socket.readyState === WebSocket.OPEN && socket.send(toPcm16(samples));
    }
    this.streamEpoch = performance.now();
    this.finish = async () => {
      audio.onSamples = () => {};
      await this.beforeFinish?.();
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'CloseStream' }));
      await withTimeout(closed, 15000);
    };
  }

  async openAudioGraph(sampleRate) {
    // The context resamples the microphone to the rate asked for, so the worklet never has to.
    const context = new AudioContext({ sampleRate });
    this.cleanups.push(() => context.close());
    await context.audioWorklet.addModule(new URL('./audio-worklet.js', import.meta.url));
    const source = context.createMediaStreamSource(this.stream);
    const node = new AudioWorkletNode(context, 'chorus-capture', { processorOptions: { chunkMs: 100 } });
    const graph = { onSamples: () => {} };
    node.port.onmessage = (event) => graph.onSamples(event.data);
    source.connect(node);
    if (context.state === 'suspended') await context.resume();
    return graph;
  }

  // -----------------------------------------------------------------------------------------
  // WebRTC: WHIP signalling, captions on a DataChannel

  async startWebRtc() {
    const pc = new RTCPeerConnection({ iceServers: this.options.iceServers ?? [] });
    this.cleanups.push(() => pc.close());
    const channel = pc.createDataChannel('captions');
    channel.onmessage = (event) => typeof event.data === 'string' && this.onMessage(JSON.parse(event.data));
    for (const track of this.stream.getAudioTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    // Chorus answers with all its candidates, so the offer goes out with all of ours.
    await waitForIceGathering(pc);

    const url = new URL('/v1/whip', this.server);
    for (const [key, value] of Object.entries({ interim_results: true, ...this.options.params })) {
      url.searchParams.set(key, String(value));
    }
    const headers = { 'Content-Type': 'application/sdp' };
    if (this.options.token) headers.Authorization = `Bearer ${this.options.token}`;
    let response;
    try {
      response = await fetch(url, { method: 'POST', headers, body: pc.localDescription.sdp });
    } catch {
      throw new CaptionsError('connection_lost', 'the server could not be reached');
    }
    if (response.status !== 201) throw await refusalFrom(response);
    const resource = new URL(response.headers.get('Location'), url);
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });

    const metadata = new Promise((resolve) => (this.onMetadata = resolve));
    await new Promise((resolve, reject) => {
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === 'connected') resolve();
        if (pc.connectionState === 'failed') reject(new CaptionsError('connection_lost', 'no network path to the server (ICE failed)'));
      };
    });
    pc.onconnectionstatechange = () => {
      if (this.state === 'live' && (pc.connectionState === 'failed' || pc.connectionState === 'closed')) {
        this.fail(new CaptionsError('connection_lost', 'the connection to the server was lost'));
      }
    };
    this.streamEpoch = performance.now();
    this.finish = async () => {
      await fetch(resource, { method: 'DELETE' }).catch(() => {});
      await withTimeout(metadata, 15000);
    };
  }

  // -----------------------------------------------------------------------------------------
  // Captions

  onMessage(message) {
    const { onInterim, onFinal } = this.options;
    if (message.type === 'Metadata') return this.onMetadata?.(message);
    if (message.type === 'Error') {
      const kind = message.code === 'capacity_exceeded' ? 'server_full' : 'server';
      return this.fail(new CaptionsError(kind, message.description));
    }
    if (message.type !== 'Results') return;
    const text = message.channel.alternatives[0].transcript;
    if (!message.is_final) return onInterim?.(text);
    const end = message.start + message.duration;
    // The audio of stream second t was captured about t seconds after the stream began.
    const latencyMs = this.streamEpoch === null ? null : Math.max(0, performance.now() - this.streamEpoch - end * 1000);
    onFinal?.(text, { latencyMs, start: message.start, end, speechFinal: message.speech_final });
  }

  fail(error) {
    if (this.state === 'closed') return;
    this.options.onError?.(error);
    void this.teardown().then(() => this.setState('closed'));
  }

  /** A refused WebSocket handshake hides its status; /readyz tells a full server from a missing one. */
  async refusalReason() {
    try {
      const ready = await (await fetch(new URL('/readyz', this.server))).json();
      if (ready.status === 'ready' && ready.capacity && !ready.capacity.accepting) {
        return new CaptionsError('server_full', 'the server is full; try again in a moment');
      }
      if (ready.status !== 'ready') return new CaptionsError('server_full', 'the server is not ready yet; try again in a moment');
      return new CaptionsError('server', 'the server refused the connection');
    } catch {
      return new CaptionsError('connection_lost', 'the server could not be reached');
    }
  }

  async teardown() {
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch {
        // Each resource is released on its own; one failing must not keep the others.
      }
    }
  }

  setState(state) {
    this.state = state;
    this.options.onState?.(state);
  }
}

async function openMicrophone() {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new CaptionsError('unsupported', 'this page cannot use the microphone (it needs https or localhost)');
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
  } catch (error) {
    if (error.name === 'NotAllowedError' || error.name === 'SecurityError') {
      throw new CaptionsError('microphone', 'microphone access was refused');
    }
    throw new CaptionsError('microphone', `no microphone could be opened (${error.name})`);
  }
}

async function refusalFrom(response) {
  let description = `the server answered ${response.status}`;
  try {
    description = (await response.json()).description ?? description;
  } catch {
    // Not JSON: the status says enough.
  }
  if (response.status === 429 || response.status === 503) return new CaptionsError('server_full', description);
  return new CaptionsError('server', description);
}

function toPcm16(samples) {
  const pcm = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) pcm[i] = Math.max(-1, Math.min(1, samples[i])) * 0x7fff;
  return pcm.buffer;
}

function waitForIceGathering(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return withTimeout(
    new Promise((resolve) => pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve())),
    5000,
  );
}

/** Resolves when `promise` does or after `ms`, whichever is first: a stop never hangs. */
function withTimeout(promise, ms) {
  return Promise.race([promise, new Promise((resolve) => setTimeout(resolve, ms))]);
}
