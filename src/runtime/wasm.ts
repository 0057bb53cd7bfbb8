import { FfnkitError } from '../errors.js';
import { readBytes } from './io.js';

/** The three builds of `assembly/`: plain wasm, SIMD128, and relaxed SIMD (fused multiply-add). */
export type Backend = 'scalar' | 'simd' | 'relaxed';

/** Best first. */
export const BACKENDS: readonly Backend[] = ['relaxed', 'simd', 'scalar'];

/** The exports of a kernel build, as `assembly/index.ts` declares them (pointers are byte addresses). */
export interface KernelExports {
  heap_base(): number;
  f32_gemm_packed_floats(n: number, k: number): number;
  f32_gemm_pack_4x8(w: number, bias: number, n: number, k: number, packed: number): void;
  f32_gemm_pack_transposed_4x8(w: number, n: number, k: number, packed: number): void;
  f32_gemm_4x8(a: number, packed: number, c: number, m: number, n: number, k: number): void;
  f32_transpose(src: number, rows: number, cols: number, dst: number): void;
  f32_rmsnorm_backward(x: number, w: number, dy: number, dx: number, dw: number, rows: number, n: number, eps: number): void;
  f32_swiglu_backward(g: number, u: number, da: number, dg: number, du: number, n: number): void;
  f32_attention_seq_backward(q: number, k: number, v: number, qkvStride: number, out: number, dout: number, oStride: number, dq: number, dk: number, dv: number, dStride: number, scores: number, t: number, heads: number, kvHeads: number, headDim: number): void;
  f32_geglu_backward(g: number, u: number, da: number, dg: number, du: number, n: number): void;
  f32_attention_seq_windowed(qkv: number, qkvStride: number, out: number, oStride: number, scratch: number, t: number, heads: number, kvHeads: number, headDim: number, scale: number, softcap: number, window: number): void;
  f32_attention_seq_windowed_backward(qkv: number, qkvStride: number, out: number, dout: number, oStride: number, dqkv: number, dStride: number, scratch: number, t: number, heads: number, kvHeads: number, headDim: number, scale: number, softcap: number, window: number): void;
  f32_gemv(w: number, x: number, bias: number, y: number, n: number, k: number): void;
  f32_ffn_swiglu_4x8(x: number, t: number, w1p: number, w3p: number, w2p: number, d: number, h: number, scratch: number, y: number): void;
  f32_scale(x: number, s: number, y: number, n: number): void;
  f32_add(a: number, b: number, y: number, n: number): void;
  f32_axpy(alpha: number, x: number, y: number, n: number): void;
  f32_swiglu(gate: number, up: number, y: number, n: number): void;
  f32_gelu(x: number, y: number, n: number): void;
  f32_gelu_tanh(x: number, y: number, n: number): void;
  f32_rope(x: number, heads: number, headDim: number, cs: number, halfSplit: number): void;
  f32_rmsnorm(x: number, w: number, y: number, rows: number, n: number, eps: number): void;
  f32_layernorm(x: number, gamma: number, beta: number, y: number, rows: number, n: number, eps: number): void;
  f32_softmax(x: number, y: number, rows: number, n: number): void;
  f32_attention(q: number, qStride: number, k: number, v: number, kvStride: number, out: number, outStride: number, scores: number, t: number, p0: number, heads: number, kvHeads: number, headDim: number): void;
  f32_attention_seq(q: number, k: number, v: number, qkvStride: number, out: number, oStride: number, scratch: number, t: number, heads: number, kvHeads: number, headDim: number): void;
  f32_dot(a: number, b: number, n: number): number;
  f32_cosine(a: number, b: number, n: number): number;
  f32_argmax(x: number, n: number): number;
  f32_add_cosine(x: number, d: number, n: number): number;
  f32_topk(x: number, rows: number, n: number, k: number, idx: number, val: number): void;
  f32_gather_rows(src: number, rowsIdx: number, count: number, d: number, dst: number): void;
  f32_scatter_add_rows(src: number, rowsIdx: number, weight: number, count: number, d: number, dst: number): void;
  q8_0_quantize(x: number, k: number, xq: number, xd: number): void;
  q8_0_gemm_packed_floats(n: number, k: number): number;
  q8_0_gemm_pack_x4(w: number, n: number, k: number, out: number): number;
  q8_0_gemm_x4(w: number, xq: number, xd: number, y: number, m: number, n: number, k: number, ldy: number): void;
  f32_dwconv2d_nhwc(x: number, h: number, w: number, c: number, wt: number, k: number, bias: number, stride: number, gelu: number, y: number): void;
  f32_dwconv2d_nchw(x: number, h: number, w: number, c: number, mult: number, wt: number, k: number, bias: number, stride: number, gelu: number, y: number, scratch: number): void;
  f32_pwconv_nchw_scratch_floats(cin: number): number;
  f32_pwconv_nchw(x: number, cin: number, p: number, w: number, cout: number, bias: number, gelu: number, y: number, scratch: number): void;
  f32_grouped_pwconv_nchw(
    x: number, p: number, groups: number, cin: number, xg: number, xc: number, w: number, cout: number, yg: number, yc: number, bias: number, gelu: number, y: number, scratch: number,
  ): void;
  f32_im2col_nchw(x: number, c: number, h: number, w: number, k: number, stride: number, pad: number, col: number): void;
  f32_channel_affine_nchw(x: number, c: number, p: number, scale: number, shift: number, y: number): void;
  f32_channel_mean_nchw(x: number, c: number, p: number, y: number): void;
  f32_dwconv1d_ncl(x: number, l: number, c: number, wt: number, k: number, bias: number, causal: number, y: number, scratch: number): void;
  f32_dwconv1d_nlc(x: number, l: number, c: number, wt: number, k: number, bias: number, causal: number, y: number): void;
  f32_probe_read(p: number, n: number): number;
  f32_probe_madd(iters: number, seed: number): number;
  i8_probe_dot(iters: number, seed: number, dot: number): number;
  i8_probe_dot_width(dot: number): number;
  f32_attention_windowed(
    q: number, qStride: number, k: number, v: number, kvStride: number, out: number, outStride: number, scores: number,
    t: number, p0: number, heads: number, kvHeads: number, headDim: number, scale: number, softcap: number, window: number,
  ): void;
  f16_attention(
    q: number, qStride: number, k: number, v: number, kvStride: number, out: number, outStride: number, scores: number,
    t: number, p0: number, heads: number, kvHeads: number, headDim: number, scale: number, softcap: number, window: number,
  ): void;
  f16_attention_flash(
    q: number, qStride: number, k: number, v: number, kvStride: number, out: number, outStride: number, scratch: number,
    t: number, p0: number, heads: number, kvHeads: number, headDim: number, scale: number, softcap: number, window: number,
  ): void;
  f32_to_f16_cache(x: number, n: number, out: number): number;
  f32_geglu_tanh(gate: number, up: number, y: number, n: number): void;
  f32_softcap(x: number, cap: number, y: number, n: number): void;
  f32_add_row_bias(x: number, bias: number, rows: number, n: number): void;
  // ggml block types (assembly/ggml.ts, q4x4.ts, q23x4.ts, q5x4.ts, q6x4.ts, f16.ts, q8.ts, dot.ts): TYPE_gemm(w, x, y, m, n, k, ldy, dot);
  // the 4-row kernels TYPE_gemm_x4 on the layout of TYPE_gemm_pack_x4, returning the dot path they took
  q4_0_gemm_x4: GgmlGemm;
  q4_k_gemm_x4: GgmlGemm;
  q6_k_gemm_x4: GgmlGemm;
  q3_k_gemm_x4: GgmlGemm;
  q2_k_gemm_x4: GgmlGemm;
  q5_k_gemm_x4: GgmlGemm;
  q4_0_gemm_pack_x4(w: number, n: number, k: number, out: number): void;
  q4_k_gemm_pack_x4(w: number, n: number, k: number, out: number): void;
  q6_k_gemm_pack_x4(w: number, n: number, k: number, out: number): void;
  q3_k_gemm_pack_x4(w: number, n: number, k: number, out: number): void;
  q2_k_gemm_pack_x4(w: number, n: number, k: number, out: number): void;
  q5_k_gemm_pack_x4(w: number, n: number, k: number, out: number): void;
  q4_0_gemm_packed_bytes(n: number, k: number): number;
  q4_k_gemm_packed_bytes(n: number, k: number): number;
  q6_k_gemm_packed_bytes(n: number, k: number): number;
  q3_k_gemm_packed_bytes(n: number, k: number): number;
  q2_k_gemm_packed_bytes(n: number, k: number): number;
  q5_k_gemm_packed_bytes(n: number, k: number): number;
  q8_1_quantize_f32_x4(x: number, n: number, out: number): void;
  q8_k_quantize_f32_x4(x: number, n: number, out: number): void;
  q4_1_gemm: GgmlGemm;
  q5_0_gemm: GgmlGemm;
  q5_1_gemm: GgmlGemm;
  iq4_nl_gemm: GgmlGemm;
  q5_k_gemm: GgmlGemm;
  iq4_xs_gemm: GgmlGemm;
  f16_gemm(w: number, x: number, y: number, m: number, n: number, k: number, ldy: number): void;
  bf16_gemm(w: number, x: number, y: number, m: number, n: number, k: number, ldy: number): void;
  q8_1_quantize_f32(x: number, n: number, out: number): void;
  q8_k_quantize_f32(x: number, n: number, out: number): void;
  f16_round_f32(x: number, m: number, k: number, out: number): void;
  bf16_round_f32(x: number, m: number, k: number, out: number): void;
  half_count_nonfinite(p: number, n: number, stride: number): number;
  relaxed_dot_probe(a: number, b: number, c: number, out: number): number;
  relaxed_dot_form(dot: number): number;
  // Q8_0 on the unsigned relaxed dot (assembly/q8u8.ts): the 4-row layout of column quads, its activations and product
  relaxed_dot_u8_form(dot: number): number;
  q8_0_gemm_pack_x4_u8(w: number, n: number, k: number, out: number): number;
  q8_0_quantize_f32_x4_u8(x: number, n: number, out: number): void;
  q8_0_gemm_x4_u8: GgmlGemm;
}

