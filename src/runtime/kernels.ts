// Typed wrappers over the wasm kernels. Each checks its arguments (types, lengths, overlap,
// ownership) and throws an FfnkitError naming the argument before calling wasm; past that point
// a wrong size would corrupt memory silently.

import { FfnkitError } from '../errors.js';
import type { Arena } from './arena.js';
import type { F32Buffer } from './buffer.js';
import { checkBuffer, checkDisjoint, checkFinite, checkSameOrDisjoint, checkSize } from './check.js';
import type { KernelExports } from './wasm.js';
import { splitRange, type ThreadPool, type ThreadTask } from './threads.js';

/** Below this many multiply-adds a kernel call runs on one thread (waking workers costs more). */
const PARALLEL_MIN_MACS = 1 << 19;

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

/**
 * A weight matrix in Q8_0, GGUF's 8-bit blocks (32 int8 and a scale per block), regrouped for
 * the kernel: the blocks of 4 rows side by side, scales widened to f32 (assembly/quant.ts). The
 * int8 values are the file's own; nothing is dequantized. cols is a multiple of 32.
 */
export interface Q8Matrix {
  readonly type: 'q8_0';
  readonly rows: number;
  readonly cols: number;
  readonly data: F32Buffer;
}

/** The weights `gemm` and the model layers take: f32 panels or Q8_0 groups. */
export type GemmWeights = PackedMatrix | Q8Matrix;

/** The gate activation of a gated FFN: SiLU (SwiGLU, Llama) or GELU's tanh form (GeGLU, Gemma). */
export type GateActivation = 'silu' | 'gelu-tanh';

/**
 * The weights of a dense gated FFN, `y = w2 · (act(w1 x) * (w3 x))` (SwiGLU unless `activation`
 * says otherwise), packed once: w1 (gate) and w3 (up) are [hidden, dim], w2 (down) is [dim,
 * hidden]. The packed panels (or Q8_0 groups) serve both one token (GEMV) and blocks of tokens
 * (GEMM), so the row-major originals may be freed.
 */
export interface DenseFfn {
  readonly dim: number;
  readonly hidden: number;
  readonly w1: GemmWeights;
  readonly w3: GemmWeights;
  readonly w2: GemmWeights;
  readonly activation?: GateActivation;
}

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

/** The shape of an attention call (strides in floats). */
export interface AttentionShape {
  tokens: number;
  pos0: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  qStride?: number;
  kvStride?: number;
  outStride?: number;
  /** Score scale; 1/sqrt(headDim) when absent. */
  scale?: number;
  /** Scores soft-capped to softcap * tanh(score / softcap) (Gemma 2); none when absent. */
  softcap?: number;
  /** Each query sees only the last `window` positions (itself included); all when absent. */
  window?: number;
}

/** RoPE pair layout: llama2.c / GGUF rotate (x[2i], x[2i+1]); Hugging Face rotates (x[i], x[i + d/2]). */
export type RopeLayout = 'interleaved' | 'half';

export class Kernels {
  private readonly wasm: KernelExports;
  private readonly arena: Arena;
  private readonly scratch = new Map<string, F32Buffer>();
  private readonly allocF32: (n: number, what: string) => F32Buffer;
  private pool: ThreadPool | undefined;

  /** @internal engines make these */
  constructor(wasm: KernelExports, arena: Arena, allocF32: (n: number, what: string) => F32Buffer, pool?: ThreadPool) {
    this.wasm = wasm;
    this.arena = arena;
    this.allocF32 = allocF32;
    this.pool = pool;
  }

  /** @internal after the engine's pool is closed */
  detachPool(): void {
    this.pool = undefined;
  }

  private buf(name: string, b: unknown, length?: number): F32Buffer {
    return checkBuffer(this.arena, name, b, length);
  }

  private matrix(name: string, w: unknown): Matrix {
    const m = w as Matrix;
    if (typeof w !== 'object' || w === null || m.type !== 'f32') {
      throw new FfnkitError('E_ARG', `${name}: expected an f32 Matrix from engine.matrix`);
    }
    checkSize(`${name}.rows`, m.rows, 1);
    checkSize(`${name}.cols`, m.cols, 1);
    this.buf(`${name}.data`, m.data, m.rows * m.cols);
    return m;
  }

  private packed(name: string, w: unknown): GemmWeights {
    const p = w as GemmWeights;
    if (typeof w !== 'object' || w === null || (p.type !== 'f32-panel8' && p.type !== 'q8_0')) {
      throw new FfnkitError('E_ARG', `${name}: expected a PackedMatrix from kernels.pack or a Q8Matrix from kernels.q8Matrix`);
    }
    checkSize(`${name}.rows`, p.rows, 1);
    checkSize(`${name}.cols`, p.cols, 1);
    const floats = p.type === 'q8_0' ? this.wasm.q8_0_packed_size(p.rows, p.cols) : this.wasm.gemm_packed_size(p.rows, p.cols);
    this.buf(`${name}.data`, p.data, floats);
    return p;
  }

  // ---- matrix products -------------------------------------------------------------------

  /** Repacks `w` (and an optional `bias` of w.rows) into gemm panels, in a new buffer. */
  pack(w: Matrix, bias?: F32Buffer): PackedMatrix {
    this.matrix('w', w);
    if (bias !== undefined) this.buf('bias', bias, w.rows);
    const size = this.wasm.gemm_packed_size(w.rows, w.cols);
    const data = this.allocF32(size, `packed ${w.rows}x${w.cols} matrix`);
    this.wasm.gemm_pack_f32(w.data.ptr, bias ? bias.ptr : 0, w.rows, w.cols, data.ptr);
    return { type: 'f32-panel8', rows: w.rows, cols: w.cols, data };
  }

