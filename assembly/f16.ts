// F16 and BF16 weights, row-major as GGUF stores them (2 bytes per weight, rows k * 2 bytes
// apart), converted to f32 in registers. ggml computes these products on activations rounded
// to the weights' type (vec_dot_f16 / vec_dot_bf16, accumulating in f32); so do these, with the
// rounded activations prepared once per token by f16_round_f32 / bf16_round_f32.
//
// Activation layout (k floats per token): each whole group of 8 values is stored
// deinterleaved, [x0 x2 x4 x6 x1 x3 x5 x7], so that one v128 of 8 weights splits into its even
// and odd weights with one shift or mask per lane (below); the last k % 8 values follow in order.
// F16's activations are stored times 2^112 and its weights converted to their values times
// 2^-112 (half_finite_scaled), which saves the rescaling multiply per 4 weights; both scalings
// are exact, so every product is the one of the unscaled values.

import { TWO_POW_112, f32_to_bf16, f32_to_half, f32x4_from_half_hi_scaled, half_finite_scaled, half_to_f32 } from './half';
import { hsum, madd } from './simd';

// out[t][.] = x[t][.] rounded to f16 and held as f32 times 2^112 (bf16: rounded to bf16, as
// ggml's fp32_to_bf16, not scaled), for m tokens of k values, in the layout above. x and out do not overlap.
export function f16_round_f32(x: usize, m: i32, k: i32, out: usize): void {
  round_rows(x, m, k, out, false);
}

export function bf16_round_f32(x: usize, m: i32, k: i32, out: usize): void {
  round_rows(x, m, k, out, true);
}

@inline
function round_rows(x: usize, m: i32, k: i32, out: usize, bf16: bool): void {
  const groups = k >> 3;
  for (let t = 0; t < m; t++) {
    const xt = x + <usize>t * k * 4;
    const ot = out + <usize>t * k * 4;
    for (let j = 0; j < k; j++) {
      const v = load<f32>(xt + <usize>j * 4);
      const r = bf16 ? reinterpret<f32>(f32_to_bf16(v) << 16) : half_to_f32(f32_to_half(v)) * TWO_POW_112;
      // position of x[j] in the deinterleaved group (or in order in the tail)
      const g = j >> 3;
      const at = g < groups ? (g << 3) + ((j & 1) << 2) + ((j & 7) >> 1) : j;
      store<f32>(ot + <usize>at * 4, r);
    }
  }
}

// y[t][r] = sum_j w[r][j] * x[t][j] for m tokens (activations from f16_round_f32, k floats per
// token) and n rows of F16 weights at w (any byte address; finite values only: the loader
// refuses inf and NaN, which the in-register conversion does not keep). y rows are ldy floats
// apart. Each output is one row's sum, in the same order whatever m.
export function f16_gemm(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32): void {
  for (let r = 0; r < n; r++) {
    const wr = w + <usize>r * k * 2;
    for (let t = 0; t < m; t++) store<f32>(y + (<usize>t * ldy + r) * 4, half_row(wr, x + <usize>t * k * 4, k, false));
  }
}

// As f16_gemm for BF16 weights (activations from bf16_round_f32); any bf16 value, inf and NaN
// included, converts exactly.
export function bf16_gemm(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32): void {
  for (let r = 0; r < n; r++) {
    const wr = w + <usize>r * k * 2;
    for (let t = 0; t < m; t++) store<f32>(y + (<usize>t * ldy + r) * 4, half_row(wr, x + <usize>t * k * 4, k, true));
  }
}

// Even weights of 8 halves in v (the low half of each 32-bit lane) and odd ones (the high half),
// as f32: for bf16 the bits themselves, for f16 times 2^-112 (f32x4_from_half_hi_scaled).
@inline
function even(v: v128, bf16: bool): v128 {
  const hi = i32x4.shl(v, 16);
  return bf16 ? hi : f32x4_from_half_hi_scaled(hi);
}

@inline
function odd(v: v128, bf16: bool): v128 {
  const hi = v128.and(v, i32x4.splat(0xffff0000));
  return bf16 ? hi : f32x4_from_half_hi_scaled(hi);
}

@inline
function half_row(w: usize, x: usize, k: i32, bf16: bool): f32 {
  const groups = k >> 3;
  let g = 0;
  let s: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
    for (; g + 2 <= groups; g += 2) {
      const p = w + <usize>g * 16;
      const q = x + <usize>g * 32;
      const v0 = v128.load(p), v1 = v128.load(p, 16);
      a0 = madd(even(v0, bf16), v128.load(q), a0);
      a1 = madd(odd(v0, bf16), v128.load(q, 16), a1);
      a2 = madd(even(v1, bf16), v128.load(q, 32), a2);
      a3 = madd(odd(v1, bf16), v128.load(q, 48), a3);
    }
    if (g < groups) {
      const v0 = v128.load(w + <usize>g * 16);
      a0 = madd(even(v0, bf16), v128.load(x + <usize>g * 32), a0);
      a1 = madd(odd(v0, bf16), v128.load(x + <usize>g * 32, 16), a1);
      g++;
    }
    s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  } else {
    for (; g < groups; g++) {
      const p = w + <usize>g * 16;
      const q = x + <usize>g * 32;
      for (let j = 0; j < 8; j++) {
        const h = <u32>load<u16>(p + <usize>j * 2);
        const wv = bf16 ? reinterpret<f32>(h << 16) : half_finite_scaled(h);
        s += wv * load<f32>(q + <usize>(((j & 1) << 2) + (j >> 1)) * 4);
      }
    }
  }
  for (let j = groups << 3; j < k; j++) {
    const h = <u32>load<u16>(w + <usize>j * 2);
    s += (bf16 ? reinterpret<f32>(h << 16) : half_finite_scaled(h)) * load<f32>(x + <usize>j * 4);
  }
  return s;
}

// How many of the n halves at p, stride bytes apart, are inf or NaN (all exponent bits set):
// the block scales (or F16 weights) a loader must refuse before the kernels see them.
export function half_count_nonfinite(p: usize, n: i32, stride: i32): i32 {
  let bad = 0;
  for (let i = 0; i < n; i++) if ((load<u16>(p + <usize>i * stride) & 0x7c00) == 0x7c00) bad++;
  return bad;
}
