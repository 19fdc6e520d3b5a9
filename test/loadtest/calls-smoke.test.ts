// The load test's calls against a real gateway (tiny.en, loopback, a JSONL transcript sink):
// the real CLI runs two calls, each two fixture readers taking turns, once as multichannel
// mu-law /v1/listen streams and once as Twilio Media Streams whose finals it reads back from
// the sink. The reports must agree with their own session records, score every channel, and
// each channel's finals must hold its own reader and not the other.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoreWer } from '../../src/eval/wer.js';
import { openJsonlSink, type TranscriptSink } from '../../src/gateway/transcript-sink.js';
import type { LoadTestReport } from '../../loadtest/report.js';
import { main } from '../../loadtest/run.js';
import { fixture } from '../helpers.js';
import { startTinyGateway, type TinyGateway } from '../tiny-gateway.js';
import { reportInconsistencies } from './report-invariants.js';

const readers = [fixture('1221-135766-0002'), fixture('jfk')];
const TWILIO_AUTH_TOKEN = 'load-test-auth-token';
const dir = mkdtempSync(join(tmpdir(), 'chorus-loadtest-calls-'));
const sinkFile = join(dir, 'finals.jsonl');
let sink: TranscriptSink;
let gateway: TinyGateway;

beforeAll(async () => {
  sink = openJsonlSink(sinkFile, () => {});
  // Two calls of two channels: four sessions. Twilio's upgrades must be signed.
  gateway = await startTinyGateway({ maxSessions: 4 }, { twilioAuthTokens: [TWILIO_AUTH_TOKEN] }, sink);
});

afterAll(async () => {
  await gateway?.close();
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

const wer = (ref: string, hyp: string) => scoreWer([{ ref, hyp }]).wer!;

/** Runs the CLI for one level of two calls and returns its report. */
async function twoCalls(name: string, options: string[]): Promise<{ code: number; report: LoadTestReport; html: string }> {
  const reportDir = join(dir, name);
  const code = await main([
    '--url', gateway.wsUrl, ...options, '--streams', '2', '--duration', '1', '--ramp', '0.5',
    '--files', readers.map((r) => r.path).join(','), '--drain-timeout', '15', '--max-wall', '120', '--report-dir', reportDir,
  ]);
  for (const file of ['report.json', 'report.html', 'latency.png']) expect(existsSync(join(reportDir, file))).toBe(true);
  return {
    code,
    report: JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')) as LoadTestReport,
    html: readFileSync(join(reportDir, 'report.html'), 'utf8'),
  };
}

/** What both transports must give: two whole calls, every channel scored, each channel its own reader's. */
function expectTwoCalls({ code, report, html }: Awaited<ReturnType<typeof twoCalls>>): void {
  expect(reportInconsistencies(report)).toEqual([]);
  const [level] = report.levels;
  expect(level.summary).toMatchObject({ requested: 2, admitted: 2, ok: 2, refused: 0, errored: 0, disconnected: 0 });
  expect(level.summary.channels.map((c) => c.channel)).toEqual([0, 1]);
  for (const c of level.summary.channels) expect(c.wer).not.toBeNull();
  expect(code).toBe(level.verdict.sustainable ? 0 : 1);
  // Call 0 puts the first reader on channel 0, call 1 the other way round (callCast).
  expect(level.sessions.map((s) => s.channels.map((c) => c.speaker))).toEqual([['1221', 'jfk'], ['jfk', '1221']]);
  for (const s of level.sessions) {
    expect(s.finalLatencyMs.length).toBeGreaterThan(10);
    s.channels.forEach((channel) => {
      const own = readers.find((r) => r.id === channel.clips[0])!;
      const other = readers.find((r) => r !== own)!;
      expect(channel.refWords).toBe(own.text.split(' ').length);
      expect(wer(own.text, channel.hypothesis), `call ${s.stream} channel ${channel.channel}: ${channel.hypothesis}`).toBeLessThan(0.35);
      expect(wer(other.text, channel.hypothesis)).toBeGreaterThan(0.9);
    });
  }
  expect(html).toContain('Latency CDF, 2 calls');
  expect(html).toContain('<th>WER per channel</th>');
}

describe('npm run loadtest, two-speaker calls', () => {
  it('--channels 2 --multichannel: two stereo mu-law calls over /v1/listen, scored per channel', async () => {
    const run = await twoCalls('multichannel', ['--channels', '2', '--multichannel', '--encoding', 'mulaw', '--rate', '8000']);
    expect(run.report.settings.calls).toEqual({ transport: 'ws', channels: 2, sinkFile: null });
    expectTwoCalls(run);
    for (const s of run.report.levels[0].sessions) {
      expect(s.interimLatencyMs.length).toBeGreaterThan(0);
      expect(s.lagWhileStreaming.length).toBeGreaterThan(0);
    }
  });

  it('--transport twilio: the same calls as Twilio Media Streams, signed as Twilio signs them, their finals read from the JSONL sink', async () => {
    const run = await twoCalls('twilio', ['--transport', 'twilio', '--sink-file', sinkFile, '--twilio-auth-token', TWILIO_AUTH_TOKEN]);
    expect(run.report.settings).toMatchObject({ encoding: 'mulaw', rate: 8000, calls: { transport: 'twilio', channels: 2, sinkFile } });
    expect(run.report.target.url).toBe(`${gateway.wsUrl}/v1/twilio`);
    expectTwoCalls(run);
    for (const s of run.report.levels[0].sessions) {
      // Twilio reads nothing back: only finals, from the sink, with no lag figure.
      expect(s.closeCode).toBe(1000);
      expect(s.interims).toBe(0);
      expect(s.maxLagS).toBeNull();
    }
  });
});