  /**
   * Packs a row-major `rows` x `cols` matrix straight from host memory, a few panels at a time
   * through a small staging buffer, so the wasm memory never holds a second full copy.
   */
  packFrom(data: Float32Array, rows: number, cols: number, what = 'matrix'): PackedMatrix {
    checkSize(`${what} rows`, rows, 1);
    checkSize(`${what} cols`, cols, 1);
    if (!(data instanceof Float32Array) || data.length !== rows * cols) {
      throw new FfnkitError('E_SHAPE', `${what}: expected ${rows}x${cols} = ${rows * cols} float32 values, found ${data?.length}`);
    }
    const packed = this.allocF32(this.wasm.gemm_packed_size(rows, cols), `packed ${what}`);
    const chunk = Math.max(8, Math.floor((1 << 20) / cols / 8) * 8); // ~4 MiB of rows, whole panels
    const staging = this.scratchFor('pack', Math.min(rows, chunk) * cols);
    const panelFloats = (cols + 1) * 8;
    for (let r = 0; r < rows; r += chunk) {
      const n = Math.min(chunk, rows - r);
      staging.view().set(data.subarray(r * cols, (r + n) * cols));
      this.wasm.gemm_pack_f32(staging.ptr, 0, n, cols, packed.ptr + (r / 8) * panelFloats * 4);
    }
    return { type: 'f32-panel8', rows, cols, data: packed };
  }

  /**
   * A Q8_0 matrix from its GGUF block bytes (`rows` rows of cols/32 blocks of 34 bytes), regrouped
   * by 4 rows into a new buffer through a small staging buffer; the int8 values are kept as they
   * are, never dequantized. A block whose f16 scale is infinite or NaN is an E_FORMAT error.
   */
  q8Matrix(bytes: Uint8Array, rows: number, cols: number, what = 'Q8_0 matrix'): Q8Matrix {
    checkSize(`${what} rows`, rows, 1);
    checkSize(`${what} cols`, cols, 32);
    if (cols % 32 !== 0) throw new FfnkitError('E_SHAPE', `${what}: Q8_0 needs columns in multiples of 32, found ${cols}`);
    const rowBytes = (cols / 32) * 34;
    if (!(bytes instanceof Uint8Array) || bytes.length !== rows * rowBytes) {
      throw new FfnkitError('E_SHAPE', `${what}: ${rows}x${cols} in Q8_0 is ${rows * rowBytes} bytes, found ${bytes?.length}`);
    }
    const data = this.allocF32(this.wasm.q8_0_packed_size(rows, cols), what);
    const chunk = Math.max(4, Math.floor((4 << 20) / rowBytes / 4) * 4); // ~4 MiB of rows, whole groups
    const staging = this.scratchFor('pack', Math.ceil((Math.min(rows, chunk) * rowBytes) / 4));
    const groupBytes = this.q8GroupBytes(cols);
    let bad = 0;
    for (let r = 0; r < rows; r += chunk) {
      const n = Math.min(chunk, rows - r);
      new Uint8Array(this.arena.memory.buffer, staging.ptr, n * rowBytes).set(bytes.subarray(r * rowBytes, (r + n) * rowBytes));
      bad += this.wasm.q8_0_pack_x4(staging.ptr, n, cols, data.ptr + (r / 4) * groupBytes);
    }
    if (bad > 0) {
      data.free();
      throw new FfnkitError('E_FORMAT', `${what}: ${bad} Q8_0 block${bad > 1 ? 's have scales' : ' has a scale'} that ${bad > 1 ? 'are' : 'is'} infinite or NaN`);
    }
    return { type: 'q8_0', rows, cols, data };
  }

  /** Bytes of one 4-row group of a Q8_0 matrix of `cols` columns (the kernel's own layout). */
  private q8GroupBytes(cols: number): number {
    return this.wasm.q8_0_packed_size(4, cols) * 4;
  }

  /**
   * `c[m, w.rows] = a[m, w.cols] · wᵀ` for Q8_0 weights: a's rows are quantized per block of 32
   * (int8 and an f32 scale, as ggml's q8_0 activations) and each block's dot product runs on
   * integers. Split by groups of 4 output rows over the threads.
   */
  private gemmQ8(a: F32Buffer, w: Q8Matrix, c: F32Buffer, m: number): void {
    this.gemmQ8Quantized(this.quantizeQ8(a, m * w.cols), w, c, m);
  }

  /**
   * n floats of `a` (n a multiple of 32) quantized per block into the scratch: int16 values at
   * `xq` (n/2 floats of room), then n/32 scales at `xd`. Valid until the next call.
   */
  private quantizeQ8(a: F32Buffer, n: number): { xq: number; xd: number } {
    const scratch = this.scratchFor('q8 activations', n / 2 + n / 32);
    const xq = scratch.ptr;
    const xd = scratch.ptr + (n / 2) * 4;
    this.wasm.quantize_q8_0_f32(a.ptr, n, xq, xd);
    return { xq, xd };
  }

  /** gemmQ8 on activations already quantized by quantizeQ8 (m rows of w.cols). */
  private gemmQ8Quantized({ xq, xd }: { xq: number; xd: number }, w: Q8Matrix, c: F32Buffer, m: number): void {
    const n = w.rows;
    const k = w.cols;
    const pool = this.pool;
    if (pool && m * n * k >= PARALLEL_MIN_MACS) {
      const groupBytes = this.q8GroupBytes(k);
      pool.run(splitRange(Math.ceil(n / 4), pool.threads, 1).map(([g0, g1]): ThreadTask => ({
        fn: 'gemm_q8_0_x4', args: [w.data.ptr + g0 * groupBytes, xq, xd, c.ptr + g0 * 16, m, Math.min(n, g1 * 4) - g0 * 4, k, n],
      })));
      return;
    }
    this.wasm.gemm_q8_0_x4(w.data.ptr, xq, xd, c.ptr, m, n, k, n);
  }

  /**
   * `c[m, w.rows] = a[m, w.cols] · wᵀ + bias`, for `m` rows of `a`: f32 panels (bias packed in),
   * or Q8_0 groups (no bias; activations quantized per block, see gemmQ8).
   */
  gemm(a: F32Buffer, w: GemmWeights, c: F32Buffer, m: number): void {
    checkSize('m', m, 0);
    this.packed('w', w);
    this.buf('a', a, m * w.cols);
    this.buf('c', c, m * w.rows);
    checkDisjoint('c', c, 'a', a);
    checkDisjoint('c', c, 'w', w.data);
    if (w.type === 'q8_0') {
      if (m > 0) this.gemmQ8(a, w, c, m);
      return;
    }
    const n = w.rows;
    const k = w.cols;
    const pool = this.pool;
    if (pool && m * n * k >= PARALLEL_MIN_MACS && (m >= 8 || m === 1)) {
      // rows in multiples of the 4-row tile (a GEMV: whole 8-feature panels), so every output is
      // computed exactly as in one thread
      const tasks = m === 1
        ? splitRange(Math.ceil(n / 8), pool.threads, 1).map(([p0, p1]): ThreadTask => ({
          fn: 'gemm_f32', args: [a.ptr, w.data.ptr + p0 * (k + 1) * 32, c.ptr + p0 * 32, 1, Math.min(n, p1 * 8) - p0 * 8, k],
        }))
        : splitRange(m, pool.threads, 4).map(([r0, r1]): ThreadTask => ({
          fn: 'gemm_f32', args: [a.ptr + r0 * k * 4, w.data.ptr, c.ptr + r0 * n * 4, r1 - r0, n, k],
        }));
      pool.run(tasks);
      return;
    }
    this.wasm.gemm_f32(a.ptr, w.data.ptr, c.ptr, m, n, k);
  }

