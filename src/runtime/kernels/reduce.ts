// Reductions to one number (assembly/reduce.ts): dot product, cosine, the residual update with
// its cosine (FFN skipping's saturation measure), argmax.

import type { F32Buffer } from '../buffer.js';
import { checkDisjoint, checkSize } from '../check.js';
import type { KernelContext } from './context.js';

export function dot(ctx: KernelContext, a: F32Buffer, b: F32Buffer): number {
  ctx.buf('a', a);
  ctx.buf('b', b, a.length);
  return ctx.wasm.f32_dot(a.ptr, b.ptr, a.length);
}

export function cosine(ctx: KernelContext, a: F32Buffer, b: F32Buffer): number {
  ctx.buf('a', a);
  ctx.buf('b', b, a.length);
  return ctx.wasm.f32_cosine(a.ptr, b.ptr, a.length);
}

export function addCosine(ctx: KernelContext, x: F32Buffer, d: F32Buffer): number {
  ctx.buf('x', x);
  ctx.buf('d', d, x.length);
  checkDisjoint('x', x, 'd', d);
  return ctx.wasm.f32_add_cosine(x.ptr, d.ptr, x.length);
}

export function argmax(ctx: KernelContext, x: F32Buffer): number {
  ctx.buf('x', x);
  checkSize('x.length', x.length, 1);
  return ctx.wasm.f32_argmax(x.ptr, x.length);
}
