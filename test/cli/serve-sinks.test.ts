// `chorus serve` with two transcript sinks, a JSONL file and NATS JetStream (a real
// nats-server -js on loopback): a stream's finals reach both, with the same ids, and every
// one of them is in NATS by the time the process has exited on SIGTERM.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseWav } from '../../src/audio/wav.js';
import { streamNameFor } from '../../src/gateway/nats-sink.js';
import type { FinalRecord } from '../../src/gateway/transcript-sink.js';
import { repoRoot } from '../../src/paths.js';
import { replay } from '../gateway/nats-replay.js';
import { startNatsServer, type NatsServer } from '../gateway/nats-server.js';
import { fixture } from '../helpers.js';

let nats: NatsServer;
let child: ChildProcessWithoutNullStreams | null = null;
const dir = mkdtempSync(join(tmpdir(), 'chorus-sinks-'));

beforeAll(async () => {
  nats = await startNatsServer();
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await nats?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('chorus serve --transcript-sink', () => {
  it('sends every final to a JSONL file and to NATS JetStream, all of it stored before the process exits', async () => {
    const jsonl = join(dir, 'finals.jsonl');
    child = spawn(
      process.execPath,
      [join(repoRoot(), 'bin', 'chorus.js'), 'serve', '--host', '127.0.0.1', '--port', '0', '--threads', '2', '--transcript-sink', jsonl, '--transcript-sink', `${nats.url}/cli.finals`],
      { stdio: 'pipe' },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child!.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const found = /listening on (http:\/\/\S+)/.exec(out)?.[1];
        if (found) resolve(found);
      });
      child!.once('exit', (code) => reject(new Error(`chorus serve exited with ${code}: ${stderr}`)));
    });
    for (let i = 0; (await fetch(`${url}/readyz`)).status !== 200; i++) {
      if (i > 600) throw new Error('never ready');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const wav = parseWav(readFileSync(fixture('jfk').path));
    const pcm = Buffer.alloc(wav.samples.length * 2);
    wav.samples.forEach((s, i) => pcm.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(s * 32768))), i * 2));
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/listen?encoding=linear16&sample_rate=${wav.sampleRate}&tag=cli-test&extra=crm:42`);
    const messages: Array<Record<string, any>> = [];
    ws.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString())));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    for (let at = 0; at < pcm.length; at += wav.sampleRate * 2) ws.send(pcm.subarray(at, at + wav.sampleRate * 2));
    ws.send(JSON.stringify({ type: 'CloseStream' }));
    expect(await closed).toBe(1000);
    const finals = messages.filter((m) => m.type === 'Results' && m.is_final);
    expect(finals.length).toBeGreaterThan(0);

    const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const fromFile = readFileSync(jsonl, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as FinalRecord);
    const fromNats = (await replay(nats.url, streamNameFor('cli.finals'), 'cli.finals.>')).map((s) => s.record);
    expect(fromFile.map((r) => r.transcript)).toEqual(finals.map((m) => m.channel.alternatives[0].transcript));
    expect(fromNats).toEqual(fromFile);
    expect(fromNats[0]).toMatchObject({ transport: 'websocket', channel: 0, channels: 1, seq: 1, tag: ['cli-test'], extra: { crm: '42' }, call: null });
    expect(stderr).toMatch(/"event":"transcript_sink_connected"/);
  }, 120_000);
});
