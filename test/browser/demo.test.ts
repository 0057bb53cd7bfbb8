// The demo page in headless Chromium, as `npm run demo:build` writes it (Vite's bundle) and a
// plain static server hosts it (cross-origin isolated, so the model worker runs two threads):
// a dropped GGUF loads with progress and a model card and continues a prompt as llama2.c does;
// a text file and a 404 URL show the library's errors beside the inputs and leave the previous
// model usable; a chat turn streams under a template from the shared folder and Stop ends the
// next one; dense, factorized and skipping show their perplexities (dense equal to Node's) and
// speeds; kernels give the numbers of Node; a 390-pixel viewport does not scroll sideways; no
// console errors anywhere. Then the library without a bundler (tsc's dist/) and threads in a
// worker. Screenshots of each state go to test-output/.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BACKENDS, Tokenizer, createEngine, evaluate, loadModel, readLlama2c, readWeights, writeGguf } from '../../src/node/index.js';
import { factorizeModel } from '../../src/entries/node/factor.js';
import { finetune } from '../../src/entries/node/train.js';
import { kernelProbe } from '../../web/kernel-check.js';
import { EVAL_TEXT } from '../../web/eval-text.js';
import { SHARED, sharedBytes, sharedJson } from '../shared.js';
import { staticServer } from './server.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const out = join(root, 'test-output');
const site = join(out, 'web-dist');

let server: Server;
let browser: Browser;
let base: string;

