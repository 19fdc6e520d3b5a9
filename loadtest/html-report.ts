// report.html: one self-contained page (inline CSS and SVG, no scripts, no external assets)
// that reads the same offline as when mailed or archived by CI. Charts come first, then the
// tables they were drawn from.
import { percentile, type Distribution } from './distribution.js';
import { unitOf, type JudgedLevel, type LoadTestReport } from './report.js';
import { bins, cdfPoints, escapeXml, histogram, lineChart, type Series } from './svg-chart.js';

type Unit = ReturnType<typeof unitOf>;

/** "1 stream", "4 calls". */
const countLabel = (n: number, unit: Unit) => `${n} ${n === 1 ? unit.slice(0, -1) : unit}`;

const COLORS = { interim: '#1f77b4', final: '#d62728', utterance: '#9467bd', first: '#2ca02c', threshold: '#7f7f7f', lag: '#ff7f0e' };

/** Levels in order of stream count, which is how plots read; the report keeps the order they ran. */
function byStreams(report: LoadTestReport): JudgedLevel[] {
  return [...report.levels].sort((a, b) => a.streams - b.streams);
}

function seriesOf(levels: JudgedLevel[], pick: (l: JudgedLevel) => number | null): [number, number][] {
  return levels.flatMap((l): [number, number][] => {
    const v = pick(l);
    return v === null ? [] : [[l.streams, v]];
  });
}

/** The main plot, also written as latency.png. */
export function latencyVersusStreams(report: LoadTestReport, width = 720, height = 400): string {
  const levels = byStreams(report);
  const maxStreams = Math.max(1, ...levels.map((l) => l.streams));
  const p95s = seriesOf(levels, (l) => l.summary.finalLatencyMs.p95);
  const top = Math.max(report.criteria.p95FinalMs, ...p95s.map(([, v]) => v));
  const answer: Series[] = report.findMax
    ? [
        {
          name: `largest sustainable: ${report.findMax.maxSustainableStreams}`,
          color: '#000000',
          dashed: true,
          points: [
            [report.findMax.maxSustainableStreams, 0],
            [report.findMax.maxSustainableStreams, top],
          ],
        },
      ]
    : [];
  return lineChart({
    title: `Latency versus concurrent ${unitOf(report)}`,
    xLabel: `concurrent ${unitOf(report)}`,
    yLabel: 'latency per word (ms)',
    width,
    height,
    series: [
      { name: 'p50 final', color: COLORS.first, markers: true, points: seriesOf(levels, (l) => l.summary.finalLatencyMs.p50) },
      { name: 'p95 final', color: COLORS.final, markers: true, points: p95s },
      { name: 'p95 interim', color: COLORS.interim, markers: true, points: seriesOf(levels, (l) => l.summary.interimLatencyMs.p95) },
      {
        name: `p95 bound ${report.criteria.p95FinalMs} ms`,
        color: COLORS.threshold,
        dashed: true,
        points: [
          [0, report.criteria.p95FinalMs],
          [maxStreams, report.criteria.p95FinalMs],
        ],
      },
      ...answer,
    ],
  });
}

function lagVersusStreams(report: LoadTestReport): string {
  const levels = byStreams(report);
  const maxStreams = Math.max(1, ...levels.map((l) => l.streams));
  return lineChart({
    title: `Processing lag versus concurrent ${unitOf(report)}`,
    xLabel: `concurrent ${unitOf(report)}`,
    yLabel: 'lag (s)',
    series: [
      { name: 'max lag', color: COLORS.lag, markers: true, points: seriesOf(levels, (l) => l.summary.maxLagS) },
      { name: 'lag growth (median)', color: COLORS.utterance, markers: true, points: seriesOf(levels, (l) => l.summary.lagGrowthS) },
      {
        name: `growth bound ${report.criteria.maxLagGrowthS} s`,
        color: COLORS.threshold,
        dashed: true,
        points: [
          [0, report.criteria.maxLagGrowthS],
          [maxStreams, report.criteria.maxLagGrowthS],
        ],
      },
    ],
  });
}

