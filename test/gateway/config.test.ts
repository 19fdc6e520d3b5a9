import { describe, expect, it } from 'vitest';
import { ConfigError, GATEWAY_DEFAULTS, parseGatewayConfig } from '../../src/gateway/config.js';
import { DEFAULT_MODEL } from '../../src/model/registry.js';

function expectConfigError(call: () => unknown, mention: string): void {
  expect(call).toThrow(ConfigError);
  expect(call).toThrow(mention);
}

describe('parseGatewayConfig defaults', () => {
  it('uses the defaults with no flags and no environment', () => {
    expect(parseGatewayConfig([], {})).toEqual({
      host: '0.0.0.0',
      port: 8080,
      apiKeys: null,
      maxFrameBytes: 1024 * 1024,
      idleTimeoutMs: 10_000,
      maxOutboundMessages: GATEWAY_DEFAULTS.maxOutboundMessages,
      maxOutboundBytes: GATEWAY_DEFAULTS.maxOutboundBytes,
      maxUploadBytes: 25 * 1024 * 1024,
      model: DEFAULT_MODEL,
      maxSessions: 8,
      kvBudgetBytes: null,
      maxLagS: 2,
      metricsKey: null,
      tls: null,
      ingestPacing: { rate: 2, burstS: 30 },
      shutdownGraceMs: 10_000,
      batching: true,
      threads: 0,
      precision: null,
      transcriptSinks: [],
      callbackHosts: [],
      iceServers: [],
      agentPort: null,
      twilioAuthTokens: [],
      clientLimits: { maxSessions: 0, startsPerS: 0 },
      finals: 'early',
    });
  });

  it('treats empty variables as unset', () => {
    expect(parseGatewayConfig([], { CHORUS_PORT: '', CHORUS_API_KEYS: '' })).toMatchObject({ port: 8080, apiKeys: null });
  });
});

