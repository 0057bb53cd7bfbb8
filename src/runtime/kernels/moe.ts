// Routing for mixtures of experts (assembly/moe.ts): top-k of router logits, and the gather and
// scatter that group a block's tokens by expert.

import { FfnkitError } from '../../errors.js';
import type { F32Buffer } from '../buffer.js';
import { checkDisjoint, checkSize } from '../check.js';
import type { KernelContext } from './context.js';

export function topk(ctx: KernelContext, x: F32Buffer, rows: number, k: number, idx: F32Buffer, val: F32Buffer): void {
  checkSize('rows', rows, 1);
  ctx.buf('x', x);
  if (x.length % rows !== 0) throw new FfnkitError('E_SHAPE', `x: ${x.length} floats do not split into ${rows} rows`);
  const n = x.length / rows;
  checkSize('k', k, 1);
  if (k > n) throw new FfnkitError('E_ARG', `k: ${k} is more than the ${n} values per row`);
  ctx.buf('idx', idx, rows * k);
  ctx.buf('val', val, rows * k);
  checkDisjoint('idx', idx, 'x', x);
  checkDisjoint('val', val, 'x', x);
  checkDisjoint('val', val, 'idx', idx);
  ctx.wasm.f32_topk(x.ptr, rows, n, k, idx.ptr, val.ptr);
}

/** Checks that the first `count` int32 row indices in `rowsIdx` are below `limit`. */
function checkRowIndices(ctx: KernelContext, rowsIdx: F32Buffer, count: number, limit: number): void {
  ctx.buf('rowsIdx', rowsIdx);
  if (rowsIdx.length < count) throw new FfnkitError('E_SHAPE', `rowsIdx: expected at least ${count} indices, found ${rowsIdx.length}`);
  const ids = rowsIdx.i32();
  for (let i = 0; i < count; i++) {
    const r = ids[i]!;
    if (r < 0 || r >= limit) throw new FfnkitError('E_ARG', `rowsIdx[${i}]: row ${r} is outside 0..${limit - 1}`);
  }
}

export function gatherRows(ctx: KernelContext, src: F32Buffer, rowsIdx: F32Buffer, count: number, d: number, dst: F32Buffer): void {
  checkSize('count', count, 0);
  checkSize('d', d, 1);
  ctx.buf('src', src);
  ctx.buf('dst', dst);
  if (dst.length < count * d) throw new FfnkitError('E_SHAPE', `dst: expected at least ${count * d} floats, found ${dst.length}`);
  checkRowIndices(ctx, rowsIdx, count, Math.floor(src.length / d));
  checkDisjoint('dst', dst, 'src', src);
  checkDisjoint('dst', dst, 'rowsIdx', rowsIdx);
  ctx.wasm.f32_gather_rows(src.ptr, rowsIdx.ptr, count, d, dst.ptr);
}

export function scatterAddRows(ctx: KernelContext, src: F32Buffer, rowsIdx: F32Buffer, weight: F32Buffer, count: number, d: number, dst: F32Buffer): void {
  checkSize('count', count, 0);
  checkSize('d', d, 1);
  ctx.buf('src', src);
  ctx.buf('dst', dst);
  ctx.buf('weight', weight);
  if (src.length < count * d) throw new FfnkitError('E_SHAPE', `src: expected at least ${count * d} floats, found ${src.length}`);
  if (weight.length < count) throw new FfnkitError('E_SHAPE', `weight: expected at least ${count} floats, found ${weight.length}`);
  checkRowIndices(ctx, rowsIdx, count, Math.floor(dst.length / d));
  checkDisjoint('dst', dst, 'src', src);
  checkDisjoint('dst', dst, 'weight', weight);
  checkDisjoint('dst', dst, 'rowsIdx', rowsIdx);
  ctx.wasm.f32_scatter_add_rows(src.ptr, rowsIdx.ptr, weight.ptr, count, d, dst.ptr);
}
