// The NATS JetStream transcript sink against a real nats-server -js on loopback (started and
// stopped here; a missing nats-server fails with the command that installs it): one message
// per final on SUBJECT.<request_id> with its id as Nats-Msg-Id, a re-publish never stored
// twice, and finals produced while NATS is down stored once, in order, when it comes back.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NatsTranscriptSink, streamNameFor } from '../../src/gateway/nats-sink.js';
import type { FinalRecord } from '../../src/gateway/transcript-sink.js';
import { replay, storedCount } from './nats-replay.js';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { until } from './gateway-harness.js';

const SUBJECT = 'chorus.finals';
const STREAM = streamNameFor(SUBJECT);

let nats: NatsServer;
let sink: NatsTranscriptSink | null = null;
const logged: Array<{ event: string; fields: Record<string, unknown> }> = [];

beforeEach(async () => {
  nats = await startNatsServer();
  logged.length = 0;
});

afterEach(async () => {
  await sink?.close();
  sink = null;
  await nats.close();
});

function record(requestId: string, channel: number, seq: number): FinalRecord {
  return {
    id: `${requestId}.${channel}.${seq}`,
    time: new Date().toISOString(),
    request_id: requestId,
    transport: 'twilio',
    model: 'tiny.en',
    channel,
    channels: 2,
    seq,
    start: seq,
    duration: 1,
    transcript: `words ${channel}.${seq}`,
    speech_final: true,
    from_finalize: false,
    words: [],
    tag: ['queue-7'],
    extra: { crm: '42' },
    call: { provider: 'twilio', call_sid: 'CA1', stream_sid: 'MZ1', account_sid: 'AC1', tracks: ['inbound', 'outbound'], custom_parameters: { agent: 'a-7' } },
  };
}

function open(): NatsTranscriptSink {
  return new NatsTranscriptSink({ servers: nats.url, subject: SUBJECT, maxRetryDelayMs: 200 }, (event, fields = {}) => void logged.push({ event, fields }));
}

describe('NATS JetStream transcript sink', () => {
  it('publishes each final on SUBJECT.<request_id> with its id as Nats-Msg-Id, and a re-publish is not stored again', async () => {
    sink = open();
    const records = [record('call-a', 0, 1), record('call-b', 0, 1), record('call-a', 1, 1), record('call-a', 0, 2)];
    for (const r of records) sink.write(r);
    await until(() => sink!.published === 4, 10_000);
    expect(logged.find((l) => l.event === 'transcript_sink_connected')?.fields).toMatchObject({ stream: STREAM, subject: `${SUBJECT}.>` });

    // One call's subject replays that call only, in the order its finals were produced.
    const callA = await replay(nats.url, STREAM, `${SUBJECT}.call-a`);
    expect(callA.map((s) => s.record)).toEqual([records[0], records[2], records[3]]);
    expect(callA.map((s) => s.msgId)).toEqual(['call-a.0.1', 'call-a.1.1', 'call-a.0.2']);
    expect(callA.every((s) => s.subject === `${SUBJECT}.call-a`)).toBe(true);

    // A forced re-publish of every record: JetStream recognises each id and stores none twice.
    for (const r of records) sink.write(r);
    await until(() => sink!.published === 8, 10_000);
    expect(sink.duplicates).toBe(4);
    expect(await storedCount(nats.url, STREAM)).toBe(4);
  });

  it('stores the finals produced while NATS is down once it is back, in order and once each', async () => {
    sink = open();
    sink.write(record('call-c', 0, 1));
    await until(() => sink!.published === 1, 10_000);
    await nats.stop();
    for (let seq = 2; seq <= 4; seq++) sink.write(record('call-c', 0, seq));
    // The first publish times out unacknowledged (5 s) and is retried with the same id.
    await until(() => logged.some((l) => l.event === 'transcript_sink_failed'), 10_000);
    expect(sink.pendingCount).toBe(3);
    await nats.restart();
    await until(() => sink!.pendingCount === 0, 20_000);
    const stored = await replay(nats.url, STREAM, `${SUBJECT}.call-c`);
    expect(stored.map((s) => s.record.seq)).toEqual([1, 2, 3, 4]);
    expect(await storedCount(nats.url, STREAM)).toBe(4);
  }, 40_000);

  it('bounds what waits for NATS: beyond maxPending a final is logged with its transcript, not queued', async () => {
    await nats.stop();
    sink = new NatsTranscriptSink({ servers: nats.url, subject: SUBJECT, maxPending: 2, closeGraceMs: 100 }, (event, fields = {}) => void logged.push({ event, fields }));
    for (let seq = 1; seq <= 3; seq++) sink.write(record('call-d', 0, seq));
    expect(sink.pendingCount).toBe(2);
    expect(logged.filter((l) => l.event === 'transcript_sink_dropped').map((l) => l.fields.transcript)).toEqual(['words 0.3']);
    // At close, what never reached NATS is logged too, so no final is lost silently.
    await sink.close();
    sink = null;
    expect(logged.filter((l) => l.event === 'transcript_sink_dropped').map((l) => l.fields.transcript)).toEqual(['words 0.3', 'words 0.1', 'words 0.2']);
  });
});
