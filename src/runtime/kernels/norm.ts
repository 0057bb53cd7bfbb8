// Row-wise normalisations (assembly/norm.ts): RMSNorm, LayerNorm and the stable softmax.

import { FfnkitError } from '../../errors.js';
import type { F32Buffer } from '../buffer.js';
import { checkDisjoint, checkFinite, checkSameOrDisjoint, checkSize } from '../check.js';
import type { KernelContext } from './context.js';

export function rmsnorm(ctx: KernelContext, x: F32Buffer, w: F32Buffer, y: F32Buffer, rows: number, eps: number): void {
  checkSize('rows', rows, 1);
  checkFinite('eps', eps);
  const n = ctx.buf('w', w).length;
  checkSize('w.length', n, 1);
  ctx.buf('x', x, rows * n);
  ctx.buf('y', y, rows * n);
  checkSameOrDisjoint('y', y, 'x', x);
  checkDisjoint('y', y, 'w', w);
  ctx.wasm.f32_rmsnorm(x.ptr, w.ptr, y.ptr, rows, n, eps);
}

/** Floats per row of x split into `rows` non-empty rows, else an FfnkitError. */
function rowLength(ctx: KernelContext, x: F32Buffer, rows: number): number {
  ctx.buf('x', x);
  if (x.length % rows !== 0 || x.length === 0) {
    throw new FfnkitError('E_SHAPE', `x: ${x.length} floats do not split into ${rows} non-empty rows`);
  }
  return x.length / rows;
}

export function layernorm(ctx: KernelContext, x: F32Buffer, gamma: F32Buffer | null, beta: F32Buffer | null, y: F32Buffer, rows: number, eps: number): void {
  checkSize('rows', rows, 1);
  checkFinite('eps', eps);
  const n = rowLength(ctx, x, rows);
  if (gamma) ctx.buf('gamma', gamma, n);
  if (beta) ctx.buf('beta', beta, n);
  ctx.buf('y', y, x.length);
  checkSameOrDisjoint('y', y, 'x', x);
  checkDisjoint('y', y, 'gamma', gamma ?? undefined);
  checkDisjoint('y', y, 'beta', beta ?? undefined);
  ctx.wasm.f32_layernorm(x.ptr, gamma ? gamma.ptr : 0, beta ? beta.ptr : 0, y.ptr, rows, n, eps);
}

export function softmax(ctx: KernelContext, x: F32Buffer, y: F32Buffer, rows: number): void {
  checkSize('rows', rows, 1);
  const n = rowLength(ctx, x, rows);
  ctx.buf('y', y, x.length);
  checkSameOrDisjoint('y', y, 'x', x);
  ctx.wasm.f32_softmax(x.ptr, y.ptr, rows, n);
}
