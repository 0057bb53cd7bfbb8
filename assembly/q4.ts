// ggml's 32-weight blocks with 4 or 5 bits per weight (Q4_1, Q5_0, Q5_1; Q4_0 runs on its own
// layout, q4x4.ts), one row's blocks after another as GGUF stores them. Each function is one row's dot product with one token's Q8_1 activations
// (assembly/q8.ts, 44-byte blocks: 32 int8 q, f32 d, f32 s, i32 sum), as ggml's
// vec_dot_qN_q8_0 / _q8_1: per block the exact integer dot product, then d_w * d_x, plus (Q4_1,
// Q5_1) the block's min times the activations' s. Weight values go to dot_u8x16 unsigned, the
// zero point (16) subtracted through the activations' integer sum. w is the row's first
// block, nb = k / 32.
//
// In a block's 16 bytes of nibbles, byte j holds weight j (low nibble) and weight 16 + j (high).

import { dot_total, dot_u8x16 } from './dot';
import { half_finite_to_f32 } from './half';

/** Bytes of one block of 32 weights. */
export const Q4_1_BYTES: usize = 20;
export const Q5_0_BYTES: usize = 22;
export const Q5_1_BYTES: usize = 24;

// Offsets into a Q8_1 activation block.
const XD: usize = 32;
const XS: usize = 36;
const XSUM: usize = 40;

// The 32 nibbles at q (16 bytes), each with a fifth bit from qh (bit j for weight j; 0 for no
// fifth bit), dotted with the 32 activations at xq: the exact integer sum.
@inline
function dot_q45(q: usize, qh: u32, xq: usize, form: i32): i32 {
  if (ASC_FEATURE_SIMD) {
    const v = v128.load(q);
    let lo = v128.and(v, i8x16.splat(0x0f));
    let hi = i8x16.shr_u(v, 4);
    if (qh != 0) {
      // bit j of qh into lane j: lanes take qh's byte j / 8, then test their own bit
      const bits = i32x4.splat(qh);
      const sel = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
      const s16 = i8x16.splat(16);
      const b0 = v128.and(i8x16.swizzle(bits, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)), sel);
      const b1 = v128.and(i8x16.swizzle(bits, i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)), sel);
      lo = v128.or(lo, v128.and(i8x16.eq(b0, sel), s16));
      hi = v128.or(hi, v128.and(i8x16.eq(b1, sel), s16));
    }
    return dot_total(i32x4.add(dot_u8x16(lo, xq, form), dot_u8x16(hi, xq + 16, form)), form);
  } else {
    let s = 0;
    for (let j = 0; j < 16; j++) {
      const byte = <i32>load<u8>(q + <usize>j);
      const lo = (byte & 15) | (<i32>((qh >> <u32>j) & 1) << 4);
      const hi = (byte >> 4) | (<i32>((qh >> <u32>(j + 16)) & 1) << 4);
      s += lo * <i32>load<i8>(xq + <usize>j) + hi * <i32>load<i8>(xq + <usize>j + 16);
    }
    return s;
  }
}

// Q4_1: d, m (f16), 16 bytes of nibbles; weight = d * q + m.
@inline
export function q4_1_row(w: usize, x: usize, nb: i32, form: i32): f32 {
  let acc: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * Q4_1_BYTES;
    const xb = x + <usize>b * 44;
    const s = dot_q45(wb + 4, 0, xb, form);
    acc += <f32>s * (half_finite_to_f32(load<u16>(wb)) * load<f32>(xb, XD)) + half_finite_to_f32(load<u16>(wb, 2)) * load<f32>(xb, XS);
  }
  return acc;
}

// Q5_0: d (f16), qh (32 fifth bits, little-endian), 16 bytes of nibbles; weight = d * (q - 16).
@inline
export function q5_0_row(w: usize, x: usize, nb: i32, form: i32): f32 {
  let acc: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * Q5_0_BYTES;
    const xb = x + <usize>b * 44;
    const s = dot_q45(wb + 6, load<u32>(wb, 2), xb, form) - 16 * load<i32>(xb, XSUM);
    acc += <f32>s * (half_finite_to_f32(load<u16>(wb)) * load<f32>(xb, XD));
  }
  return acc;
}

// Q5_1: d, m (f16), qh, 16 bytes of nibbles; weight = d * q + m.
@inline
export function q5_1_row(w: usize, x: usize, nb: i32, form: i32): f32 {
  let acc: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * Q5_1_BYTES;
    const xb = x + <usize>b * 44;
    const s = dot_q45(wb + 8, load<u32>(wb, 4), xb, form);
    acc += <f32>s * (half_finite_to_f32(load<u16>(wb)) * load<f32>(xb, XD)) + half_finite_to_f32(load<u16>(wb, 2)) * load<f32>(xb, XS);
  }
  return acc;
}
