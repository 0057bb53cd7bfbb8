// The planar kernels around FFNet's depthwise convolutions, on every build, against the float64
// definition of PyTorch's Conv2d (test/ref/conv.ts): the grouped convolution with two outputs
// per channel, pointwise (1x1) convolution as a GEMM, full k x k convolution by im2col, and the
// per-channel affine map and mean. Tolerance: a sum of n products within (n+2)·U·Σ|terms|.

import { describe, expect, test } from 'vitest';
import { BACKENDS, U32, engineFor, expectClose, placed } from './helpers.js';
import { randomF32 } from '../testing/random.js';
import { conv2dNchw } from './ref/conv.js';
import { gelu } from './ref/kernels.js';

const abs = (a: ArrayLike<number>) => Array.from(a, Math.abs);

describe.each(BACKENDS)('%s build', (backend) => {
  test.each([[1, 5, 5, 7, 2], [3, 33, 9, 7, 2], [17, 5, 33, 3, 1], [4, 8, 8, 31, 2]] as const)('grouped conv, 2 outputs per channel: C=%i H=%i W=%i K=%i stride=%i', async (c, h, w, k, s) => {
    const e = await engineFor(backend);
    const x = randomF32(c * h * w, c + h, -2, 2);
    const wt = randomF32(2 * c * k * k, k, -1, 1);
    const bias = randomF32(2 * c, 9);
    const { y: want, ho, wo } = conv2dNchw(x, c, h, w, wt, 2 * c, k, c, s, (k - 1) / 2, bias);
    const mag = conv2dNchw(abs(x), c, h, w, abs(wt), 2 * c, k, c, s, (k - 1) / 2, abs(bias)).y;
    const y = placed(e, new Float32Array(2 * c * ho * wo), 1);
    e.kernels.depthwiseConv2d(placed(e, x, 3), { h, w, c }, placed(e, wt, 2), k, y, { bias: e.upload(bias), stride: s, multiplier: 2 });
    expectClose(y.view(), want, (i) => (k * k + 2) * U32 * mag[i]!, `grouped ${c}x${h}x${w} k${k}`);
  });

  // pixel counts on both sides of the 8-pixel tile and the L2 block; output channels on both
  // sides of the 4-channel tile
  test.each([[1, 1, 1], [3, 17, 5], [8, 12, 64], [80, 240, 4096], [17, 5, 1001], [960, 320, 64]] as const)('pointwise conv Cin=%i Cout=%i P=%i, with and without GELU', async (cin, cout, p) => {
    const e = await engineFor(backend);
    const x = randomF32(cin * p, cin + p, -2, 2);
    const wt = randomF32(cout * cin, cout, -1, 1);
    const bias = randomF32(cout, 4);
    const { y: want } = conv2dNchw(x, cin, 1, p, wt, cout, 1, 1, 1, 0, bias);
    const mag = conv2dNchw(abs(x), cin, 1, p, abs(wt), cout, 1, 1, 1, 0, abs(bias)).y;
    const xb = placed(e, x, 1);
    const y = placed(e, new Float32Array(cout * p), 3);
    e.kernels.pointwiseConv(xb, { c: cin, pixels: p }, placed(e, wt, 2), cout, y, { bias: e.upload(bias) });
    expectClose(y.view(), want, (i) => (cin + 2) * U32 * mag[i]!, `pointwise ${cin}->${cout} p${p}`);
    e.kernels.pointwiseConv(xb, { c: cin, pixels: p }, placed(e, wt, 2), cout, y, { bias: e.upload(bias), gelu: true });
    expectClose(y.view(), Array.from(want, gelu), (i) => 1.13 * (cin + 2) * U32 * mag[i]! + 6 * U32 * Math.abs(want[i]!) + 1e-30, `pointwise+gelu ${cin}->${cout}`);
  });

  // grouped 1x1 against PyTorch's grouped conv (contiguous groups) on the same channels, placed
  // where the layout says: group q's input i at plane q * ig + i * ic of x (planes no group reads
  // hold noise), its output o at plane q * og + o * oc of y
  test.each([
    [3, 5, 7, 33, 5, 1, 7, 1, 15],
    [1, 17, 9, 1001, 17, 1, 9, 1, 17],
    [4, 1, 2, 9, 1, 1, 2, 1, 4],
    [5, 3, 6, 13, 1, 5, 1, 5, 15], // the time-series token mixer's #1: across variables, (j, d) out
    [4, 6, 3, 48, 6, 1, 1, 4, 24], // its channel mixer's #2: contiguous in, strided out
    [3, 3, 4, 20, 2, 7, 4, 1, 20], // overlapping input groups over 20 planes
  ] as const)('grouped pointwise conv groups=%i cin=%i cout=%i P=%i in (%i, %i) out (%i, %i), %i input planes', async (groups, cin, cout, p, ig, ic, og, oc, planes) => {
    const e = await engineFor(backend);
    const xLogical = randomF32(groups * cin * p, groups + p, -2, 2);
    const wt = randomF32(groups * cout * cin, cout, -1, 1);
    const bias = randomF32(groups * cout, 5);
    const { y: want } = conv2dNchw(xLogical, groups * cin, 1, p, wt, groups * cout, 1, groups, 1, 0, bias);
    const mag = conv2dNchw(abs(xLogical), groups * cin, 1, p, abs(wt), groups * cout, 1, groups, 1, 0, abs(bias)).y;
    const x = randomF32(planes * p, 77, -9, 9);
    for (let q = 0; q < groups; q++) for (let i = 0; i < cin; i++) x.set(xLogical.subarray((q * cin + i) * p, (q * cin + i + 1) * p), (q * ig + i * ic) * p);
    const y = placed(e, new Float32Array(groups * cout * p), 2);
    const layout = { groups, cin, cout, input: { group: ig, channel: ic }, output: { group: og, channel: oc } };
    for (const withGelu of [false, true]) {
      e.kernels.groupedPointwiseConv(placed(e, x, 1), { c: planes, pixels: p }, placed(e, wt, 3), layout, y, { bias: e.upload(bias), gelu: withGelu });
      const got = y.view();
      for (let q = 0; q < groups; q++) {
        for (let o = 0; o < cout; o++) {
          const row = q * cout + o;
          const plane = q * og + o * oc;
          const w0 = want.slice(row * p, (row + 1) * p);
          expectClose(got.subarray(plane * p, (plane + 1) * p), withGelu ? Array.from(w0, gelu) : w0, (i) => 1.13 * (cin + 2) * U32 * mag[row * p + i]! + (withGelu ? 6 * U32 * Math.abs(w0[i]!) : 0) + 1e-30, `grouped ${q}/${o}${withGelu ? ' gelu' : ''}`);
        }
      }
    }
  });

  test.each([[3, 64, 33, 31, 3, 2, 1], [64, 80, 16, 16, 3, 2, 1], [2, 3, 5, 5, 3, 1, 1], [3, 4, 1, 1, 3, 2, 1], [5, 6, 9, 7, 5, 1, 0]] as const)('full conv Cin=%i Cout=%i H=%i W=%i K=%i stride=%i pad=%i (im2col)', async (cin, cout, h, w, k, s, pad) => {
    const e = await engineFor(backend);
    const x = randomF32(cin * h * w, h * w, -2, 2);
    const wt = randomF32(cout * cin * k * k, cout, -1, 1);
    const bias = randomF32(cout, 2);
    const { y: want, ho, wo } = conv2dNchw(x, cin, h, w, wt, cout, k, 1, s, pad, bias);
    const mag = conv2dNchw(abs(x), cin, h, w, abs(wt), cout, k, 1, s, pad, abs(bias)).y;
    const y = placed(e, new Float32Array(cout * ho * wo), 2);
    e.kernels.conv2d(placed(e, x, 1), { h, w, c: cin }, placed(e, wt, 3), k, cout, y, { bias: e.upload(bias), stride: s, pad });
    expectClose(y.view(), want, (i) => (cin * k * k + 2) * U32 * mag[i]!, `conv ${cin}->${cout} ${h}x${w} k${k} s${s}`);
  });

  test('channel affine and channel mean', async () => {
    const e = await engineFor(backend);
    const [c, p] = [5, 37];
    const x = randomF32(c * p, 8, -3, 3);
    const scale = randomF32(c, 9);
    const shift = randomF32(c, 10);
    const y = placed(e, new Float32Array(c * p), 1);
    const xb = placed(e, x, 2);
    e.kernels.channelAffine(xb, { c, pixels: p }, e.upload(scale), e.upload(shift), y);
    expectClose(y.view(), Array.from(x, (v, i) => v * scale[Math.floor(i / p)]! + shift[Math.floor(i / p)]!), (i) => 2 * U32 * (Math.abs(x[i]! * scale[Math.floor(i / p)]!) + Math.abs(shift[Math.floor(i / p)]!)), 'affine');
    e.kernels.channelAffine(xb, { c, pixels: p }, e.upload(scale), null, xb); // in place, no shift
    expectClose(xb.view(), Array.from(x, (v, i) => v * scale[Math.floor(i / p)]!), (i) => U32 * Math.abs(x[i]! * scale[Math.floor(i / p)]!), 'scale in place');
    const m = e.alloc(c);
    e.kernels.channelMean(e.upload(x), { c, pixels: p }, m);
    const want = Array.from({ length: c }, (_, ch) => x.subarray(ch * p, ch * p + p).reduce((a, b) => a + b, 0) / p);
    expectClose(m.view(), want, (ch) => (p + 2) * U32 * abs(x.subarray(ch * p, ch * p + p)).reduce((a, b) => a + b, 0) / p, 'mean');
  });
});