  /**
   * `y[w.rows] = w · x[w.cols] (+ bias)`. On a PackedMatrix (bias already packed in) or a Q8Matrix
   * this streams the weights as one contiguous run, the fastest form for decoding; on a row-major
   * Matrix it needs no packing and takes an optional `bias`.
   */
  gemv(w: Matrix | GemmWeights, x: F32Buffer, y: F32Buffer, bias?: F32Buffer): void {
    if (typeof w === 'object' && w !== null && (w.type === 'f32-panel8' || w.type === 'q8_0')) {
      if (bias !== undefined) throw new FfnkitError('E_ARG', 'bias: packed and Q8_0 matrices take no bias here (a PackedMatrix carries its own from kernels.pack)');
      this.gemm(x, w, y, 1);
      return;
    }
    this.matrix('w', w);
    this.buf('x', x, w.cols);
    this.buf('y', y, w.rows);
    if (bias !== undefined) this.buf('bias', bias, w.rows);
    checkDisjoint('y', y, 'w', w.data);
    checkDisjoint('y', y, 'x', x);
    checkDisjoint('y', y, 'bias', bias);
    this.wasm.gemv_f32(w.data.ptr, x.ptr, bias ? bias.ptr : 0, y.ptr, w.rows, w.cols);
  }

  /** Checks the shapes of a SwiGLU FFN and packs its weights into a new handle. */
  denseFfn(w1: Matrix, w3: Matrix, w2: Matrix): DenseFfn {
    this.matrix('w1', w1);
    this.matrix('w3', w3);
    this.matrix('w2', w2);
    return this.denseFfnFromPacked(this.pack(w1), this.pack(w3), this.pack(w2));
  }

  /**
   * A gated FFN handle from already packed (or Q8_0) gate (w1), up (w3) and down (w2) matrices:
   * SwiGLU, or GeGLU with `activation` 'gelu-tanh'.
   */
  denseFfnFromPacked(w1: GemmWeights, w3: GemmWeights, w2: GemmWeights, activation: GateActivation = 'silu'): DenseFfn {
    if (activation !== 'silu' && activation !== 'gelu-tanh') throw new FfnkitError('E_ARG', `activation: expected 'silu' or 'gelu-tanh', found '${String(activation)}'`);
    const hidden = w1.rows;
    const dim = w1.cols;
    if (w3.rows !== hidden || w3.cols !== dim) {
      throw new FfnkitError('E_SHAPE', `w3: expected ${hidden}x${dim} like w1, found ${w3.rows}x${w3.cols}`);
    }
    if (w2.rows !== dim || w2.cols !== hidden) {
      throw new FfnkitError('E_SHAPE', `w2: expected ${dim}x${hidden} (dim x hidden), found ${w2.rows}x${w2.cols}`);
    }
    return activation === 'silu' ? { dim, hidden, w1, w3, w2 } : { dim, hidden, w1, w3, w2, activation };
  }

  /** The dense FFN on `tokens` rows of `x` (tokens x dim) into `y` (tokens x dim), in one wasm call. */
  ffn(f: DenseFfn, x: F32Buffer, y: F32Buffer, tokens: number): void {
    checkSize('tokens', tokens, 1);
    this.buf('x', x, tokens * f.dim);
    this.buf('y', y, tokens * f.dim);
    checkDisjoint('y', y, 'x', x);
    for (const [name, w] of [['w1', f.w1], ['w3', f.w3], ['w2', f.w2]] as const) {
      this.packed(name, w);
      checkDisjoint('y', y, name, w.data);
    }
    const scratch = this.scratchFor('ffn', 2 * tokens * f.hidden);
    checkDisjoint('y', y, 'scratch', scratch);
    const pool = this.pool;
    const geglu = f.activation === 'gelu-tanh';
    // the fused kernel is SwiGLU's; GeGLU takes the three products with its activation between
    const fused = !geglu && f.w1.type === 'f32-panel8' && f.w3.type === 'f32-panel8' && f.w2.type === 'f32-panel8';
    if (!fused || (pool && tokens * f.dim * f.hidden >= PARALLEL_MIN_MACS)) {
      if (fused && pool && tokens >= 8) {
        // whole 4-row tiles of tokens per thread, each with its share of the scratch
        pool.run(splitRange(tokens, pool.threads, 4).map(([r0, r1]): ThreadTask => ({
          fn: 'ffn_swiglu_f32',
          args: [x.ptr + r0 * f.dim * 4, r1 - r0, f.w1.data.ptr, f.w3.data.ptr, f.w2.data.ptr, f.dim, f.hidden, scratch.ptr + 2 * r0 * f.hidden * 4, y.ptr + r0 * f.dim * 4],
        })));
        return;
      }
      // Q8_0 weights, or a few tokens (decoding): the three products, each split over the
      // threads by output rows, and the SwiGLU between them (for f32 panels the same operations
      // in the same order as ffn_swiglu_f32)
      const gate = scratch.sub(0, tokens * f.hidden);
      const up = scratch.sub(tokens * f.hidden, tokens * f.hidden);
      if (f.w1.type === 'q8_0' && f.w3.type === 'q8_0') {
        // gate and up read the same x: quantize it once
        const xq = this.quantizeQ8(x, tokens * f.dim);
        this.gemmQ8Quantized(xq, f.w1, gate, tokens);
        this.gemmQ8Quantized(xq, f.w3, up, tokens);
      } else {
        this.gemm(x, f.w1, gate, tokens);
        this.gemm(x, f.w3, up, tokens);
      }
      if (geglu) this.wasm.f32_geglu_tanh(gate.ptr, up.ptr, gate.ptr, tokens * f.hidden);
      else this.wasm.swiglu_f32(gate.ptr, up.ptr, gate.ptr, tokens * f.hidden);
      this.gemm(gate, f.w2, y, tokens);
      return;
    }
    this.wasm.ffn_swiglu_f32(x.ptr, tokens, f.w1.data.ptr, f.w3.data.ptr, f.w2.data.ptr, f.dim, f.hidden, scratch.ptr, y.ptr);
  }

