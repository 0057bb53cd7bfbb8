// Q8_0 on the unsigned relaxed dot in headless Chromium, whose V8 emits VNNI's vpdpbusd for
// i32x4.relaxed_dot_i8x16_i7x16_add_s on a CPU with AVX-VNNI (assembly/q8u8.ts): the engine's
// self-test finds the unsigned form and packs Q8_0 in column quads; at odd sizes the unsigned
// path gives the float64 reference's values and the bits of the column-pair i16 path, on every
// tile, token tail and split of the rows; two threads (in a Web Worker) give the bits of one;
// and the llama.cpp Q8_0 fixture's logits are Node's to the bit (Node runs the i16 path) and
// within the bound test/llamacpp-fixtures.test.ts holds them to.

import { existsSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadModel } from '../../src/node/index.js';
import { encodeQ8_0 } from '../../src/entries/node/kernels.js';
import { randomF32 } from '../../testing/random.js';
import { q8PathOutputs, type Q8PathOutputs } from '../../testing/q8-paths.js';
import { againstReference } from '../llamacpp.js';
import { engineFor, expectQ8PathsAgree } from '../helpers.js';
import { SHARED, sharedBytes, sharedJson } from '../shared.js';
import { staticServer } from './server.js';

const CHROMIUM = '/usr/bin/chromium';
/**
 * Whether V8 emits vpdpbusd here, which makes the unsigned form Chromium's: it does for AVX-VNNI
 * (the VEX encoding) only. A CPU with AVX-512 VNNI alone gets V8's pmaddubsw sequence, which
 * saturates; one with AVX-VNNI-INT8 gets the signed vpdpbssd.
 */
const cpuFlags = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
const VNNI = /\bavx_vnni\b/.test(cpuFlags) && !/\bavx_vnni_int8\b/.test(cpuFlags);

/** (m tokens, n rows, k columns, the row counts at which a split cuts): pairs, lone and partial groups, token tails. */
const SHAPES: [number, number, number, number[]][] = [
  [1, 1, 32, []], [3, 7, 96, []], [4, 9, 32, [8]], [5, 12, 160, [8]], [6, 13, 64, [8]], [9, 17, 96, [8, 16]], [11, 33, 128, [8, 24]], [7, 3, 224, []], [5, 76, 1024, [40]],
];

const floats = (bits: number[]) => new Float32Array(Uint32Array.from(bits).buffer);
const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

interface InPage extends Q8PathOutputs {
  /** engine.kernels.gemm on engine.kernels.q8Matrix: the engine's own layout and path. */
  api: number[];
  layout: string;
  unsigned: string;
}