describe.skipIf(!SHARED || !existsSync(CHROMIUM))('demo page in headless Chromium', () => {
  beforeAll(async () => {
    mkdirSync(out, { recursive: true });
    await build({ configFile: join(root, 'web', 'vite.config.ts'), logLevel: 'warn', build: { outDir: site } });
    server = await staticServer(() => false, { root: site });
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((done) => server?.close(() => done()));
  });

  /** The page, with console errors collected, once it has loaded its default model (stories260K.gguf from /shared). */
  async function open(viewport = { width: 1200, height: 900 }, url = base): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport });
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForSelector('#model-card:not([hidden])', { timeout: 60_000 });
    return { page, errors };
  }

  const card = async (page: Page) => Object.fromEntries(await page.$$eval('#model-card dt', (dts) => dts.map((dt) => [dt.textContent, dt.nextElementSibling?.textContent ?? ''])));

  /** Sends the prompt box's text with Enter and waits for the reply's end; returns the chat panel's finish and speed. */
  async function send(page: Page, text: string): Promise<{ finish: string; speed: { prefillTokens: number; decodeTokens: number; decodeSeconds: number } }> {
    await page.fill('#prompt', text);
    await page.press('#prompt', 'Enter');
    await page.waitForSelector('#chat-panel[data-finish]', { timeout: 60_000 });
    const finish = (await page.getAttribute('#chat-panel', 'data-finish'))!;
    return { finish, speed: JSON.parse((await page.getAttribute('#chat-panel', 'data-speed'))!) };
  }

  test('a dropped GGUF loads with progress (bytes, then layers) and a model card, and continues a prompt as llama2.c does', async () => {
    const { page, errors } = await open();
    // every progress text the page shows while the dropped file loads
    await page.evaluate(() => {
      const seen: string[] = [];
      new MutationObserver(() => seen.push(document.getElementById('load-progress-text')!.textContent ?? '')).observe(document.getElementById('load-progress-text')!, { childList: true, characterData: true, subtree: true });
      (window as unknown as { progressSeen: string[] }).progressSeen = seen;
    });
    await page.setInputFiles('#model-file', join(resolve(SHARED!), 'models', 'stories260K.gguf'));
    await page.waitForFunction(() => document.getElementById('load-progress-text')!.textContent === 'Loaded stories260K.gguf.', undefined, { timeout: 60_000 });
    const seen = await page.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen);
    expect(seen.some((t) => /^Reading stories260K\.gguf: .* of 1\.01 MiB$/.test(t))).toBe(true);
    expect(seen.some((t) => /^Uploading weights: layer \d of 5 layers$/.test(t))).toBe(true);
    expect(await page.getAttribute('#load-progress', 'data-stages')).toBe('read upload');
    expect(await page.isChecked('#model-kind-file')).toBe(true);
    expect(await page.isVisible('#model-url')).toBe(false);
    const c = await card(page);
    expect(c.Model).toBe('stories260K.gguf (gguf)');
    expect(c.Family).toBe('llama (stories260K)');
    expect(c.Parameters).toMatch(/^260 K \(5 layers, dim 64, FFN 172, vocabulary 512\)$/);
    expect(c['Weight types']).toBe('F32 (47); runs as float32');
    expect(c.Context).toBe('512 tokens');
    expect(c.Backend).toBe('relaxed');
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    expect(c.Threads).toBe(String(Math.min(4, cores)));
    expect(c['Wasm memory']).toMatch(/MiB \(1\.02 MiB of weights read per token\)$/);
    expect(await page.textContent('#chat-mode')).toMatch(/no chat template/);
    // completion, greedy: llama2.c's story token for token
    const golden = sharedJson<{ greedy: { prompt: string; ids: number[] }[] }>('golden', 'stories260K-greedy.json').greedy[0]!;
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    const promptIds = tok.encode(golden.prompt);
    await page.fill('#max-tokens', String(golden.ids.length - promptIds.length));
    await page.fill('#temperature', '0');
    const { finish, speed } = await send(page, golden.prompt);
    expect(finish).toBe('length');
    expect(await page.textContent('#completion-output')).toBe(golden.prompt + tok.decode(golden.ids.slice(promptIds.length)));
    expect(speed.prefillTokens).toBe(promptIds.length);
    expect(speed.decodeTokens).toBe(golden.ids.length - promptIds.length - 1);
    expect(await page.textContent('#speed-decode')).toMatch(/tokens\/s \(\d+ tokens.*memory bound [\d,.]+ tokens\/s: [\d.]+ GB\/s read bandwidth/);
    expect(await page.textContent('#speed-prefill')).toMatch(/^5 tokens in .* tokens\/s \(compute bound/);
    await page.screenshot({ path: join(out, 'demo-loaded.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  test('a text file and a 404 URL show the library\'s errors beside the inputs; the previous model stays usable; a success clears them', async () => {
    const { page, errors } = await open();
    await page.setInputFiles('#model-file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('These are my notes, not a model.\n') });
    await page.waitForSelector('#load-error:not([hidden])');
    expect(await page.textContent('#load-error')).toBe('Could not load notes.txt: notes.txt: not a GGUF, llama2.c or safetensors file (it starts with "These are my not") (/shared/models/stories260K.gguf is still loaded)');
    expect((await card(page)).Model).toBe('/shared/models/stories260K.gguf (gguf)');
    // the old model still generates
    await page.fill('#max-tokens', '8');
    expect((await send(page, 'Once upon a time')).finish).toBe('length');
    await page.screenshot({ path: join(out, 'demo-error-file.png'), fullPage: true });
    // the URL tab: a missing file
    await page.check('#model-kind-url');
    expect(await page.isVisible('#model-file')).toBe(false);
    await page.fill('#model-url', '/shared/models/missing.gguf');
    await page.click('#load');
    await page.waitForFunction(() => /missing/.test(document.getElementById('load-error')!.textContent ?? ''));
    expect(await page.textContent('#load-error')).toMatch(/^Could not load \/shared\/models\/missing\.gguf: model: the response for .*\/shared\/models\/missing\.gguf is HTTP 404 Not Found, not the file \(\/shared\/models\/stories260K\.gguf is still loaded\)$/);
    await page.screenshot({ path: join(out, 'demo-error-404.png'), fullPage: true });
    // llama2.c weights and tokenizer by URL: a success clears the error
    await page.fill('#model-url', '/shared/models/stories260K.bin');
    await page.click('#load');
    await page.waitForFunction(() => document.getElementById('load-progress-text')!.textContent === 'Loaded /shared/models/stories260K.bin.');
    expect(await page.isHidden('#load-error')).toBe(true);
    expect((await card(page)).Model).toBe('/shared/models/stories260K.bin (llama2c)');
    expect(errors).toEqual([]);
  });

  test('chat under a template from the shared folder: a turn streams; Stop ends the next; regenerate replaces the last reply', async () => {
    const { page, errors } = await open();
    await page.selectOption('#template', 'url');
    await page.fill('#template-url', '/shared/templates/microsoft-Phi-3.5-mini-instruct.jinja');
    await page.fill('#temperature', '0');
    await page.fill('#max-tokens', '40');
    await page.click('#system-box summary');
    await page.fill('#system', 'You tell short stories.');
    const first = await send(page, 'Tell me about a cat.');
    expect(first.finish).toBe('length');
    expect(Number(await page.getAttribute('#chat-panel', 'data-pieces'))).toBeGreaterThan(1);
    expect(await page.$$eval('#messages .message', (ms) => ms.map((m) => m.className))).toEqual(['message user', 'message assistant']);
    // Stop as soon as the reply has begun to stream
    await page.fill('#max-tokens', '400');
    await page.fill('#temperature', '1');
    await page.evaluate(() => {
      const panel = document.getElementById('chat-panel')!;
      const watch = new MutationObserver(() => {
        if (panel.dataset.state === 'streaming' && Number(panel.dataset.pieces) >= 2) {
          watch.disconnect();
          document.getElementById('send')!.click();
        }
      });
      watch.observe(document.getElementById('messages')!, { childList: true, characterData: true, subtree: true });
    });
    const second = await send(page, 'And a dog?');
    expect(second.finish).toBe('abort');
    expect(second.speed.decodeTokens).toBeGreaterThan(0);
    expect(second.speed.decodeTokens).toBeLessThan(399);
    expect(await page.textContent('#send')).toBe('Send');
    const messages = await page.$$eval('#messages .message', (ms) => ms.map((m) => ({ role: m.className, text: m.querySelector('.body')!.textContent, finish: m.querySelector('.finish')?.textContent })));
    expect(messages.map((m) => m.role)).toEqual(['message user', 'message assistant', 'message user', 'message assistant']);
    expect(messages[3]!.finish).toBe('stopped');
    expect(messages[3]!.text!.length).toBeGreaterThan(0);
    await page.screenshot({ path: join(out, 'demo-chat.png'), fullPage: true });
    // regenerate: the last reply again (greedy, so the same as a fresh turn), still four messages
    await page.fill('#max-tokens', '12');
    await page.fill('#temperature', '0');
    await page.click('#messages .message:last-child button:text("Regenerate")');
    await page.waitForSelector('#chat-panel[data-finish]');
    const again = await page.$$eval('#messages .message', (ms) => ms.map((m) => m.querySelector('.finish')?.textContent));
    expect(again).toHaveLength(4);
    expect(again[3]).toBe('reached the token limit');
    expect(errors).toEqual([]);
  });

  test('dense, factorized and skipping side by side: perplexities (dense as in Node) and decode speeds, the heat map and skip ratios; bad fields in the page\'s words', async () => {
    const { page, errors } = await open();
    await page.fill('#cmp-tokens', '64');
    await page.click('#compare');
    await page.waitForSelector('#methods-panel[data-done]', { timeout: 90_000 });
    const rows = await page.$$eval('#methods-body tr', (trs) => trs.map((tr) => ({ method: tr.dataset.method, ppl: Number(tr.dataset.ppl), decode: Number(tr.dataset.decode), text: tr.querySelector('.sample')!.textContent })));
    expect(rows.map((r) => r.method)).toEqual(['dense', 'factorized', 'skip']);
    // the dense perplexity is Node's on the same text (same wasm; two threads give one thread's bits)
    const node = await loadModel(join(resolve(SHARED!), 'models', 'stories260K.gguf'));
    const reference = evaluate(node, node.tokenizer!, EVAL_TEXT).ppl;
    expect(Math.abs(rows[0]!.ppl - reference) / reference).toBeLessThan(1e-5);
    // the trade-off: both approximations cost perplexity; each decodes at its own rate
    expect(rows[1]!.ppl).toBeGreaterThan(rows[0]!.ppl);
    expect(rows[2]!.ppl).toBeGreaterThan(rows[0]!.ppl);
    for (const r of rows) expect(r.decode).toBeGreaterThan(0);
    expect(new Set(rows.map((r) => r.decode)).size).toBe(3);
    expect(new Set(rows.map((r) => r.text)).size).toBe(3);
    expect(await page.textContent('#methods-body tr[data-method=factorized] .explain')).toMatch(/router runs 2 of them per token/);
    // heat map: 5 layers x 4 experts, each token routed to k = 2 experts in every layer
    const counts = JSON.parse((await page.getAttribute('#heatmap', 'data-counts'))!) as number[][];
    expect(counts).toHaveLength(5);
    for (const layer of counts) {
      expect(layer).toHaveLength(4);
      expect(layer.reduce((a, b) => a + b, 0) % 2).toBe(0);
    }
    expect(await page.getAttribute('#heatmap .cell >> nth=0', 'title')).toMatch(/^layer 0, expert 0: \d+ tokens \(\d+\.\d% of the layer's routed tokens\)$/);
    // skip ratios: the always-run first and last layers never skip, some middle layer does
    const perLayer = JSON.parse((await page.getAttribute('#skip-layers', 'data-per-layer'))!) as number[];
    expect(perLayer).toHaveLength(5);
    expect(perLayer[0]).toBe(0);
    expect(perLayer[4]).toBe(0);
    expect(Math.max(...perLayer)).toBeGreaterThan(0);
    await page.screenshot({ path: join(out, 'demo-methods.png'), fullPage: true });
    // form errors in the page's words, not the command line's
    await page.fill('#skip-threshold', '');
    await page.click('#compare');
    expect(await page.textContent('#compare-error')).toBe('Cosine threshold must be a number from -1 to 1.');
    await page.fill('#skip-threshold', '0.9');
    await page.fill('#skip-cold-start', '3');
    await page.fill('#skip-cold-end', '2');
    await page.click('#compare');
    expect(await page.textContent('#compare-error')).toBe('The always-run first and last layers (3 + 2) cover all 5 layers: nothing could be skipped.');
    await page.fill('#skip-cold-start', '1');
    await page.fill('#skip-cold-end', '1');

    // a factorized file (made here: untrained experts, whose sum is the dense FFN) loads as a model and runs its own experts
    const { weights } = await readWeights(join(resolve(SHARED!), 'models', 'stories260K.bin'));
    const tok = node.tokenizer!;
    const file = writeGguf(await factorizeModel(weights, tok, '', { experts: 4, topK: 2, split: 'contiguous', steps: 0 }), tok.vocabulary());
    await page.setInputFiles('#model-file', { name: 'stories260K-e4k2.gguf', mimeType: 'application/octet-stream', buffer: Buffer.from(file) });
    await page.waitForFunction(() => document.getElementById('load-progress-text')!.textContent === 'Loaded stories260K-e4k2.gguf.');
    expect((await card(page)).FFN).toBe('factorized: 4 experts per layer, k = 2');
    expect(await page.isDisabled('#experts')).toBe(true);
    await page.click('#compare');
    await page.waitForSelector('#methods-panel[data-done]', { timeout: 90_000 });
    const routed = await page.$$eval('#methods-body tr', (trs) => trs.map((tr) => ({ ppl: Number(tr.dataset.ppl), note: tr.querySelector('.method .note')?.textContent })));
    expect(Math.abs(routed[0]!.ppl - reference) / reference).toBeLessThan(1e-5); // dense: the experts' sum
    expect(routed[1]!.note).toBe('the experts of stories260K-e4k2.gguf');
    const inNode = await loadModel(file);
    const routedReference = evaluate(inNode, tok, EVAL_TEXT).ppl;
    expect(Math.abs(routed[1]!.ppl - routedReference) / routedReference).toBeLessThan(1e-5);
    expect(errors).toEqual([]);
  });

  test('kernels give the same numbers in the page\'s worker as in Node; the panel shows each build against its bound', async () => {
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
    await page.evaluate(() => (window as unknown as { ffnkitDemo: { runKernels: (s: number) => Promise<void> } }).ffnkitDemo.runKernels(0.1));
    expect(await page.getAttribute('#bench-chart', 'data-done')).toBe('true');
    // GEMM, two GEMVs and the convolution, on three builds and the two -mt ones (the page is isolated)
    expect(await page.$$eval('#bench-chart h3', (hs) => hs.map((h) => h.textContent))).toEqual([
      'f32 GEMM 128x512x512, GFLOP/s', 'f32 GEMV 4096x4096, GB/s', 'Q8_0 GEMV 4096x4096, GB/s', 'depthwise conv 7x7, 128 channels of 32x32, GFLOP/s',
    ]);
    const bars = await page.$$eval('#bench-chart .bar', (bs) => bs.map((b) => ({
      build: b.querySelector('.name')!.textContent, value: Number(b.getAttribute('data-value')), bound: Number(b.getAttribute('data-bound')),
      width: (b.querySelector('.fill') as HTMLElement).getBoundingClientRect().width, track: b.querySelector('.track')!.getBoundingClientRect().width, text: b.querySelector('.value')!.textContent!,
    })));
    expect(bars).toHaveLength(4 * 5);
    expect(bars.slice(0, 5).map((b) => b.build)).toEqual(['relaxed', 'simd', 'scalar', 'relaxed-mt', 'simd-mt']);
    for (const b of bars) {
      expect(b.value).toBeGreaterThan(0);
      expect(b.width).toBeLessThanOrEqual(b.track + 0.5); // never drawn past the bound
      expect(b.text.includes('past the bound')).toBe(b.value > b.bound);
    }
    await page.screenshot({ path: join(out, 'demo-kernels.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  test('a phone-sized viewport (390 px) does not scroll sideways, with the methods table and a long unbroken line shown', async () => {
    const { page, errors } = await open({ width: 390, height: 844 });
    await page.fill('#max-tokens', '8');
    await send(page, 'x'.repeat(300));
    await page.fill('#cmp-tokens', '16');
    await page.selectOption('#router', 'untrained');
    await page.click('#compare');
    await page.waitForSelector('#methods-panel[data-done]', { timeout: 90_000 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    expect(await page.textContent('#methods-body tr[data-method=factorized] .explain')).toMatch(/untrained/);
    await page.screenshot({ path: join(out, 'demo-phone.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  test('served without COOP/COEP, the page runs one thread and says why', async () => {
    const plain = await staticServer(() => false, { root: site, isolated: false });
    const { page, errors } = await open(undefined, `http://127.0.0.1:${(plain.address() as { port: number }).port}/`);
    expect((await card(page)).Threads).toBe('1');
    expect(await page.isDisabled('#threads')).toBe(true);
    expect(await page.textContent('#threads-note')).toMatch(/COOP and COEP/);
    expect(errors).toEqual([]);
    await new Promise<void>((done) => plain.close(() => done()));
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
    // dist/ as the plain-ESM test above built it
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
