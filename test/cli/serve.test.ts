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

function startServe(): Promise<string> {
  child = spawn(process.execPath, [join(repoRoot(), 'bin', 'chorus.js'), 'serve', '--host', '127.0.0.1', '--port', '0', '--threads', '2'], {
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
});