describe('parseGatewayConfig sources', () => {
  it('reads every setting from flags', () => {
    const config = parseGatewayConfig(
      [
        '--host=127.0.0.1',
        '--port',
        '9000',
        '--api-key',
        'a',
        '--api-key',
        'b',
        '--max-frame-bytes',
        '512KiB',
        '--idle-timeout',
        '2.5',
        '--max-outbound-messages',
        '50',
        '--max-outbound-bytes',
        '2MiB',
        '--max-upload-bytes',
        '4MiB',
        '--model',
        'base.en',
        '--max-sessions',
        '3',
        '--kv-budget-mb',
        '256',
        '--max-lag-s',
        '1.5',
        '--no-batching',
        '--threads',
        '4',
        '--precision',
        'int8',
        '--transcript-sink',
        '/tmp/finals.jsonl',
        '--ice-server',
        'stun:stun.example.org:3478',
        '--ice-server',
        'turn:turn.example.org:3478',
        '--ice-username',
        'u',
        '--ice-credential',
        'p',
        '--metrics-key',
        'scraper',
        '--max-ingest-rate',
        '1.5',
        '--ingest-burst-s',
        '5',
        '--shutdown-grace-s',
        '20',
        '--tls-cert',
        'cert.pem',
        '--tls-key',
        'key.pem',
        '--agent-port',
        '9001',
        '--twilio-auth-token',
        'tw1',
        '--twilio-auth-token',
        'tw2',
        '--max-sessions-per-client',
        '4',
        '--max-session-starts-per-client',
        '2.5',
        '--finals',
        'utterance',
      ],
      {},
    );
    expect(config).toEqual({
      host: '127.0.0.1',
      port: 9000,
      apiKeys: new Set(['a', 'b']),
      maxFrameBytes: 512 * 1024,
      idleTimeoutMs: 2500,
      maxOutboundMessages: 50,
      maxOutboundBytes: 2 * 1024 * 1024,
      maxUploadBytes: 4 * 1024 * 1024,
      model: 'base.en',
      maxSessions: 3,
      kvBudgetBytes: 256 * 1024 * 1024,
      maxLagS: 1.5,
      metricsKey: 'scraper',
      tls: { certFile: 'cert.pem', keyFile: 'key.pem' },
      ingestPacing: { rate: 1.5, burstS: 5 },
      shutdownGraceMs: 20_000,
      batching: false,
      threads: 4,
      precision: 'int8',
      transcriptSinks: [{ kind: 'file', path: '/tmp/finals.jsonl' }],
      callbackHosts: [],
      iceServers: [{ urls: 'stun:stun.example.org:3478' }, { urls: 'turn:turn.example.org:3478', username: 'u', credential: 'p' }],
      agentPort: 9001,
      twilioAuthTokens: ['tw1', 'tw2'],
      clientLimits: { maxSessions: 4, startsPerS: 2.5 },
      finals: 'utterance',
    });
  });

  it('reads every setting from the environment', () => {
    const config = parseGatewayConfig([], {
      CHORUS_HOST: '::',
      CHORUS_PORT: '0',
      CHORUS_API_KEYS: 'k1, k2,,k3 ',
      CHORUS_MAX_FRAME_BYTES: '65536',
      CHORUS_IDLE_TIMEOUT_S: '30',
      CHORUS_MAX_OUTBOUND_MESSAGES: '10',
      CHORUS_MAX_OUTBOUND_BYTES: '1mib',
      CHORUS_MAX_UPLOAD_BYTES: '100KiB',
      CHORUS_MODEL: '/models/small',
      CHORUS_MAX_SESSIONS: '20',
      CHORUS_KV_BUDGET_MB: '1024',
      CHORUS_MAX_LAG_S: '3',
      CHORUS_BATCHING: 'off',
      CHORUS_THREADS: '2',
      CHORUS_PRECISION: 'fp32',
      CHORUS_TRANSCRIPT_SINK: 'finals.jsonl',
      CHORUS_ICE_SERVERS: 'stun:a.example:3478, stun:b.example:3478',
      CHORUS_METRICS_KEY: 'scraper',
      CHORUS_MAX_INGEST_RATE: '3',
      CHORUS_INGEST_BURST_S: '60',
      CHORUS_SHUTDOWN_GRACE_S: '0',
      CHORUS_TLS_CERT: '/etc/chorus/cert.pem',
      CHORUS_TLS_KEY: '/etc/chorus/key.pem',
      CHORUS_AGENT_PORT: '9002',
      CHORUS_TWILIO_AUTH_TOKENS: 'primary, secondary',
      CHORUS_MAX_SESSIONS_PER_CLIENT: '6',
      CHORUS_MAX_SESSION_STARTS_PER_CLIENT: '1',
      CHORUS_FINALS: 'Utterance',
    });
    expect(config).toEqual({
      host: '::',
      port: 0,
      apiKeys: new Set(['k1', 'k2', 'k3']),
      maxFrameBytes: 65536,
      idleTimeoutMs: 30_000,
      maxOutboundMessages: 10,
      maxOutboundBytes: 1024 * 1024,
      maxUploadBytes: 100 * 1024,
      model: '/models/small',
      maxSessions: 20,
      kvBudgetBytes: 1024 * 1024 * 1024,
      maxLagS: 3,
      metricsKey: 'scraper',
      tls: { certFile: '/etc/chorus/cert.pem', keyFile: '/etc/chorus/key.pem' },
      ingestPacing: { rate: 3, burstS: 60 },
      shutdownGraceMs: 0,
      batching: false,
      threads: 2,
      precision: 'fp32',
      transcriptSinks: [{ kind: 'file', path: 'finals.jsonl' }],
      callbackHosts: [],
      iceServers: [{ urls: 'stun:a.example:3478' }, { urls: 'stun:b.example:3478' }],
      agentPort: 9002,
      twilioAuthTokens: ['primary', 'secondary'],
      clientLimits: { maxSessions: 6, startsPerS: 1 },
      finals: 'utterance',
    });
  });

  it('lets flags override the environment, api keys included', () => {
    const config = parseGatewayConfig(['--port', '1234', '--api-key', 'flag-key'], {
      CHORUS_PORT: '5678',
      CHORUS_API_KEYS: 'env-key',
    });
    expect(config.port).toBe(1234);
    expect(config.apiKeys).toEqual(new Set(['flag-key']));
  });
});

