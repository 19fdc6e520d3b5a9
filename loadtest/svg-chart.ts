// Small SVG charts drawn as strings, so a report is one self-contained file that any browser
// opens offline and that resvg can turn into a PNG. Only what the load-test report needs:
// line charts (with markers, for few points) and histograms, on linear axes from zero.

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  dashed?: boolean;
  /** draw a dot at each point, for series with few of them */
  markers?: boolean;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
}

export interface HistogramSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  color: string;
  bins: { from: number; to: number; count: number }[];
  width?: number;
  height?: number;
}

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const MARGIN = { left: 64, right: 16, top: 36, bottom: 48 };

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Round tick spacing (1, 2 or 5 times a power of ten) giving about `count` ticks up to `max`. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const rough = max / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough)!;
  const ticks: number[] = [];
  for (let i = 0; i * step < max + step * 1e-9; i++) ticks.push(Number((i * step).toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks.length * step).toPrecision(12)));
  return ticks;
}

const label = (v: number) => (Math.abs(v) >= 1000 ? v.toFixed(0) : String(Number(v.toPrecision(4))));

interface Frame {
  width: number;
  height: number;
  x: (v: number) => number;
  y: (v: number) => number;
  body: string[];
}

function frame(spec: { title: string; xLabel: string; yLabel: string; width?: number; height?: number }, xMax: number, yMax: number): Frame {
  const width = spec.width ?? 640;
  const height = spec.height ?? 360;
  const xTicks = niceTicks(xMax);
  // Headroom above the data keeps the top right corner free for the legend.
  const yTicks = niceTicks(yMax * 1.15);
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const xTop = xTicks[xTicks.length - 1];
  const yTop = yTicks[yTicks.length - 1];
  // Axes start at zero; a value below (a word finalised before its audio was sent) sits on the axis.
  const x = (v: number) => MARGIN.left + (Math.max(0, v) / xTop) * plotW;
  const y = (v: number) => MARGIN.top + plotH - (v / yTop) * plotH;
  const body = [
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`,
    ...yTicks.map(
      (t) =>
        `<line x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${y(t)}" y2="${y(t)}" stroke="#e3e3e3"/>` +
        `<text x="${MARGIN.left - 6}" y="${y(t) + 4}" text-anchor="end" font-size="11">${label(t)}</text>`,
    ),
    ...xTicks.map(
      (t) =>
        `<line x1="${x(t)}" x2="${x(t)}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH + 4}" stroke="#333"/>` +
        `<text x="${x(t)}" y="${MARGIN.top + plotH + 17}" text-anchor="middle" font-size="11">${label(t)}</text>`,
    ),
    `<line x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}" stroke="#333"/>`,
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${height - 10}" text-anchor="middle" font-size="12">${escapeXml(spec.xLabel)}</text>`,
    `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(spec.yLabel)}</text>`,
  ];
  return { width, height, x, y, body };
}

function svg(f: Frame, role: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" ` +
    `font-family="${FONT}" role="img" aria-label="${escapeXml(role)}">${f.body.join('')}</svg>`
  );
}

export function lineChart(spec: LineChartSpec): string {
  const all = spec.series.flatMap((s) => s.points);
  const f = frame(spec, Math.max(0, ...all.map(([x]) => x)), Math.max(0, ...all.map(([, y]) => y)));
  const round = (v: number) => Math.round(v * 10) / 10;
  const legendX = f.width - MARGIN.right - 190;
  const legend = [`<rect x="${legendX - 6}" y="${MARGIN.top - 2}" width="190" height="${spec.series.length * 16 + 4}" fill="#ffffff" fill-opacity="0.85"/>`];
  spec.series.forEach((s, i) => {
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (s.points.length > 0) {
      const path = s.points.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${round(f.x(x))} ${round(f.y(y))}`).join('');
      f.body.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
      if (s.markers) for (const [x, y] of s.points) f.body.push(`<circle cx="${round(f.x(x))}" cy="${round(f.y(y))}" r="3.5" fill="${s.color}"/>`);
    }
    const legendY = MARGIN.top + 8 + i * 16;
    legend.push(
      `<line x1="${legendX}" x2="${legendX + 18}" y1="${legendY}" y2="${legendY}" stroke="${s.color}" stroke-width="2"${dash}/>` +
        `<text x="${legendX + 24}" y="${legendY + 4}" font-size="11">${escapeXml(s.name)}</text>`,
    );
  });
  f.body.push(...legend);
  if (all.length === 0) f.body.push(noData(f));
  return svg(f, spec.title);
}

export function histogram(spec: HistogramSpec): string {
  const f = frame(
    spec,
    Math.max(0, ...spec.bins.map((b) => b.to)),
    Math.max(0, ...spec.bins.map((b) => b.count)),
  );
  for (const b of spec.bins) {
    if (b.count === 0) continue;
    const top = f.y(b.count);
    f.body.push(
      `<rect x="${f.x(b.from)}" y="${top}" width="${Math.max(0.5, f.x(b.to) - f.x(b.from) - 1)}" height="${f.y(0) - top}" fill="${spec.color}"/>`,
    );
  }
  if (spec.bins.every((b) => b.count === 0)) f.body.push(noData(f));
  return svg(f, spec.title);
}

function noData(f: Frame): string {
  return `<text x="${f.width / 2}" y="${f.height / 2}" text-anchor="middle" font-size="13" fill="#888">no data</text>`;
}

/**
 * The empirical CDF as a step line: fraction of samples at or below each value. Past
 * `maxSteps` samples it steps at evenly spaced fractions instead, so a level with tens of
 * thousands of words still draws a small path.
 */
export function cdfPoints(values: readonly number[], maxSteps = 200): [number, number][] {
  const sorted = [...values].sort((a, b) => a - b);
  const steps = Math.min(sorted.length, maxSteps);
  const points: [number, number][] = [];
  for (let k = 1; k <= steps; k++) {
    const value = sorted[Math.ceil((k / steps) * sorted.length) - 1];
    points.push([value, (k - 1) / steps], [value, k / steps]);
  }
  return points;
}

/** About `count` equal-width bins from zero that cover every value. */
export function bins(values: readonly number[], count = 30): HistogramSpec['bins'] {
  if (values.length === 0) return [];
  const ticks = niceTicks(Math.max(...values), count);
  const width = ticks[1] - ticks[0];
  const counts = new Array<number>(ticks.length).fill(0);
  for (const v of values) counts[Math.min(counts.length - 1, Math.floor(Math.max(0, v) / width))]++;
  return counts.map((count, i) => ({ from: i * width, to: (i + 1) * width, count }));
}
