// Convolutions on planar (NCHW) and channels-last data for MetaMixer/FFNet: depthwise 2-D and
// 1-D (assembly/conv.ts), pointwise and grouped pointwise, full k x k through im2col, and the
// per-channel affine map and mean around them (assembly/pointwise.ts).

import { FfnkitError } from '../../errors.js';
import type { F32Buffer } from '../buffer.js';
import { checkDisjoint, checkSameOrDisjoint, checkSize } from '../check.js';
import type { KernelContext } from './context.js';

/**
 * A grouped 1x1 convolution's shape and where its channels sit in the planar maps: group g's
 * input i is plane `g * input.group + i * input.channel`, its output o plane
 * `g * output.group + o * output.channel` (defaults: contiguous groups).
 */
export interface GroupedPointwise {
  groups: number;
  /** Input and output channels per group. */
  cin: number;
  cout: number;
  input?: { group: number; channel: number };
  output?: { group: number; channel: number };
}

export interface ConvOptions {
  bias?: F32Buffer;
  gelu?: boolean;
}

/** Checks a convolution's operands (lengths in floats) and that y is apart from the others. */
function checkOperands(ctx: KernelContext, x: F32Buffer, xLength: number, weights: F32Buffer, wLength: number, y: F32Buffer, yLength: number, bias: F32Buffer | undefined, biasLength: number): void {
  ctx.buf('x', x, xLength);
  ctx.buf('weights', weights, wLength);
  ctx.buf('y', y, yLength);
  if (bias) ctx.buf('bias', bias, biasLength);
  checkDisjoint('y', y, 'x', x);
  checkDisjoint('y', y, 'weights', weights);
  checkDisjoint('y', y, 'bias', bias);
}

export function depthwiseConv2d(
  ctx: KernelContext, x: F32Buffer, shape: { h: number; w: number; c: number }, weights: F32Buffer, k: number, y: F32Buffer,
  options: ConvOptions & { stride?: 1 | 2; layout?: 'nchw' | 'nhwc'; multiplier?: 1 | 2 },
): void {
  const h = checkSize('h', shape.h, 1);
  const w = checkSize('w', shape.w, 1);
  const c = checkSize('c', shape.c, 1);
  checkSize('k', k, 1);
  if (k % 2 === 0 || k < 3 || k > 31) throw new FfnkitError('E_ARG', `k: expected an odd kernel size in 3..31, found ${k}`);
  const stride = options.stride ?? 1;
  if (stride !== 1 && stride !== 2) throw new FfnkitError('E_ARG', `stride: expected 1 or 2, found ${String(stride)}`);
  const layout = options.layout ?? 'nchw';
  if (layout !== 'nchw' && layout !== 'nhwc') throw new FfnkitError('E_ARG', `layout: expected 'nchw' or 'nhwc', found '${String(layout)}'`);
  const mult = options.multiplier ?? 1;
  if (mult !== 1 && mult !== 2) throw new FfnkitError('E_ARG', `multiplier: expected 1 or 2, found ${String(mult)}`);
  if (mult !== 1 && layout !== 'nchw') throw new FfnkitError('E_ARG', "multiplier: 2 needs layout 'nchw'");
  const ho = Math.ceil(h / stride);
  const wo = Math.ceil(w / stride);
  checkOperands(ctx, x, h * w * c, weights, k * k * c * mult, y, ho * wo * c * mult, options.bias, c * mult);
  const bias = options.bias?.ptr ?? 0;
  const gelu = options.gelu ? 1 : 0;
  if (layout === 'nhwc') {
    ctx.wasm.f32_dwconv2d_nhwc(x.ptr, h, w, c, weights.ptr, k, bias, stride, gelu, y.ptr);
    return;
  }
  // whole channels per thread, each with its own padded-plane scratch
  const plane = (h + k - 1) * (w + k - 1) + 16;
  ctx.parallel({ units: c, align: 1, macs: c * mult * ho * wo * k * k, scratch: { name: 'conv plane', floats: plane } }, (c0, c1, scratch) => ({
    fn: 'f32_dwconv2d_nchw',
    args: [
      x.ptr + c0 * h * w * 4, h, w, c1 - c0, mult, weights.ptr + c0 * mult * k * k * 4, k, bias ? bias + c0 * mult * 4 : 0,
      stride, gelu, y.ptr + c0 * mult * ho * wo * 4, scratch,
    ],
  }));
}

