// The demo page: `npm run demo` serves it, `npm run demo:build` writes it as a static site to
// web/dist/ (the browser tests build it into test-output/ and serve that). Both servers send the
// two headers that make the page cross-origin isolated, so the model worker may run threads; a
// static host must send them too (docs/demo.md). The project's shared models and texts are
// served read-only under /shared from FFNKIT_SHARED or ../shared, never copied into the page.

import { createReadStream, existsSync, statSync } from 'node:fs';
import { dirname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const shared = resolve(process.env.FFNKIT_SHARED ?? join(root, '..', 'shared'));

/** Serves files of the shared folder under /shared (dev server and preview). */
function sharedFiles(): Plugin {
  const handler = (req: { url?: string }, res: { statusCode: number; setHeader: (k: string, v: string) => void; end: () => void } & NodeJS.WritableStream, next: () => void) => {
    const url = decodeURIComponent((req.url ?? '').split('?')[0]!);
    if (!url.startsWith('/shared/')) return next();
    const file = normalize(join(shared, url.slice('/shared/'.length)));
    if (!file.startsWith(shared) || !existsSync(file) || !statSync(file).isFile()) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('Content-Type', 'application/octet-stream');
    createReadStream(file).pipe(res);
  };
  return {
    name: 'ffnkit-shared-files',
    configureServer: (server) => void server.middlewares.use(handler as never),
    configurePreviewServer: (server) => void server.middlewares.use(handler as never),
  };
}

/** Cross-origin isolation: SharedArrayBuffer, so an engine in the worker can start threads. */
export const ISOLATION_HEADERS = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  root: join(root, 'web'),
  plugins: [sharedFiles()],
  server: { fs: { allow: [root] }, host: '127.0.0.1', headers: ISOLATION_HEADERS },
  preview: { host: '127.0.0.1', headers: ISOLATION_HEADERS },
  // module workers: the model worker starts ffnkit's thread workers and imports the chat-template engine on demand
  worker: { format: 'es' },
  build: { outDir: join(root, 'web', 'dist'), emptyOutDir: true, target: 'es2022' },
});
