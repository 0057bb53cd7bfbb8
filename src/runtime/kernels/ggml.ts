// Weight matrices in ggml's block types, kept in their blocks in wasm memory, and their
// GEMV/GEMM (assembly/ggml.ts, f16.ts; Q4_0, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K repacked at load by 4 rows,
// assembly/q4x4.ts, q23x4.ts, q5x4.ts and q6x4.ts; Q8_0 through the 4-row kernel of q8.ts). The activations are
// quantized as ggml quantizes them for each type before the integer dot products, so results
// agree with llama.cpp's. Every size is checked here, before wasm.

import { FfnkitError } from '../../errors.js';
import type { F32Buffer } from '../buffer.js';
import { checkSize } from '../check.js';
import { ACTIVATION_BLOCK_BYTES, ggmlRepackedBytes, q8GroupFloats } from '../sizes.js';
import type { KernelExports } from '../wasm.js';
import type { KernelContext } from './context.js';
import { gemmQ8Quantized, q8Matrix, quantizeQ8, type Q8Matrix } from './q8.js';

/** The ggml block types the kernels run (ggml's names, lower case). */
export type GgmlBlockType =
  | 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1' | 'q8_0' | 'iq4_nl'
  | 'q2_k' | 'q3_k' | 'q4_k' | 'q5_k' | 'q6_k' | 'iq4_xs'
  | 'f16' | 'bf16';

/** How activations are prepared for a type's kernel (`_x4`: the 4-row Q4 kernels' layouts, assembly/q8.ts). */
export type Activations = 'q8_0' | 'q8_1' | 'q8_k' | 'q8_1_x4' | 'q8_k_x4' | 'f16' | 'bf16';

/** The 4-row kernels (assembly/q4x4.ts, q23x4.ts, q5x4.ts, q6x4.ts), on their own layouts. */
type RepackedType = 'q4_0' | 'q2_k' | 'q3_k' | 'q4_k' | 'q5_k' | 'q6_k';

type GgmlGemmName = `${Exclude<GgmlBlockType, 'q8_0' | RepackedType>}_gemm` | `${RepackedType}_gemm_x4`;

interface KernelTraits {
  /** Weights per block and bytes per block (F16/BF16: one weight of 2 bytes). */
  block: number;
  bytes: number;
  activations: Activations;
  /** Byte offsets of the block's f16 scales, which must be finite. */
  halves: readonly number[];
  /** The GEMM export (Q8_0: the 4-row path of q8.ts). */
  gemm: GgmlGemmName | 'q8_0_gemm_x4';
  /** The export that repacks GGUF's rows into the kernel's own layout at load (sizes: runtime/sizes.ts). */
  pack?: `${RepackedType}_gemm_pack_x4`;
}

/** The kernel side of each type (layouts: ggml-common.h; the host side's traits live in model/). */
export const GGML_KERNEL_TRAITS: Readonly<Record<GgmlBlockType, KernelTraits>> = {
  q4_0: { block: 32, bytes: 18, activations: 'q8_1_x4', halves: [0], gemm: 'q4_0_gemm_x4', pack: 'q4_0_gemm_pack_x4' },
  q4_1: { block: 32, bytes: 20, activations: 'q8_1', halves: [0, 2], gemm: 'q4_1_gemm' },
  q5_0: { block: 32, bytes: 22, activations: 'q8_1', halves: [0], gemm: 'q5_0_gemm' },
  q5_1: { block: 32, bytes: 24, activations: 'q8_1', halves: [0, 2], gemm: 'q5_1_gemm' },
  q8_0: { block: 32, bytes: 34, activations: 'q8_0', halves: [0], gemm: 'q8_0_gemm_x4' },
  iq4_nl: { block: 32, bytes: 18, activations: 'q8_1', halves: [0], gemm: 'iq4_nl_gemm' },
  q2_k: { block: 256, bytes: 84, activations: 'q8_k', halves: [80, 82], gemm: 'q2_k_gemm_x4', pack: 'q2_k_gemm_pack_x4' },
  q3_k: { block: 256, bytes: 110, activations: 'q8_k', halves: [108], gemm: 'q3_k_gemm_x4', pack: 'q3_k_gemm_pack_x4' },
  q4_k: { block: 256, bytes: 144, activations: 'q8_k_x4', halves: [0, 2], gemm: 'q4_k_gemm_x4', pack: 'q4_k_gemm_pack_x4' },
  q5_k: { block: 256, bytes: 176, activations: 'q8_k_x4', halves: [0, 2], gemm: 'q5_k_gemm_x4', pack: 'q5_k_gemm_pack_x4' },
  q6_k: { block: 256, bytes: 210, activations: 'q8_k', halves: [208], gemm: 'q6_k_gemm_x4', pack: 'q6_k_gemm_pack_x4' },
  iq4_xs: { block: 256, bytes: 136, activations: 'q8_k', halves: [0], gemm: 'iq4_xs_gemm' },
  f16: { block: 1, bytes: 2, activations: 'f16', halves: [0], gemm: 'f16_gemm' },
  bf16: { block: 1, bytes: 2, activations: 'bf16', halves: [], gemm: 'bf16_gemm' },
};

