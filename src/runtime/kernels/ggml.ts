// Weight matrices in ggml's block types, kept in their blocks in wasm memory, and their
// GEMV/GEMM (assembly/ggml.ts, f16.ts; Q4_0, Q4_K and Q6_K repacked by 4 rows, assembly/q4x4.ts
// and q6x4.ts; Q8_0
// through the 4-row kernel of assembly/quant.ts). The
// activations are quantized as ggml quantizes them for each type before the integer dot
// products, so results agree with llama.cpp's. Every size is checked here, before wasm.

import { FfnkitError } from '../../errors.js';
import type { Arena } from '../arena.js';
import type { F32Buffer } from '../buffer.js';
import { checkBuffer, checkDisjoint, checkSize } from '../check.js';
import type { Kernels } from '../kernels.js';
import { splitRange, type ThreadPool, type ThreadTask } from '../threads.js';
import type { KernelExports } from '../wasm.js';
import { q8GroupFloats } from '../sizes.js';
import type { DotSelfTest } from './relaxed-dot.js';

/** The ggml block types the kernels run (ggml's names, lower case). */
export type GgmlBlockType =
  | 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1' | 'q8_0' | 'iq4_nl'
  | 'q2_k' | 'q3_k' | 'q4_k' | 'q5_k' | 'q6_k' | 'iq4_xs'
  | 'f16' | 'bf16';

/** The exports of GgmlKernels that worker threads run. */
export const GGML_THREAD_KERNELS = [
  'q4_0_gemm_x4', 'q4_1_gemm', 'q5_0_gemm', 'q5_1_gemm', 'iq4_nl_gemm',
  'q2_k_gemm', 'q3_k_gemm', 'q4_k_gemm_x4', 'q5_k_gemm', 'q6_k_gemm_x4', 'iq4_xs_gemm', 'f16_gemm', 'bf16_gemm',
] as const;

/** How activations are prepared for a type's kernel (`_x4`: the 4-row kernels' layout, assembly/q8.ts). */
export type Activations = 'q8_0' | 'q8_1' | 'q8_k' | 'q8_1_x4' | 'q8_k_x4' | 'q8_k_q6x4' | 'f16' | 'bf16';

/** A type repacked at load into groups of 4 rows: its pack export and the size of its layout. */
interface Repack {
  pack: 'q4_0_gemm_pack_x4' | 'q4_k_gemm_pack_x4' | 'q6_k_gemm_pack_x4';
  /** Bytes of the packed layout (the wasm's TYPE_gemm_packed_bytes, computed here so that sizes are known before any engine exists). */
  bytes(rows: number, cols: number): number;
}

interface KernelTraits {
  /** Weights per block and bytes per block (F16/BF16: one weight of 2 bytes). */
  block: number;
  bytes: number;
  activations: Activations;
  /** Byte offsets of the block's f16 scales, which must be finite. */
  halves: readonly number[];
  /** The GEMM export (Q8_0: Kernels' own 4-row path). */
  gemm: GgmlGemmName | 'q8_0_gemm_x4';
  /** Set where the kernel reads its own layout rather than GGUF's rows. */
  repack?: Repack;
}

/** Bytes per 4 rows x one block of the 4-row layouts (assembly/q4x4.ts, q6x4.ts). */
const groups = (rows: number) => Math.ceil(rows / 4);
const Q4_0_X4: Repack = { pack: 'q4_0_gemm_pack_x4', bytes: (rows, cols) => groups(rows) * (cols / 32) * 80 };
const Q4_K_X4: Repack = { pack: 'q4_k_gemm_pack_x4', bytes: (rows, cols) => groups(rows) * (cols / 256) * 592 };
const Q6_K_X4: Repack = { pack: 'q6_k_gemm_pack_x4', bytes: (rows, cols) => groups(rows) * (cols / 256) * 848 };

type GgmlGemmName = (typeof GGML_THREAD_KERNELS)[number];