function levelCharts(level: JudgedLevel, unit: Unit): string {
  const admitted = level.sessions.filter((s) => s.outcome !== 'refused');
  const samples = {
    interim: admitted.flatMap((s) => s.interimLatencyMs),
    final: admitted.flatMap((s) => s.finalLatencyMs),
    utterance: admitted.flatMap((s) => s.utteranceFinalLatencyMs),
    first: admitted.flatMap((s) => (s.timeToFirstInterimMs === null ? [] : [s.timeToFirstInterimMs])),
  };
  const series: Series[] = [
    { name: `interim, per word (${samples.interim.length})`, color: COLORS.interim, points: cdfPoints(samples.interim) },
    { name: `final, per word (${samples.final.length})`, color: COLORS.final, points: cdfPoints(samples.final) },
    { name: `final, per utterance (${samples.utterance.length})`, color: COLORS.utterance, points: cdfPoints(samples.utterance) },
    { name: `first interim (${samples.first.length})`, color: COLORS.first, points: cdfPoints(samples.first) },
  ];
  return (
    lineChart({ title: `Latency CDF, ${countLabel(level.streams, unit)}`, xLabel: 'ms', yLabel: 'fraction at or below', series }) +
    histogram({
      title: `Final latency per word, ${countLabel(level.streams, unit)}`,
      xLabel: 'ms',
      yLabel: 'words',
      color: COLORS.final,
      bins: bins(samples.final),
    }) +
    histogram({
      title: `Interim latency per word, ${countLabel(level.streams, unit)}`,
      xLabel: 'ms',
      yLabel: 'words',
      color: COLORS.interim,
      bins: bins(samples.interim),
    })
  );
}

