// Attention over a KV cache kept in IEEE halves (2 bytes a value instead of 4), as llama.cpp
// keeps its cache by default. The halves are converted to f32 in registers; two ways to sum:
//   f16_attention:       f32 numerics over the halves: q · k[s] in f32, a stable softmax, the
//                        score-weighted sum of v[s] in f32 (f32_attention_windowed's loop).
//   f16_attention_flash: llama.cpp's CPU flash attention over an f16 cache: the query rounded to
//                        halves for the dot products (accumulated in f32), an online softmax, and
//                        the output accumulated in halves, rounded after every rescale and every
//                        added position (ggml's flash_attn_ext with an F16 V). It gives the logits
//                        llama.cpp gives; the f32 sum is the more accurate.
// Both take the options of Gemma-style graphs as f32_attention_windowed does: score =
// q · k[s] * scale, then, when softcap > 0, softcap * tanh(score / softcap); keys s = first ..
// pos, first = pos - window + 1 when window > 0 (else 0).
//
// Layout (f32 rows' strides in floats, the cache's in halves):
//   q:       t rows, stride q_stride floats; a row holds n_heads heads of head_dim, head-major
//   k, v:    cache rows of halves for positions 0 .. p0+t-1, stride kv_stride halves; a row holds
//            n_kv_heads heads (any byte address; the rows of this block already written, all
//            finite: f32_to_f16_cache refuses what overflows a half)
//   out:     t rows, stride out_stride floats; a row receives n_heads heads of head_dim
//   scratch: f16_attention: min(p0 + t, window if > 0) floats of scores;
//            f16_attention_flash: 2 * head_dim floats (the rounded query, the accumulator)
// out must not overlap q, k, v or scratch. Query head h reads KV head h / (n_heads / n_kv_heads).

import { half_finite_to_f32, half_to_f32, f32_to_half, f32x4_from_half_hi } from './half';
import { softmax_row } from './norm';
import { hsum, madd } from './simd';
import { exp1, tanh1 } from './math';

// The nearest halves of n floats at x, stored at out (2 bytes each, any byte address), rounded
// to nearest with ties to even as ggml's f32 -> f16 conversion. Returns how many are not finite
// halves (beyond +-65504 after rounding, or NaN): the caller refuses those, which the kernels'
// in-register conversion does not keep.
export function f32_to_f16_cache(x: usize, n: i32, out: usize): i32 {
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const h = f32_to_half(load<f32>(x + <usize>i * 4));
    if ((h & 0x7c00) == 0x7c00) bad++;
    store<u16>(out + <usize>i * 2, <u16>h);
  }
  return bad;
}

// Four halves at p (8 bytes) as f32 lanes: interleaved with zeros, each lands in the top 16 bits
// of its lane, where f32x4_from_half_hi reads it.
@inline
function load_half4(p: usize): v128 {
  const h = v128.load64_zero(p);
  return f32x4_from_half_hi(v128.shuffle<i16>(i16x8.splat(0), h, 0, 8, 0, 9, 0, 10, 0, 11));
}

// sum_i x[i] * half(h[i]) for n values: x f32, h halves.
@inline
function dot_half(x: usize, h: usize, n: i32): f32 {
  let i = 0;
  let s: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let a0 = f32x4.splat(0), a1 = a0;
    for (; i + 8 <= n; i += 8) {
      a0 = madd(v128.load(x + <usize>i * 4), load_half4(h + <usize>i * 2), a0);
      a1 = madd(v128.load(x + <usize>i * 4, 16), load_half4(h + <usize>i * 2 + 8), a1);
    }
    if (i + 4 <= n) {
      a0 = madd(v128.load(x + <usize>i * 4), load_half4(h + <usize>i * 2), a0);
      i += 4;
    }
    s = hsum(f32x4.add(a0, a1));
  }
  for (; i < n; i++) s += load<f32>(x + <usize>i * 4) * half_finite_to_f32(<u32>load<u16>(h + <usize>i * 2));
  return s;
}

// y[i] += alpha * half(h[i]) for n values.
@inline
function axpy_half(alpha: f32, h: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f32x4.splat(alpha);
    for (; i + 4 <= n; i += 4) {
      const o = y + <usize>i * 4;
      v128.store(o, madd(va, load_half4(h + <usize>i * 2), v128.load(o)));
    }
  }
  for (; i < n; i++) {
    const o = y + <usize>i * 4;
    store<f32>(o, load<f32>(o) + alpha * half_finite_to_f32(<u32>load<u16>(h + <usize>i * 2)));
  }
}

// The nearest half of each lane, held as f32 (ties to even; beyond 65504 after rounding inf, NaN
// kept, as the f32 -> f16 conversion). Normal halves: the mantissa rounded to 10 bits in the integer
// bits; subnormal ones: |x| * 2^24 rounded to an integer, exactly scaled back.
@inline
function round_half4(x: v128): v128 {
  const sign = v128.and(x, i32x4.splat(0x80000000));
  const a = v128.and(x, i32x4.splat(0x7fffffff));
  const odd = v128.and(i32x4.shr_u(a, 13), i32x4.splat(1));
  let normal = v128.and(i32x4.add(i32x4.add(a, i32x4.splat(0xfff)), odd), i32x4.splat(0xffffe000));
  normal = v128.bitselect(i32x4.splat(0x7f800000), normal, i32x4.ge_s(a, i32x4.splat(0x477ff000)));
  normal = v128.bitselect(a, normal, i32x4.gt_s(a, i32x4.splat(0x7f800000)));
  const tiny = f32x4.mul(f32x4.nearest(f32x4.mul(a, f32x4.splat(16777216))), f32x4.splat(5.9604644775390625e-8));
  return v128.or(v128.bitselect(tiny, normal, i32x4.lt_s(a, i32x4.splat(0x38800000))), sign);
}