/** The kernel side of each type (layouts: ggml-common.h; the host side's traits live in model/). */
export const GGML_KERNEL_TRAITS: Readonly<Record<GgmlBlockType, KernelTraits>> = {
  q4_0: { block: 32, bytes: 18, activations: 'q8_1_x4', halves: [0], gemm: 'q4_0_gemm_x4', repack: Q4_0_X4 },
  q4_1: { block: 32, bytes: 20, activations: 'q8_1', halves: [0, 2], gemm: 'q4_1_gemm' },
  q5_0: { block: 32, bytes: 22, activations: 'q8_1', halves: [0], gemm: 'q5_0_gemm' },
  q5_1: { block: 32, bytes: 24, activations: 'q8_1', halves: [0, 2], gemm: 'q5_1_gemm' },
  q8_0: { block: 32, bytes: 34, activations: 'q8_0', halves: [0], gemm: 'q8_0_gemm_x4' },
  iq4_nl: { block: 32, bytes: 18, activations: 'q8_1', halves: [0], gemm: 'iq4_nl_gemm' },
  q2_k: { block: 256, bytes: 84, activations: 'q8_k', halves: [80, 82], gemm: 'q2_k_gemm' },
  q3_k: { block: 256, bytes: 110, activations: 'q8_k', halves: [108], gemm: 'q3_k_gemm' },
  q4_k: { block: 256, bytes: 144, activations: 'q8_k_x4', halves: [0, 2], gemm: 'q4_k_gemm_x4', repack: Q4_K_X4 },
  q5_k: { block: 256, bytes: 176, activations: 'q8_k', halves: [0, 2], gemm: 'q5_k_gemm' },
  q6_k: { block: 256, bytes: 210, activations: 'q8_k_q6x4', halves: [208], gemm: 'q6_k_gemm_x4', repack: Q6_K_X4 },
  iq4_xs: { block: 256, bytes: 136, activations: 'q8_k', halves: [0], gemm: 'iq4_xs_gemm' },
  f16: { block: 1, bytes: 2, activations: 'f16', halves: [0], gemm: 'f16_gemm' },
  bf16: { block: 1, bytes: 2, activations: 'bf16', halves: [], gemm: 'bf16_gemm' },
};

/** Bytes of one activation block of each layout (32 values, or 256 for Q8_K), as assembly/q8.ts writes them. */
const ACTIVATION_BLOCK: Readonly<Record<'q8_1' | 'q8_k' | 'q8_1_x4' | 'q8_k_x4' | 'q8_k_q6x4', { values: number; bytes: number; quantize: QuantizeName }>> = {
  q8_1: { values: 32, bytes: 44, quantize: 'q8_1_quantize_f32' },
  q8_k: { values: 256, bytes: 292, quantize: 'q8_k_quantize_f32' },
  q8_1_x4: { values: 32, bytes: 112, quantize: 'q8_1_quantize_f32_x4' },
  q8_k_x4: { values: 256, bytes: 800, quantize: 'q8_k_quantize_f32_x4' },
  q8_k_q6x4: { values: 256, bytes: 592, quantize: 'q8_k_quantize_f32_q6x4' },
};

type QuantizeName = 'q8_1_quantize_f32' | 'q8_k_quantize_f32' | 'q8_1_quantize_f32_x4' | 'q8_k_quantize_f32_x4' | 'q8_k_quantize_f32_q6x4';

/** Below this many multiply-adds a product runs on one thread (waking workers costs more). */
const PARALLEL_MIN_MACS = 1 << 19;

/** TYPE_gemm(w, x, y, m, n, k, ldy, dot) (F16/BF16 take no dot argument and ignore it). */
type Gemm = (w: number, x: number, y: number, m: number, n: number, k: number, ldy: number, dot: number) => void;

/** The exports these wrappers call (assembly/index.ts). */
export type GgmlKernelExports = KernelExports & Record<GgmlGemmName, Gemm> & Record<QuantizeName, (x: number, n: number, out: number) => void> & {
  q4_0_gemm_pack_x4(w: number, n: number, k: number, out: number): void;
  q4_k_gemm_pack_x4(w: number, n: number, k: number, out: number): void;
  q4_0_gemm_packed_bytes(n: number, k: number): number;
  q4_k_gemm_packed_bytes(n: number, k: number): number;
  q6_k_gemm_pack_x4(w: number, n: number, k: number, out: number): void;
  q6_k_gemm_packed_bytes(n: number, k: number): number;
  f16_round_f32(x: number, m: number, k: number, out: number): void;
  bf16_round_f32(x: number, m: number, k: number, out: number): void;
  half_count_nonfinite(p: number, n: number, stride: number): number;
  relaxed_dot_probe(a: number, b: number, c: number, out: number): number;
  relaxed_dot_form(dot: number): number;
};

