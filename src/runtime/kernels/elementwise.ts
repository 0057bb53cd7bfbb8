// Elementwise kernels over whole buffers (assembly/elementwise.ts).

import { FfnkitError } from '../../errors.js';
import type { F32Buffer } from '../buffer.js';
import { checkDisjoint, checkFinite, checkSameOrDisjoint, checkSize } from '../check.js';
import type { KernelContext } from './context.js';

export function scale(ctx: KernelContext, x: F32Buffer, s: number, y: F32Buffer): void {
  ctx.buf('x', x);
  ctx.buf('y', y, x.length);
  checkFinite('s', s);
  checkSameOrDisjoint('y', y, 'x', x);
  ctx.wasm.f32_scale(x.ptr, s, y.ptr, x.length);
}

/** Checks a two-input elementwise op whose output may be either input, then runs it. */
function binary(ctx: KernelContext, names: [string, string], a: F32Buffer, b: F32Buffer, y: F32Buffer, kernel: (a: number, b: number, y: number, n: number) => void): void {
  ctx.buf(names[0], a);
  ctx.buf(names[1], b, a.length);
  ctx.buf('y', y, a.length);
  checkSameOrDisjoint('y', y, names[0], a);
  checkSameOrDisjoint('y', y, names[1], b);
  kernel(a.ptr, b.ptr, y.ptr, a.length);
}

export function add(ctx: KernelContext, a: F32Buffer, b: F32Buffer, y: F32Buffer): void {
  binary(ctx, ['a', 'b'], a, b, y, ctx.wasm.f32_add);
}

export function axpy(ctx: KernelContext, alpha: number, x: F32Buffer, y: F32Buffer): void {
  checkFinite('alpha', alpha);
  ctx.buf('x', x);
  ctx.buf('y', y, x.length);
  checkDisjoint('y', y, 'x', x);
  ctx.wasm.f32_axpy(alpha, x.ptr, y.ptr, x.length);
}

export function swiglu(ctx: KernelContext, gate: F32Buffer, up: F32Buffer, y: F32Buffer): void {
  binary(ctx, ['gate', 'up'], gate, up, y, ctx.wasm.f32_swiglu);
}

export function geglu(ctx: KernelContext, gate: F32Buffer, up: F32Buffer, y: F32Buffer): void {
  binary(ctx, ['gate', 'up'], gate, up, y, ctx.wasm.f32_geglu_tanh);
}

export function addRowBias(ctx: KernelContext, x: F32Buffer, bias: F32Buffer, rows: number): void {
  checkSize('rows', rows, 1);
  const n = ctx.buf('bias', bias).length;
  checkSize('bias.length', n, 1);
  ctx.buf('x', x, rows * n);
  checkDisjoint('x', x, 'bias', bias);
  ctx.wasm.f32_add_row_bias(x.ptr, bias.ptr, rows, n);
}

export function softcap(ctx: KernelContext, x: F32Buffer, cap: number, y: F32Buffer): void {
  ctx.buf('x', x);
  ctx.buf('y', y, x.length);
  if (!(cap > 0 && Number.isFinite(cap))) throw new FfnkitError('E_ARG', `cap: expected a positive number, found ${cap}`);
  checkSameOrDisjoint('y', y, 'x', x);
  ctx.wasm.f32_softcap(x.ptr, cap, y.ptr, x.length);
}

export function gelu(ctx: KernelContext, x: F32Buffer, y: F32Buffer, approximate: 'none' | 'tanh'): void {
  ctx.buf('x', x);
  ctx.buf('y', y, x.length);
  checkSameOrDisjoint('y', y, 'x', x);
  if (approximate === 'tanh') ctx.wasm.f32_gelu_tanh(x.ptr, y.ptr, x.length);
  else if (approximate === 'none') ctx.wasm.f32_gelu(x.ptr, y.ptr, x.length);
  else throw new FfnkitError('E_ARG', `approximate: expected 'none' or 'tanh', found '${String(approximate)}'`);
}