@inline
function round_half1(x: f32): f32 {
  return half_to_f32(f32_to_half(x));
}

// acc[i] = half(acc[i] * ms) for n values held as halves in f32.
@inline
function scale_half(acc: usize, ms: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vm = f32x4.splat(ms);
    for (; i + 4 <= n; i += 4) {
      const o = acc + <usize>i * 4;
      v128.store(o, round_half4(f32x4.mul(v128.load(o), vm)));
    }
  }
  for (; i < n; i++) {
    const o = acc + <usize>i * 4;
    store<f32>(o, round_half1(load<f32>(o) * ms));
  }
}

// acc[i] = half(acc[i] + half(h[i]) * vs) for n values.
@inline
function mad_half(acc: usize, h: usize, vs: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vv = f32x4.splat(vs);
    for (; i + 4 <= n; i += 4) {
      const o = acc + <usize>i * 4;
      v128.store(o, round_half4(madd(load_half4(h + <usize>i * 2), vv, v128.load(o))));
    }
  }
  for (; i < n; i++) {
    const o = acc + <usize>i * 4;
    store<f32>(o, round_half1(load<f32>(o) + half_finite_to_f32(<u32>load<u16>(h + <usize>i * 2)) * vs));
  }
}

// One score: q · k * scale, soft-capped when softcap > 0.
@inline
function score_of(q: usize, k: usize, head_dim: i32, scale: f32, softcap: f32, inv_cap: f32): f32 {
  const s = dot_half(q, k, head_dim) * scale;
  return softcap > 0 ? softcap * tanh1(s * inv_cap) : s;
}

export function f16_attention(
  q: usize, q_stride: i32, k: usize, v: usize, kv_stride: i32, out: usize, out_stride: i32, scores: usize,
  t: i32, p0: i32, n_heads: i32, n_kv_heads: i32, head_dim: i32, scale: f32, softcap: f32, window: i32,
): void {
  const group = n_heads / n_kv_heads;
  const kv_row = <usize>kv_stride * 2;
  const inv_cap: f32 = softcap > 0 ? <f32>1.0 / softcap : 0;
  for (let i = 0; i < t; i++) {
    const pos = p0 + i;
    const first = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
    const n = pos + 1 - first;
    for (let h = 0; h < n_heads; h++) {
      const qh = q + (<usize>i * <usize>q_stride + <usize>h * <usize>head_dim) * 4;
      const kvh = <usize>(h / group) * <usize>head_dim * 2;
      const k0 = k + <usize>first * kv_row + kvh;
      const v0 = v + <usize>first * kv_row + kvh;
      for (let s = 0; s < n; s++) store<f32>(scores + <usize>s * 4, score_of(qh, k0 + <usize>s * kv_row, head_dim, scale, softcap, inv_cap));
      softmax_row(scores, scores, n);
      const oh = out + (<usize>i * <usize>out_stride + <usize>h * <usize>head_dim) * 4;
      memory.fill(oh, 0, <usize>head_dim * 4);
      for (let s = 0; s < n; s++) axpy_half(load<f32>(scores + <usize>s * 4), v0 + <usize>s * kv_row, oh, head_dim);
    }
  }
}

export function f16_attention_flash(
  q: usize, q_stride: i32, k: usize, v: usize, kv_stride: i32, out: usize, out_stride: i32, scratch: usize,
  t: i32, p0: i32, n_heads: i32, n_kv_heads: i32, head_dim: i32, scale: f32, softcap: f32, window: i32,
): void {
  const group = n_heads / n_kv_heads;
  const kv_row = <usize>kv_stride * 2;
  const inv_cap: f32 = softcap > 0 ? <f32>1.0 / softcap : 0;
  const qr = scratch;
  const acc = scratch + <usize>head_dim * 4;
  for (let i = 0; i < t; i++) {
    const pos = p0 + i;
    const first = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
    for (let h = 0; h < n_heads; h++) {
      const qh = q + (<usize>i * <usize>q_stride + <usize>h * <usize>head_dim) * 4;
      const kvh = <usize>(h / group) * <usize>head_dim * 2;
      for (let d = 0; d < head_dim; d++) store<f32>(qr + <usize>d * 4, round_half1(load<f32>(qh + <usize>d * 4)));
      memory.fill(acc, 0, <usize>head_dim * 4);
      let m: f32 = -Infinity;
      let sum: f32 = 0;
      for (let s = first; s <= pos; s++) {
        const score = score_of(qr, k + <usize>s * kv_row + kvh, head_dim, scale, softcap, inv_cap);
        let ms: f32 = 1;
        let vs: f32 = 1;
        if (score > m) {
          // a new maximum: what is summed so far shrinks by e^(old - new)
          ms = exp1(m - score);
          m = score;
          scale_half(acc, ms, head_dim);
        } else {
          vs = exp1(score - m);
        }
        mad_half(acc, v + <usize>s * kv_row + kvh, vs, head_dim);
        sum = sum * ms + vs;
      }
      const oh = out + (<usize>i * <usize>out_stride + <usize>h * <usize>head_dim) * 4;
      const inv: f32 = <f32>1.0 / sum;
      for (let d = 0; d < head_dim; d++) store<f32>(oh + <usize>d * 4, load<f32>(acc + <usize>d * 4) * inv);
    }
  }
}