/**
 * A weight matrix in a ggml block type: `rows` output features of `cols` inputs, each row
 * cols / block blocks as GGUF stores them (Q4_0, Q4_K, Q6_K: repacked by 4 rows, assembly/q4x4.ts, q6x4.ts;
 * Q8_0: regrouped by 4 rows, see Kernels.q8Matrix).
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
 * Bytes a `rows` x `cols` matrix of `type` takes in wasm memory, as `GgmlKernels.matrix` lays it
 * out (GGUF's bytes, or the type's 4-row layout): what a memory estimate counts.
 */
export function ggmlMatrixBytes(type: GgmlBlockType, rows: number, cols: number): number {
  const t = GGML_KERNEL_TRAITS[type];
  if (type === 'q8_0') return q8GroupFloats(rows, cols) * 4;
  return t.repack ? t.repack.bytes(rows, cols) : rows * ggmlRowBytes(type, cols);
}

/** Rows of GGUF bytes copied into wasm memory at a time for repacking (whole 4-row groups, about 4 MiB). */
function packChunkRows(rowBytes: number): number {
  return Math.max(4, Math.floor((4 << 20) / rowBytes / 4) * 4);
}

export class GgmlKernels {
  private readonly scratch = new Map<string, F32Buffer>();

  /** @internal the engine makes this */
  constructor(
    private readonly kernels: Kernels,
    private readonly wasm: GgmlKernelExports,
    private readonly arena: Arena,
    private readonly allocF32: (n: number, what: string) => F32Buffer,
    private readonly pool: () => ThreadPool | undefined,
    /** The integer dot path the engine's self-test chose. */
    readonly dot: DotSelfTest,
  ) {}