test('bad planar-kernel arguments are named', async () => {
  const e = await engineFor('simd');
  expect(() => e.kernels.pointwiseConv(e.alloc(12), { c: 3, pixels: 4 }, e.alloc(5), 2, e.alloc(8))).toThrow(/^weights: expected 6 floats, found 5/);
  expect(() => e.kernels.conv2d(e.alloc(12), { h: 2, w: 2, c: 3 }, e.alloc(54), 3, 2, e.alloc(8), { pad: 0 })).toThrow(/smaller than the 3x3 kernel/);
  expect(() => e.kernels.depthwiseConv2d(e.alloc(16), { h: 4, w: 4, c: 1 }, e.alloc(18), 3, e.alloc(32), { multiplier: 3 as never })).toThrow(/multiplier: expected 1 or 2/);
  expect(() => e.kernels.depthwiseConv2d(e.alloc(16), { h: 4, w: 4, c: 1 }, e.alloc(18), 3, e.alloc(32), { multiplier: 2, layout: 'nhwc' })).toThrow(/multiplier: 2 needs layout 'nchw'/);
  expect(() => e.kernels.channelAffine(e.alloc(12), { c: 3, pixels: 4 }, e.alloc(2), null, e.alloc(12))).toThrow(/^scale: expected 3 floats, found 2/);
  const grouped = (layout: Parameters<typeof e.kernels.groupedPointwiseConv>[3], weights = 12) =>
    () => e.kernels.groupedPointwiseConv(e.alloc(24), { c: 6, pixels: 4 }, e.alloc(weights), layout, e.alloc(16));
  expect(grouped({ groups: 2, cin: 3, cout: 2 })).not.toThrow();
  expect(grouped({ groups: 2, cin: 3, cout: 2 }, 11)).toThrow(/^weights: expected 12 floats, found 11/);
  expect(grouped({ groups: 2, cin: 3, cout: 2, input: { group: 1, channel: 3 } })).toThrow(/^input: group 1's channel 2 is plane 7, but x has 6 planes/);
  expect(grouped({ groups: 2, cin: 3, cout: 2, output: { group: 1, channel: 1 } })).toThrow(/^output: group 1's channel 0 goes to plane 1, which another output also writes/);
  expect(grouped({ groups: 2, cin: 3, cout: 2, output: { group: 2, channel: 3 } })).toThrow(/^output: group 1's channel 1 goes to plane 5, past y's 4/);
  expect(grouped({ groups: 0, cin: 3, cout: 2 })).toThrow(/^groups: expected/);
});