export function pointwiseConv(ctx: KernelContext, x: F32Buffer, shape: { c: number; pixels: number }, weights: F32Buffer, cout: number, y: F32Buffer, options: ConvOptions): void {
  const c = checkSize('c', shape.c, 1);
  const p = checkSize('pixels', shape.pixels, 1);
  checkSize('cout', cout, 1);
  checkOperands(ctx, x, c * p, weights, cout * c, y, cout * p, options.bias, cout);
  pointwiseChecked(ctx, x, c, p, weights, cout, y, options);
}

/** The pointwise kernel on operands already checked: output channels in whole 4-channel tiles per thread, each packing the pixels into its own scratch. */
function pointwiseChecked(ctx: KernelContext, x: F32Buffer, c: number, p: number, weights: F32Buffer, cout: number, y: F32Buffer, options: ConvOptions): void {
  const bias = options.bias?.ptr ?? 0;
  const gelu = options.gelu ? 1 : 0;
  const scratch = { name: 'pointwise', floats: ctx.wasm.f32_pwconv_nchw_scratch_floats(c) };
  ctx.parallel({ units: cout, align: 4, macs: cout * c * p, minUnits: 8, scratch }, (o0, o1, s) => ({
    fn: 'f32_pwconv_nchw',
    args: [x.ptr, c, p, weights.ptr + o0 * c * 4, o1 - o0, bias ? bias + o0 * 4 : 0, gelu, y.ptr + o0 * p * 4, s],
  }));
}