describe.skipIf(!existsSync(CHROMIUM) || !existsSync('dist/index.js'))('Q8_0 on the unsigned relaxed dot in headless Chromium', () => {
  let browser: Browser;
  let http: Server;
  let page: Page;
  let base = '';

  beforeAll(async () => {
    http = await staticServer((url, res) => {
      if (url === '/') {
        res.setHeader('Content-Type', 'text/html');
        res.end(`<!doctype html><script type="module">import * as m from '/dist/index.js'; window.ffnkit = m;</script>`);
        return true;
      }
      if (url === '/threads-q8.js') {
        res.setHeader('Content-Type', 'text/javascript');
        res.end(`
          import { createEngine, encodeQ8_0 } from '/dist/entries/kernels.js';
          const rand = (n, seed) => { let s = seed; return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 4 - 2); };
          const run = async (threads) => {
            const e = await createEngine({ backend: 'relaxed', threads });
            const out = [];
            for (const [m, n, k] of [[1, 4100, 256], [9, 1030, 512]]) {
              const c = e.alloc(m * n);
              e.kernels.gemm(e.upload(rand(m * k, m)), e.kernels.q8Matrix(encodeQ8_0(rand(n * k, n)), n, k), c, m);
              out.push(...new Uint32Array(c.toArray().buffer));
            }
            const r = { threads: e.threads, layout: e.kernels.q8Layout, out };
            e.close();
            return r;
          };
          const one = await run(1);
          const two = await run(2);
          self.postMessage({ threads: two.threads, layout: two.layout, same: one.out.length === two.out.length && one.out.every((v, i) => v === two.out[i]) });
        `);
        return true;
      }
      return false;
    });
    base = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    page = await browser.newPage();
    // a transform's keepNames helper, which the page does not have
    await page.addInitScript('globalThis.__name = (f) => f;');
    await page.goto(base);
    await page.waitForFunction(() => 'ffnkit' in window, undefined, { timeout: 60_000 });
    await page.evaluate(`window.q8PathOutputs = ${q8PathOutputs.toString()}`);
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((done) => (http ? http.close(() => done()) : done()));
  });

  test('the self-test finds the unsigned form where the CPU has VNNI, and Q8_0 takes the quads there', async () => {
    const dot = await page.evaluate(async () => {
      const g = window as unknown as { ffnkit: typeof import('../../src/index.js') };
      const e = await g.ffnkit.createEngine({ backend: 'relaxed' });
      const r = { ...e.dot, layout: e.kernels.q8Layout, perCall: e.wasm.relaxed_dot_u8_form(e.dot.code) };
      e.close();
      return r;
    });
    if (VNNI) expect(dot).toEqual({ form: 'exact', path: 'relaxed', code: 1, unsigned: 'u8-exact', layout: 'x4_u8', perCall: 1 });
    else expect(dot.layout).toBe(dot.unsigned === 'u8-exact' ? 'x4_u8' : 'x4');
  });

  test.each(SHAPES)('m %i n %i k %i: the reference within (blocks+4)·U per row, and the bits of the i16 path on every tile, tail and split', async (m, n, k, cut) => {
    const w = encodeQ8_0(randomF32(n * k, 3 * n + k, -2, 2));
    const x = randomF32(m * k, m + k, -3, 3);
    const r = await page.evaluate(async ({ w, x, m, n, k, cut }) => {
      const g = window as unknown as { ffnkit: typeof import('../../src/index.js'); q8PathOutputs: typeof q8PathOutputs; engine?: import('../../src/index.js').Engine };
      const e = (g.engine ??= await g.ffnkit.createEngine({ backend: 'relaxed' }));
      const bytes = Uint8Array.from(w), xs = Float32Array.from(x);
      const paths = g.q8PathOutputs(e, bytes, xs, m, n, k, cut);
      const c = e.alloc(m * n);
      const mat = e.kernels.q8Matrix(bytes, n, k);
      const a = e.upload(xs);
      e.kernels.gemm(a, mat, c, m);
      const api = Array.from(new Uint32Array(c.toArray().buffer));
      for (const b of [c, mat.data, a]) b.free();
      return { ...paths, api, layout: e.kernels.q8Layout, unsigned: e.dot.unsigned };
    }, { w: Array.from(w), x: Array.from(x), m, n, k, cut }) as InPage;
    // the unsigned path ran (where the CPU has it): this is what the test is for
    if (VNNI) expect(r.quadsPath, 'the path q8_0_gemm_x4_u8 took').toBe(1);
    expectQ8PathsAgree(r, w, x, m, n, k, cut);
    expect(r.api, 'engine.kernels.gemm').toEqual(r.pairs);
    // and Node's engine (its i16 path on pairs) gives the same bits
    const node = q8PathOutputs(await engineFor('relaxed'), w, x, m, n, k, cut);
    expect(node.pairs, 'Node').toEqual(r.pairs);
  });

  test('two threads in a Web Worker give the bits of one on the quads', async () => {
    const p = await browser.newPage();
    await p.goto(base);
    const r = await p.evaluate(() => new Promise<{ threads: number; layout: string; same: boolean }>((done, fail) => {
      const worker = new Worker('/threads-q8.js', { type: 'module' });
      worker.onmessage = (e) => done(e.data);
      worker.onerror = (e) => fail(new Error(e.message));
    }));
    await p.close();
    expect(r).toEqual({ threads: 2, layout: VNNI ? 'x4_u8' : r.layout, same: true });
  });

  test.skipIf(!SHARED)('the llama.cpp Q8_0 fixture: Node\'s logits to the bit, within 0.15 x std of llama.cpp\'s', async () => {
    const g = sharedJson<Record<string, { tokens: number[]; vocab: number; logits: number[][] }>>('golden', 'llamacpp-fixtures.json')['fixture-llama-q8_0.gguf']!;
    const bytes = sharedBytes('models', 'fixtures', 'fixture-llama-q8_0.gguf');
    const inPage = await page.evaluate(async ({ file, tokens }) => {
      const f = window as unknown as { ffnkit: typeof import('../../src/index.js') };
      const model = await f.ffnkit.loadModel(Uint8Array.from(file), { backend: 'relaxed' });
      const out = Array.from(new Uint32Array(model.forward(tokens, { allLogits: true }).buffer));
      const layout = model.engine.kernels.q8Layout;
      model.engine.close();
      return { out, layout };
    }, { file: Array.from(bytes), tokens: g.tokens });
    if (VNNI) expect(inPage.layout).toBe('x4_u8');
    const node = await loadModel(bytes, { backend: 'relaxed' });
    const want = node.forward(g.tokens, { allLogits: true });
    node.engine.close();
    expect(inPage.out, 'Chromium against Node').toEqual(bitsOf(want));
    const ours = floats(inPage.out);
    const rows = (a: Float32Array) => Array.from({ length: a.length / g.vocab }, (_, p) => a.subarray(p * g.vocab, (p + 1) * g.vocab));
    const { maxDiffOverStd } = againstReference(rows(ours), g.logits.map((r) => Float32Array.from(r)));
    expect(maxDiffOverStd).toBeLessThanOrEqual(0.15);
  });
});
