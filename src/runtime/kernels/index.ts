// Typed wrappers over the wasm kernels. Each checks its arguments (types, lengths, overlap,
// ownership) and throws an FfnkitError naming the argument before calling wasm; past that point
// a wrong size would corrupt memory silently. `Kernels` is the one surface callers use; the work
// lives in one file per kernel family, over the context they share (context.ts: checks, scratch,
// the thread-splitting rule).

import type { Arena } from '../arena.js';
import type { F32Buffer } from '../buffer.js';
import type { ThreadPool } from '../threads.js';
import type { KernelExports } from '../wasm.js';
import * as attention from './attention.js';
import type { AttentionShape, RopeLayout } from './attention.js';
import { KernelContext } from './context.js';
import * as conv from './conv.js';
import type { GroupedPointwise } from './conv.js';
import * as elementwise from './elementwise.js';
import * as ffn from './ffn.js';
import type { DenseFfn, GateActivation } from './ffn.js';
import * as gemm from './gemm.js';
import type { GemmWeights, Matrix, PackedMatrix, SingleWeights, StackedMatrix } from './gemm.js';
import * as ggml from './ggml.js';
import type { Activations, GgmlBlockType, GgmlMatrix, QuantizedActivations } from './ggml.js';
import * as moe from './moe.js';
import * as norm from './norm.js';
import * as q8 from './q8.js';
import type { Q8Matrix } from './q8.js';
import * as reduce from './reduce.js';
import { forceI16, relaxedDotSelfTest, type DotSelfTest, type IntegerDot } from './relaxed-dot.js';

export { ropeCosSin, type AttentionShape, type RopeLayout, type RopeScaling } from './attention.js';
export { KV_CACHES, kvValueBytes, type KvCache } from './attention.js';
export type { GroupedPointwise } from './conv.js';
export type { DenseFfn, GateActivation } from './ffn.js';
export type { GemmWeights, Matrix, PackedMatrix, SingleWeights, StackedMatrix } from './gemm.js';
export { weightBytes } from './gemm.js';
export { GGML_KERNEL_TRAITS, ggmlRowBytes, type Activations, type GgmlBlockType, type GgmlMatrix, type QuantizedActivations } from './ggml.js';
export type { DotPath, DotSelfTest, RelaxedDotForm } from './relaxed-dot.js';
export { INTEGER_DOTS, type IntegerDot } from './relaxed-dot.js';
export type { Q8Matrix } from './q8.js';

export class Kernels {
  private readonly ctx: KernelContext;
  private pool: ThreadPool | undefined;

  /** @internal engines make these (and run the relaxed-dot self-test here, once; `integerDot: 'i16'` then forces the i16 path) */
  constructor(wasm: KernelExports, arena: Arena, allocF32: (n: number, what: string) => F32Buffer, pool?: ThreadPool, integerDot: IntegerDot = 'auto') {
    this.pool = pool;
    const found = relaxedDotSelfTest(wasm, arena);
    this.ctx = new KernelContext(wasm, arena, allocF32, () => this.pool, integerDot === 'i16' ? forceI16(found) : found);
  }

  /** Which integer dot product the quantized kernels run, as the self-test at creation found this engine's relaxed dot. */
  get quantizedDot(): DotSelfTest {
    return this.ctx.dot;
  }

  /** @internal after the engine's pool is closed */
  detachPool(): void {
    this.pool = undefined;
  }

  // ---- matrix products -------------------------------------------------------------------

  /** Repacks `w` (and an optional `bias` of w.rows) into gemm panels, in a new buffer. */
  pack(w: Matrix, bias?: F32Buffer): PackedMatrix {
    return gemm.pack(this.ctx, w, bias);
  }

  /**
   * Packs a row-major `rows` x `cols` matrix straight from host memory, a few panels at a time
   * through a small staging buffer, so the wasm memory never holds a second full copy.
   */
  packFrom(data: Float32Array, rows: number, cols: number, what = 'matrix'): PackedMatrix {
    return gemm.packFrom(this.ctx, data, rows, cols, what);
  }

  /**
   * A Q8_0 matrix from its GGUF block bytes (`rows` rows of cols/32 blocks of 34 bytes), interleaved
   * by 4 and 8 rows (assembly/quant.ts) into a new buffer through a small staging buffer; the int8 values are kept as they
   * are, never dequantized. A block whose f16 scale is infinite or NaN is an E_FORMAT error.
   */
  q8Matrix(bytes: Uint8Array, rows: number, cols: number, what = 'Q8_0 matrix'): Q8Matrix {
    return q8.q8Matrix(this.ctx, bytes, rows, cols, what);
  }

