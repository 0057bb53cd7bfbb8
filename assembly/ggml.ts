// GEMM (and, with m = 1, GEMV) on ggml's block types in GGUF's rows, one export per type (Q4_0,
// Q2_K, Q3_K, Q4_K, Q5_K and Q6_K run on their own 4-row layouts, assembly/q4x4.ts, q23x4.ts, q5x4.ts and q6x4.ts;
// q5_k_gemm stays for `bench kernels --only q5_k`, which times the 4-row kernel against it):
//
//   TYPE_gemm(w, x, y, m, n, k, ldy, dot)
//
// y[t][r] = row r of W times token t's quantized activations, for m tokens and n rows of k
// weights. w: the n rows in GGUF's layout (row r at w + r * rowBytes, rowBytes = k / blockSize
// * blockBytes; any byte address, block scales finite). x: m tokens' activations, each k values
// as the type's activation blocks (q8_1_quantize_f32 for the 32-blocks, q8_k_quantize_f32 for
// the k-quants and IQ4_XS), tokens one after another. y rows are ldy floats apart and must not
// overlap the inputs. dot: DOT_I16, or DOT_RELAXED to use the relaxed dot in the form this call
// finds (assembly/dot.ts; ignored without relaxed SIMD). Each output is one row's sum over its blocks in order, identical for
// any m and any split of the rows (threads).
//
// Rows run one at a time, the tokens inner, so a row's blocks stay in L1 while every token
// passes over them, two tokens at a time, each vector unpacked once for both (but Q5_K, whose
// row kernel only `bench kernels` times).

import { q45_rows, Q4_1_BYTES, Q5_0_BYTES, Q5_1_BYTES } from './q4';
import { q5_k_row, Q5_K_BYTES } from './kquants';
import { iq4_nl_rows, iq4_xs_rows, IQ4_NL_BYTES, IQ4_XS_BYTES } from './iquants';
import { Q8_1_BLOCK_BYTES, Q8_K_BLOCK_BYTES } from './q8';
import { dot_form } from './dot';

const Q4_1: i32 = 1, Q5_0: i32 = 2, Q5_1: i32 = 3, IQ4_NL: i32 = 4;
const Q5_K: i32 = 8, IQ4_XS: i32 = 10;

// One row's dot product with token a (xa), and with token c (xc) when `two`, stored at yc, for
// block type `type` (a constant at every call site, so each export compiles to its own loop):
// returns token a's. Q5_K runs one token at a time.
@inline
function rows_dot(type: i32, w: usize, xa: usize, xc: usize, nb: i32, form: i32, two: bool, yc: usize): f32 {
  switch (type) {
    case Q4_1: return q45_rows(w, xa, xc, nb, form, two, yc, Q4_1_BYTES);
    case Q5_0: return q45_rows(w, xa, xc, nb, form, two, yc, Q5_0_BYTES);
    case Q5_1: return q45_rows(w, xa, xc, nb, form, two, yc, Q5_1_BYTES);
    case IQ4_NL: return iq4_nl_rows(w, xa, xc, nb, two, yc);
    case Q5_K: return q5_k_row(w, xa, nb, form);
    default: return iq4_xs_rows(w, xa, xc, nb, two, yc);
  }
}

@inline
function gemm(type: i32, blockWeights: i32, blockBytes: usize, w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): void {
  const nb = k / blockWeights;
  const rowBytes = <usize>nb * blockBytes;
  const xBytes = <usize>nb * (blockWeights == 32 ? Q8_1_BLOCK_BYTES : Q8_K_BLOCK_BYTES);
  const form = dot_form(dot);
  for (let r = 0; r < n; r++) {
    const wr = w + <usize>r * rowBytes;
    let t = 0;
    if (ASC_FEATURE_SIMD && type != Q5_K) {
      // a row's vectors unpacked once for two tokens
      for (; t + 1 < m; t += 2) {
        const xt = x + <usize>t * xBytes;
        const yt = y + (<usize>t * ldy + r) * 4;
        store<f32>(yt, rows_dot(type, wr, xt, xt + xBytes, nb, form, true, yt + <usize>ldy * 4));
      }
    }
    for (; t < m; t++) store<f32>(y + (<usize>t * ldy + r) * 4, rows_dot(type, wr, x + <usize>t * xBytes, 0, nb, form, false, 0));
  }
}

export function q4_1_gemm(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): void {
  gemm(Q4_1, 32, Q4_1_BYTES, w, x, y, m, n, k, ldy, dot);
}
export function q5_0_gemm(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): void {
  gemm(Q5_0, 32, Q5_0_BYTES, w, x, y, m, n, k, ldy, dot);
}
export function q5_1_gemm(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): void {
  gemm(Q5_1, 32, Q5_1_BYTES, w, x, y, m, n, k, ldy, dot);
}
export function iq4_nl_gemm(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): void {
  gemm(IQ4_NL, 32, IQ4_NL_BYTES, w, x, y, m, n, k, ldy, dot);
}
export function q5_k_gemm(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): void {
  gemm(Q5_K, 256, Q5_K_BYTES, w, x, y, m, n, k, ldy, dot);
}
export function iq4_xs_gemm(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): void {
  gemm(IQ4_XS, 256, IQ4_XS_BYTES, w, x, y, m, n, k, ldy, dot);
}
