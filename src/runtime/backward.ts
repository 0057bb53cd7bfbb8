// Checked wrappers over the training kernels (assembly/backward.ts and the transposed packing of
// assembly/gemm.ts). The matrix products of a backward pass are the forward GEMM on other
// packings:
//   dX[m, k] = dY[m, n] · W[n, k]      -> gemm(dY, packTransposed(W))
//   dW[n, k] += dY[m, n]ᵀ · X[m, k]     -> gemm(transpose(dY), packTransposed(X)), added into dW
// so every heavy product of training runs on the tuned 4x8 microkernel.

import { FfnkitError } from '../errors.js';
import type { F32Buffer } from './buffer.js';
import { checkDisjoint, checkFinite, checkSize } from './check.js';
import type { Engine } from './engine.js';
import { KernelContext, type KernelCall } from './kernels/context.js';
import type { Kernels, PackedMatrix } from './kernels/index.js';
import type { KernelExports } from './wasm.js';

/** The shape of one sequence's attention in a training batch (strides in floats). */
export interface TrainAttentionShape {
  tokens: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Row stride of q, k, v (and of their gradients): heads*headDim + 2*kvHeads*headDim when fused. */
  qkvStride: number;
  /** Score scale; 1/sqrt(headDim) when absent. */
  scale?: number;
  /** Scores soft-capped to softcap * tanh(score / softcap) (Gemma 2); none when absent. */
  softcap?: number;
  /** Each query sees itself and the window - 1 positions before it; all earlier ones when absent. */
  window?: number;
}

export class BackwardKernels {
  private readonly engine: Engine;
  private readonly wasm: KernelExports;
  private readonly kernels: Kernels;
  private readonly ctx: KernelContext;

  constructor(engine: Engine) {
    this.engine = engine;
    this.wasm = engine.wasm;
    this.kernels = engine.kernels;
    this.ctx = new KernelContext(engine.wasm, engine.arena, (n, what) => engine.alloc(n, what), () => engine.pool, engine.dot);
  }

  private buf(name: string, b: unknown, length?: number): F32Buffer {
    return this.ctx.buf(name, b, length);
  }

  /** The scratch buffer `name` of at least n floats, reused between calls (allocates only to grow). */
  scratchFor(name: string, n: number): F32Buffer {
    return this.ctx.scratch(name, n);
  }

  /** A packed-matrix handle of rows x cols with room for its panels (filled by `repack`). */
  allocPacked(rows: number, cols: number, what = 'matrix'): PackedMatrix {
    checkSize(`${what} rows`, rows, 1);
    checkSize(`${what} cols`, cols, 1);
    return { type: 'f32-panel8', rows, cols, data: this.engine.alloc(this.wasm.f32_gemm_packed_floats(rows, cols), `packed ${what}`) };
  }

  /**
   * Packs the row-major matrix `w` (into.rows x into.cols, with an optional bias of into.rows) into
   * `into`'s panels, or with `transposed` packs wᵀ: then `w` is into.cols x into.rows and its
   * columns become the features (no bias).
   */
  repack(w: F32Buffer, into: PackedMatrix, options: { transposed?: boolean; bias?: F32Buffer } = {}): void {
    const { rows, cols } = into;
    this.buf('w', w, rows * cols);
    this.buf('into.data', into.data, this.wasm.f32_gemm_packed_floats(rows, cols));
    checkDisjoint('into', into.data, 'w', w);
    if (options.transposed) {
      if (options.bias) throw new FfnkitError('E_ARG', 'bias: a transposed packing carries no bias');
      this.wasm.f32_gemm_pack_transposed_4x8(w.ptr, rows, cols, into.data.ptr);
    } else {
      if (options.bias) {
        this.buf('bias', options.bias, rows);
        checkDisjoint('into', into.data, 'bias', options.bias);
      }
      this.wasm.f32_gemm_pack_4x8(w.ptr, options.bias ? options.bias.ptr : 0, rows, cols, into.data.ptr);
    }
  }

  /** `dst[cols, rows] = src[rows, cols]ᵀ` (apart). */
  transpose(src: F32Buffer, rows: number, cols: number, dst: F32Buffer): void {
    checkSize('rows', rows, 1);
    checkSize('cols', cols, 1);
    this.buf('src', src, rows * cols);
    this.buf('dst', dst, rows * cols);
    checkDisjoint('dst', dst, 'src', src);
    this.wasm.f32_transpose(src.ptr, rows, cols, dst.ptr);
  }

