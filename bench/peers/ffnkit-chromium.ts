// ffnkit itself in headless Chromium, as a page without a bundler loads it (the ESM build in
// dist/ and the wasm builds in build/, from this checkout's `npm run build`), decoding a GGUF file
// greedily: the same engine (Chromium's V8) that transformers.js's wasm backend runs on, next to
// ffnkit in Node.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LlamaModel } from '../../src/index.js';
import { chromiumUnavailable, openPage } from './chromium.js';
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

interface PageGlobals {
  ffnkit: typeof import('../../src/index.js');
  model: LlamaModel;
  ffnkitGreedy: typeof ffnkitGreedy;
}

/** ffnkit in Chromium with the model in `gguf` loaded on `threads` threads. */
export function ffnkitChromium(gguf: string, threads: number): Promise<FfnkitInChromium> {
  const routes = { 'ffnkit/dist': join(root, 'dist'), 'ffnkit/build': join(root, 'build'), 'model.gguf': gguf };
  return openPage<Omit<FfnkitInChromium, 'close'>>({ what: 'ffnkit', module: '/ffnkit/dist/index.js', global: 'ffnkit', routes, functions: { ffnkitGreedy } }, async (page) => {
    const backend = await page.evaluate(async (threads) => {
      const g = window as unknown as PageGlobals;
      g.model = await g.ffnkit.loadModel(`${location.origin}/model.gguf`, { threads });
      return `ffnkit-${g.model.engine.backend}${threads > 1 ? ` ${threads} threads` : ''}`;
    }, threads);
    return {
      impl: `${backend} in Chromium`,
      greedy: (prompt, steps) => page.evaluate(({ prompt, steps }) => {
        const g = window as unknown as PageGlobals;
        return g.ffnkitGreedy(g.model, prompt, steps);
      }, { prompt, steps }),
    };
  });
}

export interface FfnkitPage {
  /** Runs `fn(arg)` in the page (window.ffnkit is the library, the functions given are defined there). */
  run<A, R>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  close(): Promise<void>;
}

/** A page with ffnkit loaded (window.ffnkit) and `functions` defined under their names, for benchmarks that run in the page. */
export function ffnkitPage(functions: Record<string, (...args: never[]) => unknown>): Promise<FfnkitPage> {
  const routes = { 'ffnkit/dist': join(root, 'dist'), 'ffnkit/build': join(root, 'build') };
  return openPage<Omit<FfnkitPage, 'close'>>({ what: 'ffnkit', module: '/ffnkit/dist/index.js', global: 'ffnkit', routes, functions }, async (page) => ({
    run: <A, R>(fn: (arg: A) => R | Promise<R>, arg: A) => page.evaluate(fn as never, arg as never) as Promise<R>,
  }));
}
