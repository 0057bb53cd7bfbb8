// Activations quantized as ggml quantizes them for the integer dot products of each weight type:
// Q8_1 (whose q and d are Q8_0's, so it serves Q4_0, Q5_0 and IQ4_NL too) for the 32-blocks, and
// Q8_K for the k-quants and IQ4_XS.

import { f32_to_half, half_to_f32 } from './half';
import { round_q } from './quant';

/** Bytes of one Q8_1 activation block of 32 values (see q8_1_quantize_f32). */
export const Q8_1_BLOCK_BYTES: usize = 44;
/** Bytes of one Q8_K activation block of 256 values: ggml's block_q8_K. */
export const Q8_K_BLOCK_BYTES: usize = 292;

// f32 rounded to the nearest half and back: the precision ggml stores a Q8_0/Q8_1 scale in.
@inline
function round_to_half(f: f32): f32 {
  return half_to_f32(f32_to_half(f));
}

// Quantizes x[n] (n a multiple of 32; several tokens' rows go as one run) to n/32 blocks of 44
// bytes at out:
//
//   [q: 32 int8] [d: f32] [s: f32] [sum: i32]
//
// as ggml's quantize_row_q8_1: d = max|x| / 127, q = roundf(x / d) (half away from zero, the
// rounding of quantize_q8_0_f32), d stored rounded to a half, s = half(sum(q) * d), and the
// integer sum(q) itself (the kernels subtract the weights' zero point with it). ggml's block
// stores d and s as halves; here they are the same values widened to f32.
export function q8_1_quantize_f32(x: usize, n: i32, out: usize): void {
  for (let b = 0; b < n / 32; b++) {
    const ob = out + <usize>b * Q8_1_BLOCK_BYTES;
    const sum = q8_block32(x + <usize>b * 128, ob, ob + 32);
    const d = load<f32>(ob, 32);
    store<f32>(ob, round_to_half(d), 32);
    store<f32>(ob, round_to_half(<f32>sum * d), 36);
    store<i32>(ob, sum, 40);
  }
}

// The 32 values at xb quantized as ggml's quantize_row_q8_0 / _q8_1 do: d = max|x| / 127 (not
// yet rounded to a half) stored at dAt, q = roundf(x / d) (half away from zero, the rounding
// of quantize_q8_0_f32) as 32 int8 at q. Returns sum(q).
@inline
export function q8_block32(xb: usize, q: usize, dAt: usize): i32 {
  let amax: f32 = 0;
  let sum = 0;
  if (ASC_FEATURE_SIMD) {
    const v0 = v128.load(xb), v1 = v128.load(xb, 16), v2 = v128.load(xb, 32), v3 = v128.load(xb, 48);
    const v4 = v128.load(xb, 64), v5 = v128.load(xb, 80), v6 = v128.load(xb, 96), v7 = v128.load(xb, 112);
    let m = f32x4.max(
      f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
      f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))),
    );
    m = f32x4.max(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1));
    amax = f32x4.extract_lane(f32x4.max(m, v128.shuffle<f32>(m, m, 1, 0, 3, 2)), 0);
    const d = amax / 127;
    const id = f32x4.splat(d != 0 ? <f32>1 / d : 0);
    const q0 = round_q(v0, id), q1 = round_q(v1, id), q2 = round_q(v2, id), q3 = round_q(v3, id);
    const q4 = round_q(v4, id), q5 = round_q(v5, id), q6 = round_q(v6, id), q7 = round_q(v7, id);
    v128.store(q, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
    v128.store(q, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7)), 16);
    const s = i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7)));
    sum = i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
  } else {
    for (let j = 0; j < 32; j++) amax = max(amax, abs(load<f32>(xb + <usize>j * 4)));
    const d = amax / 127;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(xb + <usize>j * 4) * id;
      const t = Mathf.trunc(v);
      const qj = <i32>(abs(v - t) >= <f32>0.5 ? t + (v < 0 ? <f32>-1 : <f32>1) : t);
      store<i8>(q + <usize>j, <i8>qj);
      sum += qj;
    }
  }
  store<f32>(dAt, amax / 127);
  return sum;
}

