// Q8_0 weights (GGUF's 8-bit blocks): interleaving the file's rows by 4 and 8 for the kernel, and
// the product on them, whose activations are quantized per block of 32 so that every block's dot
// product runs on integers. Two layouts, one per engine: column pairs for the i16 path
// (assembly/quant.ts), or, where the engine's relaxed dot has the unsigned form (VNNI's: the
// self-test's 'u8-exact'), column quads of w + 128 for it (assembly/q8u8.ts, which checks the
// form per call and falls back to the i16 path on the same layout). Both give the same bits.

import { FfnkitError } from '../../errors.js';
import type { F32Buffer } from '../buffer.js';
import { checkSize } from '../check.js';
import { ACTIVATION_BLOCK_BYTES } from '../sizes.js';
import type { KernelContext } from './context.js';

/**
 * A weight matrix in Q8_0, GGUF's 8-bit blocks (32 int8 and a scale per block), interleaved for
 * the kernel: 4 and 8 rows side by side, scales widened to f32, in the engine's layout (q8Layout). The
 * int8 values are the file's own (offset by 128 in x4_u8); nothing is dequantized. cols is a multiple of 32.
 */
export interface Q8Matrix {
  readonly type: 'q8_0';
  readonly rows: number;
  readonly cols: number;
  readonly data: F32Buffer;
}

/**
 * Activations quantized by `quantizeQ8` for the engine's layout: 'x4', int16 values at byte
 * address `xq` and block scales at `xd`; 'x4_u8', blocks of int8 values, scale and sum at `xq`
 * (assembly/q8u8.ts) and `xd` unused.
 */
export interface Q8Activations {
  xq: number;
  xd: number;
}

/** The layout of an engine's Q8_0 matrices: column pairs ('x4', the i16 path) or column quads of w + 128 ('x4_u8', the unsigned relaxed dot). */
export type Q8Layout = 'x4' | 'x4_u8';

/** The layout this engine packs Q8_0 in: quads where its relaxed dot passed the self-test's unsigned form, else pairs. */
export function q8Layout(ctx: KernelContext): Q8Layout {
  return ctx.dot.path === 'relaxed' && ctx.dot.unsigned === 'u8-exact' ? 'x4_u8' : 'x4';
}


export function q8Matrix(ctx: KernelContext, bytes: Uint8Array, rows: number, cols: number, what: string): Q8Matrix {
  checkSize(`${what} rows`, rows, 1);
  checkSize(`${what} cols`, cols, 32);
  if (cols % 32 !== 0) throw new FfnkitError('E_SHAPE', `${what}: Q8_0 needs columns in multiples of 32, found ${cols}`);
  const rowBytes = (cols / 32) * 34;
  if (!(bytes instanceof Uint8Array) || bytes.length !== rows * rowBytes) {
    throw new FfnkitError('E_SHAPE', `${what}: ${rows}x${cols} in Q8_0 is ${rows * rowBytes} bytes, found ${bytes?.length}`);
  }
  const data = ctx.alloc(ctx.wasm.q8_0_gemm_packed_floats(rows, cols), what);
  // ~4 MiB of rows at a time, in whole pairs of 4-row groups: the layout pairs groups from the
  // matrix's first row, so every chunk but the last must hold an even number of them
  const chunk = Math.max(8, Math.floor((4 << 20) / rowBytes / 8) * 8);
  const staging = ctx.scratch('pack', Math.ceil((Math.min(rows, chunk) * rowBytes) / 4));
  const groupBytes = q8GroupBytes(ctx, cols);
  const pack = q8Layout(ctx) === 'x4_u8' ? ctx.wasm.q8_0_gemm_pack_x4_u8 : ctx.wasm.q8_0_gemm_pack_x4;
  let bad = 0;
  for (let r = 0; r < rows; r += chunk) {
    const n = Math.min(chunk, rows - r);
    new Uint8Array(ctx.arena.memory.buffer, staging.ptr, n * rowBytes).set(bytes.subarray(r * rowBytes, (r + n) * rowBytes));
    bad += pack(staging.ptr, n, cols, data.ptr + (r / 4) * groupBytes);
  }
  if (bad > 0) {
    data.free();
    throw new FfnkitError('E_FORMAT', `${what}: ${bad} Q8_0 block${bad > 1 ? 's have scales' : ' has a scale'} that ${bad > 1 ? 'are' : 'is'} infinite or NaN`);
  }
  return { type: 'q8_0', rows, cols, data };
}

/** Bytes of one 4-row group of a Q8_0 matrix of `cols` columns (the kernel's own layout). */
function q8GroupBytes(ctx: KernelContext, cols: number): number {
  return ctx.wasm.q8_0_gemm_packed_floats(4, cols) * 4;
}

/**
 * n floats of `a` (n a multiple of 32) quantized per block into the scratch, in the engine's
 * layout: int16 values at `xq` (n/2 floats of room), then n/32 scales at `xd`; or ('x4_u8') n/32
 * blocks at `xq`. Valid until the next call.
 */
export function quantizeQ8(ctx: KernelContext, a: F32Buffer, n: number): Q8Activations {
  if (q8Layout(ctx) === 'x4_u8') {
    const blocks = ctx.scratch('q8 activations', ((n / 32) * ACTIVATION_BLOCK_BYTES.q8_0_x4_u8.bytes) / 4);
    ctx.wasm.q8_0_quantize_f32_x4_u8(a.ptr, n, blocks.ptr);
    return { xq: blocks.ptr, xd: 0 };
  }
  const scratch = ctx.scratch('q8 activations', n / 2 + n / 32);
  const xq = scratch.ptr;
  const xd = scratch.ptr + (n / 2) * 4;
  ctx.wasm.q8_0_quantize(a.ptr, n, xq, xd);
  return { xq, xd };
}

/**
 * `c[m, w.rows] = a[m, w.cols] · wᵀ` for Q8_0 weights (operands already checked): a's rows are
 * quantized per block of 32 (int8 and an f32 scale, as ggml's q8_0 activations) and each block's
 * dot product runs on integers.
 */
export function gemmQ8(ctx: KernelContext, a: F32Buffer, w: Q8Matrix, c: F32Buffer, m: number): void {
  gemmQ8Quantized(ctx, quantizeQ8(ctx, a, m * w.cols), w, c.ptr, m);
}

/**
 * gemmQ8 on activations already quantized by quantizeQ8 (m rows of w.cols) into the output at
 * byte address `out`, rows `ldc` floats apart (default w.rows), split over the threads by pairs
 * of 4-row groups (both layouts interleave groups in twos, assembly/quant.ts and q8u8.ts), so
 * each output is computed as in one thread.
 */
export function gemmQ8Quantized(ctx: KernelContext, { xq, xd }: Q8Activations, w: Q8Matrix, out: number, m: number, ldc = w.rows): void {
  const n = w.rows;
  const groupBytes = q8GroupBytes(ctx, w.cols);
  const u8 = q8Layout(ctx) === 'x4_u8';
  ctx.parallel({ units: Math.ceil(n / 4), align: 2, macs: m * n * w.cols }, (g0, g1) => {
    const rows = Math.min(n, g1 * 4) - g0 * 4;
    return u8
      ? { fn: 'q8_0_gemm_x4_u8', args: [w.data.ptr + g0 * groupBytes, xq, out + g0 * 16, m, rows, w.cols, ldc, ctx.dot.code] }
      : { fn: 'q8_0_gemm_x4', args: [w.data.ptr + g0 * groupBytes, xq, xd, out + g0 * 16, m, rows, w.cols, ldc] };
  });
}
