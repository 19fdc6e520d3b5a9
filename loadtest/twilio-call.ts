// One load-test call sent as a Twilio Media Stream (`/v1/twilio/<key>`): the documented event
// sequence through TwilioSender at real-time pace, both tracks in 20 ms mu-law chunks, then
// `stop`. Twilio reads nothing back, so the call's finals are read from the gateway's JSONL
// transcript sink (sink-tail.ts) by its callSid. The result is a StreamRecord like a
// /v1/listen stream's, each sink record seen as the final `Results` message it records, so one
// set of metrics (stream-metrics.ts) serves both transports: a word's final latency runs from
// when the 20 ms slot holding its end was sent to when its final was read from the sink.
import { randomBytes } from 'node:crypto';
import type { FinalRecord } from '../src/gateway/transcript-sink.js';
import { twilioSignature } from '../src/gateway/twilio-signature.js';
import type { JsonlSinkTail, SunkFinal } from './sink-tail.js';
import { newStreamRecord, type StreamRecord } from './stream-client.js';
import { TwilioSender } from './twilio-sender.js';

export interface TwilioCallOptions {
  /** ws://host:port/v1/twilio or .../v1/twilio/KEY */
  url: string;
  /** 8 kHz mu-law: the caller (inbound, channel 0) and the agent (outbound, channel 1), equal length */
  inbound: Uint8Array;
  outbound: Uint8Array;
  sink: JsonlSinkTail;
  /** give up on the server after this long past the audio's end */
  timeoutMs: number;
  /** sign the upgrade as Twilio does, with this Auth Token */
  authToken?: string;
}

const sid = (prefix: string) => prefix + randomBytes(16).toString('hex');

/** A sink record as the `Results` message a /v1/listen client would have received for it. */
export function resultsOf(record: FinalRecord): Record<string, unknown> {
  return {
    type: 'Results',
    is_final: true,
    speech_final: record.speech_final,
    from_finalize: record.from_finalize,
    start: record.start,
    duration: record.duration,
    channel_index: [record.channel, record.channels],
    channel: { alternatives: [{ transcript: record.transcript, words: record.words }] },
  };
}

export async function runTwilioCall(options: TwilioCallOptions): Promise<StreamRecord> {
  const record = newStreamRecord();
  const callSid = sid('CA');
  const finals: SunkFinal[] = [];
  options.sink.follow(callSid, (final) => finals.push(final));
  try {
    let call: TwilioSender;
    try {
      // Twilio signs the wss:// URL of the <Stream>; on loopback the load test speaks ws://.
      const headers = options.authToken ? { 'X-Twilio-Signature': twilioSignature(options.authToken, options.url.replace(/^ws:/, 'wss:')) } : undefined;
      call = await TwilioSender.open(options.url, { callSid, streamSid: sid('MZ'), customParameters: { loadtest: 'true' }, headers });
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status === undefined) record.error = (error as Error).message;
      else record.refusedStatus = status;
      return record;
    }
    // A socket error is followed by its close, whose code is what the outcome is judged by.
    call.ws.on('error', () => {});
    void call.closed.then(({ code, reason }) => {
      record.closedAtMs = performance.now();
      record.closeCode = code;
      record.closeReason = reason;
    });
    let sendError: string | null = null;
    try {
      await call.connected();
      await call.start();
      record.startedAtMs = performance.now();
      await call.streamTracks({ inbound: options.inbound, outbound: options.outbound }, true, (endS) =>
        record.sent.push({ endS, atMs: performance.now() }),
      );
      await call.stop();
      record.closeSentAtMs = performance.now();
    } catch (error) {
      sendError = (error as Error).message;
    }
    let deadline: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (deadline = setTimeout(() => resolve('timeout'), options.timeoutMs)));
    if ((await Promise.race([call.closed, timedOut])) === 'timeout') {
      record.error = 'timed out waiting for the server to close';
      call.ws.terminate();
    } else if (sendError !== null && record.closeCode === 1000) {
      // A send failed on a socket the gateway closed normally: the client's fault, not the
      // gateway's. A gateway that ended the call with its own code (1013 shed, 4002 ...) says
      // how by that code, and the finals so far are still in the sink.
      record.error = sendError;
    }
    clearTimeout(deadline);
    // The gateway writes a call's last finals before it closes the socket.
    await options.sink.settle();
    record.received = finals.map((f) => ({ atMs: f.atMs, message: resultsOf(f.record) }));
    return record;
  } finally {
    options.sink.unfollow(callSid);
  }
}