/** One activation block of each integer layout (32 values, or 256 for Q8_K), as assembly/q8.ts writes it. */
const ACTIVATION_BLOCK = {
  q8_1: { ...ACTIVATION_BLOCK_BYTES.q8_1, quantize: 'q8_1_quantize_f32' },
  q8_k: { ...ACTIVATION_BLOCK_BYTES.q8_k, quantize: 'q8_k_quantize_f32' },
  q8_1_x4: { ...ACTIVATION_BLOCK_BYTES.q8_1_x4, quantize: 'q8_1_quantize_f32_x4' },
  q8_k_x4: { ...ACTIVATION_BLOCK_BYTES.q8_k_x4, quantize: 'q8_k_quantize_f32_x4' },
} as const;

/** The exports these wrappers call (assembly/index.ts): the engine's own. */
export type GgmlKernelExports = KernelExports;

/**
 * A weight matrix in a ggml block type: `rows` output features of `cols` inputs, each row
 * cols / block blocks as GGUF stores them (Q4_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K: repacked by 4 rows,
 * assembly/q4x4.ts, q23x4.ts, q5x4.ts and q6x4.ts; Q8_0: regrouped by 4 rows, see Kernels.q8Matrix).
 */
export interface GgmlMatrix {
  readonly type: 'ggml';
  readonly ggml: GgmlBlockType;
  readonly rows: number;
  readonly cols: number;
  /** Bytes of one row in the file. */
  readonly rowBytes: number;
  readonly data: F32Buffer;
}

/** Bytes of a `rows` x `cols` tensor of `type` in GGUF (cols a multiple of the type's block). */
export function ggmlRowBytes(type: GgmlBlockType, cols: number): number {
  const t = GGML_KERNEL_TRAITS[type];
  return (cols / t.block) * t.bytes;
}

/**
 * Bytes a `rows` x `cols` matrix of `type` takes in wasm memory as `ggmlMatrix` lays it out
 * (GGUF's bytes, or the type's 4-row layout), before rounding up to whole floats.
 */
export function ggmlMatrixBytes(type: GgmlBlockType, rows: number, cols: number): number {
  if (type === 'q8_0') return q8GroupFloats(rows, cols) * 4;
  return ggmlRepackedBytes(type, rows, cols) ?? rows * ggmlRowBytes(type, cols);
}

/** Rows of GGUF bytes staged in wasm memory at a time for repacking: whole 4-row groups, about 4 MiB. */
function packChunkRows(rowBytes: number): number {
  return Math.max(4, Math.floor((4 << 20) / rowBytes / 4) * 4);
}

/**
 * A `rows` x `cols` matrix of ggml `type` from its GGUF bytes (rows after one another), copied
 * into wasm memory in its blocks. A block scale (or F16 weight) that is infinite or NaN is an
 * E_FORMAT error naming `what`.
 */