  /**
   * `dw[n, k] += dy[m, n]ᵀ · x[m, k]`: the gradient of a weight used as `y = x · wᵀ`, summed over
   * the m rows of a batch. Scratch: the transposed dy, the packed xᵀ and the product.
   */
  weightGradient(dy: F32Buffer, x: F32Buffer, m: number, n: number, k: number, dw: F32Buffer): void {
    checkSize('m', m, 0);
    checkSize('n', n, 1);
    checkSize('k', k, 1);
    this.buf('dy', dy, m * n);
    this.buf('x', x, m * k);
    this.buf('dw', dw, n * k);
    if (m === 0) return;
    const dyT = this.scratchFor('dyT', m * n).sub(0, m * n);
    const packedSize = this.wasm.f32_gemm_packed_floats(k, m);
    const xT: PackedMatrix = { type: 'f32-panel8', rows: k, cols: m, data: this.scratchFor('packed xT', packedSize).sub(0, packedSize) };
    const product = this.scratchFor('dw product', n * k).sub(0, n * k);
    checkDisjoint('dw', dw, 'scratch', product);
    this.wasm.f32_transpose(dy.ptr, m, n, dyT.ptr);
    this.wasm.f32_gemm_pack_transposed_4x8(x.ptr, k, m, xT.data.ptr);
    this.kernels.gemm(dyT, xT, product, n);
    this.wasm.f32_add(dw.ptr, product.ptr, dw.ptr, n * k);
  }

  /** Backward of `rmsnorm(x, w)` over rows of w.length: writes dx, adds into dw unless it is null. */
  rmsnormBackward(x: F32Buffer, w: F32Buffer, dy: F32Buffer, dx: F32Buffer, dw: F32Buffer | null, rows: number, eps: number): void {
    checkSize('rows', rows, 1);
    checkFinite('eps', eps);
    const n = this.buf('w', w).length;
    this.buf('x', x, rows * n);
    this.buf('dy', dy, rows * n);
    this.buf('dx', dx, rows * n);
    if (dw) this.buf('dw', dw, n);
    checkDisjoint('dx', dx, 'x', x);
    checkDisjoint('dx', dx, 'dy', dy);
    checkDisjoint('dx', dx, 'dw', dw ?? undefined);
    this.wasm.f32_rmsnorm_backward(x.ptr, w.ptr, dy.ptr, dx.ptr, dw ? dw.ptr : 0, rows, n, eps);
  }

  /** Backward of `a = silu(g) * u`: writes dg and du from da. */
  swigluBackward(g: F32Buffer, u: F32Buffer, da: F32Buffer, dg: F32Buffer, du: F32Buffer): void {
    const n = this.buf('g', g).length;
    for (const [name, b] of [['u', u], ['da', da], ['dg', dg], ['du', du]] as const) this.buf(name, b, n);
    for (const [name, b] of [['g', g], ['u', u], ['da', da], ['du', du]] as const) checkDisjoint('dg', dg, name, b);
    for (const [name, b] of [['g', g], ['u', u], ['da', da]] as const) checkDisjoint('du', du, name, b);
    this.wasm.f32_swiglu_backward(g.ptr, u.ptr, da.ptr, dg.ptr, du.ptr, n);
  }

  /** Backward of `a = gelu_tanh(g) * u` (GeGLU): writes dg and du from da. */
  gegluBackward(g: F32Buffer, u: F32Buffer, da: F32Buffer, dg: F32Buffer, du: F32Buffer): void {
    const n = this.buf('g', g).length;
    for (const [name, b] of [['u', u], ['da', da], ['dg', dg], ['du', du]] as const) this.buf(name, b, n);
    for (const [name, b] of [['g', g], ['u', u], ['da', da], ['du', du]] as const) checkDisjoint('dg', dg, name, b);
    for (const [name, b] of [['g', g], ['u', u], ['da', da]] as const) checkDisjoint('du', du, name, b);
    this.wasm.f32_geglu_backward(g.ptr, u.ptr, da.ptr, dg.ptr, du.ptr, n);
  }