  /**
   * A `rows` x `cols` matrix of ggml `type` from its GGUF bytes (rows after one another), copied
   * into wasm memory in its blocks. A block scale (or F16 weight) that is infinite or NaN is an
   * E_FORMAT error naming `what`.
   */
  matrix(bytes: Uint8Array, type: GgmlBlockType, rows: number, cols: number, what = `${type} matrix`): GgmlMatrix {
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
      const q = this.kernels.q8Matrix(bytes, rows, cols, what);
      return { type: 'ggml', ggml: type, rows, cols, rowBytes, data: q.data };
    }
    const data = this.allocF32(Math.ceil(ggmlMatrixBytes(type, rows, cols) / 4), what);
    // GGUF's bytes go straight into the matrix, or through a staging scratch into the type's layout
    const chunk = t.repack ? packChunkRows(rowBytes) : rows;
    const staging = t.repack ? this.scratchFor('ggml pack', Math.ceil((Math.min(rows, chunk) * rowBytes) / 4)) : data;
    let bad = 0;
    for (let r = 0; r < rows; r += chunk) {
      const n = Math.min(chunk, rows - r);
      new Uint8Array(this.arena.memory.buffer, staging.ptr, n * rowBytes).set(bytes.subarray(r * rowBytes, (r + n) * rowBytes));
      for (const at of t.halves) bad += this.wasm.half_count_nonfinite(staging.ptr + at, (n * cols) / t.block, t.bytes);
      if (t.repack && bad === 0) this.wasm[t.repack.pack](staging.ptr, n, cols, data.ptr + t.repack.bytes(r, cols));
    }
    if (bad > 0) {
      data.free();
      const what2 = type === 'f16' ? 'weight' : 'block scale';
      throw new FfnkitError('E_FORMAT', `${what}: ${bad} ${type.toUpperCase()} ${what2}${bad > 1 ? 's are' : ' is'} infinite or NaN`);
    }
    return { type: 'ggml', ggml: type, rows, cols, rowBytes, data };
  }

  private checked(name: string, w: unknown): GgmlMatrix {
    const g = w as GgmlMatrix;
    if (typeof w !== 'object' || w === null || g.type !== 'ggml' || GGML_KERNEL_TRAITS[g.ggml] === undefined) {
      throw new FfnkitError('E_ARG', `${name}: expected a GgmlMatrix from ggml.matrix`);
    }
    const t = GGML_KERNEL_TRAITS[g.ggml];
    checkSize(`${name}.rows`, g.rows, 1);
    checkSize(`${name}.cols`, g.cols, t.block);
    if (g.cols % t.block !== 0 || g.rowBytes !== ggmlRowBytes(g.ggml, g.cols)) throw new FfnkitError('E_SHAPE', `${name}: ${g.cols} columns do not fit ${g.ggml.toUpperCase()}'s blocks`);
    const floats = Math.ceil(ggmlMatrixBytes(g.ggml, g.rows, g.cols) / 4);
    checkBuffer(this.arena, `${name}.data`, g.data, floats);
    return g;
  }

  /** `c[m, w.rows] = a[m, w.cols] · wᵀ`: the type's activation quantization, then its kernel, split by rows over the threads. */
  gemm(a: F32Buffer, w: GgmlMatrix, c: F32Buffer, m: number): void {
    checkSize('m', m, 0);
    this.checked('w', w);
    checkBuffer(this.arena, 'a', a, m * w.cols);
    checkBuffer(this.arena, 'c', c, m * w.rows);
    checkDisjoint('c', c, 'a', a);
    checkDisjoint('c', c, 'w', w.data);
    if (m === 0) return;
    const t = GGML_KERNEL_TRAITS[w.ggml];
    if (w.ggml === 'q8_0') {
      this.kernels.gemm(a, { type: 'q8_0', rows: w.rows, cols: w.cols, data: w.data }, c, m);
      return;
    }
    const x = this.activations(t.activations, a, m, w.cols);
    const n = w.rows;
    const k = w.cols;
    const gemm = t.gemm as GgmlGemmName;
    const rowsAt = (r: number) => (t.repack ? t.repack.bytes(r, k) : r * w.rowBytes); // r a multiple of 4
    const call = (r0: number, r1: number): ThreadTask => ({ fn: gemm, args: [w.data.ptr + rowsAt(r0), x, c.ptr + r0 * 4, m, r1 - r0, k, n, this.dot.code] });
    const pool = this.pool();
    if (pool && m * n * k >= PARALLEL_MIN_MACS && n >= 8) {
      // whole rows per thread: each output is computed as in one thread
      pool.run(splitRange(n, pool.threads, 4).map(([r0, r1]) => call(r0, r1)));
      return;
    }
    this.wasm[gemm](w.data.ptr, x, c.ptr, m, n, k, n, this.dot.code);
  }

  /** `y[w.rows] = w · x[w.cols]`: one token (decoding). */
  gemv(w: GgmlMatrix, x: F32Buffer, y: F32Buffer): void {
    this.gemm(x, w, y, 1);
  }

  /**
   * @internal (benchmarks) m rows of k floats of `a` prepared for the kernels of `kind` in the
   * scratch; returns its address, valid until the next call. Sizes are the caller's to check.
   */
  activations(kind: Activations, a: F32Buffer, m: number, k: number): number {
    switch (kind) {
      case 'q8_1': case 'q8_k': case 'q8_1_x4': case 'q8_k_x4': case 'q8_k_q6x4': {
        const b = ACTIVATION_BLOCK[kind];
        const s = this.scratchFor(`${kind} activations`, ((m * k) / b.values) * (b.bytes / 4));
        this.wasm[b.quantize](a.ptr, m * k, s.ptr);
        return s.ptr;
      }
      default: {
        const s = this.scratchFor(`${kind} activations`, m * k);
        if (kind === 'f16') this.wasm.f16_round_f32(a.ptr, m, k, s.ptr);
        else this.wasm.bf16_round_f32(a.ptr, m, k, s.ptr);
        return s.ptr;
      }
    }
  }

  private scratchFor(name: string, floats: number): F32Buffer {
    let s = this.scratch.get(name);
    if (!s || !s.live || s.length < floats) {
      if (s?.live) s.free();
      s = this.allocF32(Math.max(floats, 16), `${name} scratch`);
      this.scratch.set(name, s);
    }
    return s;
  }
}