// Quantizes x[n] (n a multiple of 256; several tokens' rows go as one run) to n/256 blocks of
// ggml's block_q8_K at out, 292 bytes each:
//
//   [d: f32] [q: 256 int8] [bsums: 16 i16, the sums of each 16 q]
//
// as ggml's quantize_row_q8_K: with `big` the first value of largest magnitude, q =
// nearest(-127 / big * x) (ties to even), at most 127, and d = 1 / (-127 / big); all zero for a
// block of zeros. (d and the q take the sign that makes the largest value -127.)
export function q8_k_quantize_f32(x: usize, n: i32, out: usize): void {
  for (let b = 0; b < n / 256; b++) {
    const ob = out + <usize>b * Q8_K_BLOCK_BYTES;
    q8_k_block(x + <usize>b * 1024, ob, ob + 4, ob + 260);
  }
}

// The 256 values at xb quantized as ggml's quantize_row_q8_K: d (f32) at dAt, 256 int8 q at q,
// the 16 sums of 16 q (i16) at sums; all zero for a block of zeros.
@inline
function q8_k_block(xb: usize, dAt: usize, q: usize, sums: usize): void {
  let amax: f32 = 0;
  let big: f32 = 0;
  for (let j = 0; j < 256; j++) {
    const v = load<f32>(xb + <usize>j * 4);
    if (abs(v) > amax) {
      amax = abs(v);
      big = v;
    }
  }
  if (amax == 0) {
    store<f32>(dAt, 0);
    memory.fill(q, 0, 256);
    memory.fill(sums, 0, 32);
    return;
  }
  const iscale: f32 = <f32>-127 / big;
  store<f32>(dAt, <f32>1 / iscale);
  for (let g = 0; g < 16; g++) {
    const xg = xb + <usize>g * 64;
    const qg = q + <usize>g * 16;
    let sum = 0;
    if (ASC_FEATURE_SIMD) {
      const s = f32x4.splat(iscale);
      const a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xg), s)));
      const c = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xg, 16), s)));
      const e = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xg, 32), s)));
      const f = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xg, 48), s)));
      // narrowing saturates at 127, ggml's MIN(127, q); no q reaches -128
      const qv = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, c), i16x8.narrow_i32x4_s(e, f));
      v128.store(qg, qv);
      const p = i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(qv));
      sum = i32x4.extract_lane(p, 0) + i32x4.extract_lane(p, 1) + i32x4.extract_lane(p, 2) + i32x4.extract_lane(p, 3);
    } else {
      for (let j = 0; j < 16; j++) {
        const qj = min(127, <i32>nearest<f32>(iscale * load<f32>(xg + <usize>j * 4)));
        store<i8>(qg + <usize>j, <i8>qj);
        sum += qj;
      }
    }
    store<i16>(sums + <usize>g * 2, <i16>sum);
  }
}

// ---- activations for the 4-row kernels of assembly/q4x4.ts and q6x4.ts ----------------------
//
// The same values as above. For Q4_0 and Q4_K each block's q in two forms, one per dot path:
// int8 in groups of 8 reordered [q0 q4 q1 q5 q2 q6 q3 q7] (the relaxed path), and int16 scaled
// per group of 8 by [256 256 16 16 1 1 256 256] (the i16 path). Blocks of 32 (Q4_0),
// XQ4_0_BYTES each, what the relaxed path reads in one 64-byte line of its own (a GEMV reads
// every block of x once per 4 rows, so x's lines have to stay in L1 beside the streamed weights):
//
//   [i8: 32 bytes] [d: f32, rounded to a half] [sum(q): i32] [24 bytes unused] [i16: 64 bytes]
//
// and of 256 (Q4_K), XQ4_K_BYTES each:
//
//   [d: f32] [12 bytes unused] [8 i16: the sums of each 32 q] [i8: 256 bytes] [i16: 512 bytes]

export const XQ4_0_BYTES: usize = 128;
export const XQ4_0_I8: usize = 0;
export const XQ4_0_D: usize = 32;
export const XQ4_0_SUM: usize = 36;
export const XQ4_0_I16: usize = 64;
export const XQ4_K_BYTES: usize = 800;
export const XQ4_K_BSUMS: usize = 16;
export const XQ4_K_I8: usize = 32;
export const XQ4_K_I16: usize = 288;

// The multipliers of the i16 forms, per 16 values (read by the scalar build too).
const Q4_SCALES = memory.data<i16>([256, 256, 16, 16, 1, 1, 256, 256, 256, 256, 16, 16, 1, 1, 256, 256], 16);