  /** Checks a convolution's operands (lengths in floats) and that y is apart from the others. */
  private convOperands(x: F32Buffer, xLength: number, weights: F32Buffer, wLength: number, y: F32Buffer, yLength: number, bias: F32Buffer | undefined, biasLength: number): void {
    this.buf('x', x, xLength);
    this.buf('weights', weights, wLength);
    this.buf('y', y, yLength);
    if (bias) this.buf('bias', bias, biasLength);
    checkDisjoint('y', y, 'x', x);
    checkDisjoint('y', y, 'weights', weights);
    checkDisjoint('y', y, 'bias', bias);
  }

  /** The scratch buffer `name`, of at least n floats, reused between calls. */
  private scratchFor(name: string, n: number): F32Buffer {
    let b = this.scratch.get(name);
    if (!b || !b.live || b.length < n) {
      if (b?.live) b.free();
      b = this.allocF32(n, `${name} scratch`);
      this.scratch.set(name, b);
    }
    return b;
  }

  /**
   * Causal grouped-query attention for `tokens` queries at positions pos0 .. pos0+tokens-1 over a
   * KV cache whose rows 0 .. pos0+tokens-1 are filled (see assembly/attention.ts for the layout).
   * Strides are in floats and default to the packed widths (heads*headDim, kvHeads*headDim).
   * With a thread pool and enough work, whole KV heads go to each thread (same bits as one).
   */
  attention(q: F32Buffer, k: F32Buffer, v: F32Buffer, out: F32Buffer, shape: AttentionShape): void {
    const tokens = checkSize('tokens', shape.tokens, 1);
    const pos0 = checkSize('pos0', shape.pos0, 0);
    const heads = checkSize('heads', shape.heads, 1);
    const kvHeads = checkSize('kvHeads', shape.kvHeads, 1);
    const headDim = checkSize('headDim', shape.headDim, 1);
    if (heads % kvHeads !== 0) throw new FfnkitError('E_SHAPE', `heads: ${heads} is not a multiple of kvHeads ${kvHeads}`);
    const qStride = checkSize('qStride', shape.qStride ?? heads * headDim, heads * headDim);
    const kvStride = checkSize('kvStride', shape.kvStride ?? kvHeads * headDim, kvHeads * headDim);
    const outStride = checkSize('outStride', shape.outStride ?? heads * headDim, heads * headDim);
    const need = (name: string, b: F32Buffer, rows: number, stride: number, width: number) => {
      this.buf(name, b);
      const n = (rows - 1) * stride + width;
      if (b.length < n) throw new FfnkitError('E_SHAPE', `${name}: expected at least ${n} floats (${rows} rows), found ${b.length}`);
    };
    need('q', q, tokens, qStride, heads * headDim);
    need('k', k, pos0 + tokens, kvStride, kvHeads * headDim);
    need('v', v, pos0 + tokens, kvStride, kvHeads * headDim);
    need('out', out, tokens, outStride, heads * headDim);
    checkDisjoint('out', out, 'q', q);
    checkDisjoint('out', out, 'k', k);
    checkDisjoint('out', out, 'v', v);
    const rows = pos0 + tokens;
    const plain = shape.scale === undefined && shape.softcap === undefined && shape.window === undefined;
    const scale = shape.scale ?? 1 / Math.sqrt(headDim);
    checkFinite('scale', scale);
    const softcap = shape.softcap ?? 0;
    if (!(softcap >= 0 && Number.isFinite(softcap))) throw new FfnkitError('E_ARG', `softcap: expected a positive number, found ${softcap}`);
    const window = shape.window === undefined ? 0 : checkSize('window', shape.window, 1);
    // the plain form is Llama's kernel; scale, soft-cap or window take the windowed one
    const kernel = plain ? 'attention_f32' : 'f32_attention_windowed';
    const options = plain ? [] : [scale, softcap, window];
    const pool = this.pool;
    if (pool && kvHeads > 1 && 2 * tokens * heads * rows * headDim >= PARALLEL_MIN_MACS) {
      // whole KV heads per thread, with their query heads and a scores row each: every head is
      // computed as in one thread
      const group = heads / kvHeads;
      const parts = splitRange(kvHeads, pool.threads, 1);
      const scores = this.scratchFor('attention', parts.length * rows);
      pool.run(parts.map(([g0, g1], i): ThreadTask => ({
        fn: kernel,
        args: [q.ptr + g0 * group * headDim * 4, qStride, k.ptr + g0 * headDim * 4, v.ptr + g0 * headDim * 4, kvStride,
          out.ptr + g0 * group * headDim * 4, outStride, scores.ptr + i * rows * 4, tokens, pos0, (g1 - g0) * group, g1 - g0, headDim, ...options],
      })));
      return;
    }
    const scores = this.scratchFor('attention', rows);
    if (plain) this.wasm.attention_f32(q.ptr, qStride, k.ptr, v.ptr, kvStride, out.ptr, outStride, scores.ptr, tokens, pos0, heads, kvHeads, headDim);
    else this.wasm.f32_attention_windowed(q.ptr, qStride, k.ptr, v.ptr, kvStride, out.ptr, outStride, scores.ptr, tokens, pos0, heads, kvHeads, headDim, scale, softcap, window);
  }

  // ---- elementwise -----------------------------------------------------------------------

  /** `y = s * x` (y may be x). */
  scale(x: F32Buffer, s: number, y: F32Buffer): void {
    this.buf('x', x);
    this.buf('y', y, x.length);
    checkFinite('s', s);
    checkSameOrDisjoint('y', y, 'x', x);
    this.wasm.scale_f32(x.ptr, s, y.ptr, x.length);
  }

