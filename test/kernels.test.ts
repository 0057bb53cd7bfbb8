// Every kernel, on every build, against the float64 references in test/ref/, at sizes that hit
// every SIMD tail (1, 3, 7, 8, 9, 31, 63, 64, 65, 127, 1000) and at addresses that are not
// 16-byte aligned. Tolerances are stated next to each check: U = 2^-24 is float32's unit
// roundoff; a sum of K products in float32 is within (K + 2)·U·Σ|terms| of the exact value
// (the standard forward bound for recursive or blocked summation), so reductions scale with K.

import { beforeEach, describe, expect, test } from 'vitest';
import { encodeQ8_0, ropeCosSin } from '../src/entries/node/kernels.js';
import { panelFloats, q8GroupFloats } from '../src/runtime/sizes.js';
import { BACKENDS, U32, engineFor, expectClose, placed } from './helpers.js';
import { randomF32 } from '../testing/random.js';
import * as ref from './ref/kernels.js';
import { maxAbsDiff } from '../testing/compare.js';

const SIZES = [1, 3, 7, 8, 9, 31, 63, 64, 65, 127, 1000];
const SHIFTS = [0, 1, 3];

describe.each(BACKENDS)('%s build', (backend) => {
  beforeEach(async () => (await engineFor(backend)).arena.reset());

  test('runs the build it was asked for', async () => {
    expect((await engineFor(backend)).backend).toBe(backend);
  });

  test("the TypeScript layout sizes (for memory estimates before an engine exists) equal the wasm's", async () => {
    const e = await engineFor(backend);
    for (const rows of [1, 3, 4, 5, 7, 8, 9, 64, 172, 5632]) {
      for (const cols of [32, 64, 96, 2048, 5632]) {
        expect(panelFloats(rows, cols), `panels ${rows}x${cols}`).toBe(e.wasm.f32_gemm_packed_floats(rows, cols));
        expect(q8GroupFloats(rows, cols), `q8 ${rows}x${cols}`).toBe(e.wasm.q8_0_gemm_packed_floats(rows, cols));
      }
      expect(panelFloats(rows, 1)).toBe(e.wasm.f32_gemm_packed_floats(rows, 1));
    }
  });

  describe('gemm', () => {
    const shapes: [number, number, number][] = [];
    for (const s of SIZES) shapes.push([s, 9, 31], [5, s, 17], [7, 13, s]);
    shapes.push([65, 127, 63], [64, 64, 64], [9, 1000, 8], [127, 65, 1000]);

    test.each(shapes)('M=%i N=%i K=%i matches float64 within (K+2)·U·Σ|a·w|', async (m, n, k) => {
      const e = await engineFor(backend);
      const a = randomF32(m * k, m * 7 + n * 13 + k);
      const w = randomF32(n * k, n * 3 + k);
      const bias = randomF32(n, n + 99);
      for (const withBias of [false, true]) {
        const shift = (m + n + k + (withBias ? 1 : 0)) % 4;
        const packed = e.kernels.pack(e.matrix(n, k, w), withBias ? placed(e, bias, shift) : undefined);
        const c = placed(e, new Float32Array(m * n), shift);
        e.kernels.gemm(placed(e, a, shift), packed, c, m);
        const b = withBias ? bias : null;
        const want = ref.gemm(a, w, b, m, n, k);
        const mag = ref.gemmMagnitude(a, w, b, m, n, k);
        expectClose(c.view(), want, (i) => (k + 2) * U32 * mag[i]!, `gemm ${m}x${n}x${k} bias=${withBias}`);
      }
    });

    test('packFrom (host rows through a staging buffer) packs exactly as pack does', async () => {
      const e = await engineFor(backend);
      for (const [n, k] of [[37, 50000], [9, 3], [1000, 65]] as const) {
        const w = randomF32(n * k, n + k);
        const a = e.kernels.pack(e.matrix(n, k, w));
        const b = e.kernels.packFrom(w, n, k);
        expect(b.data.length).toBe(a.data.length);
        expect(maxAbsDiff(a.data.view(), b.data.view())).toBe(0);
      }
    });

    test('M = 0 writes nothing: the sentinels around an empty output stay', async () => {
      const e = await engineFor(backend);
      const f32 = e.kernels.pack(e.matrix(8, 32, randomF32(8 * 32, 1)));
      const q8 = e.kernels.q8Matrix(encodeQ8_0(randomF32(8 * 32, 2)), 8, 32);
      for (const w of [f32, q8]) {
        // c is an empty window with a full output row of sentinels on each side, a an empty window into real data
        const around = e.upload(new Float32Array(16).fill(-7));
        const a = e.upload(randomF32(32, 3)).sub(16, 0);
        e.kernels.gemm(a, w, around.sub(8, 0), 0);
        expect(Array.from(around.view()), w.type).toEqual(new Array(16).fill(-7));
      }
    });
  });

  describe('gemv', () => {
    const shapes: [number, number][] = [];
    for (const s of SIZES) shapes.push([s, 37], [11, s]);
    shapes.push([1000, 1000], [65, 127]);

    test.each(shapes)('N=%i K=%i, row-major and packed, matches float64 within (K+2)·U·Σ|w·x|', async (n, k) => {
      const e = await engineFor(backend);
      const w = randomF32(n * k, n + 5 * k);
      const x = randomF32(k, k + 1);
      const bias = randomF32(n, n + 2);
      for (const shift of SHIFTS) {
        const b = shift === 1 ? bias : null;
        const y = placed(e, new Float32Array(n), shift);
        const wm = e.matrix(n, k, w);
        e.kernels.gemv(wm, placed(e, x, shift), y, b ? placed(e, b, shift) : undefined);
        const want = ref.gemm(x, w, b, 1, n, k);
        const mag = ref.gemmMagnitude(x, w, b, 1, n, k);
        expectClose(y.view(), want, (i) => (k + 2) * U32 * mag[i]!, `gemv ${n}x${k} shift ${shift}`);
        // the same product on packed weights (the decoding path), bias packed in
        const yp = placed(e, new Float32Array(n), 3 - shift);
        e.kernels.gemv(e.kernels.pack(wm, b ? placed(e, b, shift) : undefined), placed(e, x, shift), yp);
        expectClose(yp.view(), want, (i) => (k + 2) * U32 * mag[i]!, `packed gemv ${n}x${k} shift ${shift}`);
      }
    });
  });

  describe('dense SwiGLU FFN', () => {
    // Error bound propagated through the block: gate and up are within (d+2)·U·Σ|x·w|; silu has
    // slope at most 1.1, so a = silu(g)·u moves by 1.1·δg·|u| + |silu(g)|·δu plus 8U·|a| for the
    // activation itself; the down projection adds Σ|w2|·δa and its own (h+2)·U·Σ|w2·a|.
    test.each([
      [1, 9, 31],
      [1, 64, 172],
      [3, 64, 172],
      [5, 65, 127],
      [64, 8, 1000],
      [7, 127, 63],
    ])('tokens=%i dim=%i hidden=%i', async (t, d, h) => {
      const e = await engineFor(backend);
      const x = randomF32(t * d, t + d + h, -2, 2);
      const w1 = randomF32(h * d, 1 + h);
      const w3 = randomF32(h * d, 2 + h);
      const w2 = randomF32(d * h, 3 + h);
      const ffn = e.kernels.denseFfn(e.matrix(h, d, w1), e.matrix(h, d, w3), e.matrix(d, h, w2));
      const y = placed(e, new Float32Array(t * d), 1);
      e.kernels.ffn(ffn, placed(e, x, 3), y, t);

      const g = ref.gemm(x, w1, null, t, h, d);
      const u = ref.gemm(x, w3, null, t, h, d);
      const gm = ref.gemmMagnitude(x, w1, null, t, h, d);
      const um = ref.gemmMagnitude(x, w3, null, t, h, d);
      const a = ref.swiglu(g, u);
      const da = a.map((ai, j) => {
        const dg = (d + 2) * U32 * gm[j]!;
        const du = (d + 2) * U32 * um[j]!;
        return 1.1 * dg * (Math.abs(u[j]!) + du) + Math.abs(ref.silu(g[j]!)) * du + 8 * U32 * Math.abs(ai);
      });
      const want = ref.gemm(a, w2, null, t, d, h);
      const mag = ref.gemmMagnitude(a, w2, null, t, d, h);
      const prop = ref.gemm(da, Array.from(w2, Math.abs), null, t, d, h);
      expectClose(y.view(), want, (i) => (h + 2) * U32 * mag[i]! + prop[i]!, `ffn t=${t} d=${d} h=${h}`);
    });
  });

  describe('elementwise', () => {
    test.each(SIZES)('n=%i: add, scale, axpy within 2U relative', async (n) => {
      const e = await engineFor(backend);
      const a = randomF32(n, n, -4, 4);
      const b = randomF32(n, n + 1, -4, 4);
      for (const shift of SHIFTS) {
        const y = placed(e, new Float32Array(n), shift);
        e.kernels.add(placed(e, a, shift), placed(e, b, (shift + 1) % 4), y);
        expectClose(y.view(), a.map((v, i) => v + b[i]!), (i) => U32 * Math.abs(a[i]! + b[i]!), `add n=${n}`);
        e.kernels.scale(placed(e, a, shift), 0.37, y);
        expectClose(y.view(), Array.from(a, (v) => v * 0.37), (i) => 2 * U32 * Math.abs(a[i]! * 0.37), `scale n=${n}`);
        // axpy: one rounding for the product (none with fused multiply-add) and one for the sum
        const yy = placed(e, b, shift);
        e.kernels.axpy(-1.5, placed(e, a, 2), yy);
        expectClose(yy.view(), b.map((v, i) => v - 1.5 * a[i]!), (i) => 2 * U32 * (Math.abs(b[i]!) + Math.abs(1.5 * a[i]!)), `axpy n=${n}`);
      }
    });

    test.each(SIZES)('n=%i: in place (y = x) is allowed', async (n) => {
      const e = await engineFor(backend);
      const a = randomF32(n, n + 3, -4, 4);
      const x = e.upload(a);
      e.kernels.scale(x, 2, x);
      expectClose(x.view(), Array.from(a, (v) => 2 * v), () => 0, `scale in place n=${n}`);
    });

    // silu(g)·u: exp within 2 ulp (4U) gives sigmoid within 6U, plus two products: 8U relative.
    test.each(SIZES)('n=%i: SwiGLU within 8U relative', async (n) => {
      const e = await engineFor(backend);
      const g = randomF32(n, n + 10, -20, 20);
      const u = randomF32(n, n + 11, -3, 3);
      for (const shift of SHIFTS) {
        const y = placed(e, new Float32Array(n), shift);
        e.kernels.swiglu(placed(e, g, shift), placed(e, u, 3 - shift), y);
        const want = ref.swiglu(g, u);
        expectClose(y.view(), want, (i) => 8 * U32 * Math.abs(want[i]!) + 1e-38, `swiglu n=${n} shift ${shift}`);
      }
    });

    // Below g = -88.3 the sigmoid flushes to 0 (true value < e^-88.3 < 5e-39): |g|·5e-39 more.
    test('SwiGLU at the exp limits: no NaN, no overflow, 0 where the sigmoid underflows', async () => {
      const e = await engineFor(backend);
      const g = [-1000, -100, -88.5, -87.5, -50, -1e-30, 0, 1e-30, 50, 87.5, 88.5, 100, 1000];
      const y = e.alloc(g.length);
      e.kernels.swiglu(e.upload(g), e.upload(g.map(() => 1)), y);
      expectClose(y.view(), g.map(ref.silu), (i) => 8 * U32 * Math.abs(ref.silu(g[i]!)) + Math.abs(g[i]!) * 5e-39, 'swiglu extremes');
    });

    // GELU(x) = x/2·(1 + erf(x/√2)): the erf approximation is within 10U absolute (measured
    // 8.2U at x = 5.56, near its clamp), plus 2U for the products: 12U·|x|/2.
    test.each(SIZES)('n=%i: GELU (erf) within 12U·|x|/2', async (n) => {
      const e = await engineFor(backend);
      const x = randomF32(n, n + 20, -7, 7);
      for (const shift of SHIFTS) {
        const y = placed(e, new Float32Array(n), shift);
        e.kernels.gelu(placed(e, x, shift), y);
        expectClose(y.view(), Array.from(x, ref.gelu), (i) => 6 * U32 * Math.abs(x[i]!) + 1e-38, `gelu n=${n}`);
      }
    });

    // tanh via exp: 2/(e^2|z| + 1) within 6U relative, so tanh within 8U absolute: 8U·|x|/2.
    test.each(SIZES)('n=%i: GELU (tanh) within 8U·|x|/2', async (n) => {
      const e = await engineFor(backend);
      const x = randomF32(n, n + 21, -7, 7);
      for (const shift of SHIFTS) {
        const y = placed(e, new Float32Array(n), shift);
        e.kernels.gelu(placed(e, x, shift), y, 'tanh');
        expectClose(y.view(), Array.from(x, ref.geluTanh), (i) => 4 * U32 * Math.abs(x[i]!) + 1e-38, `gelu_tanh n=${n}`);
      }
    });

    test.each([2, 8, 10, 64, 126, 128])('headDim=%i: RoPE, both layouts, within 4U·(|a|+|b|)', async (d) => {
      const e = await engineFor(backend);
      for (const heads of [1, 3]) {
        for (const layout of ['interleaved', 'half'] as const) {
          const x = randomF32(heads * d, d + heads, -3, 3);
          const table = ropeCosSin(37, d);
          const buf = placed(e, x, heads);
          e.kernels.rope(buf, heads, d, placed(e, table, 2), layout);
          const want = ref.rope(x, heads, d, table, layout);
          // each output is a·c ± b·s: two products and a sum, each rounding once, on |a| + |b|
          const pair = (i: number) => {
            const j = i % d;
            const h = i - j;
            const k = layout === 'half' ? j % (d / 2) : j - (j % 2);
            const o = layout === 'half' ? d / 2 : 1;
            return Math.abs(x[h + k]!) + Math.abs(x[h + k + o]!);
          };
          expectClose(buf.view(), want, (i) => 4 * U32 * pair(i), `rope ${layout} heads=${heads} d=${d}`);
        }
      }
    });
  });

  describe('row-wise', () => {
    // RMSNorm: the mean of squares is a sum of n terms, (n+2)·U relative; the square root halves
    // that; scaling by s and w adds 3U.
    test.each(SIZES)('n=%i: RMSNorm within ((n+2)/2 + 4)·U relative', async (n) => {
      const e = await engineFor(backend);
      for (const rows of [1, 3]) {
        const x = randomF32(rows * n, n + rows, -3, 3);
        const w = randomF32(n, n + 1, 0.5, 1.5);
        const y = placed(e, new Float32Array(rows * n), 1);
        e.kernels.rmsnorm(placed(e, x, 2), placed(e, w, 3), y, rows, 1e-5);
        const want = ref.rmsnorm(x, w, rows, 1e-5);
        expectClose(y.view(), want, (i) => ((n + 2) / 2 + 4) * U32 * Math.abs(want[i]!) + 1e-30, `rmsnorm rows=${rows} n=${n}`);
      }
    });

    // LayerNorm: mean and variance are sums of n terms; an error of (n+2)·U relative in them moves
    // x̂ by (n+2)·U·(|x̂| + 1) (the mean's error is relative to the spread once divided by std).
    test.each(SIZES)('n=%i: LayerNorm within 2(n+4)·U·(|γ|(|x̂|+1) + |β|)', async (n) => {
      const e = await engineFor(backend);
      for (const rows of [1, 3]) {
        const x = randomF32(rows * n, n + rows + 50, 2, 6);
        const gamma = randomF32(n, n + 51, 0.5, 1.5);
        const beta = randomF32(n, n + 52, -1, 1);
        for (const affine of [false, true]) {
          const y = placed(e, new Float32Array(rows * n), 3);
          const g = affine ? placed(e, gamma, 1) : null;
          const b = affine ? placed(e, beta, 2) : null;
          e.kernels.layernorm(placed(e, x, 1), g, b, y, rows, 1e-5);
          const { y: want, xhat } = ref.layernorm(x, affine ? gamma : null, affine ? beta : null, rows, n, 1e-5);
          const tol = (i: number) => {
            const gi = affine ? Math.abs(gamma[i % n]!) : 1;
            const bi = affine ? Math.abs(beta[i % n]!) : 0;
            return 2 * (n + 4) * U32 * (gi * (Math.abs(xhat[i]!) + 1) + bi);
          };
          expectClose(y.view(), want, tol, `layernorm rows=${rows} n=${n} affine=${affine}`);
        }
      }
    });

    // Softmax: x - max rounds by U·|x - max|, which exp turns into that relative error; each exp
    // within 2 ulp (4U); the sum of n of them within (n+2)·U; the final product 1U.
    test.each(SIZES)('n=%i: softmax within (n+8+|x-max|)·U relative, rows sum to 1', async (n) => {
      const e = await engineFor(backend);
      for (const rows of [1, 3]) {
        const x = randomF32(rows * n, n + rows + 70, -30, 30);
        const y = placed(e, new Float32Array(rows * n), 2);
        e.kernels.softmax(placed(e, x, 1), y, rows);
        const want = ref.softmax(x, rows, n);
        const rowMax = (i: number) => Math.max(...x.subarray(i - (i % n), i - (i % n) + n));
        const tol = (i: number) => (n + 8 + (rowMax(i) - x[i]!)) * U32 * want[i]! + 1e-38;
        expectClose(y.view(), want, tol, `softmax rows=${rows} n=${n}`);
        const got = y.view();
        for (let r = 0; r < rows; r++) {
          let s = 0;
          for (let i = 0; i < n; i++) s += got[r * n + i]!;
          expect(Math.abs(s - 1)).toBeLessThanOrEqual((2 * n + 8) * U32);
        }
      }
    });

    test('softmax of huge logits does not overflow', async () => {
      const e = await engineFor(backend);
      const y = e.alloc(5);
      e.kernels.softmax(e.upload([1e30, 1e30, -Infinity, 0, 3e38]), y);
      expect(Array.from(y.view())).toEqual([0, 0, 0, 0, 1]);
    });
  });

  describe('attention', () => {
    // Each output is a convex combination of v values: softmax weights within (n+8+|Δ|)·U relative
    // (as softmax below, Δ the score spread), scores within (d+2)·U·Σ|qk|/√d, and the weighted sum
    // of n terms within (n+2)·U·Σ p|v|. We bound the lot by (n + d + 16 + spread)·U·max|v| plus the
    // score error turned into weight error (a score moved by δ moves the output by up to 2δ·max|v|).
    test.each([
      [1, 0, 8, 4, 8],
      [1, 37, 8, 4, 8],
      [5, 0, 4, 4, 64],
      [3, 60, 6, 2, 9],
      [7, 3, 12, 12, 31],
    ])('tokens=%i pos0=%i heads=%i kvHeads=%i headDim=%i', async (t, p0, heads, kvHeads, d) => {
      const e = await engineFor(backend);
      const n = p0 + t;
      const q = randomF32(t * heads * d, t + p0 + d, -2, 2);
      const k = randomF32(n * kvHeads * d, n + d, -2, 2);
      const v = randomF32(n * kvHeads * d, n + d + 1, -2, 2);
      const out = placed(e, new Float32Array(t * heads * d), 1);
      e.kernels.attention(placed(e, q, 2), placed(e, k, 3), placed(e, v, 1), out, { tokens: t, pos0: p0, heads, kvHeads, headDim: d });
      const want = ref.attention(q, k, v, t, p0, heads, kvHeads, d);
      const maxV = 2;
      const scoreErr = (d + 2) * U32 * (d * 4) / Math.sqrt(d); // Σ|qk| <= d·2·2
      const spread = 2 * (d * 4) / Math.sqrt(d);
      const tol = (n + d + 16 + spread) * U32 * maxV + 2 * scoreErr * maxV;
      expectClose(out.view(), want, () => tol, `attention t=${t} p0=${p0}`);
    });
  });

  describe('reductions', () => {
    test.each(SIZES)('n=%i: dot within (n+2)·U·Σ|ab|, cosine within (n+6)·U', async (n) => {
      const e = await engineFor(backend);
      const a = randomF32(n, n + 30);
      const b = randomF32(n, n + 31);
      for (const shift of SHIFTS) {
        const pa = placed(e, a, shift);
        const pb = placed(e, b, (shift + 2) % 4);
        const mag = ref.dot(Array.from(a, Math.abs), Array.from(b, Math.abs));
        expect(Math.abs(e.kernels.dot(pa, pb) - ref.dot(a, b))).toBeLessThanOrEqual((n + 2) * U32 * mag);
        // cosine: three sums of n terms, two square roots and a division
        expect(Math.abs(e.kernels.cosine(pa, pb) - ref.cosine(a, b))).toBeLessThanOrEqual((n + 6) * U32 * 2);
        expect(Math.abs(e.kernels.cosine(pa, pa) - 1)).toBeLessThanOrEqual((n + 6) * U32 * 2);
      }
    });

    test('cosine of a zero vector is 0, not NaN', async () => {
      const e = await engineFor(backend);
      expect(e.kernels.cosine(e.alloc(9), e.upload(randomF32(9, 1)))).toBe(0);
    });

    test.each(SIZES)('n=%i: argmax finds the first largest, at every position', async (n) => {
      const e = await engineFor(backend);
      const x = randomF32(n, n + 40);
      const buf = e.upload(x);
      expect(e.kernels.argmax(buf)).toBe(ref.argmax(x));
      for (const at of new Set([0, 1, n >> 1, n - 2, n - 1].filter((i) => i >= 0 && i < n))) {
        const y = Float32Array.from(x);
        y[at] = 5;
        if (at + 1 < n) y[n - 1] = 5; // a later tie must not win
        buf.set(y);
        expect(e.kernels.argmax(buf)).toBe(at);
      }
    });

    test('argmax skips NaN', async () => {
      const e = await engineFor(backend);
      expect(e.kernels.argmax(e.upload([NaN, 1, NaN, 3, 2, NaN, 0, 0, 0]))).toBe(3);
    });
  });
});

test('ropeCosSin follows llama2.c: float32 angle, within (|angle|·2 + 2)·U of float64', () => {
  for (const d of [2, 8, 64, 128]) {
    for (const pos of [0, 1, 37, 511]) {
      const t = ropeCosSin(pos, d);
      for (let i = 0; i < d / 2; i++) {
        const angle = ref.ropeAngle(pos, i, d, 10000);
        const tol = (Math.abs(angle) * 2 + 2) * U32;
        expect(Math.abs(t[i]! - Math.cos(angle))).toBeLessThanOrEqual(tol);
        expect(Math.abs(t[d / 2 + i]! - Math.sin(angle))).toBeLessThanOrEqual(tol);
      }
    }
  }
});
