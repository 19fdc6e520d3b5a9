// The acceptance run: the real CLI against a real gateway (tiny.en, loopback), two
// streams of a short fixture clip plus a brief HTTP bench, then checks that the report files
// exist and that the report's numbers agree with its own per-session data.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTinyGateway, type TinyGateway } from '../tiny-gateway.js';
import type { LoadTestReport } from '../../loadtest/report.js';
import { main } from '../../loadtest/run.js';
import { fixture } from '../helpers.js';
import { reportInconsistencies } from './report-invariants.js';

let gateway: TinyGateway;
let wsUrl: string;
const reportDir = mkdtempSync(join(tmpdir(), 'chorus-loadtest-'));

beforeAll(async () => {
  gateway = await startTinyGateway({ maxSessions: 4 });
  wsUrl = gateway.wsUrl;
});

afterAll(async () => {
  await gateway?.close();
  rmSync(reportDir, { recursive: true, force: true });
});

describe('npm run loadtest, smoke run', () => {
  it('two real-time streams and an HTTP bench produce a consistent JSON, HTML and PNG report', async () => {
    const clip = fixture('1221-135766-0002');
    const code = await main([
      '--url', wsUrl, '--streams', '2', '--duration', '4', '--ramp', '0.5', '--files', clip.path,
      '--http-bench', '--http-duration', '1', '--http-connections', '1', '--http-file', clip.path,
      '--drain-timeout', '15', '--max-wall', '120', '--report-dir', reportDir,
    ]);
    for (const file of ['report.json', 'report.html', 'latency.png']) expect(existsSync(join(reportDir, file))).toBe(true);
    const report = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')) as LoadTestReport;
    expect(reportInconsistencies(report)).toEqual([]);

    expect(report.levels).toHaveLength(1);
    const [level] = report.levels;
    expect(level.summary).toMatchObject({ requested: 2, admitted: 2, refused: 0, ok: 2, errored: 0, disconnected: 0 });
    for (const s of level.sessions) {
      expect(s.clips).toEqual([clip.id]);
      expect(s.audioS).toBeCloseTo(clip.duration_s + 1, 1);
      expect(s.closeCode).toBe(1000);
      expect(s.timeToFirstInterimMs).not.toBeNull();
      // Utterance-final latency exists only when the endpoint's final carries words: hops in
      // the silence before the endpoint may already have made the last word final.
      expect(s.finalLatencyMs.length).toBeGreaterThan(5);
    }
    // Each stream is scored against the clip's reference; tiny.en gets most of its words.
    expect(level.summary.refWords).toBe(2 * clip.text.split(' ').length);
    expect(level.summary.wer!).toBeLessThan(0.35);
    expect(code).toBe(level.verdict.sustainable ? 0 : 1);

    expect(report.http!.targets.map((t) => t.path)).toEqual(['/healthz', '/metrics', '/v1/audio/transcriptions']);
    for (const t of report.http!.targets) {
      expect(t.requests).toBeGreaterThan(0);
      expect(t.non2xx + t.errors).toBe(0);
      expect(t.latencyMs.p50).toBeLessThanOrEqual(t.latencyMs.max);
    }
    const html = readFileSync(join(reportDir, 'report.html'), 'utf8');
    expect(html).toContain('Latency CDF, 2 streams');
    expect([...readFileSync(join(reportDir, 'latency.png')).subarray(1, 4)].map((b) => String.fromCharCode(b)).join('')).toBe('PNG');
  });
});
