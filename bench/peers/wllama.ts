// llama.cpp compiled to WebAssembly (@wllama/wllama) decoding a GGUF file in headless Chromium:
// wllama needs a browser (Web Workers, fetch, and for threads a cross-origin isolated page), so a
// small local server hands Chromium a page, wllama's files and the model, with the COOP/COEP
// headers that enable SharedArrayBuffer. Its decode speed is llama.cpp's own count
// (`timings.predicted_per_second`, generated tokens after the first over their time), the same
// span ffnkit's decode is timed over.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { chromiumUnavailable, openPage } from './chromium.js';

export interface WllamaDecode {
  /** Generated tokens per second after the first, llama.cpp's own timing, in each timed round. */
  rates: number[];
  /** The greedy continuation, as text (wllama returns no token ids). */
  text: string;
  /** wllama's version. */
  version: string;
}

/** Why wllama cannot run here, or undefined when it can. */
export function wllamaUnavailable(): string | undefined {
  const noChromium = chromiumUnavailable();
  if (noChromium) return noChromium;
  try {
    wllamaDir();
  } catch (e) {
    return `@wllama/wllama is not installed (npm --prefix bench/peers install): ${(e as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

function wllamaDir(): string {
  // the package's main entry sits in esm/; the wasm in esm/wasm/
  return dirname(createRequire(import.meta.url).resolve('@wllama/wllama'));
}

/**
 * Greedy decoding of `steps` tokens after the prompt with wllama on `threads` threads, CPU only
 * (no WebGPU: Chromium runs with --disable-gpu), an untimed round (its wasm moves up to the
 * optimizing tier, as ffnkit's does in its warm-up) and then `rounds` timed ones, as ffnkit and
 * native llama.cpp are timed. wllama takes the prompt as text only, which llama.cpp tokenizes
 * (adding BOS and SentencePiece's leading space).
 */
export async function wllamaDecode(model: string, prompt: string, steps: number, threads: number, rounds: number): Promise<WllamaDecode> {
  const version = (JSON.parse(readFileSync(join(wllamaDir(), '..', 'package.json'), 'utf8')) as { version?: string }).version ?? '';
  const routes = { wllama: wllamaDir(), 'model.gguf': model };
  const run = await openPage({ what: 'wllama', module: '/wllama/index.js', global: 'wllamaModule', routes }, (page) => page.evaluate(async ({ threads, prompt, steps, rounds }) => {
    if (!crossOriginIsolated) throw new Error('the page is not cross-origin isolated: wllama would run one thread');
    type Completion = { timings?: { predicted_per_second: number; predicted_n: number }; choices?: { text?: string }[] };
    const mod = (window as unknown as { wllamaModule: { Wllama: new (paths: Record<string, string>, config?: object) => {
      loadModelFromUrl(url: string, params: object): Promise<void>;
      createCompletion(params: object): Promise<Completion>;
      exit(): Promise<void>;
    } } }).wllamaModule;
    const w = new mod.Wllama({ default: '/wllama/wasm/wllama.wasm' }, { suppressNativeLog: true });
    await w.loadModelFromUrl(`${location.origin}/model.gguf`, { n_threads: threads, n_ctx: 512, n_batch: 64, n_gpu_layers: 0, useCache: false });
    const rates: number[] = [];
    let text = '';
    for (let r = 0; r <= rounds; r++) {
      const c = await w.createCompletion({ prompt, max_tokens: steps, temperature: 0, top_k: 1, cache_prompt: false });
      if (r > 0) rates.push(c.timings?.predicted_per_second ?? NaN);
      text = c.choices?.[0]?.text ?? '';
    }
    await w.exit();
    return { rates, text };
  }, { threads, prompt, steps, rounds }));
  await run.close();
  return { rates: run.rates, text: run.text, version };
}