export function ggmlMatrix(ctx: KernelContext, bytes: Uint8Array, type: GgmlBlockType, rows: number, cols: number, what = `${type} matrix`): GgmlMatrix {
  const t = GGML_KERNEL_TRAITS[type];
  if (t === undefined) throw new FfnkitError('E_UNSUPPORTED', `${what}: ggml type ${String(type)} has no kernel`);
  checkSize(`${what} rows`, rows, 1);
  checkSize(`${what} cols`, cols, t.block);
  if (cols % t.block !== 0) throw new FfnkitError('E_SHAPE', `${what}: ${type.toUpperCase()} needs columns in multiples of ${t.block}, found ${cols}`);
  const rowBytes = ggmlRowBytes(type, cols);
  if (!(bytes instanceof Uint8Array) || bytes.length !== rows * rowBytes) {
    throw new FfnkitError('E_SHAPE', `${what}: ${rows}x${cols} in ${type.toUpperCase()} is ${rows * rowBytes} bytes, found ${bytes?.length}`);
  }
  if (type === 'q8_0') {
    const q = q8Matrix(ctx, bytes, rows, cols, what);
    return { type: 'ggml', ggml: type, rows, cols, rowBytes, data: q.data };
  }
  const data = ctx.alloc(Math.ceil(ggmlMatrixBytes(type, rows, cols) / 4), what);
  // GGUF's bytes go straight into the matrix, or through a staging scratch into the type's layout
  const chunk = t.pack ? packChunkRows(rowBytes) : rows;
  const staging = t.pack ? ctx.scratch('ggml pack', Math.ceil((Math.min(rows, chunk) * rowBytes) / 4)) : data;
  let bad = 0;
  for (let r = 0; r < rows; r += chunk) {
    const n = Math.min(chunk, rows - r);
    new Uint8Array(ctx.arena.memory.buffer, staging.ptr, n * rowBytes).set(bytes.subarray(r * rowBytes, (r + n) * rowBytes));
    for (const at of t.halves) bad += ctx.wasm.half_count_nonfinite(staging.ptr + at, (n * cols) / t.block, t.bytes);
    if (t.pack && bad === 0) ctx.wasm[t.pack](staging.ptr, n, cols, data.ptr + ggmlMatrixBytes(type, r, cols));
  }
  if (bad > 0) {
    data.free();
    const what2 = type === 'f16' ? 'weight' : 'block scale';
    throw new FfnkitError('E_FORMAT', `${what}: ${bad} ${type.toUpperCase()} ${what2}${bad > 1 ? 's are' : ' is'} infinite or NaN`);
  }
  return { type: 'ggml', ggml: type, rows, cols, rowBytes, data };
}

/** `w` as a GgmlMatrix whose data has its layout's size, else an FfnkitError naming it. */
export function checkGgmlMatrix(ctx: KernelContext, name: string, w: unknown): GgmlMatrix {
  const g = w as GgmlMatrix;
  if (typeof w !== 'object' || w === null || g.type !== 'ggml' || GGML_KERNEL_TRAITS[g.ggml] === undefined) {
    throw new FfnkitError('E_ARG', `${name}: expected a GgmlMatrix from kernels.ggmlMatrix`);
  }
  const t = GGML_KERNEL_TRAITS[g.ggml];
  checkSize(`${name}.rows`, g.rows, 1);
  checkSize(`${name}.cols`, g.cols, t.block);
  if (g.cols % t.block !== 0 || g.rowBytes !== ggmlRowBytes(g.ggml, g.cols)) throw new FfnkitError('E_SHAPE', `${name}: ${g.cols} columns do not fit ${g.ggml.toUpperCase()}'s blocks`);
  const floats = g.ggml === 'q8_0' ? ctx.wasm.q8_0_gemm_packed_floats(g.rows, g.cols) : Math.ceil(ggmlMatrixBytes(g.ggml, g.rows, g.cols) / 4);
  ctx.buf(`${name}.data`, g.data, floats);
  return g;
}

/** Activations prepared for one kind of kernel: byte addresses in the scratch, valid until the next call for that kind. */
export interface QuantizedActivations {
  readonly kind: Activations;
  /** m rows of k values. */
  readonly m: number;
  readonly k: number;
  /** The values (Q8_0: as quantizeQ8 writes them for the engine's layout; Q8_1, Q8_K: ggml's blocks; F16/BF16: rounded floats). */
  readonly x: number;
  /** Q8_0 only: the block scales. */
  readonly xd: number;
}

