import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { StaticFiles } from '../../src/gateway/static-files.js';
import { join } from 'node:path';

let server: Server;
let url: string;

beforeAll(async () => {
  const files = new StaticFiles(join(repoRoot(), 'web-demo'));
  server = createServer((request, response) => {
    void files.serve(request.url ?? '/', response, false).then((served) => served || response.writeHead(404).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('StaticFiles', () => {
  it('serves the demo with its content types', async () => {
    const page = await fetch(`${url}/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('Chorus live captions');
    expect((await fetch(`${url}/chorus-client.js`)).headers.get('content-type')).toMatch(/^text\/javascript/);
  });

  it('reaches nothing outside the folder', async () => {
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/..%2fpackage.json', '/.hidden.js', '/README.md', '/nope.js']) {
      expect((await fetch(`${url}${path}`)).status, path).toBe(404);
    }
  });
});
