// A static server for browser tests: the repository (dist/ and build/) and the shared folder
// (/shared/...), cross-origin isolated so pages get SharedArrayBuffer; `route` answers extra
// paths first.

import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHARED } from '../shared.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

export async function staticServer(route: (url: string, res: ServerResponse) => boolean): Promise<Server> {
  const http: Server = createServer((req, res) => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    const url = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    if (route(url, res)) return;
    const file = url.startsWith('/shared/') ? normalize(join(resolve(SHARED!), url.slice(8))) : normalize(join(root, url));
    if (!existsSync(file) || !statSync(file).isFile()) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((done) => http.listen(0, '127.0.0.1', () => done()));
  return http;
}
