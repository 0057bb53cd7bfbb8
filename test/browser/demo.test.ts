// The library in a real browser: the demo page, bundled by Vite, in headless Chromium. The greedy
// story equals llama2.c's; the factorized and skipping switches change the statistics; kernels give
// the same numbers as in Node; the plain ESM build (tsc's dist/) works without a bundler and
// fine-tunes with Node's losses; no
// console errors, on a desktop and a phone-sized viewport. Screenshots go to test-output/.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BACKENDS, Tokenizer, createEngine, readLlama2c } from '../../src/node/index.js';
import { finetune } from '../../src/entries/node/train.js';
import { kernelProbe } from '../../web/kernel-check.js';
import { SHARED, sharedBytes, sharedJson } from '../shared.js';
import { staticServer } from './server.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const out = join(root, 'test-output');

let server: PreviewServer;
let browser: Browser;
let base: string;

describe.skipIf(!SHARED || !existsSync(CHROMIUM))('demo page in headless Chromium', () => {
  beforeAll(async () => {
    mkdirSync(out, { recursive: true });
    await build({ configFile: join(root, 'web', 'vite.config.ts'), logLevel: 'warn' });
    server = await preview({ configFile: join(root, 'web', 'vite.config.ts'), preview: { port: 0, host: '127.0.0.1' } });
    base = server.resolvedUrls!.local[0]!;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((done) => server?.httpServer.close(() => done()));
  });

  /** A page with console errors collected. */
  async function open(viewport = { width: 1200, height: 900 }): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport });
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(base);
    await page.waitForFunction(() => !(document.getElementById('generate') as HTMLButtonElement).disabled, undefined, { timeout: 60_000 });
    return { page, errors };
  }

  async function generate(page: Page): Promise<string> {
    await page.click('#generate');
    await page.waitForSelector('#output[data-done]', { timeout: 120_000 });
    return (await page.textContent('#output')) ?? '';
  }

  test('the greedy continuation of "Once upon a time" is llama2.c\'s, token for token', async () => {
    const { page, errors } = await open();
    const golden = sharedJson<{ greedy: { prompt: string; ids: number[] }[] }>('golden', 'stories260K-greedy.json').greedy[0]!;
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    await page.fill('#max-tokens', String(golden.ids.length - tok.encode(golden.prompt).length));
    const text = await generate(page);
    expect(text).toBe(golden.prompt + tok.decode(golden.ids.slice(tok.encode(golden.prompt).length)));
    expect(await page.textContent('#status')).toMatch(/backend relaxed/);
    await page.screenshot({ path: join(out, 'demo-desktop.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  test('the factorized and skipping switches change what the statistics show', async () => {
    const { page, errors } = await open();
    await page.fill('#max-tokens', '40');
    await page.check('input[name=ffn][value=factorized]');
    await generate(page);
    const counts = JSON.parse((await page.getAttribute('#heatmap', 'data-counts')) ?? '[]') as number[][];
    expect(counts).toHaveLength(5);
    // every layer routed each of the 40 tokens (plus the prompt) to k = 2 of 4 experts
    for (const layer of counts) expect(layer.reduce((a, b) => a + b, 0) % 2).toBe(0);
    expect(counts.flat().filter((c) => c > 0).length).toBeGreaterThan(5);
    // k = 1 halves the expert calls
    await page.fill('#topk', '1');
    await page.dispatchEvent('#topk', 'input');
    await generate(page);
    const counts1 = JSON.parse((await page.getAttribute('#heatmap', 'data-counts')) ?? '[]') as number[][];
    expect(counts1[0]!.reduce((a, b) => a + b, 0)).toBeLessThan(counts[0]!.reduce((a, b) => a + b, 0));
    // skipping on the dense model: a realized skip ratio above zero
    await page.check('input[name=ffn][value=dense]');
    await page.check('#skip-on');
    await page.fill('#skip-spec', 'threshold=-1,warmup=4,coldStart=1,coldEnd=1,budget=1');
    await generate(page);
    expect(Number(await page.getAttribute('#stats', 'data-skip-ratio'))).toBeGreaterThan(0.2);
    expect(errors).toEqual([]);
  });

  test('kernels give the same numbers in the page as in Node', async () => {
    const { page, errors } = await open();
    const inPage = (await page.evaluate(() => (window as unknown as { ffnkitDemo: { kernelCheck: () => Promise<Record<string, number[]>> } }).ffnkitDemo.kernelCheck())) as Record<string, number[]>;
    expect(Object.keys(inPage).sort()).toEqual([...BACKENDS].sort());
    for (const backend of BACKENDS) {
      const node = kernelProbe(await createEngine({ backend }));
      const page_ = inPage[backend]!;
      expect(page_.length).toBe(node.length);
      // the same wasm on two V8 versions: identical for scalar and simd; relaxed madd may fuse differently
      const tol = backend === 'relaxed' ? 1e-5 : 0;
      for (let i = 0; i < node.length; i++) expect(Math.abs(page_[i]! - node[i]!), `${backend}[${i}]`).toBeLessThanOrEqual(tol * (1 + Math.abs(node[i]!)));
    }
    await page.click('#bench');
    await page.waitForSelector('#bench-chart[data-done]', { timeout: 120_000 });
    expect(await page.locator('#bench-chart .bar').count()).toBe(3 * BACKENDS.length); // GEMM, GEMV, depthwise conv
    await page.screenshot({ path: join(out, 'demo-kernels.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  test('a phone-sized viewport lays the page out without horizontal scrolling', async () => {
    const { page, errors } = await open({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(out, 'demo-phone.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  test('plain ESM: the tsc build (dist/) loads in a page without a bundler (an import map names @huggingface/jinja), generates, yields between tokens, chats, and fine-tunes with the losses of Node', async () => {
    execFileSync('npm', ['run', 'build:ts'], { cwd: root });
    const http = await staticServer((url, res) => {
      if (url === '/') {
        res.setHeader('Content-Type', 'text/html');
        res.end(`<!doctype html><script type="importmap">{ "imports": { "@huggingface/jinja": "/node_modules/@huggingface/jinja/dist/index.js" } }</script><script type="module">
          import { loadModel, Tokenizer, readLlama2c, ChatSession } from '/dist/index.js';
          import { finetune } from '/dist/entries/train.js';
          // a Response, an ArrayBuffer and a File: the three ways bytes reach a page
          const model = await loadModel(await fetch('/shared/models/stories260K.gguf'));
          const tokBuffer = await (await fetch('/shared/models/tok512.bin')).arrayBuffer();
          const tok = await Tokenizer.load(tokBuffer);
          const file = new File([await (await fetch('/shared/models/stories260K.bin')).arrayBuffer()], 'stories260K.bin');
          const fromFile = await loadModel(file);
          let text = '';
          for await (const p of model.generate(tok, 'Once upon a time', { temperature: 0, maxTokens: 20 })) text += p;
          let again = '';
          for await (const p of fromFile.generate(model.tokenizer, 'Once upon a time', { temperature: 0, maxTokens: 20 })) again += p;
          // the stream yields a task between tokens (MessageChannel here): a timer set at the first token fires before the last
          let tokens = 0, firedAt = -1, armed = false;
          for await (const p of model.generate('Once upon a time', { temperature: 1, seed: 3, maxTokens: 200, stopTokens: [], onToken: () => tokens++ })) {
            if (!armed) { armed = true; setTimeout(() => { firedAt = tokens; }, 0); }
          }
          const yielded = firedAt > 0 && firedAt < tokens;
          // a chat turn with a template given (stories260K has none)
          const session = new ChatSession(model, { template: '{% for m in messages %}{{ m.role }}: {{ m.content }}\\n{% endfor %}assistant:', temperature: 0, maxTokens: 12 });
          let reply = '';
          for await (const p of session.send('Tell me a story.')) reply += p;
          // three fine-tuning steps on the simd build: the same losses as in Node
          const weights = readLlama2c(new Uint8Array(await (await fetch('/shared/models/stories260K.bin')).arrayBuffer()));
          const calib = (await (await fetch('/shared/data/tinystories-calib.txt')).text()).slice(0, 5000);
          const losses = [];
          await finetune(weights, tok, calib, { steps: 3, batch: 2, seqLen: 16, engine: { backend: 'simd' }, onStep: (s) => losses.push(s.lm) });
          document.title = 'done';
          document.body.textContent = model.engine.backend + '|' + text + '|' + again + '|' + JSON.stringify(losses) + '|' + yielded + '|' + (reply.length > 0 && session.messages.length === 2);
        </script>`);
        return true;
      }
      return false;
    });
    const port = (http.address() as { port: number }).port;
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => document.title === 'done', undefined, { timeout: 60_000 });
    const [backend, text, again, losses, yielded, chatted] = ((await page.textContent('body')) ?? '').split('|');
    expect(backend).toBe('relaxed');
    expect(yielded).toBe('true');
    expect(chatted).toBe('true');
    expect(text).toMatch(/^, there was a little girl named Lily\./);
    expect(again).toBe(text);
    const inNode: number[] = [];
    const calib = readFileSync(join(resolve(SHARED!), 'data', 'tinystories-calib.txt'), 'utf8').slice(0, 5000);
    const tok = await Tokenizer.load(join(resolve(SHARED!), 'models', 'tok512.bin'));
    const weights = readLlama2c(new Uint8Array(readFileSync(join(resolve(SHARED!), 'models', 'stories260K.bin'))));
    await finetune(weights, tok, calib, { steps: 3, batch: 2, seqLen: 16, engine: { backend: 'simd' }, onStep: (st) => inNode.push(st.lm) });
    const inPage = JSON.parse(losses!) as number[];
    expect(inPage.length).toBe(3);
    inPage.forEach((l, i) => expect(Math.abs(l - inNode[i]!) / inNode[i]!).toBeLessThan(1e-6));
    expect(errors).toEqual([]);
    await new Promise<void>((done) => http.close(() => done()));
  });
  test('threads in a Web Worker: an engine created inside a worker runs two threads (module Web Workers) and computes the bits of one', async () => {
    execFileSync('npm', ['run', 'build:ts'], { cwd: root });
    const http = await staticServer((url, res) => {
      if (url === '/') {
        res.setHeader('Content-Type', 'text/html');
        res.end(`<!doctype html><script type="module">
          const worker = new Worker('/threads-check.js', { type: 'module' });
          worker.onmessage = (e) => { document.body.textContent = e.data; document.title = 'done'; };
          worker.onerror = (e) => { document.body.textContent = 'error ' + e.message; document.title = 'done'; };
        </script>`);
        return true;
      }
      if (url === '/threads-check.js') {
        res.setHeader('Content-Type', 'text/javascript');
        res.end(`
          import { createEngine } from '/dist/index.js';
          const rand = (n, seed) => { let s = seed; return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1); };
          const run = async (threads) => {
            const e = await createEngine({ backend: 'simd', threads });
            const out = [];
            for (const [m, n, k] of [[1, 2048, 1024], [64, 256, 256]]) {
              const c = e.alloc(m * n);
              e.kernels.gemm(e.upload(rand(m * k, m)), e.kernels.packFrom(rand(n * k, n), n, k), c, m);
              out.push(...new Uint32Array(c.toArray().buffer));
            }
            const t = e.threads;
            e.close();
            return { t, out };
          };
          const one = await run(1);
          const two = await run(2);
          self.postMessage(two.t + '|' + (one.out.length === two.out.length && one.out.every((v, i) => v === two.out[i])));
        `);
        return true;
      }
      return false;
    });
    const port = (http.address() as { port: number }).port;
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => document.title === 'done', undefined, { timeout: 60_000 });
    expect(await page.evaluate(() => (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated)).toBe(true);
    expect(await page.textContent('body')).toBe('2|true');
    await new Promise<void>((done) => http.close(() => done()));
  });
});
