// Headless Chromium for the peers that need a browser (wllama, transformers.js on its wasm
// backend, ffnkit itself in a page): a local server that hands it one page and files from local
// folders, with the COOP/COEP headers that make the page cross-origin isolated
// (SharedArrayBuffer, so wasm threads when asked), the browser launched CPU-only with no network
// of its own, and `openPage`, the one runner of such a page: it imports a peer's module and
// hands the page to the peer's setup.

import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import type { Browser, Page } from 'playwright-core';

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

/** The page `openPage` opens: the module it imports, and what it serves. */
export interface PeerPage {
  /** The peer's name, for the page's title and the error when its module does not load. */
  what: string;
  /** The served path of the module the page imports, set as `window[global]`. */
  module: string;
  global: string;
  /** Folders and files to serve (`serveIsolated`). */
  routes: Record<string, string>;
  /** Functions defined in the page under their names (from their source), for `page.evaluate` to call. */
  functions?: Record<string, (...args: never[]) => unknown>;
}

/**
 * Serves a page that imports `module` as `window[global]`, opens it in headless Chromium, waits
 * for the module (else an error naming the peer and the page's errors), defines `functions` there
 * and runs `setup(page)`. Returns what `setup` returns with `close`, which stops the browser and
 * the server; a failure on the way stops both and rethrows.
 */
export async function openPage<T extends object>(o: PeerPage, setup: (page: Page) => Promise<T>): Promise<T & { close(): Promise<void> }> {
  const html = `<!doctype html><meta charset="utf-8"><title>${o.what}</title>
<script type="module">import * as m from '${o.module}'; window.${o.global} = m;</script>`;
  const served = await serveIsolated(html, o.routes);
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // tsx compiles with esbuild's keepNames, whose __name helper the page does not have
    await page.addInitScript('globalThis.__name = (f) => f;');
    await page.goto(served.origin);
    await page.waitForFunction((name) => name in window, o.global, { timeout: 60_000 })
      .catch(() => { throw new Error(`${o.what} did not load in Chromium: ${errors.join('; ') || 'no error reported'}`); });
    for (const [name, f] of Object.entries(o.functions ?? {})) await page.evaluate(`window.${name} = ${f.toString()}`);
    const result = await setup(page);
    const open = browser;
    return {
      ...result,
      close: async () => {
        await open.close();
        served.server.close();
      },
    };
  } catch (e) {
    await browser?.close();
    served.server.close();
    throw e;
  }
}