const num = (v: number | null, digits = 0) => (v === null ? '–' : v.toFixed(digits));
const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(1)} %`);
const dist = (d: Distribution) => `${num(d.p50)} / ${num(d.p95)} / ${num(d.max)}`;
const cell = (v: string | number) => `<td>${escapeXml(String(v))}</td>`;
/** A call's WER per channel, e.g. "12.5 % / 9.1 %". */
const perChannel = (channels: readonly { refWords: number | null; wordErrors: number | null }[]) =>
  channels.map((c) => (c.refWords ? pct(c.wordErrors! / c.refWords) : '–')).join(' / ');

function levelsTable(report: LoadTestReport): string {
  const calls = report.settings.calls !== undefined;
  const head = [
    unitOf(report), 'admitted', 'refused', 'errors', 'disconnects', 'error rate', 'first interim p50/p95/max ms',
    'interim p50/p95/max ms', 'final p50/p95/max ms', 'utterance final p50/p95/max ms', 'flush p50/p95/max ms',
    'max lag s', 'lag growth s', 'WER', ...(calls ? ['WER per channel'] : []), 'verdict',
  ];
  const rows = report.levels.map((l) => {
    const s = l.summary;
    return (
      `<tr class="${l.verdict.sustainable ? 'pass' : 'fail'}">` +
      [
        l.streams, s.admitted, s.refused, s.errored, s.disconnected, pct(s.errorRate), dist(s.timeToFirstInterimMs),
        dist(s.interimLatencyMs), dist(s.finalLatencyMs), dist(s.utteranceFinalLatencyMs), dist(s.flushLatencyMs),
        num(s.maxLagS, 2), num(s.lagGrowthS, 2), pct(s.wer), ...(calls ? [perChannel(s.channels)] : []),
        l.verdict.sustainable ? 'sustainable' : l.verdict.reasons.join('; '),
      ].map(cell).join('') +
      '</tr>'
    );
  });
  return `<table><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr>${rows.join('')}</table>`;
}

function sessionsTable(level: JudgedLevel, unit: Unit): string {
  const calls = unit === 'calls';
  const head = [
    unit.slice(0, -1), ...(calls ? ['speakers'] : []), 'start s', 'audio s', 'outcome', 'close', 'first interim ms', 'final words',
    'final p95 ms', 'utterances', 'flush ms', 'max lag s', 'lag growth s', 'WER', ...(calls ? ['WER per channel'] : []), 'errors',
  ];
  const rows = level.sessions.map((s) => {
    return (
      `<tr class="${s.outcome === 'ok' ? '' : 'fail'}">` +
      [
        s.stream, ...(calls ? [s.channels.map((c) => c.speaker ?? '–').join(' / ')] : []), s.startOffsetS.toFixed(2), s.audioS.toFixed(1), s.outcome,
        s.refusedStatus !== null ? `HTTP ${s.refusedStatus}` : (s.closeCode ?? '–'),
        num(s.timeToFirstInterimMs), s.finalLatencyMs.length, num(percentile(s.finalLatencyMs, 95)), s.utteranceFinalLatencyMs.length,
        num(s.flushLatencyMs), num(s.maxLagS, 2), num(s.lagGrowthS, 2),
        s.refWords ? pct(s.wordErrors! / s.refWords) : '–', ...(calls ? [perChannel(s.channels)] : []),
        [s.clientError, ...s.serverErrors].filter(Boolean).join('; '),
      ].map(cell).join('') +
      '</tr>'
    );
  });
  return `<table><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr>${rows.join('')}</table>`;
}

function httpTable(report: LoadTestReport): string {
  if (!report.http) return '<p>Not run (add <code>--http-bench</code>).</p>';
  const head = ['endpoint', 'connections', 'duration s', 'requests', 'req/s', 'latency p50 / p90 / p99 / max ms', '2xx', 'non-2xx', 'errors', 'timeouts'];
  const rows = report.http.targets.map(
    (t) =>
      `<tr class="${t.non2xx + t.errors > 0 ? 'fail' : ''}">` +
      [
        `${t.method} ${t.path} (${t.name})`, t.connections, t.durationS, t.requests, t.requestsPerS.toFixed(1),
        `${t.latencyMs.p50} / ${t.latencyMs.p90} / ${t.latencyMs.p99} / ${t.latencyMs.max}`,
        t.status2xx, t.non2xx, t.errors, t.timeouts,
      ].map(cell).join('') +
      '</tr>',
  );
  return `<p>WAV for the file endpoint: <code>${escapeXml(report.http.wavPath)}</code></p><table><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr>${rows.join('')}</table>`;
}

function headline(report: LoadTestReport): string {
  const unit = unitOf(report);
  if (report.findMax) {
    return `<p class="headline">Largest sustainable load: <b>${report.findMax.maxSustainableStreams} concurrent ${unit}</b> (${escapeXml(report.findMax.stoppedBecause)}).</p>`;
  }
  const level = report.levels[0];
  return level.verdict.sustainable
    ? `<p class="headline">${countLabel(level.streams, unit)}: <b>within every bound</b>.</p>`
    : `<p class="headline">${countLabel(level.streams, unit)}: <b>not sustainable</b>: ${escapeXml(level.verdict.reasons.join('; '))}.</p>`;
}

/** How the sessions were sent, in words. */
function sessionsSent(report: LoadTestReport): string {
  const calls = report.settings.calls;
  if (!calls) return `streams of at least ${report.settings.durationS} s of audio`;
  const how =
    calls.transport === 'twilio'
      ? `Twilio Media Streams (inbound and outbound tracks), finals read from the transcript sink ${calls.sinkFile}`
      : `one multichannel=true stream each, ${calls.channels} interleaved channels`;
  return `calls of at least ${report.settings.durationS} s, two readers taking turns, one per channel, sent as ${how}`;
}

const STYLE = `
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}tr.fail td{background:#fdecea}
.headline{font-size:16px;padding:8px 12px;background:#f4f8ff;border-left:4px solid #1f77b4}
.charts svg{margin:4px;border:1px solid #eee}dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:13px}
dt{font-weight:bold}code{background:#f3f3f3;padding:0 3px}`;

export function htmlReport(report: LoadTestReport): string {
  const settings: [string, string][] = [
    ['target', report.target.url],
    ['audio', report.settings.audio],
    ['encoding', `${report.settings.encoding}, ${report.settings.rate} Hz, ${report.settings.speed}x real time`],
    ['sessions', `${sessionsSent(report)}; starts spread over ${report.settings.rampS} s`],
    ['bounds', `p95 final ≤ ${report.criteria.p95FinalMs} ms, error rate ≤ ${pct(report.criteria.maxErrorRate)}, lag growth ≤ ${report.criteria.maxLagGrowthS} s`],
    ['run', `${report.date}, ${report.wallS.toFixed(0)} s`],
    ...(report.cpu ? [['machine', report.cpu] as [string, string]] : []),
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chorus load test ${escapeXml(report.date)}</title><style>${STYLE}</style></head>
<body>
<h1>Chorus load test</h1>
<dl>${settings.map(([k, v]) => `<dt>${escapeXml(k)}</dt><dd>${escapeXml(v)}</dd>`).join('')}</dl>
${headline(report)}
<div class="charts">${latencyVersusStreams(report)}${lagVersusStreams(report)}</div>
<h2>Levels</h2>
<p>Latencies per <code>../shared/DESIGN.md</code>: a word's final (interim) latency is the arrival of the first final (interim) result holding it minus when the client sent the end of its audio; an utterance's final latency is the same for the last word of a final marked <code>speech_final</code> or <code>from_finalize</code>; flush runs from <code>CloseStream</code> to the last final. Lag is the server's own figure (audio received but not yet transcribed); lag growth is the median over sessions of (median lag in the last third of the streaming time − median lag in the first third). Error rate counts refused, failed and disconnected sessions over sessions requested. WER sums errors over all reference words. A call's channels are each scored against their own reader's clips (WER per channel), its latencies pooled over both channels, its lag growth its worse channel's; a Twilio call's finals are timed when they are read from the transcript sink, and carry no interims and no lag.</p>
${levelsTable(report)}
${report.levels
  .map(
    (l) => `<h2>${countLabel(l.streams, unitOf(report))} (started ${escapeXml(l.startedAt)}, ${l.wallS.toFixed(1)} s)</h2>
<div class="charts">${levelCharts(l, unitOf(report))}</div>
<details><summary>Sessions</summary>${sessionsTable(l, unitOf(report))}</details>`,
  )
  .join('\n')}
<h2>HTTP endpoints</h2>
${httpTable(report)}
</body></html>
`;
}
