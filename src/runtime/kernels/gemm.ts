// Matrix products: packing f32 weights into the GEMM's 8-feature panels (assembly/gemm.ts), the
// GEMM itself (also the GEMV of decoding, on packed weights), and the GEMV on row-major weights as
// loaded. Q8_0 and the other ggml block types take the same `gemm` (q8.ts, ggml.ts), and so do
// matrices stacked by rows whose parts are in different types.

import { FfnkitError } from '../../errors.js';
import type { F32Buffer } from '../buffer.js';
import { checkDisjoint, checkSize } from '../check.js';
import type { KernelContext } from './context.js';
import { activationsOf, checkGgmlMatrix, gemmGgml, gemmQuantized, quantizeActivations, type Activations, type GgmlMatrix, type QuantizedActivations } from './ggml.js';
import { gemmQ8, type Q8Matrix } from './q8.js';

/** A weight matrix as loaded: `rows` output features of `cols` inputs, row-major. */
export interface Matrix {
  readonly type: 'f32';
  readonly rows: number;
  readonly cols: number;
  readonly data: F32Buffer;
}

/** A weight matrix (and bias) repacked for `gemm`: panels of 8 output features (see assembly/gemm.ts). */
export interface PackedMatrix {
  readonly type: 'f32-panel8';
  readonly rows: number;
  readonly cols: number;
  readonly data: F32Buffer;
}

/** One matrix in one layout: f32 panels, Q8_0 groups, or another ggml block type's blocks. */
export type SingleWeights = PackedMatrix | Q8Matrix | GgmlMatrix;

/**
 * Matrices of one column count stacked by rows, each in its own layout (wq, wk and wv of a file
 * that mixes block types): one product writes each part's outputs into its columns of the
 * output row, and parts that take the same activations share one quantization of them.
 */
export interface StackedMatrix {
  readonly type: 'stack';
  readonly rows: number;
  readonly cols: number;
  readonly parts: readonly SingleWeights[];
}

/** The weights `gemm` and the model layers take. */
export type GemmWeights = SingleWeights | StackedMatrix;

/** The wasm buffers holding a matrix's weights (a stack: its parts'). */
export function weightBuffers(w: GemmWeights): F32Buffer[] {
  return w.type === 'stack' ? w.parts.map((p) => p.data) : [w.data];
}

/** Bytes of wasm memory a matrix's weights take: what one token's product streams. */
export function weightBytes(w: GemmWeights): number {
  return weightBuffers(w).reduce((n, b) => n + b.length * 4, 0);
}

/** True for a matrix in blocks (Q8_0 or another ggml type), whose kernel takes quantized activations. */
export function isBlocks(w: GemmWeights): w is Q8Matrix | GgmlMatrix {
  return w.type === 'q8_0' || w.type === 'ggml';
}

/** `w` as an f32 Matrix whose data holds rows x cols floats, else an FfnkitError naming it. */
export function checkMatrix(ctx: KernelContext, name: string, w: unknown): Matrix {
  const m = w as Matrix;
  if (typeof w !== 'object' || w === null || m.type !== 'f32') {
    throw new FfnkitError('E_ARG', `${name}: expected an f32 Matrix from engine.matrix`);
  }
  checkSize(`${name}.rows`, m.rows, 1);
  checkSize(`${name}.cols`, m.cols, 1);
  ctx.buf(`${name}.data`, m.data, m.rows * m.cols);
  return m;
}

