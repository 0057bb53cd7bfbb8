// The `// browser` blocks of README.md and docs/api.md in headless Chromium: each page block is a
// page's module script, each worker block is served under its name beside it, on a
// cross-origin-isolated origin. `ffnkit` is the tsc build imported by its path (dist/index.js:
// the no-bundler case, and what a worker must do without a bundler), each page carries the
// import map api.md gives a page that chats (workers get none), and the docs' `/models/...`
// and `/data/...` URLs are the shared folder. A block passes when it finishes without an error
// and logs its `// →` output.

import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { join, normalize, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { docBlocks, missingOutput, root } from '../docs-blocks.js';
import { SHARED } from '../shared.js';
import { staticServer } from './server.js';

const CHROMIUM = '/usr/bin/chromium';
const blocks = docBlocks();
const pages = blocks.filter((b) => b.runs.in === 'page');
const workers = new Map<string, string>(blocks.flatMap((b) => (b.runs.in === 'worker' ? [[`/${b.runs.name}`, b.code] as const] : [])));

/** The import map of a page that chats without a bundler (api.md, Chat): chat templates need @huggingface/jinja. */
const IMPORT_MAP = '<script type="importmap">{ "imports": { "@huggingface/jinja": "/node_modules/@huggingface/jinja/dist/index.js" } }</script>';

/** A block as a browser loads it without a bundler. */
function served(code: string): string {
  return code.replaceAll("from 'ffnkit'", "from '/dist/index.js'");
}

describe.skipIf(!SHARED || !existsSync(CHROMIUM))('docs blocks in headless Chromium', () => {
  let browser: Browser;
  let http: Server;
  let base = '';

  beforeAll(async () => {
    if (!existsSync(join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
    http = await staticServer((url, res) => {
      if (url === '/favicon.ico') {
        res.statusCode = 204;
        res.end();
        return true;
      }
      const page = /^\/page-(\d+)\.(html|js)$/.exec(url);
      if (page) {
        res.setHeader('Content-Type', page[2] === 'html' ? 'text/html' : 'text/javascript');
        // the title tells the test that the module ran to its end
        res.end(page[2] === 'html'
          ? `<!doctype html>${IMPORT_MAP}<script type="module" src="/page-${page[1]}.js"></script>`
          : `${served(pages[Number(page[1])]!.code)}\ndocument.title = 'done';\n`);
        return true;
      }
      const worker = workers.get(url);
      if (worker) {
        res.setHeader('Content-Type', 'text/javascript');
        res.end(served(worker));
        return true;
      }
      const data = /^\/(models|data)\/([\w.-]+)$/.exec(url);
      if (data) {
        const file = normalize(join(resolve(SHARED!), data[1]!, data[2]!));
        res.statusCode = existsSync(file) ? 302 : 404;
        res.setHeader('Location', `/shared/${data[1]}/${data[2]}`);
        res.end();
        return true;
      }
      return false;
    });
    base = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((done) => (http ? http.close(() => done()) : done()));
  });

  test('the docs have page blocks, and every worker they load is a block', () => {
    expect(pages.length).toBeGreaterThan(1);
    for (const b of pages) {
      for (const m of b.code.matchAll(/new URL\('\.\/([\w.-]+)', import\.meta\.url\)/g)) expect(workers.has(`/${m[1]}`), `${b.where} loads ${m[1]}`).toBe(true);
    }
  });

  test.each(pages.map((b, i) => [b.where, i] as const))('%s runs in a page', async (where, i) => {
    const page = await browser.newPage();
    const logs: string[] = [];
    const errors: string[] = [];
    page.on('console', (m) => (m.type() === 'error' ? errors : logs).push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/page-${i}.html`);
    await page.waitForFunction(() => document.title === 'done', undefined, { timeout: 120_000 }).catch((e: Error) => errors.push(e.message));
    await page.close();
    expect(errors, where).toEqual([]);
    expect(missingOutput(logs.join('\n'), pages[i]!.expected), `logs of ${where}:\n${logs.join('\n')}`).toBeUndefined();
  });
});