/** The GEMM of an integer ggml block type: w rows, x the type's quantized activations, y rows ldy floats apart; dot the path (assembly/dot.ts). */
type GgmlGemm = (w: number, x: number, y: number, m: number, n: number, k: number, ldy: number, dot: number) => void;

/** Where each build lives; `new URL(..., import.meta.url)` so bundlers and plain ESM resolve it. */
export function wasmUrl(backend: Backend, shared = false): URL {
  if (shared) {
    // the shared-memory builds (threads) of the SIMD builds
    if (backend === 'simd') return new URL('../../build/ffnkit-simd-mt.wasm', import.meta.url);
    if (backend === 'relaxed') return new URL('../../build/ffnkit-relaxed-mt.wasm', import.meta.url);
    throw new FfnkitError('E_UNSUPPORTED', `threads: the ${backend} build has no shared-memory variant`);
  }
  switch (backend) {
    case 'scalar':
      return new URL('../../build/ffnkit-scalar.wasm', import.meta.url);
    case 'simd':
      return new URL('../../build/ffnkit-simd.wasm', import.meta.url);
    case 'relaxed':
      return new URL('../../build/ffnkit-relaxed.wasm', import.meta.url);
  }
}

const bytesCache = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();

/** The bytes of one build (its shared-memory variant with `shared`), fetched once per process. */
export function wasmBytes(backend: Backend, shared = false): Promise<Uint8Array<ArrayBuffer>> {
  const key = shared ? `${backend}-mt` : backend;
  let p = bytesCache.get(key);
  if (!p) {
    p = readBytes(wasmUrl(backend, shared), `the ${key} kernel build`);
    p.catch(() => bytesCache.delete(key));
    bytesCache.set(key, p);
  }
  return p;
}

