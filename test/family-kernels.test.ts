// The kernels the model families added, on every build, against the float64 references in
// test/ref/ (which do not import the code under test): Gemma's scaled, soft-capped, sliding-window
// attention, GeGLU, logit soft-capping and Qwen2's row biases. U = 2^-24; tolerances as in
// kernels.test.ts.

import { beforeEach, describe, expect, test } from 'vitest';
import { ropeCosSin } from '../src/entries/node/kernels.js';
import { BACKENDS, U32, engineFor, expectClose, placed } from './helpers.js';
import { randomF32 } from '../testing/random.js';
import * as ref from './ref/kernels.js';

describe.each(BACKENDS)('%s build', (backend) => {
  beforeEach(async () => (await engineFor(backend)).arena.reset());

  // As attention in kernels.test.ts; the soft-cap's slope is at most 1, so it moves no score more
  // than the score's own error, and a window only takes keys away.
  test.each([
    [1, 10, 8, 4, 8, { window: 4 }],
    [1, 37, 8, 4, 8, { window: 8, softcap: 5 }],
    [5, 0, 4, 4, 64, { scale: 0.3, softcap: 3 }],
    [3, 60, 6, 2, 9, { window: 1 }],
    [7, 3, 12, 12, 31, { window: 5, softcap: 50, scale: 0.1 }],
    [16, 0, 4, 2, 64, { window: 8, softcap: 2 }],
  ] as const)('tokens=%i pos0=%i heads=%i kvHeads=%i headDim=%i %o', async (t, p0, heads, kvHeads, d, options) => {
    const e = await engineFor(backend);
    const n = p0 + t;
    const q = randomF32(t * heads * d, t + p0 + d + 5, -2, 2);
    const k = randomF32(n * kvHeads * d, n + d + 5, -2, 2);
    const v = randomF32(n * kvHeads * d, n + d + 6, -2, 2);
    const out = placed(e, new Float32Array(t * heads * d), 1);
    e.kernels.attention(placed(e, q, 2), placed(e, k, 3), placed(e, v, 1), out, { tokens: t, pos0: p0, heads, kvHeads, headDim: d, ...options });
    const want = ref.attention(q, k, v, t, p0, heads, kvHeads, d, options);
    const scale = 'scale' in options ? options.scale : 1 / Math.sqrt(d);
    const scoreErr = (d + 2) * U32 * d * 4 * scale + 4 * U32 * d * 4 * scale; // + the tanh's own error
    const spread = 2 * d * 4 * scale;
    const tol = (n + d + 16 + spread) * U32 * 2 + 2 * scoreErr * 2;
    expectClose(out.view(), want, () => tol, `attention t=${t} p0=${p0}`);
    // the options change the result (the test would see a kernel that ignored them)
    const plain = ref.attention(q, k, v, t, p0, heads, kvHeads, d);
    expect(want.some((w, i) => Math.abs(w - plain[i]!) > 100 * tol)).toBe(true);
  });

  test('an attention window of the whole context, softcap absent and the default scale give the plain kernel\'s bits', async () => {
    const e = await engineFor(backend);
    const [t, heads, kvHeads, d] = [6, 4, 2, 16];
    const q = placed(e, randomF32(t * heads * d, 1, -2, 2), 0);
    const kv = randomF32(t * kvHeads * d, 2, -2, 2);
    const k = placed(e, kv, 0);
    const v = placed(e, randomF32(t * kvHeads * d, 3, -2, 2), 0);
    const a = e.alloc(t * heads * d);
    const b = e.alloc(t * heads * d);
    e.kernels.attention(q, k, v, a, { tokens: t, pos0: 0, heads, kvHeads, headDim: d });
    e.kernels.attention(q, k, v, b, { tokens: t, pos0: 0, heads, kvHeads, headDim: d, window: t });
    expectClose(b.view(), a.view(), () => 4 * U32, 'window = context');
  });

  test.each([1, 7, 64, 65, 1000])('n=%i: GeGLU within 4U·|g|·|u| + the product\'s U', async (n) => {
    const e = await engineFor(backend);
    const g = randomF32(n, n + 40, -7, 7);
    const u = randomF32(n, n + 41, -3, 3);
    for (const shift of [0, 1, 3]) {
      const y = placed(e, new Float32Array(n), shift);
      e.kernels.geglu(placed(e, g, shift), placed(e, u, shift), y);
      expectClose(y.view(), Array.from(g, (x, i) => ref.geluTanh(x) * u[i]!), (i) => 6 * U32 * Math.abs(g[i]! * u[i]!) + 1e-38, `geglu n=${n}`);
    }
  });

  test.each([1, 7, 513])('n=%i: soft-cap within 4U·cap, and in place', async (n) => {
    const e = await engineFor(backend);
    const x = randomF32(n, n + 50, -200, 200);
    const y = placed(e, x, 1);
    e.kernels.softcap(y, 30, y);
    expectClose(y.view(), Array.from(x, (v) => 30 * Math.tanh(v / 30)), () => 4 * U32 * 30, `softcap n=${n}`);
    expect(Math.max(...y.view().map(Math.abs))).toBeLessThanOrEqual(30);
  });

  test.each([[1, 1], [3, 7], [5, 64], [2, 130]])('rows=%i n=%i: row bias adds exactly', async (rows, n) => {
    const e = await engineFor(backend);
    const x = randomF32(rows * n, rows + n, -3, 3);
    const bias = randomF32(n, n + 2, -1, 1);
    const xb = placed(e, x, 3);
    e.kernels.addRowBias(xb, placed(e, bias, 1), rows);
    expect(Array.from(xb.view())).toEqual(Array.from(x, (v, i) => Math.fround(v + bias[i % n]!)));
  });

  test('RoPE factors divide each pair\'s angle, linear scaling multiplies it (as ggml applies them)', () => {
    const d = 64;
    const factors = Float32Array.from({ length: d / 2 }, (_, i) => 1 + (i % 5));
    for (const pos of [0, 1, 17, 255]) {
      const scaled = ropeCosSin(pos, d, 500000, { factors, scale: 0.25 });
      for (let i = 0; i < d / 2; i++) {
        // float32 steps as the unscaled table (within (|angle|·2 + 2)·U), two more roundings
        const angle = ((pos * Math.pow(500000, -(2 * i) / d)) / factors[i]!) * 0.25;
        const tol = (4 * Math.abs(angle) + 4) * U32;
        expect(Math.abs(scaled[i]! - Math.cos(angle))).toBeLessThanOrEqual(tol);
        expect(Math.abs(scaled[d / 2 + i]! - Math.sin(angle))).toBeLessThanOrEqual(tol);
      }
    }
    // scaling by 1/4 at position 4p is the plain rotation at p, bit for bit (powers of two are exact)
    expect(ropeCosSin(68, d, 10000, { scale: 0.25 })).toEqual(ropeCosSin(17, d, 10000));
  });
});
