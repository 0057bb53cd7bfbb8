// ggml's 32-weight blocks with 4 or 5 bits per weight (Q4_1, Q5_0, Q5_1; Q4_0 runs on its own
// layout, q4x4.ts), one row's blocks after another as GGUF stores them: one row's dot product
// with one or two tokens' Q8_1 activations (assembly/q8.ts, 44-byte blocks: 32 int8 q, f32 d,
// f32 s, i32 sum), as ggml's
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

// The 32 weight values of a block's 16 bytes of nibbles v, low (weights 0..15) or high
// (16..31), each with its fifth bit from qh (bit j for weight j; qh = 0 for no fifth bit).
@inline
function q45_values(v: v128, qh: u32, high: bool): v128 {
  let q = high ? i8x16.shr_u(v, 4) : v128.and(v, i8x16.splat(0x0f));
  if (qh != 0) {
    // bit j of qh into lane j: lanes take qh's byte j / 8, then test their own bit
    const sel = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
    const bytes = high
      ? i8x16.swizzle(i32x4.splat(qh), i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3))
      : i8x16.swizzle(i32x4.splat(qh), i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
    q = v128.or(q, v128.and(i8x16.eq(v128.and(bytes, sel), sel), i8x16.splat(16)));
  }
  return q;
}

// The scalar build's exact integer dot product of the block's 32 values (nibbles at q, fifth
// bits qh) with the 32 activations at xq.
@inline
function q45_dot_scalar(q: usize, qh: u32, xq: usize): i32 {
  let s = 0;
  for (let j = 0; j < 16; j++) {
    const byte = <i32>load<u8>(q + <usize>j);
    const lo = (byte & 15) | (<i32>((qh >> <u32>j) & 1) << 4);
    const hi = (byte >> 4) | (<i32>((qh >> <u32>(j + 16)) & 1) << 4);
    s += lo * <i32>load<i8>(xq + <usize>j) + hi * <i32>load<i8>(xq + <usize>j + 16);
  }
  return s;
}

// One block's float step for one token's activation block xb: d * dx * s, minus the zero point
// 16 through the activations' sum (fifth, no min: Q5_0), plus the block's min m times the
// activations' s (min: Q4_1, Q5_1).
@inline
function q45_step(s: i32, wb: usize, xb: usize, min: bool): f32 {
  const dd = half_finite_to_f32(load<u16>(wb)) * load<f32>(xb, XD);
  if (min) return <f32>s * dd + half_finite_to_f32(load<u16>(wb, 2)) * load<f32>(xb, XS);
  return <f32>(s - 16 * load<i32>(xb, XSUM)) * dd;
}

// One row's dot product with token a's activations (xa), and with token c's (xc) when `two`
// (the SIMD builds; a constant at each call site), each block's values unpacked once for both:
// returns token a's sum and stores token c's at yc, each the bits it gets alone. The block
// layout, from `blockBytes` (a constant): Q4_1 (20 bytes: d, m, 16 bytes of nibbles; weight =
// d * q + m), Q5_0 (22: d, qh, nibbles; weight = d * (q - 16)), Q5_1 (24: d, m, qh, nibbles;
// weight = d * q + m), qh holding the 32 fifth bits little-endian.
@inline
export function q45_rows(w: usize, xa: usize, xc: usize, nb: i32, form: i32, two: bool, yc: usize, blockBytes: usize): f32 {
  const fifth = blockBytes != Q4_1_BYTES, min = blockBytes != Q5_0_BYTES;
  const qhAt: usize = min ? 4 : 2;
  const qAt: usize = 2 + (min ? 2 : 0) + (fifth ? 4 : 0);
  let acc: f32 = 0, accC: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * blockBytes;
    const xb = xa + <usize>b * 44, xbc = xc + <usize>b * 44;
    const qh = fifth ? load<u32>(wb + qhAt) : 0;
    if (ASC_FEATURE_SIMD) {
      const v = v128.load(wb + qAt);
      const lo = q45_values(v, qh, false), hi = q45_values(v, qh, true);
      acc += q45_step(dot_total(i32x4.add(dot_u8x16(lo, xb, form), dot_u8x16(hi, xb + 16, form)), form), wb, xb, min);
      if (two) accC += q45_step(dot_total(i32x4.add(dot_u8x16(lo, xbc, form), dot_u8x16(hi, xbc + 16, form)), form), wb, xbc, min);
    } else {
      acc += q45_step(q45_dot_scalar(wb + qAt, qh, xb), wb, xb, min);
    }
  }
  if (two) store<f32>(yc, accC);
  return acc;
}
