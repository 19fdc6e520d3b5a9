// The spread of a level's sessions over gateways: by x-chorus-gateway (or --url), outcomes per
// gateway, and the front's own refusals (a refusal that names no gateway).
import { describe, expect, it } from 'vitest';
import { spreadLines, spreadOf } from '../../loadtest/spread.js';
import { session } from './sample-report.js';

describe('spreadOf', () => {
  it('counts each gateway’s streams and outcomes, and the refusals of the front', () => {
    const sessions = [
      session({ gateway: 'g1', outcome: 'ok', finalLatencyMs: [100, 300] }),
      session({ gateway: 'g1', outcome: 'shed', finalLatencyMs: [900] }),
      session({ gateway: 'g2', outcome: 'ok', finalLatencyMs: [200] }),
      session({ gateway: 'g2', outcome: 'refused', refusedStatus: 429, finalLatencyMs: [] }),
      session({ gateway: 'g10', outcome: 'disconnected', finalLatencyMs: [] }),
      session({ gateway: null, outcome: 'refused', refusedStatus: 429, finalLatencyMs: [] }),
      session({ gateway: null, outcome: 'refused', refusedStatus: 429, finalLatencyMs: [] }),
    ];
    const spread = spreadOf(sessions)!;
    expect(spread.refusedByFront).toBe(2);
    expect(spread.gateways.map((g) => [g.gateway, g.admitted, g.ok, g.shed, g.failed, g.refused])).toEqual([
      ['g1', 2, 1, 1, 0, 0],
      ['g2', 1, 1, 0, 0, 1],
      ['g10', 1, 0, 0, 1, 0],
    ]);
    expect(spread.gateways[0].finalLatencyMs.n).toBe(3);
    expect(spreadLines(spread)[0]).toBe('  g1: 2 admitted (1 ok, 1 shed, 0 failed), 0 refused by it, final p50 300 / p95 900 ms');
    expect(spreadLines(spread).at(-1)).toBe('  refused by the front: 2');
  });

  it('is null when no session names a gateway', () => {
    expect(spreadOf([session({ gateway: null }), session()])).toBeNull();
  });
});
