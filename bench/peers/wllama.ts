// llama.cpp compiled to WebAssembly (@wllama/wllama) decoding a GGUF file in headless Chromium:
// wllama needs a browser (Web Workers, fetch, and for threads a cross-origin isolated page), so a
// small local server hands Chromium a page, wllama's files and the model, with the COOP/COEP
// headers that enable SharedArrayBuffer. Its decode speed is llama.cpp's own count
// (`timings.predicted_per_second`, generated tokens after the first over their time), the same
// span ffnkit's decode is timed over.

import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize } from 'node:path';

const CHROMIUM = '/usr/bin/chromium';

export interface WllamaDecode {
  /** Generated tokens per second after the first, llama.cpp's own timing. */
  rate: number;
  /** The greedy continuation, as text (wllama returns no token ids). */
  text: string;
  /** wllama's version. */
  version: string;
}

/** Why wllama cannot run here, or undefined when it can. */
export function wllamaUnavailable(): string | undefined {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} not found (apt-get install -y chromium)`;
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

const PAGE = `<!doctype html><meta charset="utf-8"><title>wllama</title>
<script type="module">import * as w from '/wllama/index.js'; window.wllamaModule = w; window.wllamaReady = true;</script>`;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.gguf': 'application/octet-stream' };

/** Serves the page, wllama's esm/ directory and the model, cross-origin isolated. */
function serve(model: string): Promise<{ server: Server; origin: string }> {
  const root = wllamaDir();
  const server = createServer((req, res) => {
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
    };
    const url = new URL(req.url ?? '/', 'http://localhost');
    let file: string | undefined;
    if (url.pathname === '/') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(PAGE);
      return;
    }
    if (url.pathname === '/model.gguf') file = model;
    else if (url.pathname.startsWith('/wllama/')) {
      const rel = normalize(url.pathname.slice('/wllama/'.length));
      if (!rel.startsWith('..')) file = join(root, rel);
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

/**
 * Greedy decoding of `steps` tokens after the prompt with wllama on `threads` threads, CPU only
 * (no WebGPU: Chromium runs with --disable-gpu). wllama takes the prompt as text only, which
 * llama.cpp tokenizes (adding BOS and SentencePiece's leading space).
 */
export async function wllamaDecode(model: string, prompt: string, steps: number, threads: number): Promise<WllamaDecode> {
  const { chromium } = await import('playwright-core');
  const { server, origin } = await serve(model);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(origin);
    await page.waitForFunction(() => (window as unknown as { wllamaReady?: boolean }).wllamaReady === true, undefined, { timeout: 30_000 })
      .catch(() => { throw new Error(`wllama did not load in Chromium: ${errors.join('; ') || 'no error reported'}`); });
    const version = (JSON.parse(readFileSync(join(wllamaDir(), '..', 'package.json'), 'utf8')) as { version?: string }).version ?? '';
    const result = await page.evaluate(async ({ threads, prompt, steps }) => {
      if (!crossOriginIsolated) throw new Error('the page is not cross-origin isolated: wllama would run one thread');
      type Completion = { timings?: { predicted_per_second: number; predicted_n: number }; choices?: { text?: string }[] };
      const mod = (window as unknown as { wllamaModule: { Wllama: new (paths: Record<string, string>, config?: object) => {
        loadModelFromUrl(url: string, params: object): Promise<void>;
        createCompletion(params: object): Promise<Completion>;
        exit(): Promise<void>;
      } } }).wllamaModule;
      const w = new mod.Wllama({ default: '/wllama/wasm/wllama.wasm' }, { suppressNativeLog: true });
      await w.loadModelFromUrl(`${location.origin}/model.gguf`, { n_threads: threads, n_ctx: 512, n_batch: 64, n_gpu_layers: 0, useCache: false });
      const r = await w.createCompletion({ prompt, max_tokens: steps, temperature: 0, top_k: 1, cache_prompt: false });
      await w.exit();
      return { rate: r.timings?.predicted_per_second ?? NaN, text: r.choices?.[0]?.text ?? '' };
    }, { threads, prompt, steps });
    return { rate: result.rate, text: result.text, version };
  } finally {
    await browser.close();
    server.close();
  }
}