/** The backend asked for through the environment (`FFNKIT_BACKEND`), where there is one. */
export function envBackend(): Backend | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = proc?.env?.FFNKIT_BACKEND;
  if (v === undefined || v === '') return undefined;
  if (!(BACKENDS as readonly string[]).includes(v)) {
    throw new FfnkitError('E_ARG', `FFNKIT_BACKEND: expected one of ${BACKENDS.join(', ')}, found '${v}'`);
  }
  return v as Backend;
}

/**
 * Picks the build to run: the one asked for (option, else `FFNKIT_BACKEND`), which must be
 * accepted by this engine's `WebAssembly.validate`, or else the best build it accepts.
 */
export async function selectBackend(requested?: Backend): Promise<{ backend: Backend; bytes: Uint8Array<ArrayBuffer> }> {
  const want = requested ?? envBackend();
  if (want !== undefined) {
    if (!(BACKENDS as readonly string[]).includes(want)) {
      throw new FfnkitError('E_ARG', `backend: expected one of ${BACKENDS.join(', ')}, found '${String(want)}'`);
    }
    const bytes = await wasmBytes(want);
    if (!WebAssembly.validate(bytes)) {
      const hint = want === 'relaxed' ? ' (Node 20 needs --experimental-wasm-relaxed-simd)' : '';
      throw new FfnkitError('E_UNSUPPORTED', `backend '${want}': this WebAssembly engine does not accept it${hint}`);
    }
    return { backend: want, bytes };
  }
  for (const backend of BACKENDS) {
    const bytes = await wasmBytes(backend);
    if (WebAssembly.validate(bytes)) return { backend, bytes };
  }
  throw new FfnkitError('E_UNSUPPORTED', 'no ffnkit build validates on this WebAssembly engine');
}

/** Instantiates a build against `memory` (the module imports `env.memory` and nothing else). */
export async function instantiate(bytes: Uint8Array<ArrayBuffer>, memory: WebAssembly.Memory): Promise<KernelExports> {
  const module = await WebAssembly.compile(bytes);
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}
