// ffnkit itself in headless Chromium, as a page without a bundler loads it (the ESM build in
// dist/ and the wasm builds in build/, from this checkout's `npm run build`), decoding a GGUF file
// greedily: the same engine (Chromium's V8) that transformers.js's wasm backend runs on, next to
// ffnkit in Node.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Engine, EngineOptions, LlamaModel } from '../../src/index.js';
import type { GgmlBlockType } from '../../src/entries/kernels.js';
import type { Activations } from '../../src/runtime/kernels/index.js';
import { chromiumUnavailable, openPage } from './chromium.js';
import { type FfnkitGreedy, ffnkitGemvRate, ffnkitGreedy } from './timing.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Why ffnkit cannot run in Chromium here, or undefined when it can. */
export function ffnkitChromiumUnavailable(): string | undefined {
  if (!existsSync(join(root, 'dist', 'index.js')) || !existsSync(join(root, 'build', 'ffnkit-simd.wasm'))) return 'dist/ or build/ is missing (npm run build)';
  return chromiumUnavailable();
}

export interface FfnkitInChromium {
  readonly impl: string;
  /** The integer dot path the page's engine runs (its self-test, or forced by `integerDot`). */
  readonly dot: Engine['dot'];
  greedy(prompt: number[], steps: number): Promise<FfnkitGreedy>;
  /** `ffnkitGemvRate` on the page's engine. */
  gemvRate(type: GgmlBlockType, kind: Activations, bytes: Uint8Array, rows: number, cols: number, reps: number, calls: number): Promise<number>;
  close(): Promise<void>;
}

interface PageGlobals {
  ffnkit: typeof import('../../src/index.js');
  model: LlamaModel;
  ffnkitGreedy: typeof ffnkitGreedy;
  ffnkitGemvRate: typeof ffnkitGemvRate;
}

/** ffnkit in Chromium with the model in `gguf` loaded on `threads` threads (`integerDot` as the engine option). */
export function ffnkitChromium(gguf: string, threads: number, integerDot: EngineOptions['integerDot'] = 'auto'): Promise<FfnkitInChromium> {
  const routes = { 'ffnkit/dist': join(root, 'dist'), 'ffnkit/build': join(root, 'build'), 'model.gguf': gguf };
  return openPage<Omit<FfnkitInChromium, 'close'>>({ what: 'ffnkit', module: '/ffnkit/dist/index.js', global: 'ffnkit', routes, functions: { ffnkitGreedy, ffnkitGemvRate } }, async (page) => {
    const { backend, dot } = await page.evaluate(async ({ threads, integerDot }) => {
      const g = window as unknown as PageGlobals;
      g.model = await g.ffnkit.loadModel(`${location.origin}/model.gguf`, { threads, integerDot });
      return { backend: `ffnkit-${g.model.engine.backend}${threads > 1 ? ` ${threads} threads` : ''}`, dot: g.model.engine.dot };
    }, { threads, integerDot });
    return {
      impl: `${backend} in Chromium`,
      dot,
      greedy: (prompt, steps) => page.evaluate(({ prompt, steps }) => {
        const g = window as unknown as PageGlobals;
        return g.ffnkitGreedy(g.model, prompt, steps);
      }, { prompt, steps }),
      gemvRate: (type, kind, bytes, rows, cols, reps, calls) => page.evaluate(({ type, kind, bytes, rows, cols, reps, calls }) => {
        const g = window as unknown as PageGlobals;
        return g.ffnkitGemvRate(g.model.engine, type, kind, bytes, rows, cols, reps, calls);
      }, { type, kind, bytes: Array.from(bytes), rows, cols, reps, calls }),
    };
  });
}