  /**
   * A `rows` x `cols` matrix of a ggml block type (Q4_0 ... IQ4_XS, F16, BF16; Q8_0 regrouped as
   * by q8Matrix) from its GGUF bytes, kept in its blocks in a new buffer. A block scale (or F16
   * weight) that is infinite or NaN is an E_FORMAT error naming `what`.
   */
  ggmlMatrix(bytes: Uint8Array, type: GgmlBlockType, rows: number, cols: number, what?: string): GgmlMatrix {
    return ggml.ggmlMatrix(this.ctx, bytes, type, rows, cols, what);
  }

  /**
   * Matrices of one column count as one, stacked by rows, each kept in its layout: a product
   * writes part i's outputs after part i-1's in each output row (wq, wk, wv in different types).
   */
  stack(parts: readonly SingleWeights[]): StackedMatrix {
    const first = parts[0];
    const s: StackedMatrix = { type: 'stack', rows: parts.reduce((n, p) => n + (p?.rows ?? 0), 0), cols: first?.cols ?? 0, parts };
    return gemm.checkGemmWeights(this.ctx, 'stack', s) as StackedMatrix;
  }

  /**
   * @internal (benchmarks) m rows of k floats of `a` prepared for the kernels of `kind` in its
   * scratch, valid until the next call; sizes are the caller's to check.
   */
  ggmlActivations(kind: Activations, a: F32Buffer, m: number, k: number): QuantizedActivations {
    return ggml.quantizeActivations(this.ctx, kind, a, m, k);
  }

  /**
   * @internal (benchmarks) `c[x.m, w.rows] = x · wᵀ` on activations already prepared for `w`
   * (`ggmlActivations` of its kind): the integer product decoding runs, without the quantization.
   */
  ggmlProduct(x: QuantizedActivations, w: GgmlMatrix, c: F32Buffer): void {
    ggml.gemmQuantized(this.ctx, x, w, this.ctx.buf('c', c, x.m * w.rows));
  }

  /**
   * `c[m, w.rows] = a[m, w.cols] · wᵀ + bias`, for `m` rows of `a`: f32 panels (bias packed in),
   * Q8_0 groups or another ggml type's blocks (no bias; a's rows are quantized as ggml quantizes
   * them for the type, and each block's dot product runs on integers), or a stack of these.
   */
  gemm(a: F32Buffer, w: GemmWeights, c: F32Buffer, m: number): void {
    gemm.gemm(this.ctx, a, w, c, m);
  }

  /**
   * `y[w.rows] = w · x[w.cols] (+ bias)`. On a PackedMatrix (bias already packed in) or a Q8Matrix
   * this streams the weights as one contiguous run, the fastest form for decoding; on a row-major
   * Matrix it needs no packing and takes an optional `bias`.
   */
  gemv(w: Matrix | GemmWeights, x: F32Buffer, y: F32Buffer, bias?: F32Buffer): void {
    gemm.gemv(this.ctx, w, x, y, bias);
  }

  /** Checks the shapes of a SwiGLU FFN and packs its weights into a new handle. */
  denseFfn(w1: Matrix, w3: Matrix, w2: Matrix): DenseFfn {
    return ffn.denseFfn(this.ctx, w1, w3, w2);
  }

  /**
   * A gated FFN handle from already packed (or Q8_0) gate (w1), up (w3) and down (w2) matrices:
   * SwiGLU, or GeGLU with `activation` 'gelu-tanh'.
   */
  denseFfnFromPacked(w1: SingleWeights, w3: SingleWeights, w2: SingleWeights, activation: GateActivation = 'silu'): DenseFfn {
    return ffn.denseFfnFromPacked(w1, w3, w2, activation);
  }

  /** The dense FFN on `tokens` rows of `x` (tokens x dim) into `y` (tokens x dim), in one wasm call. */
  ffn(f: DenseFfn, x: F32Buffer, y: F32Buffer, tokens: number): void {
    ffn.ffn(this.ctx, f, x, y, tokens);
  }

  /**
   * Causal grouped-query attention for `tokens` queries at positions pos0 .. pos0+tokens-1 over a
   * KV cache whose rows 0 .. pos0+tokens-1 are filled (see assembly/attention.ts for the layout).
   * Strides are in floats and default to the packed widths (heads*headDim, kvHeads*headDim).
   * With a thread pool and enough work, whole KV heads go to each thread (same bits as one).
   */
  attention(q: F32Buffer, k: F32Buffer, v: F32Buffer, out: F32Buffer, shape: AttentionShape): void {
    attention.attention(this.ctx, q, k, v, out, shape);
  }

  /**
   * Writes `src` into a KV cache of halves (`shape.cache` 'f16' or 'f16-flash' of `attention`)
   * from half `at` on, rounded as ggml rounds f32 to f16; returns how many did not fit a half
   * (overflow or NaN), which the caller must refuse.
   */
  toHalves(src: F32Buffer, cache: F32Buffer, at: number): number {
    return attention.toHalves(this.ctx, src, cache, at);
  }

