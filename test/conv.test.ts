// Depthwise convolutions on every build against float64 references: odd channel counts, image
// sizes and every odd kernel size, stride 2, bias, fused GELU, and 1-D symmetric and causal.
// Tolerance: a sum of K² (or K) products within (taps+2)·U·Σ|terms|.

import { describe, expect, test } from 'vitest';
import { BACKENDS, U32, engineFor, expectClose, placed } from './helpers.js';
import { randomF32 } from '../testing/random.js';
import * as ref from './ref/conv.js';
import { gelu } from './ref/kernels.js';

describe.each(BACKENDS)('%s build', (backend) => {
  const cases: [number, number, number, number, 1 | 2][] = [];
  for (const c of [1, 3, 17]) for (const [h, w] of [[1, 1], [5, 5], [33, 9]] as [number, number][]) for (const k of [3, 7]) for (const s of [1, 2] as const) cases.push([c, h, w, k, s]);
  for (let k = 3; k <= 31; k += 2) cases.push([5, 12, 13, k, 1]);
  // planes at least 16 wide, even and odd heights: the planar kernel's two-row blocks of 16 and 8
  // columns, the recomputed last block, and the single last row
  for (const [h, w] of [[6, 40], [5, 17], [3, 23], [2, 56]] as [number, number][]) for (const k of [3, 7]) for (const s of [1, 2] as const) cases.push([3, h, w, k, s]);

  test.each(cases)('conv2d NHWC C=%i H=%i W=%i K=%i stride=%i', async (c, h, w, k, s) => {
    const e = await engineFor(backend);
    const x = randomF32(h * w * c, h + w + c + k, -2, 2);
    const wt = randomF32(k * k * c, k + c, -1, 1);
    const bias = randomF32(c, c + 5);
    const ho = Math.ceil(h / s);
    const wo = Math.ceil(w / s);
    const y = placed(e, new Float32Array(ho * wo * c), 1);
    e.kernels.depthwiseConv2d(placed(e, x, 2), { h, w, c }, placed(e, wt, 3), k, y, { bias: placed(e, bias, 1), stride: s, layout: 'nhwc' });
    const want = ref.depthwiseConv2d(x, h, w, c, wt, k, bias, s);
    const mag = ref.depthwiseConv2d(Array.from(x, Math.abs), h, w, c, Array.from(wt, Math.abs), k, Array.from(bias, Math.abs), s);
    expectClose(y.view(), want, (i) => (k * k + 2) * U32 * mag[i]!, `conv2d ${c}x${h}x${w} k${k} s${s}`);
  });

  test.each(cases)('conv2d NCHW C=%i H=%i W=%i K=%i stride=%i', async (c, h, w, k, s) => {
    const e = await engineFor(backend);
    const x = randomF32(h * w * c, h + w + c + k + 1, -2, 2); // NHWC, for the reference
    const wt = randomF32(k * k * c, k + c + 1, -1, 1); // K x K x C
    const bias = randomF32(c, c + 6);
    const ho = Math.ceil(h / s);
    const wo = Math.ceil(w / s);
    const toPlanar = (a: Float32Array, n: number) => Float32Array.from({ length: a.length }, (_, i) => a[(i % n) * c + Math.floor(i / n)]!);
    const y = placed(e, new Float32Array(ho * wo * c), 3);
    e.kernels.depthwiseConv2d(placed(e, toPlanar(x, h * w), 1), { h, w, c }, placed(e, toPlanar(wt, k * k), 2), k, y, { bias: e.upload(bias), stride: s });
    const want = ref.depthwiseConv2d(x, h, w, c, wt, k, bias, s);
    const mag = ref.depthwiseConv2d(Array.from(x, Math.abs), h, w, c, Array.from(wt, Math.abs), k, Array.from(bias, Math.abs), s);
    // the kernel's output is planar: element (ch, p) against the reference's (p, ch)
    const n = ho * wo;
    const wantPlanar = Float64Array.from({ length: want.length }, (_, i) => want[(i % n) * c + Math.floor(i / n)]!);
    const magPlanar = Float64Array.from({ length: mag.length }, (_, i) => mag[(i % n) * c + Math.floor(i / n)]!);
    expectClose(y.view(), wantPlanar, (i) => (k * k + 2) * U32 * magPlanar[i]!, `conv2d nchw ${c}x${h}x${w} k${k} s${s}`);
  });

  test.each([[9, 11, 'nhwc'], [9, 11, 'nchw'], [5, 21, 'nchw']] as const)('fused GELU equals GELU of the convolution, %ix%i %s', async (h, w, layout) => {
    const e = await engineFor(backend);
    const [c, k] = [6, 5];
    const x = randomF32(h * w * c, 1, -2, 2);
    const wt = randomF32(k * k * c, 2, -1, 1);
    const pre = ref.depthwiseConv2d(x, h, w, c, wt, k, null, 1);
    const mag = ref.depthwiseConv2d(Array.from(x, Math.abs), h, w, c, Array.from(wt, Math.abs), k, null, 1);
    const y = e.alloc(h * w * c);
    const order = (a: ArrayLike<number>, n: number) => (layout === 'nhwc' ? Float64Array.from(a) : Float64Array.from({ length: a.length }, (_, i) => a[(i % n) * c + Math.floor(i / n)]!));
    e.kernels.depthwiseConv2d(e.upload(Float32Array.from(order(x, h * w))), { h, w, c }, e.upload(Float32Array.from(order(wt, k * k))), k, y, { gelu: true, layout });
    const want = order(Array.from(pre, gelu), h * w);
    const preO = order(pre, h * w);
    const magO = order(mag, h * w);
    // the conv error (slope of GELU at most 1.13) plus GELU's own 12U·|v|/2
    expectClose(y.view(), want, (i) => 1.13 * (k * k + 2) * U32 * magO[i]! + 6 * U32 * Math.abs(preO[i]!) + 1e-30, `conv2d+gelu ${layout}`);
  });

  test.each([[1, 1, 3, false], [20, 3, 7, false], [50, 17, 51, false], [33, 5, 4, true], [64, 9, 51, true]] as const)('conv1d L=%i C=%i K=%i causal=%s, both layouts', async (l, c, k, causal) => {
    const e = await engineFor(backend);
    const x = randomF32(l * c, l + c, -2, 2); // channels-last, as the reference takes it
    const wt = randomF32(k * c, k, -1, 1);
    const bias = randomF32(c, 3);
    const want = ref.depthwiseConv1d(x, l, c, wt, k, bias, causal);
    const mag = ref.depthwiseConv1d(Array.from(x, Math.abs), l, c, Array.from(wt, Math.abs), k, Array.from(bias, Math.abs), causal);
    const tol = (i: number) => (k + 2) * U32 * mag[i]!;
    const planar = (a: ArrayLike<number>, n: number) => Float64Array.from({ length: a.length }, (_, i) => a[(i % n) * c + Math.floor(i / n)]!);
    // channels-last
    const y = placed(e, new Float32Array(l * c), 3);
    e.kernels.depthwiseConv1d(placed(e, x, 1), { length: l, c }, placed(e, wt, 2), k, y, { bias: e.upload(bias), causal, layout: 'channels-last' });
    expectClose(y.view(), want, tol, `conv1d channels-last L${l} C${c} k${k}`);
    // planar
    const yp = placed(e, new Float32Array(l * c), 2);
    e.kernels.depthwiseConv1d(placed(e, planar(x, l), 3), { length: l, c }, placed(e, planar(wt, k), 1), k, yp, { bias: e.upload(bias), causal });
    expectClose(yp.view(), planar(want, l), (i) => tol((i % l) * c + Math.floor(i / l)), `conv1d planar L${l} C${c} k${k}`);
    if (causal) {
      // changing the last input changes only the last output
      const x2 = Float32Array.from(x);
      for (let ch = 0; ch < c; ch++) x2[(l - 1) * c + ch] = 7;
      const y2 = e.alloc(l * c);
      e.kernels.depthwiseConv1d(e.upload(x2), { length: l, c }, e.upload(wt), k, y2, { bias: e.upload(bias), causal, layout: 'channels-last' });
      expect(Array.from(y2.view().subarray(0, (l - 1) * c))).toEqual(Array.from(y.view().subarray(0, (l - 1) * c)));
    }
  });
});

