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
    const xb = x + <usize>b * 128;
    const ob = out + <usize>b * Q8_1_BLOCK_BYTES;
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
      v128.store(ob, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
      v128.store(ob, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7)), 16);
      const s = i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7)));
      sum = i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
    } else {
      for (let j = 0; j < 32; j++) amax = max(amax, abs(load<f32>(xb + <usize>j * 4)));
      const d = amax / 127;
      const id: f32 = d != 0 ? <f32>1 / d : 0;
      for (let j = 0; j < 32; j++) {
        const v = load<f32>(xb + <usize>j * 4) * id;
        const t = Mathf.trunc(v);
        const q = <i32>(abs(v - t) >= <f32>0.5 ? t + (v < 0 ? <f32>-1 : <f32>1) : t);
        store<i8>(ob + <usize>j, <i8>q);
        sum += q;
      }
    }
    const d = amax / 127;
    store<f32>(ob, round_to_half(d), 32);
    store<f32>(ob, round_to_half(<f32>sum * d), 36);
    store<i32>(ob, sum, 40);
  }
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
    const xb = x + <usize>b * 1024;
    const ob = out + <usize>b * Q8_K_BLOCK_BYTES;
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
      memory.fill(ob, 0, Q8_K_BLOCK_BYTES);
      continue;
    }
    const iscale: f32 = <f32>-127 / big;
    store<f32>(ob, <f32>1 / iscale);
    for (let g = 0; g < 16; g++) {
      const xg = xb + <usize>g * 64;
      const qg = ob + 4 + <usize>g * 16;
      let sum = 0;
      if (ASC_FEATURE_SIMD) {
        const s = f32x4.splat(iscale);
        const a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xg), s)));
        const c = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xg, 16), s)));
        const e = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xg, 32), s)));
        const f = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xg, 48), s)));
        // narrowing saturates at 127, ggml's MIN(127, q); no q reaches -128
        const q = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, c), i16x8.narrow_i32x4_s(e, f));
        v128.store(qg, q);
        const p = i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(q));
        sum = i32x4.extract_lane(p, 0) + i32x4.extract_lane(p, 1) + i32x4.extract_lane(p, 2) + i32x4.extract_lane(p, 3);
      } else {
        for (let j = 0; j < 16; j++) {
          const q = min(127, <i32>nearest<f32>(iscale * load<f32>(xg + <usize>j * 4)));
          store<i8>(qg + <usize>j, <i8>q);
          sum += q;
        }
      }
      store<i16>(ob + 260 + <usize>g * 2, <i16>sum);
    }
  }
}