  // ---- elementwise -----------------------------------------------------------------------

  /** `y = s * x` (y may be x). */
  scale(x: F32Buffer, s: number, y: F32Buffer): void {
    elementwise.scale(this.ctx, x, s, y);
  }

  /** `y = a + b` (y may be a or b). */
  add(a: F32Buffer, b: F32Buffer, y: F32Buffer): void {
    elementwise.add(this.ctx, a, b, y);
  }

  /** `y += alpha * x` (x and y apart). */
  axpy(alpha: number, x: F32Buffer, y: F32Buffer): void {
    elementwise.axpy(this.ctx, alpha, x, y);
  }

  /** SwiGLU: `y = silu(gate) * up` (y may be gate or up). */
  swiglu(gate: F32Buffer, up: F32Buffer, y: F32Buffer): void {
    elementwise.swiglu(this.ctx, gate, up, y);
  }

  /** GeGLU: `y = GELU_tanh(gate) * up` (y may be gate or up). */
  geglu(gate: F32Buffer, up: F32Buffer, y: F32Buffer): void {
    elementwise.geglu(this.ctx, gate, up, y);
  }

  /** `x[r] += bias` for each of `rows` rows of bias.length floats in x (bias apart from x). */
  addRowBias(x: F32Buffer, bias: F32Buffer, rows: number): void {
    elementwise.addRowBias(this.ctx, x, bias, rows);
  }

  /** Soft-capping: `y = cap * tanh(x / cap)` (y may be x; cap > 0). */
  softcap(x: F32Buffer, cap: number, y: F32Buffer): void {
    elementwise.softcap(this.ctx, x, cap, y);
  }

  /** `y = GELU(x)`, the exact erf form, or with `approximate: 'tanh'` the tanh form (y may be x). */
  gelu(x: F32Buffer, y: F32Buffer, approximate: 'none' | 'tanh' = 'none'): void {
    elementwise.gelu(this.ctx, x, y, approximate);
  }

  /**
   * Rotary position embedding in place on `heads` heads of `headDim` floats in `x`.
   * `cs` holds headDim/2 cosines then headDim/2 sines for the position (see `ropeCosSin`).
   */
  rope(x: F32Buffer, heads: number, headDim: number, cs: F32Buffer, layout: RopeLayout): void {
    attention.rope(this.ctx, x, heads, headDim, cs, layout);
  }

  // ---- routing (mixtures of experts) -----------------------------------------------------

  /**
   * For each of `rows` rows of n values in x, the k largest: indices into `idx` (as int32, see
   * F32Buffer.i32) and values into `val`, both rows x k, best first (lower index on ties).
   */
  topk(x: F32Buffer, rows: number, k: number, idx: F32Buffer, val: F32Buffer): void {
    moe.topk(this.ctx, x, rows, k, idx, val);
  }

  /** dst row i = src row rowsIdx[i] for i < count (rows of d floats). */
  gatherRows(src: F32Buffer, rowsIdx: F32Buffer, count: number, d: number, dst: F32Buffer): void {
    moe.gatherRows(this.ctx, src, rowsIdx, count, d, dst);
  }

  /** dst row rowsIdx[i] += weight[i] * src row i for i < count (rows of d floats). */
  scatterAddRows(src: F32Buffer, rowsIdx: F32Buffer, weight: F32Buffer, count: number, d: number, dst: F32Buffer): void {
    moe.scatterAddRows(this.ctx, src, rowsIdx, weight, count, d, dst);
  }

  // ---- convolutions (MetaMixer) ----------------------------------------------------------

  /**
   * Depthwise 2-D convolution, 'same' padding, odd k in 3..31, stride 1 or 2, optional bias (c)
   * and fused GELU. layout 'nchw' (default, and the faster): x is c planes of h x w, weights
   * c x k x k, y c planes of ceil(h/stride) x ceil(w/stride). layout 'nhwc': x is h x w x c,
   * weights k x k x c, y likewise channels-last. `multiplier` 2 (nchw only) gives each input
   * channel two output channels (groups = c, 2c outputs: FFNet's downsampling); weights, bias
   * and y then hold 2c channels, output o reading input o / 2.
   */
  depthwiseConv2d(x: F32Buffer, shape: { h: number; w: number; c: number }, weights: F32Buffer, k: number, y: F32Buffer, options: { bias?: F32Buffer; stride?: 1 | 2; gelu?: boolean; layout?: 'nchw' | 'nhwc'; multiplier?: 1 | 2 } = {}): void {
    conv.depthwiseConv2d(this.ctx, x, shape, weights, k, y, options);
  }