// Writes q[j] * scales[j % 16] as i16 at out for the n int8 q at q (n a multiple of 16).
@inline
function scaled_i16(q: usize, n: i32, out: usize, scales: usize): void {
  for (let g = 0; g < n; g += 16) {
    const at = q + <usize>g;
    const o = out + <usize>g * 2;
    if (ASC_FEATURE_SIMD) {
      const v = v128.load(at);
      v128.store(o, i16x8.mul(i16x8.extend_low_i8x16_s(v), v128.load(scales)));
      v128.store(o, i16x8.mul(i16x8.extend_high_i8x16_s(v), v128.load(scales, 16)), 16);
    } else {
      for (let j = 0; j < 16; j++) store<i16>(o + <usize>j * 2, <i16>(<i32>load<i8>(at + <usize>j) * <i32>load<i16>(scales + <usize>j * 2)));
    }
  }
}

// Writes the i16 form of the n int8 q at q (n a multiple of 16) at out, then reorders q in place.
@inline
function x4_forms(q: usize, n: i32, out: usize): void {
  scaled_i16(q, n, out, Q4_SCALES);
  for (let g = 0; g < n; g += 8) {
    const b = q + <usize>g;
    if (ASC_FEATURE_SIMD) {
      const v = v128.load64_zero(b);
      v128.store64_lane(b, i8x16.shuffle(v, v, 0, 4, 1, 5, 2, 6, 3, 7, 8, 9, 10, 11, 12, 13, 14, 15), 0);
    } else {
      const v0 = load<i8>(b), v1 = load<i8>(b, 1), v2 = load<i8>(b, 2), v3 = load<i8>(b, 3);
      const v4 = load<i8>(b, 4), v5 = load<i8>(b, 5), v6 = load<i8>(b, 6), v7 = load<i8>(b, 7);
      store<i8>(b, v0);
      store<i8>(b, v4, 1);
      store<i8>(b, v1, 2);
      store<i8>(b, v5, 3);
      store<i8>(b, v2, 4);
      store<i8>(b, v6, 5);
      store<i8>(b, v3, 6);
      store<i8>(b, v7, 7);
    }
  }
}

// x[n] (n a multiple of 32; several tokens' rows go as one run) as Q8_1 blocks for q4_0_gemm_x4,
// XQ4_0_BYTES each (layout above).
export function q8_1_quantize_f32_x4(x: usize, n: i32, out: usize): void {
  for (let b = 0; b < n / 32; b++) {
    const ob = out + <usize>b * XQ4_0_BYTES;
    const sum = q8_block32(x + <usize>b * 128, ob + XQ4_0_I8, ob + XQ4_0_D);
    store<f32>(ob + XQ4_0_D, round_to_half(load<f32>(ob + XQ4_0_D)));
    store<i32>(ob + XQ4_0_SUM, sum);
    memory.fill(ob + XQ4_0_SUM + 4, 0, XQ4_0_I16 - XQ4_0_SUM - 4);
    x4_forms(ob + XQ4_0_I8, 32, ob + XQ4_0_I16);
  }
}

// x[n] (n a multiple of 256; several tokens' rows go as one run) as Q8_K blocks for
// q4_k_gemm_x4, XQ4_K_BYTES each (layout above).
export function q8_k_quantize_f32_x4(x: usize, n: i32, out: usize): void {
  for (let b = 0; b < n / 256; b++) {
    const ob = out + <usize>b * XQ4_K_BYTES;
    // the 16 sums of 16 land in the i16 area first, then pair up into the 8 sums of 32
    q8_k_block(x + <usize>b * 1024, ob, ob + XQ4_K_I8, ob + XQ4_K_I16);
    for (let j = 0; j < 8; j++) {
      const s = <i32>load<i16>(ob + XQ4_K_I16 + <usize>j * 4) + <i32>load<i16>(ob + XQ4_K_I16 + <usize>j * 4 + 2);
      store<i16>(ob + XQ4_K_BSUMS + <usize>j * 2, <i16>s);
    }
    memory.fill(ob + 4, 0, 12);
    x4_forms(ob + XQ4_K_I8, 256, ob + XQ4_K_I16);
  }
}
