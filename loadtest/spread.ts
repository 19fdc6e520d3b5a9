// How a level's sessions spread over the gateways behind a balancer (issue 20): per gateway
// (the x-chorus-gateway a balancer names, or the --url when several are given), the streams it
// took, how they ended and their final latency; and the streams the front refused itself (a
// refusal that names no gateway). Derived from the session records alone, like the summary.
import { distribution, type Distribution } from './distribution.js';
import type { SessionRecord } from './level-summary.js';

export interface GatewaySpread {
  gateway: string;
  /** streams it admitted */
  admitted: number;
  ok: number;
  shed: number;
  /** errors and disconnects */
  failed: number;
  /** upgrades it refused itself (its own 429 or 503) */
  refused: number;
  finalLatencyMs: Distribution;
}

export interface Spread {
  gateways: GatewaySpread[];
  /** refusals that named no gateway: the balancer's own (429 when every gateway is full) */
  refusedByFront: number;
}

/** null when no session names a gateway (one target, no balancer header). */
export function spreadOf(sessions: readonly SessionRecord[]): Spread | null {
  if (!sessions.some((s) => s.gateway)) return null;
  const by = new Map<string, SessionRecord[]>();
  let refusedByFront = 0;
  for (const s of sessions) {
    if (!s.gateway) {
      if (s.outcome === 'refused') refusedByFront++;
      continue;
    }
    by.set(s.gateway, [...(by.get(s.gateway) ?? []), s]);
  }
  const gateways = [...by.entries()]
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([gateway, list]) => ({
      gateway,
      admitted: list.filter((s) => s.outcome !== 'refused').length,
      ok: list.filter((s) => s.outcome === 'ok').length,
      shed: list.filter((s) => s.outcome === 'shed').length,
      failed: list.filter((s) => s.outcome === 'error' || s.outcome === 'disconnected').length,
      refused: list.filter((s) => s.outcome === 'refused').length,
      finalLatencyMs: distribution(list.flatMap((s) => s.finalLatencyMs)),
    }));
  return { gateways, refusedByFront };
}

export function spreadLines(spread: Spread): string[] {
  const ms = (v: number | null) => (v === null ? '–' : String(Math.round(v)));
  return [
    ...spread.gateways.map(
      (g) =>
        `  ${g.gateway}: ${g.admitted} admitted (${g.ok} ok, ${g.shed} shed, ${g.failed} failed), ${g.refused} refused by it, ` +
        `final p50 ${ms(g.finalLatencyMs.p50)} / p95 ${ms(g.finalLatencyMs.p95)} ms`,
    ),
    `  refused by the front: ${spread.refusedByFront}`,
  ];
}