/** The activations a quantized weight matrix takes (a Q8Matrix: 'q8_0'). */
export function activationsOf(w: GgmlMatrix | Q8Matrix): Activations {
  return w.type === 'q8_0' ? 'q8_0' : GGML_KERNEL_TRAITS[w.ggml].activations;
}

/**
 * m rows of k floats of `a` prepared for the kernels of `kind` in that kind's scratch (sizes are
 * the caller's to check: k a multiple of the kind's block).
 */
export function quantizeActivations(ctx: KernelContext, kind: Activations, a: F32Buffer, m: number, k: number): QuantizedActivations {
  const n = m * k;
  switch (kind) {
    case 'q8_0': {
      const { xq, xd } = quantizeQ8(ctx, a, n);
      return { kind, m, k, x: xq, xd };
    }
    case 'q8_1': case 'q8_k': case 'q8_1_x4': case 'q8_k_x4': {
      const b = ACTIVATION_BLOCK[kind];
      const s = ctx.scratch(`${kind} activations`, (n / b.values) * (b.bytes / 4));
      ctx.wasm[b.quantize](a.ptr, n, s.ptr);
      return { kind, m, k, x: s.ptr, xd: 0 };
    }
    default: {
      const s = ctx.scratch(`${kind} activations`, n);
      if (kind === 'f16') ctx.wasm.f16_round_f32(a.ptr, m, k, s.ptr);
      else ctx.wasm.bf16_round_f32(a.ptr, m, k, s.ptr);
      return { kind, m, k, x: s.ptr, xd: 0 };
    }
  }
}

/**
 * `c[t][col0 + r] = row r of w · token t of x` for the activations `x` (quantized for w's kind;
 * operands already checked), output rows `ldc` floats apart, split by rows over the threads: whole
 * rows per thread, so each output is computed as in one thread.
 */
export function gemmQuantized(ctx: KernelContext, x: QuantizedActivations, w: GgmlMatrix | Q8Matrix, c: F32Buffer, ldc = w.rows, col0 = 0): void {
  if (x.kind !== activationsOf(w) || x.k !== w.cols) {
    throw new FfnkitError('E_ARG', `activations: prepared as ${x.kind} of ${x.k}, but the matrix takes ${activationsOf(w)} of ${w.cols}`);
  }
  const m = x.m;
  if (m === 0) return;
  const out = c.ptr + col0 * 4;
  if (w.type === 'q8_0' || w.ggml === 'q8_0') {
    gemmQ8Quantized(ctx, { xq: x.x, xd: x.xd }, { type: 'q8_0', rows: w.rows, cols: w.cols, data: w.data }, out, m, ldc);
    return;
  }
  const n = w.rows;
  const k = w.cols;
  const fn = GGML_KERNEL_TRAITS[w.ggml].gemm as GgmlGemmName;
  const type = w.ggml;
  // where row r0 (a multiple of 4: a whole group in the 4-row layouts) starts
  const at = (r0: number) => w.data.ptr + ggmlMatrixBytes(type, r0, k);
  ctx.parallel({ units: n, align: 4, macs: m * n * k, minUnits: 8 }, (r0, r1) =>
    fn === 'f16_gemm' || fn === 'bf16_gemm'
      ? { fn, args: [at(r0), x.x, out + r0 * 4, m, r1 - r0, k, ldc] }
      : { fn, args: [at(r0), x.x, out + r0 * 4, m, r1 - r0, k, ldc, ctx.dot.code] },
  );
}

/** `c[m, w.rows] = a[m, w.cols] · wᵀ` (operands already checked): the type's activation quantization, then its kernel. */
export function gemmGgml(ctx: KernelContext, a: F32Buffer, w: GgmlMatrix, c: F32Buffer, m: number): void {
  if (m === 0) return;
  gemmQuantized(ctx, quantizeActivations(ctx, activationsOf(w), a, m, w.cols), w, c);
}
