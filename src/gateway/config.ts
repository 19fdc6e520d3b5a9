/**
 * Gateway settings from command-line flags and environment variables. A flag wins over its
 * variable, so a deployment's environment can be overridden for one run. Parsing is pure
 * (argv and env are arguments) and refuses bad values at start-up, where an operator is
 * watching, rather than on the first connection.
 */

import { parseArgs } from 'node:util';
import { parsePrecision, type Precision } from '../engine/whisper.js';
import { DEFAULT_MODEL } from '../model/registry.js';
import { DEFAULT_INGEST_PACING, DEFAULT_MAX_LAG_S, type IngestPacing } from '../stream/admission.js';
import { FINALS_MODES, finalsModeNamed, type FinalsMode } from '../stream/commit-policy.js';
import { parseSinkSpec, type SinkSpec } from './transcript-sink.js';
import { NO_CLIENT_LIMITS, type ClientLimitPolicy } from './client-limits.js';

export interface GatewayConfig {
  host: string;
  port: number;
  /** null: authentication disabled. */
  apiKeys: ReadonlySet<string> | null;
  /** Key for GET /metrics; null: the API keys guard it, or nothing when there are none. */
  metricsKey: string | null;
  /** Live audio faster than this is refused with ingest_too_fast (close 4002). */
  ingestPacing: IngestPacing;
  /** PEM files for HTTPS/WSS on the one port; null: plain HTTP. */
  tls: { certFile: string; keyFile: string } | null;
  /** After SIGTERM: how long live sessions and file jobs get to finish before they are cut off. */
  shutdownGraceMs: number;
  /** Largest WebSocket message accepted; larger ones close the session with 1009. */
  maxFrameBytes: number;
  /** A session that sends neither audio nor KeepAlive for this long is closed. */
  idleTimeoutMs: number;
  /** Results a slow client may leave unread before it is disconnected. */
  maxOutboundMessages: number;
  maxOutboundBytes: number;
  /** Largest file accepted by POST /v1/audio/transcriptions; larger ones get 413. */
  maxUploadBytes: number;
  model: string;
  /** Live sessions admitted at once; more are refused with 429. */
  maxSessions: number;
  /** KV pool memory; null: enough for maxSessions (and the file job beside them). */
  kvBudgetBytes: number | null;
  /** New sessions are refused with 429 while the admitted ones lag more than this (p95). */
  maxLagS: number;
  /** false runs one hypothesis per decoder call: the baseline for what batching buys. */
  batching: boolean;
  /** 0: the engine picks from the cores available. */
  threads: number;
  /** Storage of the model's weights on the device; null: the engine's default for this CPU. */
  precision: Precision | null;
  /** Where every final result also goes (JSONL files, NATS JetStream subjects); none: only to clients. */
  transcriptSinks: SinkSpec[];
  /** Hosts (`host` or `host:port`, `*` for any) that Deepgram's `callback` may name; none: callbacks refused. */
  callbackHosts: string[];
  /** STUN/TURN servers for WebRTC ingest; none: host candidates only (loopback, LAN). */
  iceServers: IceServer[];
  /** TCP port of the HAProxy agent check (readiness as weight and state); null: none. */
  agentPort: number | null;
  /** Twilio Auth Tokens a /v1/twilio upgrade's X-Twilio-Signature must be made with; none: not checked. */
  twilioAuthTokens: string[];
  /** Live sessions one client address may hold, and start per second; 0: no limit (client-limits.ts). */
  clientLimits: ClientLimitPolicy;
  /** When a stream's words become final unless it asks (`finals`, docs/protocol.md). */
  finals: FinalsMode;
}

