/**
 * The browser demo's files (web-demo/), served as they are: plain ES modules, no bundler.
 *
 * Only names made of safe characters with a known extension are looked up, directly inside
 * the folder, so no request can reach a file outside it (`..`, encoded slashes, dot files)
 * or one the demo does not consist of.
 */
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

const SAFE_NAME = /^[a-z0-9][a-z0-9-]*\.([a-z]+)$/;

export class StaticFiles {
  constructor(private readonly folder: string) {}

  /** Serves `/` as index.html and `/NAME.EXT`; false when the path names no such file. */
  async serve(path: string, response: ServerResponse, headOnly: boolean): Promise<boolean> {
    const name = path === '/' ? 'index.html' : path.slice(1);
    const extension = SAFE_NAME.exec(name)?.[1];
    const contentType = extension === undefined ? undefined : CONTENT_TYPES[extension];
    if (contentType === undefined) return false;
    let body: Buffer;
    try {
      body = await readFile(join(this.folder, name));
    } catch {
      return false;
    }
    response.writeHead(200, {
      'Content-Type': contentType,
      'Content-Length': body.length,
      // The demo changes with the server; a stale cached module would talk an old protocol.
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    response.end(headOnly ? undefined : body);
    return true;
  }
}
