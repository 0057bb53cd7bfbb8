// ffnkit itself in headless Chromium, as a page without a bundler loads it (the ESM build in
// dist/ and the wasm builds in build/, from this checkout's `npm run build`), decoding a GGUF file
// greedily: the same engine (Chromium's V8) that transformers.js's wasm backend runs on, next to
// ffnkit in Node.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import type { LlamaModel } from '../../src/index.js';
import { chromiumUnavailable, launchChromium, serveIsolated } from './chromium.js';
import { type FfnkitGreedy, ffnkitGreedy } from './timing.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Why ffnkit cannot run in Chromium here, or undefined when it can. */
export function ffnkitChromiumUnavailable(): string | undefined {
  if (!existsSync(join(root, 'dist', 'index.js')) || !existsSync(join(root, 'build', 'ffnkit-simd.wasm'))) return 'dist/ or build/ is missing (npm run build)';
  return chromiumUnavailable();
}

export interface FfnkitInChromium {
  readonly impl: string;
  greedy(prompt: number[], steps: number): Promise<FfnkitGreedy>;
  close(): Promise<void>;
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>ffnkit</title>
<script type="module">import * as f from '/ffnkit/dist/index.js'; window.ffnkit = f; window.ffnkitReady = true;</script>`;

interface PageGlobals {
  ffnkit: typeof import('../../src/index.js');
  ffnkitReady?: boolean;
  model: LlamaModel;
  ffnkitGreedy: typeof ffnkitGreedy;
}

/** ffnkit in Chromium with the model in `gguf` loaded on `threads` threads. */
export async function ffnkitChromium(gguf: string, threads: number): Promise<FfnkitInChromium> {
  const served = await serveIsolated(PAGE, { 'ffnkit/dist': join(root, 'dist'), 'ffnkit/build': join(root, 'build'), 'model.gguf': gguf });
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.addInitScript('globalThis.__name = (f) => f;'); // tsx's keepNames helper, for the function passed in below
    await page.goto(served.origin);
    await page.waitForFunction(() => (window as unknown as PageGlobals).ffnkitReady === true, undefined, { timeout: 60_000 })
      .catch(() => { throw new Error(`ffnkit did not load in Chromium: ${errors.join('; ') || 'no error reported'}`); });
    await page.evaluate(`window.ffnkitGreedy = ${ffnkitGreedy.toString()}`);
    const backend = await page.evaluate(async (threads) => {
      const g = window as unknown as PageGlobals;
      g.model = await g.ffnkit.loadModel(`${location.origin}/model.gguf`, { threads });
      return `ffnkit-${g.model.engine.backend}${threads > 1 ? ` ${threads} threads` : ''}`;
    }, threads);
    const open = browser;
    return {
      impl: `${backend} in Chromium`,
      greedy: (prompt, steps) => page.evaluate(({ prompt, steps }) => {
        const g = window as unknown as PageGlobals;
        return g.ffnkitGreedy(g.model, prompt, steps);
      }, { prompt, steps }),
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