  /** Checks a two-input elementwise op whose output may be either input, then runs it. */
  private binary(names: [string, string], a: F32Buffer, b: F32Buffer, y: F32Buffer, kernel: (a: number, b: number, y: number, n: number) => void): void {
    this.buf(names[0], a);
    this.buf(names[1], b, a.length);
    this.buf('y', y, a.length);
    checkSameOrDisjoint('y', y, names[0], a);
    checkSameOrDisjoint('y', y, names[1], b);
    kernel(a.ptr, b.ptr, y.ptr, a.length);
  }

  /** `y = a + b` (y may be a or b). */
  add(a: F32Buffer, b: F32Buffer, y: F32Buffer): void {
    this.binary(['a', 'b'], a, b, y, this.wasm.add_f32);
  }

  /** `y += alpha * x` (x and y apart). */
  axpy(alpha: number, x: F32Buffer, y: F32Buffer): void {
    checkFinite('alpha', alpha);
    this.buf('x', x);
    this.buf('y', y, x.length);
    checkDisjoint('y', y, 'x', x);
    this.wasm.axpy_f32(alpha, x.ptr, y.ptr, x.length);
  }

  /** `x[r] += bias` for each of `rows` rows of bias.length floats in x (bias apart from x). */
  addRowBias(x: F32Buffer, bias: F32Buffer, rows: number): void {
    checkSize('rows', rows, 1);
    const n = this.buf('bias', bias).length;
    checkSize('bias.length', n, 1);
    this.buf('x', x, rows * n);
    checkDisjoint('x', x, 'bias', bias);
    this.wasm.f32_add_row_bias(x.ptr, bias.ptr, rows, n);
  }

  /** Soft-capping: `y = cap * tanh(x / cap)` (y may be x; cap > 0). */
  softcap(x: F32Buffer, cap: number, y: F32Buffer): void {
    this.buf('x', x);
    this.buf('y', y, x.length);
    if (!(cap > 0 && Number.isFinite(cap))) throw new FfnkitError('E_ARG', `cap: expected a positive number, found ${cap}`);
    checkSameOrDisjoint('y', y, 'x', x);
    this.wasm.f32_softcap(x.ptr, cap, y.ptr, x.length);
  }

  /** SwiGLU: `y = silu(gate) * up` (y may be gate or up). */
  swiglu(gate: F32Buffer, up: F32Buffer, y: F32Buffer): void {
    this.binary(['gate', 'up'], gate, up, y, this.wasm.swiglu_f32);
  }

  /** GeGLU: `y = GELU_tanh(gate) * up` (y may be gate or up). */
  geglu(gate: F32Buffer, up: F32Buffer, y: F32Buffer): void {
    this.binary(['gate', 'up'], gate, up, y, this.wasm.f32_geglu_tanh);
  }

  /** `y = GELU(x)`, the exact erf form, or with `approximate: 'tanh'` the tanh form (y may be x). */
  gelu(x: F32Buffer, y: F32Buffer, approximate: 'none' | 'tanh' = 'none'): void {
    this.buf('x', x);
    this.buf('y', y, x.length);
    checkSameOrDisjoint('y', y, 'x', x);
    if (approximate === 'tanh') this.wasm.gelu_tanh_f32(x.ptr, y.ptr, x.length);
    else if (approximate === 'none') this.wasm.gelu_f32(x.ptr, y.ptr, x.length);
    else throw new FfnkitError('E_ARG', `approximate: expected 'none' or 'tanh', found '${String(approximate)}'`);
  }

  /**
   * Rotary position embedding in place on `heads` heads of `headDim` floats in `x`.
   * `cs` holds headDim/2 cosines then headDim/2 sines for the position (see `ropeCosSin`).
   */
  rope(x: F32Buffer, heads: number, headDim: number, cs: F32Buffer, layout: RopeLayout): void {
    checkSize('heads', heads, 1);
    checkSize('headDim', headDim, 2);
    if (headDim % 2 !== 0) throw new FfnkitError('E_ARG', `headDim: expected an even number, found ${headDim}`);
    if (layout !== 'interleaved' && layout !== 'half') {
      throw new FfnkitError('E_ARG', `layout: expected 'interleaved' or 'half', found '${String(layout)}'`);
    }
    this.buf('x', x, heads * headDim);
    this.buf('cs', cs, headDim);
    checkDisjoint('x', x, 'cs', cs);
    this.wasm.rope_f32(x.ptr, heads, headDim, cs.ptr, layout === 'half' ? 1 : 0);
  }

  // ---- routing (mixtures of experts) -----------------------------------------------------

  /**
   * For each of `rows` rows of n values in x, the k largest: indices into `idx` (as int32, see
   * F32Buffer.i32) and values into `val`, both rows x k, best first (lower index on ties).
   */
  topk(x: F32Buffer, rows: number, k: number, idx: F32Buffer, val: F32Buffer): void {
    checkSize('rows', rows, 1);
    this.buf('x', x);
    if (x.length % rows !== 0) throw new FfnkitError('E_SHAPE', `x: ${x.length} floats do not split into ${rows} rows`);
    const n = x.length / rows;
    checkSize('k', k, 1);
    if (k > n) throw new FfnkitError('E_ARG', `k: ${k} is more than the ${n} values per row`);
    this.buf('idx', idx, rows * k);
    this.buf('val', val, rows * k);
    checkDisjoint('idx', idx, 'x', x);
    checkDisjoint('val', val, 'x', x);
    checkDisjoint('val', val, 'idx', idx);
    this.wasm.topk_f32(x.ptr, rows, n, k, idx.ptr, val.ptr);
  }

  /** Checks that the first `count` int32 row indices in `rowsIdx` are below `limit`. */
  private rowIndices(rowsIdx: F32Buffer, count: number, limit: number): void {
    this.buf('rowsIdx', rowsIdx);
    if (rowsIdx.length < count) throw new FfnkitError('E_SHAPE', `rowsIdx: expected at least ${count} indices, found ${rowsIdx.length}`);
    const ids = rowsIdx.i32();
    for (let i = 0; i < count; i++) {
      const r = ids[i]!;
      if (r < 0 || r >= limit) throw new FfnkitError('E_ARG', `rowsIdx[${i}]: row ${r} is outside 0..${limit - 1}`);
    }
  }

