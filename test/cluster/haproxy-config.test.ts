// The generated HAProxy configuration is one HAProxy 2.6 accepts (`haproxy -c`), and says what
// docs/deploy.md promises; refuses names it could not route WHIP sessions by.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAPROXY_MISSING } from '../../src/cluster/cluster.js';
import { frontRefusalBody, haproxyConfig, HAPROXY_DEFAULTS } from '../../src/cluster/haproxy-config.js';

const backends = [
  { name: 'g1', host: '127.0.0.1', port: 9101, agentPort: 9201 },
  { name: 'chorus-2', host: '10.0.0.2', port: 8080, agentPort: null },
];

describe('haproxyConfig', () => {
  it('is valid for haproxy -c, with leastconn, both checks, the tunnel timeout and the front 429', () => {
    if (spawnSync('haproxy', ['-v']).error) throw new Error(HAPROXY_MISSING);
    const text = haproxyConfig({ ...HAPROXY_DEFAULTS, bindHost: '127.0.0.1', bindPort: 9100, statsSocket: null, backends });
    const dir = mkdtempSync(join(tmpdir(), 'chorus-haproxy-'));
    try {
      writeFileSync(join(dir, 'haproxy.cfg'), text);
      const check = spawnSync('haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8' });
      expect(check.stderr + check.stdout).toContain('Configuration file is valid');
      expect(check.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(text).toContain('balance leastconn');
    expect(text).toContain('option httpchk GET /readyz');
    expect(text).toContain('timeout tunnel 3600s');
    expect(text).toContain('server g1 127.0.0.1:9101 check agent-check agent-port 9201 agent-inter 500ms');
    expect(text).toContain('server chorus-2 10.0.0.2:8080 check\n');
    expect(text).toContain('use-server chorus-2 if { var(txn.whip_owner) -m str chorus-2 }');
    expect(text).toContain(`string '${frontRefusalBody()}' if stream_upgrade stream_path !gateway_usable`);
    expect(JSON.parse(frontRefusalBody())).toEqual({
      type: 'Error',
      variant: 'CapacityExceeded',
      description: 'every gateway behind this front is full; try again later',
      code: 'capacity_exceeded',
    });
  });

  it('refuses server names that cannot be a path segment, and an empty cluster', () => {
    const options = { ...HAPROXY_DEFAULTS, bindHost: '127.0.0.1', bindPort: 9100, statsSocket: null };
    expect(() => haproxyConfig({ ...options, backends: [{ ...backends[0], name: 'G/1' }] })).toThrow(/lower-case/);
    expect(() => haproxyConfig({ ...options, backends: [] })).toThrow(/at least one/);
  });
});
