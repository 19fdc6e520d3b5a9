// A Twilio Media Streams sender: Twilio's documented message sequence (connected, start,
// media per track in 20 ms chunks, mark, dtmf, stop) over a real `ws` WebSocket, optionally at
// real-time pace. The gateway's Twilio tests and the load test's calls (twilio-call.ts) both
// speak through it, so both send what Twilio sends.
import WebSocket from 'ws';

export interface TwilioCallOptions {
  callSid?: string;
  streamSid?: string;
  accountSid?: string;
  tracks?: string[];
  customParameters?: Record<string, string>;
  mediaFormat?: Record<string, unknown>;
  /** headers of the upgrade request, as Twilio's `X-Twilio-Signature` */
  headers?: Record<string, string>;
}

export class TwilioSender {
  private sequence = 0;
  private readonly chunks = new Map<string, number>();
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly streamSid: string;

  private constructor(
    readonly ws: WebSocket,
    readonly options: TwilioCallOptions,
  ) {
    this.streamSid = options.streamSid ?? 'MZ' + '0'.repeat(32);
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Opens the socket, or rejects with the status of a refused upgrade. */
  static open(url: string, options: TwilioCallOptions = {}): Promise<TwilioSender> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: options.headers });
      const sender = new TwilioSender(ws, options);
      ws.once('open', () => resolve(sender));
      ws.once('unexpected-response', (_request, response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => reject(Object.assign(new Error(`refused with ${response.statusCode}`), { status: response.statusCode, body: Buffer.concat(chunks).toString('utf8') })));
      });
      ws.once('error', reject);
    });
  }

  send(message: Record<string, unknown>): Promise<void> {
    return new Promise((resolve, reject) => this.ws.send(JSON.stringify(message), (error) => (error ? reject(error) : resolve())));
  }

  private next(): string {
    this.sequence += 1;
    return String(this.sequence);
  }

  connected(): Promise<void> {
    return this.send({ event: 'connected', protocol: 'Call', version: '1.0.0' });
  }

  start(): Promise<void> {
    const o = this.options;
    return this.send({
      event: 'start',
      sequenceNumber: this.next(),
      start: {
        accountSid: o.accountSid ?? 'AC' + '1'.repeat(32),
        streamSid: this.streamSid,
        callSid: o.callSid ?? 'CA' + '2'.repeat(32),
        tracks: o.tracks ?? ['inbound', 'outbound'],
        customParameters: o.customParameters ?? {},
        mediaFormat: o.mediaFormat ?? { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
      streamSid: this.streamSid,
    });
  }

  /** One media message: `mulaw` bytes of `track` at `timestampMs` of the stream. */
  media(track: string, timestampMs: number, mulaw: Uint8Array): Promise<void> {
    const chunk = (this.chunks.get(track) ?? 0) + 1;
    this.chunks.set(track, chunk);
    return this.send({
      event: 'media',
      sequenceNumber: this.next(),
      media: { track, chunk: String(chunk), timestamp: String(Math.round(timestampMs)), payload: Buffer.from(mulaw).toString('base64') },
      streamSid: this.streamSid,
    });
  }

  mark(name: string): Promise<void> {
    return this.send({ event: 'mark', sequenceNumber: this.next(), streamSid: this.streamSid, mark: { name } });
  }

  dtmf(digit: string): Promise<void> {
    return this.send({ event: 'dtmf', sequenceNumber: this.next(), streamSid: this.streamSid, dtmf: { track: 'inbound_track', digit } });
  }

  stop(): Promise<void> {
    return this.send({
      event: 'stop',
      sequenceNumber: this.next(),
      streamSid: this.streamSid,
      stop: { accountSid: this.options.accountSid ?? 'AC' + '1'.repeat(32), callSid: this.options.callSid ?? 'CA' + '2'.repeat(32) },
    });
  }

  /**
   * Both tracks in 20 ms chunks, as Twilio sends them; `realTime` paces them by the wall clock
   * (each chunk sent when its audio would have been spoken). A track shorter than the other
   * sends nothing after its end. `onSent` hears the stream time (s) at which each 20 ms slot's
   * audio ends, once every track's chunk of it is on the socket: what word latency is timed from.
   */
  async streamTracks(
    tracks: Partial<Record<'inbound' | 'outbound', Uint8Array>>,
    realTime: boolean,
    onSent?: (endS: number) => void,
  ): Promise<void> {
    const chunkBytes = 160;
    const length = Math.max(...Object.values(tracks).map((t) => t?.length ?? 0));
    const started = Date.now();
    for (let at = 0, index = 0; at < length; at += chunkBytes, index++) {
      const ms = (at / 8000) * 1000;
      if (realTime) {
        const wait = started + ms - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      for (const track of ['inbound', 'outbound'] as const) {
        const audio = tracks[track];
        if (audio !== undefined && at < audio.length) await this.media(track, ms, audio.subarray(at, at + chunkBytes));
      }
      onSent?.(Math.min(length, at + chunkBytes) / 8000);
    }
  }
}
