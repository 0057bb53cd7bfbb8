// Headless Chromium for the peers that need a browser (wllama, transformers.js on its wasm
// backend): a local server that hands it one page and files from local folders, with the
// COOP/COEP headers that make the page cross-origin isolated (SharedArrayBuffer, so wasm threads
// when asked), and the browser launched CPU-only with no network of its own.

import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import type { Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why Chromium cannot run here, or undefined when it can. */
export function chromiumUnavailable(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install -y chromium)`;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json',
};

export interface IsolatedServer {
  server: Server;
  origin: string;
}

/**
 * Serves `page` at / and, under each `/prefix/`, the files of a local folder (or, for a route
 * whose target is a file, that file at `/prefix`), all cross-origin isolated.
 */
export function serveIsolated(page: string, routes: Record<string, string>): Promise<IsolatedServer> {
  const headers = {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (path === '/') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(page);
      return;
    }
    let file: string | undefined;
    for (const [prefix, target] of Object.entries(routes)) {
      if (path === `/${prefix}`) file = target;
      else if (path.startsWith(`/${prefix}/`)) {
        const rel = normalize(path.slice(prefix.length + 2));
        if (!rel.startsWith('..')) file = join(target, rel);
      }
      if (file) break;
    }
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    resolve({ server, origin: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` });
  }));
}

/** Headless Chromium, no GPU (so no WebGPU: the wasm backends run), no background traffic. */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}