/** `w` as gemm weights whose data has the layout's size (a stack: its parts), else an FfnkitError naming it. */
export function checkGemmWeights(ctx: KernelContext, name: string, w: unknown): GemmWeights {
  const s = w as StackedMatrix;
  if (typeof w !== 'object' || w === null || s.type !== 'stack') return checkSingleWeights(ctx, name, w);
  if (!Array.isArray(s.parts) || s.parts.length === 0) throw new FfnkitError('E_ARG', `${name}: a stacked matrix needs at least one part`);
  let rows = 0;
  s.parts.forEach((p, i) => {
    checkSingleWeights(ctx, `${name}.parts[${i}]`, p);
    if (p.cols !== s.cols) throw new FfnkitError('E_SHAPE', `${name}.parts[${i}]: expected ${s.cols} columns like the stack, found ${p.cols}`);
    rows += p.rows;
  });
  if (rows !== s.rows) throw new FfnkitError('E_SHAPE', `${name}: its parts hold ${rows} rows, not ${s.rows}`);
  return s;
}

function checkSingleWeights(ctx: KernelContext, name: string, w: unknown): SingleWeights {
  const p = w as SingleWeights;
  if (typeof w === 'object' && w !== null && p.type === 'ggml') return checkGgmlMatrix(ctx, name, w);
  if (typeof w !== 'object' || w === null || (p.type !== 'f32-panel8' && p.type !== 'q8_0')) {
    throw new FfnkitError('E_ARG', `${name}: expected a PackedMatrix from kernels.pack, a Q8Matrix from kernels.q8Matrix or a GgmlMatrix from kernels.ggmlMatrix`);
  }
  checkSize(`${name}.rows`, p.rows, 1);
  checkSize(`${name}.cols`, p.cols, 1);
  const floats = p.type === 'q8_0' ? ctx.wasm.q8_0_gemm_packed_floats(p.rows, p.cols) : ctx.wasm.f32_gemm_packed_floats(p.rows, p.cols);
  ctx.buf(`${name}.data`, p.data, floats);
  return p;
}

export function pack(ctx: KernelContext, w: Matrix, bias?: F32Buffer): PackedMatrix {
  checkMatrix(ctx, 'w', w);
  if (bias !== undefined) ctx.buf('bias', bias, w.rows);
  const data = ctx.alloc(ctx.wasm.f32_gemm_packed_floats(w.rows, w.cols), `packed ${w.rows}x${w.cols} matrix`);
  ctx.wasm.f32_gemm_pack_4x8(w.data.ptr, bias ? bias.ptr : 0, w.rows, w.cols, data.ptr);
  return { type: 'f32-panel8', rows: w.rows, cols: w.cols, data };
}

export function packFrom(ctx: KernelContext, data: Float32Array, rows: number, cols: number, what: string): PackedMatrix {
  checkSize(`${what} rows`, rows, 1);
  checkSize(`${what} cols`, cols, 1);
  if (!(data instanceof Float32Array) || data.length !== rows * cols) {
    throw new FfnkitError('E_SHAPE', `${what}: expected ${rows}x${cols} = ${rows * cols} float32 values, found ${data?.length}`);
  }
  const packed = ctx.alloc(ctx.wasm.f32_gemm_packed_floats(rows, cols), `packed ${what}`);
  const chunk = Math.max(8, Math.floor((1 << 20) / cols / 8) * 8); // ~4 MiB of rows, whole panels
  const staging = ctx.scratch('pack', Math.min(rows, chunk) * cols);
  const panelFloats = (cols + 1) * 8;
  for (let r = 0; r < rows; r += chunk) {
    const n = Math.min(chunk, rows - r);
    staging.view().set(data.subarray(r * cols, (r + n) * cols));
    ctx.wasm.f32_gemm_pack_4x8(staging.ptr, 0, n, cols, packed.ptr + (r / 8) * panelFloats * 4);
  }
  return { type: 'f32-panel8', rows, cols, data: packed };
}

export function gemm(ctx: KernelContext, a: F32Buffer, w: GemmWeights, c: F32Buffer, m: number): void {
  checkSize('m', m, 0);
  checkGemmWeights(ctx, 'w', w);
  ctx.buf('a', a, m * w.cols);
  ctx.buf('c', c, m * w.rows);
  checkDisjoint('c', c, 'a', a);
  for (const b of weightBuffers(w)) checkDisjoint('c', c, 'w', b);
  if (m === 0) return;
  if (w.type === 'stack') return gemmStacked(ctx, a, w, c, m);
  if (w.type === 'ggml') return gemmGgml(ctx, a, w, c, m);
  if (w.type === 'q8_0') return gemmQ8(ctx, a, w, c, m);
  gemmPanels(ctx, a, w, c, m);
}