  /** dst row i = src row rowsIdx[i] for i < count (rows of d floats). */
  gatherRows(src: F32Buffer, rowsIdx: F32Buffer, count: number, d: number, dst: F32Buffer): void {
    checkSize('count', count, 0);
    checkSize('d', d, 1);
    this.buf('src', src);
    this.buf('dst', dst);
    if (dst.length < count * d) throw new FfnkitError('E_SHAPE', `dst: expected at least ${count * d} floats, found ${dst.length}`);
    this.rowIndices(rowsIdx, count, Math.floor(src.length / d));
    checkDisjoint('dst', dst, 'src', src);
    checkDisjoint('dst', dst, 'rowsIdx', rowsIdx);
    this.wasm.gather_rows_f32(src.ptr, rowsIdx.ptr, count, d, dst.ptr);
  }

  /** dst row rowsIdx[i] += weight[i] * src row i for i < count (rows of d floats). */
  scatterAddRows(src: F32Buffer, rowsIdx: F32Buffer, weight: F32Buffer, count: number, d: number, dst: F32Buffer): void {
    checkSize('count', count, 0);
    checkSize('d', d, 1);
    this.buf('src', src);
    this.buf('dst', dst);
    this.buf('weight', weight);
    if (src.length < count * d) throw new FfnkitError('E_SHAPE', `src: expected at least ${count * d} floats, found ${src.length}`);
    if (weight.length < count) throw new FfnkitError('E_SHAPE', `weight: expected at least ${count} floats, found ${weight.length}`);
    this.rowIndices(rowsIdx, count, Math.floor(dst.length / d));
    checkDisjoint('dst', dst, 'src', src);
    checkDisjoint('dst', dst, 'weight', weight);
    checkDisjoint('dst', dst, 'rowsIdx', rowsIdx);
    this.wasm.scatter_add_rows_f32(src.ptr, rowsIdx.ptr, weight.ptr, count, d, dst.ptr);
  }

  // ---- depthwise convolutions (MetaMixer) --------------------------------------------------

  /**
   * Depthwise 2-D convolution, 'same' padding, odd k in 3..31, stride 1 or 2, optional bias (c)
   * and fused GELU. layout 'nchw' (default; measured 2-3x faster here): x is c planes of h x w,
   * weights c x k x k, y c planes of ceil(h/stride) x ceil(w/stride). layout 'nhwc': x is
   * h x w x c, weights k x k x c, y likewise channels-last. `multiplier` 2 (nchw only) gives each
   * input channel two output channels (groups = c, 2c outputs: FFNet's downsampling); weights,
   * bias and y then hold 2c channels, output o reading input o / 2.
   */
  depthwiseConv2d(x: F32Buffer, shape: { h: number; w: number; c: number }, weights: F32Buffer, k: number, y: F32Buffer, options: { bias?: F32Buffer; stride?: 1 | 2; gelu?: boolean; layout?: 'nchw' | 'nhwc'; multiplier?: 1 | 2 } = {}): void {
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
    this.convOperands(x, h * w * c, weights, k * k * c * mult, y, ho * wo * c * mult, options.bias, c * mult);
    const bias = options.bias?.ptr ?? 0;
    const gelu = options.gelu ? 1 : 0;
    if (layout === 'nhwc') {
      this.wasm.depthwise_conv2d_nhwc_f32(x.ptr, h, w, c, weights.ptr, k, bias, stride, gelu, y.ptr);
      return;
    }
    const plane = (h + k - 1) * (w + k - 1) + 16;
    const pool = this.pool;
    const threads = pool && c > 1 && c * mult * ho * wo * k * k >= PARALLEL_MIN_MACS ? pool.threads : 1;
    const scratch = this.scratchFor('conv plane', threads * plane);
    checkDisjoint('y', y, 'scratch', scratch);
    if (pool && threads > 1) {
      // whole channels per thread, each with its own padded-plane scratch
      pool.run(splitRange(c, threads, 1).map(([c0, c1], t): ThreadTask => ({
        fn: 'depthwise_conv2d_nchw_f32',
        args: [
          x.ptr + c0 * h * w * 4, h, w, c1 - c0, mult, weights.ptr + c0 * mult * k * k * 4, k, bias ? bias + c0 * mult * 4 : 0,
          stride, gelu, y.ptr + c0 * mult * ho * wo * 4, scratch.ptr + t * plane * 4,
        ],
      })));
      return;
    }
    this.wasm.depthwise_conv2d_nchw_f32(x.ptr, h, w, c, mult, weights.ptr, k, bias, stride, gelu, y.ptr, scratch.ptr);
  }

  /**
   * Pointwise (1x1) convolution on planar data, a GEMM over pixels:
   * `y[cout][p] = weights[cout][c] · x[c][p] + bias[cout]`, optional fused GELU. x is c planes of
   * `pixels`, weights cout x c (PyTorch's [cout, c, 1, 1]), y cout planes of `pixels`.
   */
  pointwiseConv(x: F32Buffer, shape: { c: number; pixels: number }, weights: F32Buffer, cout: number, y: F32Buffer, options: { bias?: F32Buffer; gelu?: boolean } = {}): void {
    const c = checkSize('c', shape.c, 1);
    const p = checkSize('pixels', shape.pixels, 1);
    checkSize('cout', cout, 1);
    this.convOperands(x, c * p, weights, cout * c, y, cout * p, options.bias, cout);
    this.pointwiseChecked(x, c, p, weights, cout, y, options);
  }

