import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseWav } from '../../src/audio/wav.js';
import { repoRoot } from '../../src/paths.js';
import { fixture } from '../helpers.js';

let child: ChildProcessWithoutNullStreams | null = null;
afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

function startServe(extra: string[] = []): Promise<string> {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = spawn(process.execPath, [join(repoRoot(), 'bin', 'chorus.js'), 'serve', '--host', '127.0.0.1', '--port', '0', '--threads', '2', ...extra], {
    stdio: 'pipe',
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child!.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve(url);
    });
    child!.once('exit', (code) => reject(new Error(`chorus serve exited with ${code}`)));
  });
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await fetch(`${url}/readyz`)).status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('never ready');
}

/** The clip as 16-bit PCM at its own rate, which is what a telephony or browser client streams. */
function pcm16(path: string): { bytes: Buffer; sampleRate: number } {
  const wav = parseWav(readFileSync(path));
  const bytes = Buffer.alloc(wav.samples.length * 2);
  wav.samples.forEach((s, i) => bytes.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(s * 32768))), i * 2));
  return { bytes, sampleRate: wav.sampleRate };
}

describe('chorus serve', () => {
  it('streams a clip to finals over /v1/listen and exits 0 on SIGTERM', async () => {
    const url = await startServe();
    await waitReady(url);
    const { bytes, sampleRate } = pcm16(fixture('jfk').path);
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/listen?encoding=linear16&sample_rate=${sampleRate}`);
    const messages: Array<Record<string, any>> = [];
    ws.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString())));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const chunk = sampleRate * 2;
    for (let at = 0; at < bytes.length; at += chunk) ws.send(bytes.subarray(at, at + chunk));
    ws.send(JSON.stringify({ type: 'CloseStream' }));
    expect(await closed).toBe(1000);
    const finals = messages.filter((m) => m.type === 'Results' && m.is_final);
    const text = finals.map((m) => m.channel.alternatives[0].transcript).join(' ');
    expect(text).toMatch(/ask not what your country can do for you/i);
    expect(messages.at(-1)).toMatchObject({ type: 'Metadata' });

    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('exits 2 naming the problem when the TLS certificate cannot be read', async () => {
    const run = spawn(process.execPath, [join(repoRoot(), 'bin', 'chorus.js'), 'serve', '--port', '0', '--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem']);
    let err = '';
    run.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    expect(await new Promise((resolve) => run.once('exit', resolve))).toBe(2);
    expect(err).toMatch(/TLS certificate or key.*nonexistent/);
  });

  it('drains on SIGTERM: /readyz 503 at once, the stream gets its finals and 1001, the file in flight its answer, then exit 0', async () => {
    const url = await startServe(['--shutdown-grace-s', '20']);
    await waitReady(url);
    const { bytes, sampleRate } = pcm16(fixture('jfk').path);
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/listen?encoding=linear16&sample_rate=${sampleRate}`);
    const messages: Array<Record<string, any>> = [];
    ws.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString())));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    for (let at = 0; at < bytes.length; at += sampleRate * 2) ws.send(bytes.subarray(at, at + sampleRate * 2));

    const form = new FormData();
    form.append('model', 'whisper-1');
    form.append('file', new Blob([readFileSync(fixture('jfk').path)]), 'jfk.wav');
    const file = fetch(`${url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    await new Promise((resolve) => setTimeout(resolve, 200));

    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    const draining = new Promise<void>((resolve) => {
      let log = '';
      child!.stderr.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('"shutting_down"')) resolve();
      });
    });
    child!.kill('SIGTERM');
    await draining;
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'not_ready', reason: 'shutting_down' });
    // Audio after the signal is not the client's mistake.
    ws.send(bytes.subarray(0, sampleRate * 2));

    expect(await closed).toEqual({ code: 1001, reason: 'shutting_down' });
    const text = messages.filter((m) => m.type === 'Results' && m.is_final).map((m) => m.channel.alternatives[0].transcript).join(' ');
    expect(text).toMatch(/ask not what your country can do for you/i);
    expect(messages.filter((m) => m.type === 'Error').map((m) => m.code)).toEqual(['shutting_down']);
    const answer = await file;
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { text: string }).text).toMatch(/ask not what your country/i);
    expect(await exited).toBe(0);
  }, 120_000);
});