export function groupedPointwiseConv(
  ctx: KernelContext, x: F32Buffer, shape: { c: number; pixels: number }, weights: F32Buffer, layout: GroupedPointwise, y: F32Buffer, options: ConvOptions,
): void {
  const c = checkSize('c', shape.c, 1);
  const p = checkSize('pixels', shape.pixels, 1);
  const groups = checkSize('groups', layout.groups, 1);
  const cin = checkSize('cin', layout.cin, 1);
  const cout = checkSize('cout', layout.cout, 1);
  const input = layout.input ?? { group: cin, channel: 1 };
  const output = layout.output ?? { group: cout, channel: 1 };
  checkSize('input.group', input.group, 0);
  checkSize('input.channel', input.channel, 0);
  checkSize('output.group', output.group, 0);
  checkSize('output.channel', output.channel, 0);
  const lastIn = (groups - 1) * input.group + (cin - 1) * input.channel;
  if (lastIn >= c) throw new FfnkitError('E_SHAPE', `input: group ${groups - 1}'s channel ${cin - 1} is plane ${lastIn}, but x has ${c} planes`);
  const planes = groups * cout;
  const seen = new Uint8Array(planes);
  for (let g = 0; g < groups; g++) {
    for (let o = 0; o < cout; o++) {
      const plane = g * output.group + o * output.channel;
      if (plane >= planes || seen[plane]) {
        throw new FfnkitError('E_ARG', `output: group ${g}'s channel ${o} goes to plane ${plane}, ${plane >= planes ? `past y's ${planes}` : 'which another output also writes'}`);
      }
      seen[plane] = 1;
    }
  }
  checkOperands(ctx, x, c * p, weights, groups * cout * cin, y, planes * p, options.bias, planes);
  const bias = options.bias?.ptr ?? 0;
  const gelu = options.gelu ? 1 : 0;
  // whole groups per thread, each packing into its own scratch
  const scratch = { name: 'pointwise', floats: ctx.wasm.f32_pwconv_nchw_scratch_floats(cin) };
  ctx.parallel({ units: groups, align: 1, macs: planes * cin * p, scratch }, (g0, g1, s) => ({
    fn: 'f32_grouped_pwconv_nchw',
    args: [
      x.ptr + g0 * input.group * p * 4, p, g1 - g0, cin, input.group, input.channel, weights.ptr + g0 * cout * cin * 4, cout,
      output.group, output.channel, bias ? bias + g0 * cout * 4 : 0, gelu, y.ptr + g0 * output.group * p * 4, s,
    ],
  }));
}

export function conv2d(
  ctx: KernelContext, x: F32Buffer, shape: { h: number; w: number; c: number }, weights: F32Buffer, k: number, cout: number, y: F32Buffer,
  options: ConvOptions & { stride?: 1 | 2; pad?: number },
): void {
  const h = checkSize('h', shape.h, 1);
  const w = checkSize('w', shape.w, 1);
  const c = checkSize('c', shape.c, 1);
  checkSize('k', k, 1);
  checkSize('cout', cout, 1);
  const stride = options.stride ?? 1;
  if (stride !== 1 && stride !== 2) throw new FfnkitError('E_ARG', `stride: expected 1 or 2, found ${String(stride)}`);
  const pad = checkSize('pad', options.pad ?? (k - 1) >> 1, 0);
  if (pad >= k) throw new FfnkitError('E_ARG', `pad: expected less than k = ${k}, found ${pad}`);
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1;
  const wo = Math.floor((w + 2 * pad - k) / stride) + 1;
  if (ho < 1 || wo < 1) throw new FfnkitError('E_SHAPE', `x: a ${h}x${w} input is smaller than the ${k}x${k} kernel with pad ${pad}`);
  checkOperands(ctx, x, c * h * w, weights, cout * c * k * k, y, cout * ho * wo, options.bias, cout);
  const col = ctx.scratch('im2col', c * k * k * ho * wo);
  checkDisjoint('y', y, 'scratch', col);
  ctx.wasm.f32_im2col_nchw(x.ptr, c, h, w, k, stride, pad, col.ptr);
  pointwiseChecked(ctx, col, c * k * k, ho * wo, weights, cout, y, options);
}

export function channelAffine(ctx: KernelContext, x: F32Buffer, shape: { c: number; pixels: number }, scale: F32Buffer, shift: F32Buffer | null, y: F32Buffer): void {
  const c = checkSize('c', shape.c, 1);
  const p = checkSize('pixels', shape.pixels, 1);
  ctx.buf('x', x, c * p);
  ctx.buf('y', y, c * p);
  ctx.buf('scale', scale, c);
  if (shift) ctx.buf('shift', shift, c);
  checkSameOrDisjoint('y', y, 'x', x);
  checkDisjoint('y', y, 'scale', scale);
  checkDisjoint('y', y, 'shift', shift ?? undefined);
  ctx.wasm.f32_channel_affine_nchw(x.ptr, c, p, scale.ptr, shift?.ptr ?? 0, y.ptr);
}

export function channelMean(ctx: KernelContext, x: F32Buffer, shape: { c: number; pixels: number }, y: F32Buffer): void {
  const c = checkSize('c', shape.c, 1);
  const p = checkSize('pixels', shape.pixels, 1);
  ctx.buf('x', x, c * p);
  ctx.buf('y', y, c);
  checkDisjoint('y', y, 'x', x);
  ctx.wasm.f32_channel_mean_nchw(x.ptr, c, p, y.ptr);
}

export function depthwiseConv1d(
  ctx: KernelContext, x: F32Buffer, shape: { length: number; c: number }, weights: F32Buffer, k: number, y: F32Buffer,
  options: { bias?: F32Buffer; causal?: boolean; layout?: 'planar' | 'channels-last' },
): void {
  const l = checkSize('length', shape.length, 1);
  const c = checkSize('c', shape.c, 1);
  checkSize('k', k, 1);
  if (k > 51) throw new FfnkitError('E_ARG', `k: expected a kernel size in 1..51, found ${k}`);
  if (!options.causal && k % 2 === 0) throw new FfnkitError('E_ARG', `k: symmetric padding needs an odd kernel size, found ${k}`);
  checkOperands(ctx, x, l * c, weights, k * c, y, l * c, options.bias, c);
  const layout = options.layout ?? 'planar';
  const bias = options.bias?.ptr ?? 0;
  const causal = options.causal ? 1 : 0;
  if (layout === 'channels-last') {
    ctx.wasm.f32_dwconv1d_nlc(x.ptr, l, c, weights.ptr, k, bias, causal, y.ptr);
    return;
  }
  if (layout !== 'planar') throw new FfnkitError('E_ARG', `layout: expected 'planar' or 'channels-last', found '${String(layout)}'`);
  const scratch = ctx.scratch('conv sequence', l + k - 1 + 16);
  checkDisjoint('y', y, 'scratch', scratch);
  ctx.wasm.f32_dwconv1d_ncl(x.ptr, l, c, weights.ptr, k, bias, causal, y.ptr, scratch.ptr);
}