  /**
   * Grouped pointwise (1x1) convolution on planar data (PyTorch's Conv with `groups`, kernel 1)
   * whose groups' channels may be interleaved: group g's input i is plane `g * input.group +
   * i * input.channel` of x and its output o is plane `g * output.group + o * output.channel` of
   * y, so a grouped convolution with the channel permutes around it runs without copying. The
   * defaults (`input: { group: cin, channel: 1 }`, `output: { group: cout, channel: 1 }`) are
   * PyTorch's contiguous groups. x is `shape.c` planes of `pixels`; weights
   * [groups][cout][cin] (PyTorch's [groups * cout, cin, 1]); bias [groups][cout]; y holds
   * groups * cout planes, each written once (the output placement must be a permutation).
   */
  groupedPointwiseConv(
    x: F32Buffer, shape: { c: number; pixels: number }, weights: F32Buffer, layout: GroupedPointwise, y: F32Buffer,
    options: { bias?: F32Buffer; gelu?: boolean } = {},
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
    this.convOperands(x, c * p, weights, groups * cout * cin, y, planes * p, options.bias, planes);
    const per = cin * this.wasm.pointwise_block_pixels(cin);
    const pool = this.pool;
    const threads = pool && groups > 1 && planes * cin * p >= PARALLEL_MIN_MACS ? Math.min(pool.threads, groups) : 1;
    const scratch = this.scratchFor('pointwise', threads * per);
    checkDisjoint('y', y, 'scratch', scratch);
    const bias = options.bias?.ptr ?? 0;
    const gelu = options.gelu ? 1 : 0;
    // groups g0..g1-1 with scratch slot t
    const args = (g0: number, g1: number, t: number): Parameters<KernelExports['grouped_pointwise_conv_nchw_f32']> => [
      x.ptr + g0 * input.group * p * 4, p, g1 - g0, cin, input.group, input.channel, weights.ptr + g0 * cout * cin * 4, cout,
      output.group, output.channel, bias ? bias + g0 * cout * 4 : 0, gelu, y.ptr + g0 * output.group * p * 4, scratch.ptr + t * per * 4,
    ];
    if (pool && threads > 1) {
      // whole groups per thread, each packing into its own scratch
      pool.run(splitRange(groups, threads, 1).map(([g0, g1], t): ThreadTask => ({ fn: 'grouped_pointwise_conv_nchw_f32', args: args(g0, g1, t) })));
      return;
    }
    this.wasm.grouped_pointwise_conv_nchw_f32(...args(0, groups, 0));
  }

  /** The pointwise kernel on operands already checked, with its packing scratch. */
  private pointwiseChecked(x: F32Buffer, c: number, p: number, weights: F32Buffer, cout: number, y: F32Buffer, options: { bias?: F32Buffer; gelu?: boolean }): void {
    const per = c * this.wasm.pointwise_block_pixels(c);
    const pool = this.pool;
    const threads = pool && cout >= 8 && cout * c * p >= PARALLEL_MIN_MACS ? pool.threads : 1;
    const scratch = this.scratchFor('pointwise', threads * per);
    checkDisjoint('y', y, 'scratch', scratch);
    const bias = options.bias?.ptr ?? 0;
    const gelu = options.gelu ? 1 : 0;
    if (pool && threads > 1) {
      // output channels in whole 4-channel tiles per thread, each packing the pixels into its own scratch
      pool.run(splitRange(cout, threads, 4).map(([o0, o1], t): ThreadTask => ({
        fn: 'pointwise_conv_nchw_f32',
        args: [x.ptr, c, p, weights.ptr + o0 * c * 4, o1 - o0, bias ? bias + o0 * 4 : 0, gelu, y.ptr + o0 * p * 4, scratch.ptr + t * per * 4],
      })));
      return;
    }
    this.wasm.pointwise_conv_nchw_f32(x.ptr, c, p, weights.ptr, cout, bias, gelu, y.ptr, scratch.ptr);
  }

  /**
   * Full k x k convolution (groups 1) on planar data, zero padding `pad` (default (k-1)/2),
   * stride 1 or 2: the patches are unfolded (im2col) into a scratch buffer and multiplied as a
   * pointwise convolution. x is c planes of h x w, weights cout x c x k x k, y cout planes of
   * ho x wo with ho = floor((h + 2 pad - k) / stride) + 1. For stems and other small-c layers.
   */
  conv2d(x: F32Buffer, shape: { h: number; w: number; c: number }, weights: F32Buffer, k: number, cout: number, y: F32Buffer, options: { bias?: F32Buffer; stride?: 1 | 2; pad?: number; gelu?: boolean } = {}): void {
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
    this.convOperands(x, c * h * w, weights, cout * c * k * k, y, cout * ho * wo, options.bias, cout);
    const col = this.scratchFor('im2col', c * k * k * ho * wo);
    checkDisjoint('y', y, 'scratch', col);
    this.wasm.im2col_nchw_f32(x.ptr, c, h, w, k, stride, pad, col.ptr);
    this.pointwiseChecked(col, c * k * k, ho * wo, weights, cout, y, options);
  }

  /**
   * `y[ch][i] = x[ch][i] * scale[ch] + shift[ch]` over c planes of `pixels` (shift null: none):
   * inference BatchNorm and layer scale on planar data. y may be x.
   */
  channelAffine(x: F32Buffer, shape: { c: number; pixels: number }, scale: F32Buffer, shift: F32Buffer | null, y: F32Buffer): void {
    const c = checkSize('c', shape.c, 1);
    const p = checkSize('pixels', shape.pixels, 1);
    this.buf('x', x, c * p);
    this.buf('y', y, c * p);
    this.buf('scale', scale, c);
    if (shift) this.buf('shift', shift, c);
    checkSameOrDisjoint('y', y, 'x', x);
    checkDisjoint('y', y, 'scale', scale);
    checkDisjoint('y', y, 'shift', shift ?? undefined);
    this.wasm.channel_affine_nchw_f32(x.ptr, c, p, scale.ptr, shift?.ptr ?? 0, y.ptr);
  }

  /** Global average pooling: `y[ch]` = mean of plane ch of x (c planes of `pixels`). */
  channelMean(x: F32Buffer, shape: { c: number; pixels: number }, y: F32Buffer): void {
    const c = checkSize('c', shape.c, 1);
    const p = checkSize('pixels', shape.pixels, 1);
    this.buf('x', x, c * p);
    this.buf('y', y, c);
    checkDisjoint('y', y, 'x', x);
    this.wasm.channel_mean_nchw_f32(x.ptr, c, p, y.ptr);
  }

  /**
   * Depthwise 1-D convolution over a sequence, k in 1..51 (odd unless causal), symmetric 'same'
   * padding or causal (each output sees only itself and earlier positions). layout 'planar'
   * (default; faster here): x and y are c sequences of length, weights c x k. layout
   * 'channels-last': x and y are length x c, weights k x c.
   */
  depthwiseConv1d(x: F32Buffer, shape: { length: number; c: number }, weights: F32Buffer, k: number, y: F32Buffer, options: { bias?: F32Buffer; causal?: boolean; layout?: 'planar' | 'channels-last' } = {}): void {
    const l = checkSize('length', shape.length, 1);
    const c = checkSize('c', shape.c, 1);
    checkSize('k', k, 1);
    if (k > 51) throw new FfnkitError('E_ARG', `k: expected a kernel size in 1..51, found ${k}`);
    if (!options.causal && k % 2 === 0) throw new FfnkitError('E_ARG', `k: symmetric padding needs an odd kernel size, found ${k}`);
    this.convOperands(x, l * c, weights, k * c, y, l * c, options.bias, c);
    const layout = options.layout ?? 'planar';
    const bias = options.bias?.ptr ?? 0;
    const causal = options.causal ? 1 : 0;
    if (layout === 'channels-last') {
      this.wasm.depthwise_conv1d_f32(x.ptr, l, c, weights.ptr, k, bias, causal, y.ptr);
      return;
    }
    if (layout !== 'planar') throw new FfnkitError('E_ARG', `layout: expected 'planar' or 'channels-last', found '${String(layout)}'`);
    const scratch = this.scratchFor('conv sequence', l + k - 1 + 16);
    checkDisjoint('y', y, 'scratch', scratch);
    this.wasm.depthwise_conv1d_planar_f32(x.ptr, l, c, weights.ptr, k, bias, causal, y.ptr, scratch.ptr);
  }

