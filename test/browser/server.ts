// A static server for browser tests: the repository (dist/ and build/), or with `root` another
// folder (a built site, `/` its index.html), and the shared folder (/shared/...); cross-origin
// isolated so pages get SharedArrayBuffer, unless `isolated` is false; `route` answers extra
// paths first.

import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHARED } from '../shared.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.css': 'text/css' };

export interface StaticServerOptions {
  /** The folder served at `/` (default: the repository). */
  root?: string;
  /** Send COOP/COEP (default true). */
  isolated?: boolean;
}

export async function staticServer(route: (url: string, res: ServerResponse) => boolean, options: StaticServerOptions = {}): Promise<Server> {
  const root = options.root ?? repo;
  const http: Server = createServer((req, res) => {
    if (options.isolated !== false) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    }
    const url = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    if (route(url, res)) return;
    const path = url === '/' && options.root ? '/index.html' : url;
    const file = path.startsWith('/shared/') ? normalize(join(resolve(SHARED!), path.slice(8))) : normalize(join(root, path));
    if (!existsSync(file) || !statSync(file).isFile()) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
    res.setHeader('Content-Length', statSync(file).size);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((done) => http.listen(0, '127.0.0.1', () => done()));
  return http;
}