describe('parseGatewayConfig validation', () => {
  it.each([
    [['--port', '65536'], '--port'],
    [['--port', '80a'], '--port'],
    [['--port', '-1'], '--port'],
    [['--max-frame-bytes', '100'], '--max-frame-bytes'],
    [['--max-frame-bytes', '65MiB'], '--max-frame-bytes'],
    [['--max-frame-bytes', '1GB'], '--max-frame-bytes'],
    [['--idle-timeout', '0'], '--idle-timeout'],
    [['--idle-timeout', '10s'], '--idle-timeout'],
    [['--idle-timeout', '3601'], '--idle-timeout'],
    [['--max-outbound-messages', '0'], '--max-outbound-messages'],
    [['--max-outbound-bytes', '1KiB'], '--max-outbound-bytes'],
    [['--max-upload-bytes', '2GiB'], '--max-upload-bytes'],
    [['--threads', 'many'], '--threads'],
    [['--precision', 'fp16'], '--precision'],
    [['--finals', 'sentence'], '--finals'],
    [['--max-sessions', '0'], '--max-sessions'],
    [['--kv-budget-mb', '0'], '--kv-budget-mb'],
    [['--kv-budget-mb', '1.5'], '--kv-budget-mb'],
    [['--max-lag-s', '0'], '--max-lag-s'],
    [['--max-ingest-rate', '0.5'], '--max-ingest-rate'],
    [['--max-ingest-rate', 'fast'], '--max-ingest-rate'],
    [['--ingest-burst-s', '-1'], '--ingest-burst-s'],
    [['--shutdown-grace-s', '3601'], '--shutdown-grace-s'],
    [['--metrics-key', ' '], '--metrics-key'],
    [['--tls-cert', 'cert.pem'], '--tls-key'],
    [['--tls-key', 'key.pem'], '--tls-key'],
    [['--host', ' '], '--host'],
    [['--model', ''], '--model'],
    [['--transcript-sink', ''], '--transcript-sink'],
    [['--transcript-sink', 'nats://127.0.0.1:4222'], '--transcript-sink'],
    [['--transcript-sink', 'nats://127.0.0.1:4222/bad subject'], '--transcript-sink'],
    [['--transcript-sink', 'kafka://broker/topic'], '--transcript-sink'],
    [['--callback-host', 'http://hooks.example.org/'], '--callback-host'],
    [['--ice-server', 'stun.example.org'], '--ice-server'],
    [['--ice-server', 'turn:turn.example.org'], '--ice-username'],
  ])('refuses %j', (argv, mention) => {
    expectConfigError(() => parseGatewayConfig(argv, {}), mention);
  });

  it('reads transcript sinks (files and NATS JetStream subjects, repeatable) and callback hosts', () => {
    const config = parseGatewayConfig(
      ['--transcript-sink', 'finals.jsonl', '--transcript-sink', 'nats://user:pw@nats.internal:4222/calls.finals', '--callback-host', 'Hooks.Example.org', '--callback-host', '127.0.0.1:9000'],
      {},
    );
    expect(config.transcriptSinks).toEqual([
      { kind: 'file', path: 'finals.jsonl' },
      { kind: 'nats', servers: 'nats://user:pw@nats.internal:4222', subject: 'calls.finals' },
    ]);
    expect(config.callbackHosts).toEqual(['hooks.example.org', '127.0.0.1:9000']);
    expect(parseGatewayConfig([], { CHORUS_TRANSCRIPT_SINK: 'file:///var/log/f.jsonl,nats://n:4222/x', CHORUS_CALLBACK_HOSTS: '*' })).toMatchObject({
      transcriptSinks: [
        { kind: 'file', path: '/var/log/f.jsonl' },
        { kind: 'nats', servers: 'nats://n:4222', subject: 'x' },
      ],
      callbackHosts: ['*'],
    });
  });

  it('names the variable when the bad value came from the environment', () => {
    expectConfigError(() => parseGatewayConfig([], { CHORUS_PORT: 'http' }), 'CHORUS_PORT');
    expectConfigError(() => parseGatewayConfig([], { CHORUS_IDLE_TIMEOUT_S: 'soon' }), 'CHORUS_IDLE_TIMEOUT_S');
    expectConfigError(() => parseGatewayConfig([], { CHORUS_BATCHING: 'maybe' }), 'CHORUS_BATCHING');
  });

  it('refuses unknown flags and positional arguments', () => {
    expectConfigError(() => parseGatewayConfig(['--prot', '80'], {}), 'prot');
    expect(() => parseGatewayConfig(['extra'], {})).toThrow(ConfigError);
  });
});
