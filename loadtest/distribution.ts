// Summaries of a set of measurements. Percentiles use the nearest-rank method so every
// reported percentile is one of the measured values: a reader can find it in the
// per-session data, and it always lies between the minimum and the maximum.

export interface Distribution {
  n: number;
  min: number | null;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[nearestRank(sorted.length, p)];
}

function nearestRank(n: number, p: number): number {
  return Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
}

export function median(values: readonly number[]): number | null {
  return percentile(values, 50);
}

export function distribution(values: readonly number[]): Distribution {
  if (values.length === 0) return { n: 0, min: null, mean: null, p50: null, p90: null, p95: null, p99: null, max: null };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[nearestRank(sorted.length, p)];
  return {
    n: sorted.length,
    min: sorted[0],
    mean: sorted.reduce((sum, v) => sum + v, 0) / sorted.length,
    p50: at(50),
    p90: at(90),
    p95: at(95),
    p99: at(99),
    max: sorted[sorted.length - 1],
  };
}
