// A call end to end: a stereo 8 kHz mu-law call, two readers taking turns (JFK on the inbound
// track, a LibriSpeech reader on the outbound one), sent as a Twilio Media Stream (the
// documented event sequence at real-time pace) to a real gateway with tiny.en, whose finals
// go to NATS JetStream (a real nats-server -js on loopback). Replaying the call's subject gives
// each channel's whole transcript in order, with the call's callSid and custom parameters, and
// a forced re-publish stores nothing twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { floatToMulaw, MULAW_TO_FLOAT } from '../../src/audio/g711.js';
import { loadAudioFile } from '../../src/audio/load.js';
import { resample } from '../../src/audio/resample.js';
import { playStreams } from '../../src/eval/live.js';
import { scoreWer } from '../../src/eval/wer.js';
import { GATEWAY_DEFAULTS } from '../../src/gateway/config.js';
import { NatsTranscriptSink, streamNameFor } from '../../src/gateway/nats-sink.js';
import { DEFAULT_ENDPOINTING_MS } from '../../src/gateway/protocol.js';
import { GatewayServer } from '../../src/gateway/server.js';
import { whisperFileTranscriber } from '../../src/gateway/transcriptions.js';
import { WhisperSessionFactory } from '../../src/stream/session-factory.js';
import { fixture } from '../helpers.js';
import { metricValue, until, type Harness } from './gateway-harness.js';
import { replay, storedCount } from './nats-replay.js';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { TwilioSender } from '../../loadtest/twilio-sender.js';

const KEY = 'call-centre-key';
const SUBJECT = 'calls.finals';
const STREAM = streamNameFor(SUBJECT);

let nats: NatsServer;
let factory: WhisperSessionFactory;
let server: GatewayServer;
let sink: NatsTranscriptSink;
let wsUrl: string;
let httpUrl: string;

beforeAll(async () => {
  nats = await startNatsServer();
  factory = await WhisperSessionFactory.open({ model: 'tiny.en', threads: 2, maxSessions: 2 });
  sink = new NatsTranscriptSink({ servers: nats.url, subject: SUBJECT }, () => {});
  server = new GatewayServer({
    config: { ...GATEWAY_DEFAULTS, apiKeys: new Set([KEY]), host: '127.0.0.1', port: 0 },
    log: (event, fields) => {
      if (event === 'admission_failed' || event === 'session_failed') console.error(event, fields);
    },
    sink,
  });
  server.attach({ sessions: factory, files: whisperFileTranscriber(factory.model, 'tiny.en'), device: factory });
  httpUrl = await server.start();
  wsUrl = httpUrl.replace(/^http/, 'ws');
}, 60_000);

afterAll(async () => {
  await server?.shutdown();
  await sink?.close();
  factory?.close();
  await nats?.close();
});

/** 16 kHz samples as Twilio carries them: 8 kHz mu-law. */
function toMulaw8k(samples: Float32Array): Uint8Array {
  const narrow = resample(samples, 16000, 8000);
  return Uint8Array.from(narrow, (s) => floatToMulaw(s));
}

/** What a session hears of mu-law 8 kHz audio, for the reference decode. */
function heard(mulaw: Uint8Array): Float32Array {
  return resample(Float32Array.from(mulaw, (b) => MULAW_TO_FLOAT[b]), 8000, 16000);
}

const wer = (ref: string, hyp: string) => scoreWer([{ ref, hyp }]).wer!;

