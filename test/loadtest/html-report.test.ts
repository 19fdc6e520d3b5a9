import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { htmlReport, latencyVersusStreams } from '../../loadtest/html-report.js';
import { svgToPng } from '../../loadtest/png-plot.js';
import { bins, cdfPoints, niceTicks } from '../../loadtest/svg-chart.js';
import { sampleReport } from './sample-report.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Width, height and the chunk types of a PNG, checking each chunk's length fits the file. */
function pngInfo(png: Uint8Array): { width: number; height: number; chunks: string[]; pixels: Buffer } {
  expect([...png.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: string[] = [];
  const idat: Uint8Array[] = [];
  for (let at = 8; at < png.length; ) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    expect(at + 12 + length).toBeLessThanOrEqual(png.length);
    if (type === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + length));
    chunks.push(type);
    at += 12 + length;
  }
  return { width: view.getUint32(16), height: view.getUint32(20), chunks, pixels: inflateSync(Buffer.concat(idat)) };
}

describe('HTML report', () => {
  const html = htmlReport(sampleReport());

  it('is one self-contained page: no scripts, no stylesheets or images fetched from anywhere', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import/i);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?(https?:)?\/\//i);
  });

  it('holds the latency-versus-streams and lag plots and a CDF and histograms per level', () => {
    const titles = [...html.matchAll(/aria-label="([^"]+)"/g)].map((m) => m[1]);
    expect(titles).toContain('Latency versus concurrent streams');
    expect(titles).toContain('Processing lag versus concurrent streams');
    for (const n of ['1 stream', '2 streams', '4 streams', '8 streams']) {
      expect(titles).toContain(`Latency CDF, ${n}`);
      expect(titles).toContain(`Final latency per word, ${n}`);
      expect(titles).toContain(`Interim latency per word, ${n}`);
    }
    expect(html.match(/<svg /g)).toHaveLength(2 + 3 * 4);
  });

  it('states the find-max answer, the failed bound and the HTTP results', () => {
    expect(html).toContain('Largest sustainable load: <b>4 concurrent streams</b>');
    expect(html).toMatch(/p95 final latency \d+ ms &gt; 1500 ms/);
    expect(html).toContain('GET /healthz (health probe)');
  });

  it('counts calls, and gives each channel its WER, when the sessions were calls', () => {
    const report = sampleReport();
    report.settings.calls = { transport: 'twilio', channels: 2, sinkFile: '/var/log/chorus/finals.jsonl' };
    const calls = htmlReport(report);
    expect(calls).toContain('Largest sustainable load: <b>4 concurrent calls</b>');
    expect(calls).toContain('Latency CDF, 2 calls');
    expect(calls).toContain('<th>WER per channel</th>');
    expect(calls).toContain('Twilio Media Streams (inbound and outbound tracks), finals read from the transcript sink /var/log/chorus/finals.jsonl');
    expect(html).not.toContain('<th>WER per channel</th>');
  });

  it('plots one marker per level for each percentile series', () => {
    const svg = latencyVersusStreams(sampleReport());
    expect(svg.match(/<circle /g)).toHaveLength(3 * 4);
  });
});

describe('chart helpers', () => {
  it('chooses round ticks that cover the maximum', () => {
    expect(niceTicks(1234)).toEqual([0, 500, 1000, 1500]);
    expect(niceTicks(1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });

  it('bins every value and steps the CDF from 0 to 1', () => {
    const values = [5, 15, 15, 99, 250];
    expect(bins(values).reduce((n, b) => n + b.count, 0)).toBe(values.length);
    const cdf = cdfPoints(values);
    expect(cdf[0]).toEqual([5, 0]);
    expect(cdf.at(-1)).toEqual([250, 1]);
    expect(cdfPoints(Array.from({ length: 10_000 }, (_, i) => i)).length).toBe(400);
  });
});

describe('PNG of the main plot', () => {
  it('is a valid PNG of the requested width with the chart drawn in it', () => {
    const png = svgToPng(latencyVersusStreams(sampleReport(), 720, 400), 1440);
    const info = pngInfo(png);
    expect(info.chunks[0]).toBe('IHDR');
    expect(info.chunks.at(-1)).toBe('IEND');
    expect(info.width).toBe(1440);
    expect(info.height).toBe(800);
    // Not a blank canvas: the red p95 line leaves pixels far from white.
    expect(new Set(info.pixels).size).toBeGreaterThan(16);
  });
});