  /**
   * Pointwise (1x1) convolution on planar data, a GEMM over pixels:
   * `y[cout][p] = weights[cout][c] · x[c][p] + bias[cout]`, optional fused GELU. x is c planes of
   * `pixels`, weights cout x c (PyTorch's [cout, c, 1, 1]), y cout planes of `pixels`.
   */
  pointwiseConv(x: F32Buffer, shape: { c: number; pixels: number }, weights: F32Buffer, cout: number, y: F32Buffer, options: { bias?: F32Buffer; gelu?: boolean } = {}): void {
    conv.pointwiseConv(this.ctx, x, shape, weights, cout, y, options);
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
    conv.groupedPointwiseConv(this.ctx, x, shape, weights, layout, y, options);
  }

  /**
   * Full k x k convolution (groups 1) on planar data, zero padding `pad` (default (k-1)/2),
   * stride 1 or 2: the patches are unfolded (im2col) into a scratch buffer and multiplied as a
   * pointwise convolution. x is c planes of h x w, weights cout x c x k x k, y cout planes of
   * ho x wo with ho = floor((h + 2 pad - k) / stride) + 1. For stems and other small-c layers.
   */
  conv2d(x: F32Buffer, shape: { h: number; w: number; c: number }, weights: F32Buffer, k: number, cout: number, y: F32Buffer, options: { bias?: F32Buffer; stride?: 1 | 2; pad?: number; gelu?: boolean } = {}): void {
    conv.conv2d(this.ctx, x, shape, weights, k, cout, y, options);
  }

  /**
   * `y[ch][i] = x[ch][i] * scale[ch] + shift[ch]` over c planes of `pixels` (shift null: none):
   * inference BatchNorm and layer scale on planar data. y may be x.
   */
  channelAffine(x: F32Buffer, shape: { c: number; pixels: number }, scale: F32Buffer, shift: F32Buffer | null, y: F32Buffer): void {
    conv.channelAffine(this.ctx, x, shape, scale, shift, y);
  }

  /** Global average pooling: `y[ch]` = mean of plane ch of x (c planes of `pixels`). */
  channelMean(x: F32Buffer, shape: { c: number; pixels: number }, y: F32Buffer): void {
    conv.channelMean(this.ctx, x, shape, y);
  }

  /**
   * Depthwise 1-D convolution over a sequence, k in 1..51 (odd unless causal), symmetric 'same'
   * padding or causal (each output sees only itself and earlier positions). layout 'planar'
   * (default, and the faster): x and y are c sequences of length, weights c x k. layout
   * 'channels-last': x and y are length x c, weights k x c.
   */
  depthwiseConv1d(x: F32Buffer, shape: { length: number; c: number }, weights: F32Buffer, k: number, y: F32Buffer, options: { bias?: F32Buffer; causal?: boolean; layout?: 'planar' | 'channels-last' } = {}): void {
    conv.depthwiseConv1d(this.ctx, x, shape, weights, k, y, options);
  }

  // ---- row-wise normalisations -----------------------------------------------------------

  /** RMSNorm of `rows` rows of w.length floats: `y = x / sqrt(mean(x²) + eps) * w` (y may be x). */
  rmsnorm(x: F32Buffer, w: F32Buffer, y: F32Buffer, rows = 1, eps = 1e-5): void {
    norm.rmsnorm(this.ctx, x, w, y, rows, eps);
  }

  /** LayerNorm of `rows` rows of n floats; gamma/beta of n floats, or null (y may be x). */
  layernorm(x: F32Buffer, gamma: F32Buffer | null, beta: F32Buffer | null, y: F32Buffer, rows = 1, eps = 1e-5): void {
    norm.layernorm(this.ctx, x, gamma, beta, y, rows, eps);
  }

  /** Stable softmax of `rows` rows (y may be x). */
  softmax(x: F32Buffer, y: F32Buffer, rows = 1): void {
    norm.softmax(this.ctx, x, y, rows);
  }

  // ---- reductions ------------------------------------------------------------------------

  /** `a · b`. */
  dot(a: F32Buffer, b: F32Buffer): number {
    return reduce.dot(this.ctx, a, b);
  }

  /** `cos(a, b)`; 0 when either is all zeros. */
  cosine(a: F32Buffer, b: F32Buffer): number {
    return reduce.cosine(this.ctx, a, b);
  }

  /** `x += d`, returning cos(x before, x after) (0 for a zero vector): a residual update and its saturation. */
  addCosine(x: F32Buffer, d: F32Buffer): number {
    return reduce.addCosine(this.ctx, x, d);
  }

  /** Index of the first largest value (NaN never wins). */
  argmax(x: F32Buffer): number {
    return reduce.argmax(this.ctx, x);
  }
}