describe('a Twilio call into NATS JetStream (tiny.en)', () => {
  it('replays from its subject as two transcripts, one per speaker, in order, with the call; a re-publish adds nothing', async () => {
    const agent = fixture('jfk');
    const customer = fixture('1089-134686-0000');
    const agentAudio = toMulaw8k((await loadAudioFile(agent.path)).samples);
    const customerAudio = toMulaw8k((await loadAudioFile(customer.path)).samples);
    // Turn-taking: the agent speaks, a second of silence, then the customer; each track is
    // silent (mu-law 0xff) while the other speaks, as a call's two legs are.
    const gap = 8000;
    const length = agentAudio.length + gap + customerAudio.length;
    const inbound = new Uint8Array(length).fill(0xff);
    const outbound = new Uint8Array(length).fill(0xff);
    inbound.set(agentAudio, 0);
    outbound.set(customerAudio, agentAudio.length + gap);

    const call = await TwilioSender.open(`${wsUrl}/v1/twilio/${KEY}`, {
      callSid: 'CAfeedfacefeedfacefeedfacefeedface',
      customParameters: { crm_ticket: 'T-1042', queue: 'billing' },
    });
    await call.connected();
    await call.start();
    await call.streamTracks({ inbound, outbound }, true);
    await call.stop();
    expect((await call.closed).code).toBe(1000);
    await until(() => sink.pendingCount === 0, 10_000);

    const stored = await replay(nats.url, STREAM, `${SUBJECT}.>`);
    expect(stored.length).toBeGreaterThan(0);
    const requestId = stored[0].record.request_id;
    expect(stored.every((s) => s.subject === `${SUBJECT}.${requestId}` && s.msgId === s.record.id)).toBe(true);
    for (const { record } of stored) {
      expect(record.call).toMatchObject({
        provider: 'twilio',
        call_sid: 'CAfeedfacefeedfacefeedfacefeedface',
        stream_sid: call.streamSid,
        custom_parameters: { crm_ticket: 'T-1042', queue: 'billing' },
      });
    }
    const channel = (c: number) => stored.filter((s) => s.record.channel === c).map((s) => s.record);
    // In order and whole: each channel's sequence numbers run 1, 2, ... in stored order.
    for (const c of [0, 1]) expect(channel(c).map((r) => r.seq)).toEqual(channel(c).map((_, i) => i + 1));
    const text = (c: number) => channel(c).map((r) => r.transcript).join(' ');
    // The outbound speaker starts 12 s into the call, on the call's clock.
    expect(channel(1)[0].start).toBeGreaterThan(11);

    // Each channel against its own speaker, and against the same audio decoded alone (the
    // session path on the virtual clock): the other speaker must not leak in, and the call
    // must not cost accuracy.
    const alone = await playStreams(
      factory.model,
      [
        { ids: [agent.id], set: 'call', pcm: heard(agentAudio), ref: agent.text, offline: '' },
        { ids: [customer.id], set: 'call', pcm: heard(customerAudio), ref: customer.text, offline: '' },
      ],
      { clock: 'virtual', concurrency: 1, endpointingMs: DEFAULT_ENDPOINTING_MS },
    );
    const figures = [agent, customer].map((clip, c) => ({
      channel: c,
      call: wer(clip.text, text(c)),
      alone: wer(clip.text, alone[c].finals.join(' ')),
      other: wer([agent, customer][1 - c].text, text(c)),
    }));
    console.log(`per-channel WER (call / alone / against the other speaker): ${JSON.stringify(figures)}\n0: ${text(0)}\n1: ${text(1)}\nalone: ${alone.map((a) => a.finals.join(' ')).join(' | ')}`);
    [agent, customer].forEach((clip, c) => {
      const f = figures[c];
      // Two words of slack on 22 and 29 reference words: a real-time decode and a virtual-clock
      // one differ by a word now and then either way (JFK's "What" heard as "Like").
      const slack = 2 / clip.text.split(/\s+/).length;
      expect(f.call, `channel ${c}: ${text(c)}`).toBeLessThanOrEqual(f.alone + slack);
      expect(f.other).toBeGreaterThan(0.9);
    });

    // A forced re-publish of the whole call: JetStream knows every id, so nothing is stored twice.
    const before = await storedCount(nats.url, STREAM);
    const published = sink.published;
    for (const { record } of stored) sink.write(record);
    await until(() => sink.published === published + stored.length, 10_000);
    expect(await storedCount(nats.url, STREAM)).toBe(before);
    const metrics = { url: httpUrl } as Harness;
    expect(await metricValue(metrics, 'chorus_transcript_sink_records_total{outcome="stored"}', KEY)).toBe(stored.length);
    expect(await metricValue(metrics, 'chorus_transcript_sink_records_total{outcome="duplicate"}', KEY)).toBe(stored.length);
    expect(await metricValue(metrics, 'chorus_transcript_sink_pending', KEY)).toBe(0);
  }, 120_000);
});