test('bad convolution arguments are named', async () => {
  const e = await engineFor('simd');
  const x = e.alloc(4 * 4 * 2);
  expect(() => e.kernels.depthwiseConv2d(x, { h: 4, w: 4, c: 2 }, e.alloc(32), 4, e.alloc(32))).toThrow(/k: expected an odd kernel size in 3..31, found 4/);
  expect(() => e.kernels.depthwiseConv2d(x, { h: 4, w: 4, c: 2 }, e.alloc(18), 3, e.alloc(32), { stride: 3 as never })).toThrow(/stride: expected 1 or 2/);
  expect(() => e.kernels.depthwiseConv2d(x, { h: 4, w: 4, c: 2 }, e.alloc(18), 3, e.alloc(9), { stride: 2 })).toThrow(/^y: expected 8 floats, found 9/);
  expect(() => e.kernels.depthwiseConv2d(x, { h: 4, w: 4, c: 3 }, e.alloc(27), 3, e.alloc(48))).toThrow(/^x: expected 48 floats, found 32/);
  expect(() => e.kernels.depthwiseConv1d(e.alloc(10), { length: 5, c: 2 }, e.alloc(8), 4, e.alloc(10))).toThrow(/symmetric padding needs an odd kernel size/);
  expect(() => e.kernels.depthwiseConv1d(e.alloc(10), { length: 5, c: 2 }, e.alloc(106), 53, e.alloc(10), { causal: true })).toThrow(/k: expected a kernel size in 1..51/);
});
