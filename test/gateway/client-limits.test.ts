// Sessions per client address: one address cannot hold every slot or start sessions as fast as
// the server answers, so it cannot lock other clients out.
import { afterEach, describe, expect, it } from 'vitest';
import { ClientLimits } from '../../src/gateway/client-limits.js';
import { Refusal } from '../../src/gateway/stream-admission.js';
import { FakeSessionFactory } from './fake-sessions.js';
import { openListen, PCM_QUERY, refusedListen, startGateway, until, type Harness } from './gateway-harness.js';

function refusalOf(attempt: () => unknown): Refusal {
  try {
    attempt();
  } catch (error) {
    if (error instanceof Refusal) return error;
    throw error;
  }
  throw new Error('admitted');
}

describe('ClientLimits', () => {
  it('lets an address hold up to its share, counting each channel, and take it back on release', () => {
    const limits = new ClientLimits({ maxSessions: 3, startsPerS: 0 });
    const stereo = limits.admit('10.0.0.1', 2, 0);
    limits.admit('10.0.0.1', 1, 0);
    const refused = refusalOf(() => limits.admit('10.0.0.1', 1, 0));
    expect(refused).toMatchObject({ code: 'too_many_client_sessions', httpStatus: 429 });
    expect(limits.admit('10.0.0.2', 3, 0)).toBeDefined();
    stereo.release();
    stereo.release();
    expect(limits.held('10.0.0.1')).toBe(1);
    limits.admit('10.0.0.1', 2, 0);
    expect(limits.held('10.0.0.1')).toBe(3);
  });

  it('lets an address start a burst of ten seconds\' worth, then at the rate, with Retry-After until the next start', () => {
    const limits = new ClientLimits({ maxSessions: 0, startsPerS: 0.5 });
    for (let i = 0; i < 5; i++) limits.admit('10.0.0.1', 1, 0).release();
    const refused = refusalOf(() => limits.admit('10.0.0.1', 1, 0));
    expect(refused).toMatchObject({ code: 'too_many_client_sessions', httpStatus: 429, retryAfterS: 2 });
    expect(limits.admit('10.0.0.2', 1, 0)).toBeDefined();
    expect(() => limits.admit('10.0.0.1', 1, 1000)).toThrow(Refusal);
    expect(limits.admit('10.0.0.1', 1, 2000)).toBeDefined();
  });

  it('holds nothing and refuses nothing with no limits', () => {
    const limits = new ClientLimits({ maxSessions: 0, startsPerS: 0 });
    for (let i = 0; i < 1000; i++) limits.admit('10.0.0.1', 2, 0);
    expect(limits.held('10.0.0.1')).toBe(0);
  });
});

describe('--max-sessions-per-client on /v1/listen', () => {
  let harness: Harness | null = null;
  afterEach(async () => {
    await harness?.server.shutdown();
    harness = null;
  });

  it('refuses a client its third stream with 429 while another client is still admitted, and gives the share back when a stream ends', async () => {
    harness = await startGateway({ clientLimits: { maxSessions: 2, startsPerS: 0 } }, { factory: new FakeSessionFactory('fake.en', 4) });
    const first = await openListen(harness, PCM_QUERY);
    await openListen(harness, PCM_QUERY);
    const refused = await refusedListen(harness, PCM_QUERY);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ type: 'Error', code: 'too_many_client_sessions' });
    const other = await openListen(harness, PCM_QUERY, { localAddress: '127.0.0.2' });
    expect(harness.factory.sessions).toHaveLength(3);

    first.ws.close();
    await first.closed;
    await until(() => harness!.factory.sessions.filter((s) => !s.closed && !s.aborted).length === 2);
    const again = await openListen(harness, PCM_QUERY);
    again.ws.close();
    other.ws.close();
  });
});