export interface IceServer {
  urls: string;
  username?: string;
  credential?: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const KIB = 1024;
const MIB = 1024 * KIB;

export const GATEWAY_DEFAULTS: Readonly<Omit<GatewayConfig, 'apiKeys'>> = {
  host: '0.0.0.0',
  port: 8080,
  // A second of 48 kHz stereo linear16 is 192 KB; 1 MiB leaves room for clients that batch.
  maxFrameBytes: MIB,
  // Deepgram closes idle streams after about 10 s; clients already send KeepAlive sooner.
  idleTimeoutMs: 10_000,
  // Results are far smaller than these limits allow; hitting them means the client stopped reading.
  maxOutboundMessages: 1000,
  maxOutboundBytes: 8 * MIB,
  // OpenAI's own limit for this endpoint, so clients written against it fit unchanged.
  maxUploadBytes: 25 * MIB,
  model: DEFAULT_MODEL,
  // A placeholder until capacity (DESIGN.md) is measured for the model and machine.
  maxSessions: 8,
  kvBudgetBytes: null,
  maxLagS: DEFAULT_MAX_LAG_S,
  metricsKey: null,
  tls: null,
  ingestPacing: DEFAULT_INGEST_PACING,
  // Long enough for a stream's open utterance to be decoded and sent; orchestrators usually
  // wait 30 s before they kill.
  shutdownGraceMs: 10_000,
  batching: true,
  threads: 0,
  precision: null,
  transcriptSinks: [],
  callbackHosts: [],
  iceServers: [],
  agentPort: null,
  twilioAuthTokens: [],
  clientLimits: NO_CLIENT_LIMITS,
  finals: 'early',
};

export const GATEWAY_USAGE = `chorus serve [options]           (each option also reads the environment variable shown)
  --host ADDR                   CHORUS_HOST                   listen address (${GATEWAY_DEFAULTS.host})
  --port N                      CHORUS_PORT                   listen port, 0 for any free port (${GATEWAY_DEFAULTS.port})
  --api-key KEY  (repeatable)   CHORUS_API_KEYS (comma list)  accepted keys; none: no authentication
  --metrics-key KEY             CHORUS_METRICS_KEY            key for GET /metrics (default: the API keys; none: open)
  --tls-cert FILE               CHORUS_TLS_CERT               serve HTTPS/WSS with this PEM certificate (chain) ...
  --tls-key FILE                CHORUS_TLS_KEY                ... and this PEM private key (default: plain HTTP)
  --max-frame-bytes N[KiB|MiB]  CHORUS_MAX_FRAME_BYTES        largest WebSocket message (1MiB)
  --idle-timeout SECONDS        CHORUS_IDLE_TIMEOUT_S         close sessions silent this long (10)
  --max-outbound-messages N     CHORUS_MAX_OUTBOUND_MESSAGES  unread results before disconnecting (${GATEWAY_DEFAULTS.maxOutboundMessages})
  --max-outbound-bytes N[KiB|MiB] CHORUS_MAX_OUTBOUND_BYTES   unread bytes before disconnecting (8MiB)
  --max-upload-bytes N[KiB|MiB] CHORUS_MAX_UPLOAD_BYTES       largest file for /v1/audio/transcriptions (25MiB)
  --model NAME|PATH             CHORUS_MODEL                  Whisper model (${GATEWAY_DEFAULTS.model})
  --max-sessions N              CHORUS_MAX_SESSIONS           live sessions at once (${GATEWAY_DEFAULTS.maxSessions})
  --kv-budget-mb N              CHORUS_KV_BUDGET_MB           KV cache memory in MiB (enough for --max-sessions)
  --max-lag-s SECONDS           CHORUS_MAX_LAG_S              refuse new sessions while live ones lag more (${GATEWAY_DEFAULTS.maxLagS})
  --max-ingest-rate X           CHORUS_MAX_INGEST_RATE        refuse live audio faster than X times real time (${GATEWAY_DEFAULTS.ingestPacing.rate})
  --ingest-burst-s SECONDS      CHORUS_INGEST_BURST_S         audio allowed ahead of that pace (${GATEWAY_DEFAULTS.ingestPacing.burstS})
  --shutdown-grace-s SECONDS    CHORUS_SHUTDOWN_GRACE_S       after SIGTERM, time to finish streams and files (${GATEWAY_DEFAULTS.shutdownGraceMs / 1000})
  --no-batching                 CHORUS_BATCHING=off           one session per decoder step (baseline for benchmarks)
  --threads N                   CHORUS_THREADS                CPU threads, 0 for automatic (0)
  --precision P                 CHORUS_PRECISION              weight storage: fp32, bf16, int8 or int8-encoder (bf16 with AMX, else int8-encoder)
  --transcript-sink FILE|URL (repeatable) CHORUS_TRANSCRIPT_SINK (comma list) also send every final to a JSONL file
                                                              or to NATS JetStream: nats://HOST:PORT/SUBJECT
  --callback-host HOST[:PORT] (repeatable) CHORUS_CALLBACK_HOSTS (comma list) hosts the callback parameter may
                                                              name (* for any); none: callbacks are refused
  --ice-server URL (repeatable) CHORUS_ICE_SERVERS (comma list) STUN/TURN for WebRTC, e.g. stun:stun.example.org:3478
  --ice-username NAME           CHORUS_ICE_USERNAME           username for the turn: servers
  --ice-credential SECRET       CHORUS_ICE_CREDENTIAL         credential for the turn: servers
  --agent-port N                CHORUS_AGENT_PORT             answer HAProxy's agent check on this TCP port (docs/deploy.md); none by default
  --twilio-auth-token TOKEN (repeatable) CHORUS_TWILIO_AUTH_TOKENS (comma list) /v1/twilio needs an X-Twilio-Signature
                                                              made with one of these; none: not checked
  --max-sessions-per-client N   CHORUS_MAX_SESSIONS_PER_CLIENT live sessions one client address may hold (0: no limit)
  --max-session-starts-per-client R CHORUS_MAX_SESSION_STARTS_PER_CLIENT sessions one address may start per second,
                                                              bursts of 10 s allowed (0: no limit)
  --finals early|utterance      CHORUS_FINALS                 when words become final for streams that do not ask
                                                              (early); utterance: at each endpoint, as accurate as offline`;

function finalsSetting(name: string, value: string): FinalsMode {
  const mode = finalsModeNamed(value);
  if (!mode) throw new ConfigError(`${name}: expected ${FINALS_MODES.join(' or ')}, got "${value}"`);
  return mode;
}

function precisionSetting(name: string, value: string): Precision {
  try {
    return parsePrecision(value, name);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

function integerSetting(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw new ConfigError(`${name}: expected a whole number, got "${value}"`);
  const parsed = Number(value);
  if (parsed < min || parsed > max) throw new ConfigError(`${name}: must be between ${min} and ${max}, got ${parsed}`);
  return parsed;
}

function byteSetting(name: string, value: string, min: number, max: number): number {
  const match = /^(\d+)\s*(KiB|MiB)?$/i.exec(value);
  if (!match) throw new ConfigError(`${name}: expected bytes such as 1048576, 512KiB or 1MiB, got "${value}"`);
  const unit = match[2]?.toLowerCase();
  const bytes = Number(match[1]) * (unit === 'mib' ? MIB : unit === 'kib' ? KIB : 1);
  if (bytes < min || bytes > max) throw new ConfigError(`${name}: must be between ${min} and ${max} bytes, got ${bytes}`);
  return bytes;
}

function secondsSetting(name: string, value: string, min: number, max: number): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new ConfigError(`${name}: expected seconds, got "${value}"`);
  const parsed = Number(value);
  if (parsed < min || parsed > max) throw new ConfigError(`${name}: must be between ${min} and ${max} seconds, got ${parsed}`);
  return Math.round(parsed * 1000);
}

function factorSetting(name: string, value: string, min: number, max: number): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new ConfigError(`${name}: expected a number such as 2 or 1.5, got "${value}"`);
  const parsed = Number(value);
  if (parsed < min || parsed > max) throw new ConfigError(`${name}: must be between ${min} and ${max}, got ${parsed}`);
  return parsed;
}

function onOffSetting(name: string, value: string): boolean {
  if (/^(on|true|1)$/i.test(value)) return true;
  if (/^(off|false|0)$/i.test(value)) return false;
  throw new ConfigError(`${name}: expected on or off, got "${value}"`);
}

function nonEmpty(name: string, value: string): string {
  if (value.trim() === '') throw new ConfigError(`${name}: must not be empty`);
  return value;
}

/** TURN needs credentials and STUN takes none, so they are attached to turn(s): URLs only. */
function iceServerList(name: string, urls: string[], username: string | undefined, credential: string | undefined): IceServer[] {
  return urls
    .map((url) => url.trim())
    .filter((url) => url !== '')
    .map((url) => {
      if (!/^(stun|stuns|turn|turns):[^\s]+$/.test(url)) {
        throw new ConfigError(`${name}: expected a stun:, stuns:, turn: or turns: URL, got "${url}"`);
      }
      if (!url.startsWith('turn')) return { urls: url };
      if (!username || !credential) throw new ConfigError(`${name}: ${url} needs --ice-username and --ice-credential`);
      return { urls: url, username, credential };
    });
}

function sinkList(name: string, values: string[]): SinkSpec[] {
  return values.map((value) => {
    try {
      return parseSinkSpec(nonEmpty(name, value.trim()));
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(`${name}: ${(error as Error).message}`);
    }
  });
}

function hostList(name: string, values: string[]): string[] {
  return values.map((value) => {
    const host = nonEmpty(name, value.trim()).toLowerCase();
    if (host !== '*' && !/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(host)) {
      throw new ConfigError(`${name}: expected a host name or address, optionally with :port, or *; got "${value}"`);
    }
    return host;
  });
}

function apiKeySet(keys: string[]): ReadonlySet<string> | null {
  const cleaned = keys.map((k) => k.trim()).filter((k) => k !== '');
  return cleaned.length === 0 ? null : new Set(cleaned);
}

/** Throws ConfigError naming the flag or variable at fault. */
export function parseGatewayConfig(argv: string[], env: Readonly<Record<string, string | undefined>>): GatewayConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'api-key': { type: 'string', multiple: true },
        'metrics-key': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'max-ingest-rate': { type: 'string' },
        'ingest-burst-s': { type: 'string' },
        'shutdown-grace-s': { type: 'string' },
        'max-frame-bytes': { type: 'string' },
        'idle-timeout': { type: 'string' },
        'max-outbound-messages': { type: 'string' },
        'max-outbound-bytes': { type: 'string' },
        'max-upload-bytes': { type: 'string' },
        model: { type: 'string' },
        'max-sessions': { type: 'string' },
        'kv-budget-mb': { type: 'string' },
        'max-lag-s': { type: 'string' },
        'no-batching': { type: 'boolean' },
        threads: { type: 'string' },
        precision: { type: 'string' },
        'transcript-sink': { type: 'string', multiple: true },
        'callback-host': { type: 'string', multiple: true },
        'ice-server': { type: 'string', multiple: true },
        'ice-username': { type: 'string' },
        'ice-credential': { type: 'string' },
        'agent-port': { type: 'string' },
        'twilio-auth-token': { type: 'string', multiple: true },
        'max-sessions-per-client': { type: 'string' },
        'max-session-starts-per-client': { type: 'string' },
        finals: { type: 'string' },
      },
    }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }

  /** The flag if given, else the variable, labelled with whichever was used for messages. */
  const pick = (flag: keyof typeof values, variable: string): { name: string; value: string } | null => {
    const fromFlag = values[flag];
    if (typeof fromFlag === 'string') return { name: `--${flag}`, value: fromFlag };
    const fromEnv = env[variable];
    return fromEnv === undefined || fromEnv === '' ? null : { name: variable, value: fromEnv };
  };

  const host = pick('host', 'CHORUS_HOST');
  const port = pick('port', 'CHORUS_PORT');
  const maxFrameBytes = pick('max-frame-bytes', 'CHORUS_MAX_FRAME_BYTES');
  const idleTimeout = pick('idle-timeout', 'CHORUS_IDLE_TIMEOUT_S');
  const maxOutboundMessages = pick('max-outbound-messages', 'CHORUS_MAX_OUTBOUND_MESSAGES');
  const maxOutboundBytes = pick('max-outbound-bytes', 'CHORUS_MAX_OUTBOUND_BYTES');
  const maxUploadBytes = pick('max-upload-bytes', 'CHORUS_MAX_UPLOAD_BYTES');
  const model = pick('model', 'CHORUS_MODEL');
  const maxSessions = pick('max-sessions', 'CHORUS_MAX_SESSIONS');
  const kvBudgetMb = pick('kv-budget-mb', 'CHORUS_KV_BUDGET_MB');
  const maxLag = pick('max-lag-s', 'CHORUS_MAX_LAG_S');
  const finals = pick('finals', 'CHORUS_FINALS');
  const metricsKey = pick('metrics-key', 'CHORUS_METRICS_KEY');
  const tlsCert = pick('tls-cert', 'CHORUS_TLS_CERT');
  const tlsKey = pick('tls-key', 'CHORUS_TLS_KEY');
  if ((tlsCert === null) !== (tlsKey === null)) {
    throw new ConfigError(`${tlsCert?.name ?? tlsKey!.name}: TLS needs both --tls-cert and --tls-key`);
  }
  const ingestRate = pick('max-ingest-rate', 'CHORUS_MAX_INGEST_RATE');
  const ingestBurst = pick('ingest-burst-s', 'CHORUS_INGEST_BURST_S');
  const shutdownGrace = pick('shutdown-grace-s', 'CHORUS_SHUTDOWN_GRACE_S');
  const threads = pick('threads', 'CHORUS_THREADS');
  const agentPort = pick('agent-port', 'CHORUS_AGENT_PORT');
  const clientSessions = pick('max-sessions-per-client', 'CHORUS_MAX_SESSIONS_PER_CLIENT');
  const clientStarts = pick('max-session-starts-per-client', 'CHORUS_MAX_SESSION_STARTS_PER_CLIENT');
  const precision = pick('precision', 'CHORUS_PRECISION');
  // The flag can only switch batching off; the variable says either way.
  const batchingFromEnv = env.CHORUS_BATCHING ? onOffSetting('CHORUS_BATCHING', env.CHORUS_BATCHING) : null;
  const transcriptSinks = sinkList(
    values['transcript-sink'] ? '--transcript-sink' : 'CHORUS_TRANSCRIPT_SINK',
    values['transcript-sink'] ?? (env.CHORUS_TRANSCRIPT_SINK ?? '').split(',').filter((v) => v.trim() !== ''),
  );
  const callbackHosts = hostList(
    values['callback-host'] ? '--callback-host' : 'CHORUS_CALLBACK_HOSTS',
    values['callback-host'] ?? (env.CHORUS_CALLBACK_HOSTS ?? '').split(',').filter((v) => v.trim() !== ''),
  );
  const iceServers = iceServerList(
    values['ice-server'] ? '--ice-server' : 'CHORUS_ICE_SERVERS',
    values['ice-server'] ?? (env.CHORUS_ICE_SERVERS ?? '').split(','),
    pick('ice-username', 'CHORUS_ICE_USERNAME')?.value,
    pick('ice-credential', 'CHORUS_ICE_CREDENTIAL')?.value,
  );

  return {
    host: host ? nonEmpty(host.name, host.value) : GATEWAY_DEFAULTS.host,
    port: port ? integerSetting(port.name, port.value, 0, 65_535) : GATEWAY_DEFAULTS.port,
    apiKeys: apiKeySet(values['api-key'] ?? (env.CHORUS_API_KEYS ?? '').split(',')),
    metricsKey: metricsKey ? nonEmpty(metricsKey.name, metricsKey.value.trim()) : GATEWAY_DEFAULTS.metricsKey,
    tls: tlsCert && tlsKey ? { certFile: tlsCert.value, keyFile: tlsKey.value } : GATEWAY_DEFAULTS.tls,
    ingestPacing: {
      // Below real time an honest client could not keep up with its own microphone.
      rate: ingestRate ? factorSetting(ingestRate.name, ingestRate.value, 1, 1000) : GATEWAY_DEFAULTS.ingestPacing.rate,
      burstS: ingestBurst ? secondsSetting(ingestBurst.name, ingestBurst.value, 0, 3600) / 1000 : GATEWAY_DEFAULTS.ingestPacing.burstS,
    },
    shutdownGraceMs: shutdownGrace ? secondsSetting(shutdownGrace.name, shutdownGrace.value, 0, 3600) : GATEWAY_DEFAULTS.shutdownGraceMs,
    maxFrameBytes: maxFrameBytes
      ? byteSetting(maxFrameBytes.name, maxFrameBytes.value, KIB, 64 * MIB)
      : GATEWAY_DEFAULTS.maxFrameBytes,
    idleTimeoutMs: idleTimeout ? secondsSetting(idleTimeout.name, idleTimeout.value, 1, 3600) : GATEWAY_DEFAULTS.idleTimeoutMs,
    maxOutboundMessages: maxOutboundMessages
      ? integerSetting(maxOutboundMessages.name, maxOutboundMessages.value, 1, 1_000_000)
      : GATEWAY_DEFAULTS.maxOutboundMessages,
    maxOutboundBytes: maxOutboundBytes
      ? byteSetting(maxOutboundBytes.name, maxOutboundBytes.value, 64 * KIB, 1024 * MIB)
      : GATEWAY_DEFAULTS.maxOutboundBytes,
    maxUploadBytes: maxUploadBytes
      ? byteSetting(maxUploadBytes.name, maxUploadBytes.value, KIB, 1024 * MIB)
      : GATEWAY_DEFAULTS.maxUploadBytes,
    model: model ? nonEmpty(model.name, model.value) : GATEWAY_DEFAULTS.model,
    maxSessions: maxSessions ? integerSetting(maxSessions.name, maxSessions.value, 1, 10_000) : GATEWAY_DEFAULTS.maxSessions,
    kvBudgetBytes: kvBudgetMb ? integerSetting(kvBudgetMb.name, kvBudgetMb.value, 1, 1024 * 1024) * MIB : GATEWAY_DEFAULTS.kvBudgetBytes,
    maxLagS: maxLag ? secondsSetting(maxLag.name, maxLag.value, 0.1, 3600) / 1000 : GATEWAY_DEFAULTS.maxLagS,
    batching: values['no-batching'] === true ? false : batchingFromEnv ?? GATEWAY_DEFAULTS.batching,
    threads: threads ? integerSetting(threads.name, threads.value, 0, 1024) : GATEWAY_DEFAULTS.threads,
    precision: precision ? precisionSetting(precision.name, precision.value) : GATEWAY_DEFAULTS.precision,
    transcriptSinks,
    callbackHosts,
    iceServers,
    agentPort: agentPort ? integerSetting(agentPort.name, agentPort.value, 0, 65_535) : GATEWAY_DEFAULTS.agentPort,
    twilioAuthTokens: (values['twilio-auth-token'] ?? (env.CHORUS_TWILIO_AUTH_TOKENS ?? '').split(','))
      .map((t) => t.trim())
      .filter((t) => t !== ''),
    clientLimits: {
      maxSessions: clientSessions ? integerSetting(clientSessions.name, clientSessions.value, 0, 100_000) : GATEWAY_DEFAULTS.clientLimits.maxSessions,
      startsPerS: clientStarts ? factorSetting(clientStarts.name, clientStarts.value, 0, 10_000) : GATEWAY_DEFAULTS.clientLimits.startsPerS,
    },
    finals: finals ? finalsSetting(finals.name, finals.value) : GATEWAY_DEFAULTS.finals,
  };
}