  // ---- row-wise normalisations -----------------------------------------------------------

  /** RMSNorm of `rows` rows of w.length floats: `y = x / sqrt(mean(x²) + eps) * w` (y may be x). */
  rmsnorm(x: F32Buffer, w: F32Buffer, y: F32Buffer, rows = 1, eps = 1e-5): void {
    checkSize('rows', rows, 1);
    checkFinite('eps', eps);
    const n = this.buf('w', w).length;
    checkSize('w.length', n, 1);
    this.buf('x', x, rows * n);
    this.buf('y', y, rows * n);
    checkSameOrDisjoint('y', y, 'x', x);
    checkDisjoint('y', y, 'w', w);
    this.wasm.rmsnorm_f32(x.ptr, w.ptr, y.ptr, rows, n, eps);
  }

  /** LayerNorm of `rows` rows of n floats; gamma/beta of n floats, or null (y may be x). */
  layernorm(x: F32Buffer, gamma: F32Buffer | null, beta: F32Buffer | null, y: F32Buffer, rows = 1, eps = 1e-5): void {
    checkSize('rows', rows, 1);
    checkFinite('eps', eps);
    this.buf('x', x);
    if (x.length % rows !== 0 || x.length === 0) {
      throw new FfnkitError('E_SHAPE', `x: ${x.length} floats do not split into ${rows} non-empty rows`);
    }
    const n = x.length / rows;
    if (gamma) this.buf('gamma', gamma, n);
    if (beta) this.buf('beta', beta, n);
    this.buf('y', y, x.length);
    checkSameOrDisjoint('y', y, 'x', x);
    checkDisjoint('y', y, 'gamma', gamma ?? undefined);
    checkDisjoint('y', y, 'beta', beta ?? undefined);
    this.wasm.layernorm_f32(x.ptr, gamma ? gamma.ptr : 0, beta ? beta.ptr : 0, y.ptr, rows, n, eps);
  }

  /** Stable softmax of `rows` rows (y may be x). */
  softmax(x: F32Buffer, y: F32Buffer, rows = 1): void {
    checkSize('rows', rows, 1);
    this.buf('x', x);
    if (x.length % rows !== 0 || x.length === 0) {
      throw new FfnkitError('E_SHAPE', `x: ${x.length} floats do not split into ${rows} non-empty rows`);
    }
    this.buf('y', y, x.length);
    checkSameOrDisjoint('y', y, 'x', x);
    this.wasm.softmax_f32(x.ptr, y.ptr, rows, x.length / rows);
  }

  // ---- reductions ------------------------------------------------------------------------

  /** `a · b`. */
  dot(a: F32Buffer, b: F32Buffer): number {
    this.buf('a', a);
    this.buf('b', b, a.length);
    return this.wasm.dot_f32(a.ptr, b.ptr, a.length);
  }

  /** `cos(a, b)`; 0 when either is all zeros. */
  cosine(a: F32Buffer, b: F32Buffer): number {
    this.buf('a', a);
    this.buf('b', b, a.length);
    return this.wasm.cosine_f32(a.ptr, b.ptr, a.length);
  }

  /** `x += d`, returning cos(x before, x after) (0 for a zero vector): a residual update and its saturation. */
  addCosine(x: F32Buffer, d: F32Buffer): number {
    this.buf('x', x);
    this.buf('d', d, x.length);
    checkDisjoint('x', x, 'd', d);
    return this.wasm.add_cosine_f32(x.ptr, d.ptr, x.length);
  }

  /** Index of the first largest value (NaN never wins). */
  argmax(x: F32Buffer): number {
    this.buf('x', x);
    checkSize('x.length', x.length, 1);
    return this.wasm.argmax_f32(x.ptr, x.length);
  }
}

/** How RoPE angles deviate from `pos * theta^(-2i/headDim)`: linear scaling, per-pair factors. */
export interface RopeScaling {
  /** Every angle multiplied by this (linear scaling: 1 / factor). */
  scale?: number;
  /** headDim/2 factors: pair i's angle divided by factors[i] (Llama 3.1's rope_freqs). */
  factors?: Float32Array;
}

/**
 * The RoPE table for one position, as `kernels.rope` takes it: headDim/2 cosines then headDim/2
 * sines of `pos * theta^(-2i/headDim)` (divided by pair i's factor, times the scale, as ggml's
 * rope applies them). Computed in float32 steps like llama2.c's run.c, so rotations match the
 * reference implementation's.
 */
export function ropeCosSin(pos: number, headDim: number, theta = 10000, scaling: RopeScaling = {}): Float32Array {
  checkSize('pos', pos, 0);
  checkSize('headDim', headDim, 2);
  if (headDim % 2 !== 0) throw new FfnkitError('E_ARG', `headDim: expected an even number, found ${headDim}`);
  const f = Math.fround;
  const half = headDim / 2;
  const { scale, factors } = scaling;
  if (factors !== undefined && factors.length !== half) throw new FfnkitError('E_SHAPE', `factors: expected ${half} RoPE factors, found ${factors.length}`);
  const out = new Float32Array(headDim);
  for (let i = 0; i < half; i++) {
    const freq = f(1 / f(Math.pow(theta, f(f(2 * i) / headDim))));
    let val = f(pos * freq);
    if (factors !== undefined) val = f(val / factors[i]!);
    if (scale !== undefined) val = f(val * scale);
    out[i] = Math.cos(val);
    out[half + i] = Math.sin(val);
  }
  return out;
}
