// The gateway's plain HTTP endpoints under load, with autocannon: the probes an orchestrator
// polls (GET /healthz), the scrape a monitoring system makes (GET /metrics) and the OpenAI
// file endpoint (POST /v1/audio/transcriptions with a short WAV). Each target runs for a
// fixed time with a fixed number of connections, one target after another, so the figures
// describe one endpoint at a time and the whole bench ends by itself.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import autocannon from 'autocannon';

export interface HttpBenchOptions {
  /** http://host:port */
  baseUrl: string;
  connections: number;
  durationS: number;
  /** the WAV sent to the file endpoint */
  wavPath: string;
  token?: string;
}

export interface HttpTargetResult {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  connections: number;
  durationS: number;
  /** responses received */
  requests: number;
  requestsPerS: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  status2xx: number;
  non2xx: number;
  /** connection errors and timeouts, as autocannon counts them */
  errors: number;
  timeouts: number;
}

export interface HttpBenchReport {
  baseUrl: string;
  wavPath: string;
  targets: HttpTargetResult[];
}

/** Long enough for a transcription queued behind every other connection's on a slow CPU. */
const REQUEST_TIMEOUT_S = 60;

export async function runHttpBench(options: HttpBenchOptions): Promise<HttpBenchReport> {
  const boundary = `chorus-loadtest-${Date.now()}`;
  const upload = multipartBody(boundary, readFileSync(options.wavPath), basename(options.wavPath));
  const auth: Record<string, string> = options.token ? { authorization: `Token ${options.token}` } : {};
  const targets = [
    { name: 'health probe', method: 'GET' as const, path: '/healthz', headers: {}, body: undefined },
    { name: 'Prometheus metrics', method: 'GET' as const, path: '/metrics', headers: {}, body: undefined },
    {
      name: 'file transcription',
      method: 'POST' as const,
      path: '/v1/audio/transcriptions',
      headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
      body: upload,
    },
  ];
  const results: HttpTargetResult[] = [];
  for (const target of targets) {
    const result = await autocannon({
      url: new URL(target.path, options.baseUrl).toString(),
      method: target.method,
      headers: target.headers,
      body: target.body,
      connections: options.connections,
      duration: options.durationS,
      timeout: REQUEST_TIMEOUT_S,
    });
    results.push({
      name: target.name,
      method: target.method,
      path: target.path,
      connections: options.connections,
      durationS: result.duration,
      requests: result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'],
      requestsPerS: result.requests.average,
      latencyMs: {
        mean: result.latency.mean,
        p50: result.latency.p50,
        p90: result.latency.p90,
        p99: result.latency.p99,
        max: result.latency.max,
      },
      status2xx: result['2xx'],
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
    });
  }
  return { baseUrl: options.baseUrl, wavPath: options.wavPath, targets: results };
}

function multipartBody(boundary: string, wav: Buffer, filename: string): Buffer {
  const field = (name: string, value: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  return Buffer.concat([
    Buffer.from(field('model', 'whisper-1')),
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: audio/wav\r\n\r\n`,
    ),
    wav,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}
