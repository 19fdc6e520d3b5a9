// Real HAProxy in front of real gateways (tiny.en, one thread each), all on loopback, started
// and stopped by the test through `Cluster` (what `chorus cluster` runs): new streams spread by
// least connections, a full cluster is refused with 429 by the front before any upgrade and
// takes streams again as soon as one leaves, a WHIP session's DELETE reaches the gateway that
// owns it, and files go through the same front. No haproxy installed is a failure naming the
// install command, never a skip.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, HAPROXY_MISSING } from '../../src/cluster/cluster.js';
import { connectWhip } from '../gateway/whip-peer.js';
import { fixture } from '../helpers.js';
import { isStream, jfkPcm, JFK_WORDS, openStream, until, type Stream } from './clients.js';

let cluster: Cluster;

beforeAll(async () => {
  if (spawnSync('haproxy', ['-v']).error) throw new Error(HAPROXY_MISSING);
  cluster = new Cluster({ gateways: 2, port: 0, host: '127.0.0.1', threads: 1, serveArgs: ['--max-sessions', '2', '--model', 'tiny.en'] });
  await cluster.start();
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('HAProxy in front of two gateways (max 2 streams each)', () => {
  it('spreads streams by least connections, refuses the fifth with 429 at the front, and admits again when one leaves', async () => {
    const streams: Stream[] = [];
    for (let i = 0; i < 4; i++) {
      const opened = await openStream(cluster.frontUrl);
      if (!isStream(opened)) throw new Error(`stream ${i} refused: ${opened.status} ${opened.body}`);
      streams.push(opened);
    }
    expect(streams.map((s) => s.gateway).sort()).toEqual(['g1', 'g1', 'g2', 'g2']);
    // Both full: the agent checks say down#full within one agent interval.
    await until(async () => (await cluster.stat()).every((s) => s.status !== 'UP'), 5000, 'both gateways to leave the balance');
    for (const g of cluster.gateways) expect((await fetch(`${g.url}/readyz`)).status).toBe(503);
    const refused = await openStream(cluster.frontUrl);
    if (isStream(refused)) throw new Error(`a fifth stream was admitted by ${refused.gateway}`);
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers['x-chorus-gateway']).toBeUndefined(); // the front's own answer
    expect(JSON.parse(refused.body)).toMatchObject({ type: 'Error', code: 'capacity_exceeded' });

    // One stream on g1 transcribes JFK through the front and leaves; g1 takes the next one.
    const leaving = streams.find((s) => s.gateway === 'g1')!;
    const pcm = jfkPcm();
    for (let at = 0; at < pcm.length; at += 32000) leaving.ws.send(pcm.subarray(at, at + 32000));
    leaving.ws.send(JSON.stringify({ type: 'CloseStream' }));
    expect((await leaving.closed).code).toBe(1000);
    const text = leaving.messages.filter((m) => m.type === 'Results' && m.is_final).map((m) => m.channel.alternatives[0].transcript).join(' ');
    expect(text.toLowerCase()).toMatch(JFK_WORDS);
    await until(async () => (await cluster.stat()).find((s) => s.name === 'g1')?.status === 'UP', 5000, 'g1 back in the balance');
    const next = await openStream(cluster.frontUrl);
    if (!isStream(next)) throw new Error(`refused after a stream left: ${next.status}`);
    expect(next.gateway).toBe('g1');
    for (const s of [...streams.filter((s) => s !== leaving), next]) s.ws.close();
    await Promise.all([...streams, next].map((s) => s.closed));
    await until(async () => (await cluster.stat()).every((s) => s.status === 'UP' && s.weight === 100), 5000, 'both gateways empty and up');
  }, 60_000);

  it('routes a WHIP session back to its owner: Location names the gateway, DELETE there ends it with its Metadata', async () => {
    const peer = await connectWhip(cluster.frontUrl, 'encoding=opus');
    try {
      const path = new URL(peer.resource).pathname;
      const [, owner, id] = /^\/v1\/whip\/(g[12])\/([A-Za-z0-9_-]{22})$/.exec(path) ?? [];
      expect(owner).toBeDefined();
      const other = owner === 'g1' ? 'g2' : 'g1';
      // The prefix decides: the other gateway does not know the session.
      expect((await fetch(`${cluster.frontUrl}/v1/whip/${other}/${id}`, { method: 'DELETE' })).status).toBe(404);
      const deleted = await fetch(peer.resource, { method: 'DELETE' });
      expect(deleted.status).toBe(200);
      expect(deleted.headers.get('x-chorus-gateway')).toBe(owner);
      await peer.waitFor('Metadata', 10_000);
    } finally {
      await peer.pc.close();
    }
  }, 60_000);

  it('serves the file endpoints through the same front', async () => {
    const form = new FormData();
    form.set('file', new Blob([readFileSync(fixture('jfk').path)]), 'jfk.wav');
    form.set('model', 'whisper-1');
    const response = await fetch(`${cluster.frontUrl}/v1/audio/transcriptions`, { method: 'POST', body: form });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-chorus-gateway')).toMatch(/^g[12]$/);
    expect(((await response.json()) as { text: string }).text.toLowerCase()).toMatch(JFK_WORDS);
  }, 60_000);
});