  /** Checks the operands of `count` sequences of attention; returns the shape's numbers. */
  private attentionOperands(qkv: F32Buffer, out: F32Buffer, shape: TrainAttentionShape, count: number) {
    const t = checkSize('tokens', shape.tokens, 1);
    const heads = checkSize('heads', shape.heads, 1);
    const kvHeads = checkSize('kvHeads', shape.kvHeads, 1);
    const hd = checkSize('headDim', shape.headDim, 1);
    checkSize('sequences', count, 1);
    if (heads % kvHeads !== 0) throw new FfnkitError('E_SHAPE', `heads: ${heads} is not a multiple of kvHeads ${kvHeads}`);
    const qDim = heads * hd;
    const kvDim = kvHeads * hd;
    const stride = checkSize('qkvStride', shape.qkvStride, qDim + 2 * kvDim);
    this.buf('qkv', qkv, count * t * stride);
    this.buf('out', out, count * t * qDim);
    // Gemma's options take the windowed kernels; Llama's plain attention keeps its own
    const plain = shape.scale === undefined && shape.softcap === undefined && shape.window === undefined;
    const scale = shape.scale ?? 1 / Math.sqrt(hd);
    checkFinite('scale', scale);
    const softcap = shape.softcap ?? 0;
    if (!(softcap >= 0 && Number.isFinite(softcap))) throw new FfnkitError('E_ARG', `softcap: expected a positive number, found ${softcap}`);
    const window = shape.window === undefined ? 0 : checkSize('window', shape.window, 1);
    return { t, heads, kvHeads, hd, qDim, kvDim, stride, options: plain ? undefined : ([scale, softcap, window] as const) };
  }

  /**
   * Runs `task(sequence, scratch)` for each of `count` sequences, as many at once as the engine
   * has threads (each with its own `perThread` floats of scratch): whole sequences per thread, so
   * the results are those of one thread.
   */
  private eachSequence(count: number, name: string, perThread: number, task: (b: number, scratch: number) => KernelCall): void {
    const pool = this.ctx.pool;
    const threads = pool ? Math.min(pool.threads, count) : 1;
    const scratch = this.scratchFor(name, threads * perThread);
    for (let b0 = 0; b0 < count; b0 += threads) {
      this.ctx.runAll(Array.from({ length: Math.min(threads, count - b0) }, (_, i) => task(b0 + i, scratch.ptr + i * perThread * 4)));
    }
  }

  /**
   * Causal attention over `count` whole sequences of `shape.tokens` tokens each (positions 0 ..
   * tokens-1), laid out one after another: `qkv` holds each token's post-RoPE q, k and v in one
   * row (q first, then k, then v); `out` receives heads*headDim per token. The same function as
   * `Kernels.attention` at pos0 = 0, computed key-major (faster for small heads); sequences run
   * on the engine's threads.
   */
  attentionSequence(qkv: F32Buffer, out: F32Buffer, shape: TrainAttentionShape, count = 1): void {
    const { t, heads, kvHeads, hd, qDim, kvDim, stride, options } = this.attentionOperands(qkv, out, shape, count);
    checkDisjoint('out', out, 'qkv', qkv);
    this.eachSequence(count, 'attention', 2 * hd * t + t, (b, scratch) => {
      const q = qkv.ptr + b * t * stride * 4;
      const o = out.ptr + b * t * qDim * 4;
      return options
        ? { fn: 'f32_attention_seq_windowed', args: [q, stride, o, qDim, scratch, t, heads, kvHeads, hd, ...options] }
        : { fn: 'f32_attention_seq', args: [q, q + qDim * 4, q + (qDim + kvDim) * 4, stride, o, qDim, scratch, t, heads, kvHeads, hd] };
    });
  }

  /**
   * Backward of `attentionSequence`: from the forward's `qkv` and `out` and the output gradient
   * `dout`, adds the gradients of q, k and v into `dqkv` (laid out like qkv), per sequence.
   */
  attentionBackward(qkv: F32Buffer, out: F32Buffer, dout: F32Buffer, dqkv: F32Buffer, shape: TrainAttentionShape, count = 1): void {
    const { t, heads, kvHeads, hd, qDim, kvDim, stride, options } = this.attentionOperands(qkv, out, shape, count);
    this.buf('dqkv', dqkv, count * t * stride);
    this.buf('dout', dout, count * t * qDim);
    for (const [name, b] of [['qkv', qkv], ['out', out], ['dout', dout]] as const) checkDisjoint('dqkv', dqkv, name, b);
    this.eachSequence(count, 'attention backward', 4 * hd * t + 3 * t, (b, scratch) => {
      const q = qkv.ptr + b * t * stride * 4;
      const dq = dqkv.ptr + b * t * stride * 4;
      const o = b * t * qDim * 4;
      return options
        ? { fn: 'f32_attention_seq_windowed_backward', args: [q, stride, out.ptr + o, dout.ptr + o, qDim, dq, stride, scratch, t, heads, kvHeads, hd, ...options] }
        : {
            fn: 'f32_attention_seq_backward',
            args: [q, q + qDim * 4, q + (qDim + kvDim) * 4, stride, out.ptr + o, dout.ptr + o, qDim, dq, dq + qDim * 4, dq + (qDim + kvDim) * 4, stride, scratch, t, heads, kvHeads, hd],
          };
    });
  }
}