/** The f32 panel GEMM (operands checked, m >= 1). */
function gemmPanels(ctx: KernelContext, a: F32Buffer, w: PackedMatrix, c: F32Buffer, m: number): void {
  const n = w.rows;
  const k = w.cols;
  const macs = m * n * k;
  if (m === 1) {
    // a GEMV: whole 8-feature panels per thread, each one contiguous run of the weights
    ctx.parallel({ units: Math.ceil(n / 8), align: 1, macs }, (p0, p1) => ({
      fn: 'f32_gemm_4x8', args: [a.ptr, w.data.ptr + p0 * (k + 1) * 32, c.ptr + p0 * 32, 1, Math.min(n, p1 * 8) - p0 * 8, k],
    }));
    return;
  }
  // rows in whole 4-row tiles, so every output is computed as in one thread
  ctx.parallel({ units: m, align: 4, macs, minUnits: 8 }, (r0, r1) => ({
    fn: 'f32_gemm_4x8', args: [a.ptr + r0 * k * 4, w.data.ptr, c.ptr + r0 * n * 4, r1 - r0, n, k],
  }));
}

/**
 * A stack's product (operands checked, m >= 1): each part into its columns of c's rows. Quantized
 * parts write there directly; f32 panels (whose kernel writes whole rows) go through a scratch
 * for more than one token.
 */
function gemmStacked(ctx: KernelContext, a: F32Buffer, w: StackedMatrix, c: F32Buffer, m: number): void {
  const quantized = new Map<Activations, QuantizedActivations>();
  let col0 = 0;
  for (const p of w.parts) {
    if (p.type === 'f32-panel8') {
      if (m === 1) {
        gemmPanels(ctx, a, p, c.sub(col0, p.rows), 1);
      } else {
        const part = ctx.scratch('stacked part', m * p.rows).sub(0, m * p.rows);
        gemmPanels(ctx, a, p, part, m);
        const mem = ctx.arena.f32();
        for (let t = 0; t < m; t++) mem.copyWithin((c.ptr >>> 2) + t * w.rows + col0, (part.ptr >>> 2) + t * p.rows, (part.ptr >>> 2) + (t + 1) * p.rows);
      }
    } else {
      const kind = activationsOf(p);
      let x = quantized.get(kind);
      if (!x) quantized.set(kind, (x = quantizeActivations(ctx, kind, a, m, w.cols)));
      gemmQuantized(ctx, x, p, c, w.rows, col0);
    }
    col0 += p.rows;
  }
}

export function gemv(ctx: KernelContext, w: Matrix | GemmWeights, x: F32Buffer, y: F32Buffer, bias?: F32Buffer): void {
  if (typeof w === 'object' && w !== null && w.type !== 'f32') {
    if (bias !== undefined) throw new FfnkitError('E_ARG', 'bias: packed and block matrices take no bias here (a PackedMatrix carries its own from kernels.pack)');
    gemm(ctx, x, w, y, 1);
    return;
  }
  checkMatrix(ctx, 'w', w);
  ctx.buf('x', x, w.cols);
  ctx.buf('y', y, w.rows);
  if (bias !== undefined) ctx.buf('bias', bias, w.rows);
  checkDisjoint('y', y, 'w', w.data);
  checkDisjoint('y', y, 'x', x);
  checkDisjoint('y', y, 'bias', bias);
  ctx.wasm.f32_gemv(w.data.ptr, x.ptr, bias ? bias.ptr : 0, y.ptr, w.rows, w.cols);
}
