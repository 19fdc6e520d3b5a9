// Readiness that means "send me more": /readyz's status and body and the HAProxy agent line,
// from the capacity snapshot (table), and both served by a gateway (fake engine).
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { agentReply, freeCapacity, readiness } from '../../src/gateway/readiness.js';
import { FakeSessionFactory } from './fake-sessions.js';
import { openListen, PCM_QUERY, startGateway, until, type Harness } from './gateway-harness.js';

const snapshot = (sessionsActive: number, sessionsMax: number, lagP95S: number, accepting: boolean) => ({ sessionsActive, sessionsMax, lagP95S, accepting });

describe('freeCapacity and the agent line', () => {
  it.each([
    // active, max, lag, accepting -> weight, agent line
    [0, 4, 0, true, 100, 'up ready 100%\n'],
    [1, 4, 0, true, 75, 'up ready 75%\n'],
    [1, 4, 1.5, true, 25, 'up ready 25%\n'], // lag headroom 1 - 1.5/2 is the smaller share
    [3, 4, 1.99, true, 1, 'up ready 1%\n'], // accepting: never 0 %, which HAProxy reads as drain
    [4, 4, 0, false, 0, 'down#full\n'],
    [2, 4, 2.5, false, 0, 'down#full\n'], // refused on lag: full although sessions are free
  ])('%i of %i sessions, p95 lag %f s, accepting %s: weight %i', (active, max, lag, accepting, weight, line) => {
    const capacity = snapshot(active, max, lag, accepting);
    expect(freeCapacity(capacity, 2).weight_percent).toBe(weight);
    expect(freeCapacity(capacity, 2).sessions_free).toBe(max - active);
    expect(agentReply(readiness({ model: 'tiny.en', capacity }, false, 2))).toBe(line);
  });

  it('drains while shutting down, whatever is free, and is down while the model loads', () => {
    const state = readiness({ model: 'tiny.en', capacity: snapshot(0, 4, 0, true) }, true, 2);
    expect(state).toMatchObject({ ready: false, reason: 'shutting_down' });
    expect(agentReply(state)).toBe('drain\n');
    expect(agentReply(readiness(null, false, 2))).toBe('down#model_loading\n');
  });
});

let harness: Harness | null = null;
afterEach(async () => {
  await harness?.server.shutdown();
  harness = null;
});

function agentLine(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = connect(port, '127.0.0.1');
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('the agent check port', () => {
  it('answers the readiness of the moment: weight by free sessions, down when full, drain when shutting down', async () => {
    harness = await startGateway({ agentPort: 0 }, { factory: new FakeSessionFactory('fake.en', 2) });
    const port = harness.server.agentPortInUse!;
    expect(port).toBeGreaterThan(0);
    expect(await agentLine(port)).toBe('up ready 100%\n');
    const first = await openListen(harness, PCM_QUERY);
    expect(await agentLine(port)).toBe('up ready 50%\n');
    const second = await openListen(harness, PCM_QUERY);
    expect(await agentLine(port)).toBe('down#full\n');
    expect((await fetch(`${harness.url}/readyz`)).status).toBe(503);
    second.ws.close();
    await until(() => harness!.factory.activeSessions === 1);
    expect(await agentLine(port)).toBe('up ready 50%\n');
    expect((await fetch(`${harness.url}/readyz`)).status).toBe(200);
    const stopping = harness.server.shutdown();
    expect(await agentLine(port)).toBe('drain\n');
    first.ws.close();
    await stopping;
    harness = null;
    await expect(agentLine(port)).rejects.toThrow(/ECONNREFUSED/);
  });
});
