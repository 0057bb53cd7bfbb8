// ggml's non-linear 4-bit types: each nibble indexes a fixed table of 16 int8 values
// (kvalues_iq4nl), times a block scale. IQ4_NL: 32-weight blocks (d, 16 bytes of nibbles, as
// Q4_0) against Q8_1/Q8_0 activations; IQ4_XS: 256-weight super-blocks with eight 6-bit
// sub-block scales against Q8_K. The table values are signed, so these take the i16 dot path
// on every engine. In 16 bytes of nibbles, byte j holds weight j (low nibble) and 16 + j (high).

import { dot_s8x16, hsum_i32x4 } from './dot';
import { half_finite_to_f32 } from './half';

export const IQ4_NL_BYTES: usize = 18;
export const IQ4_XS_BYTES: usize = 136;

// ggml's kvalues_iq4nl.
@inline
function kvalues(): v128 {
  return i8x16(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
}

// The table value of nibble n (0..15), for the scalar build.
@inline
function kvalue(n: i32): i32 {
  return <i32>load<i8>(memory.data<i8>([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]) + <usize>n);
}

// The 16 table values of the nibbles v (16 bytes of a block), low (weights 0..15) or high (16..31).
@inline
function iq4_values(v: v128, high: bool): v128 {
  return i8x16.swizzle(kvalues(), high ? i8x16.shr_u(v, 4) : v128.and(v, i8x16.splat(0x0f)));
}

// The scalar build's dot product of the 32 table values of the nibbles at q with the 32 int8
// activations at xq.
@inline
function iq4_dot_scalar(q: usize, xq: usize): i32 {
  let s = 0;
  for (let j = 0; j < 16; j++) {
    const byte = <i32>load<u8>(q + <usize>j);
    s += kvalue(byte & 15) * <i32>load<i8>(xq + <usize>j) + kvalue(byte >> 4) * <i32>load<i8>(xq + <usize>j + 16);
  }
  return s;
}

// The dot product of a block's unpacked values (lo, hi) with the 32 int8 activations at xq.
@inline
function iq4_dot(lo: v128, hi: v128, xq: usize): i32 {
  return hsum_i32x4(i32x4.add(dot_s8x16(lo, xq), dot_s8x16(hi, xq + 16)));
}

// Each function below is one row's dot product with token a's activations (xa), and with token
// c's (xc) when `two` (the SIMD builds; a constant at each call site), each block's table values
// looked up once for both: returns token a's sum and stores token c's at yc, each the bits it
// gets alone. w is the row's first block.

// IQ4_NL: d (f16), 16 bytes of nibbles; weight = d * kvalues[q]. x: Q8_1 blocks (44 bytes,
// d at 32); nb = k / 32.
@inline
export function iq4_nl_rows(w: usize, xa: usize, xc: usize, nb: i32, two: bool, yc: usize): f32 {
  let acc: f32 = 0, accC: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * IQ4_NL_BYTES;
    const xb = xa + <usize>b * 44, xbc = xc + <usize>b * 44;
    const d = half_finite_to_f32(load<u16>(wb));
    if (ASC_FEATURE_SIMD) {
      const v = v128.load(wb + 2);
      const lo = iq4_values(v, false), hi = iq4_values(v, true);
      acc += <f32>iq4_dot(lo, hi, xb) * (d * load<f32>(xb, 32));
      if (two) accC += <f32>iq4_dot(lo, hi, xbc) * (d * load<f32>(xbc, 32));
    } else {
      acc += <f32>iq4_dot_scalar(wb + 2, xb) * (d * load<f32>(xb, 32));
    }
  }
  if (two) store<f32>(yc, accC);
  return acc;
}

// IQ4_XS: d (f16), scales_h (u16: bits 2i..2i+1 are sub-block i's high scale bits), scales_l[4]
// (nibble i of the 8 is sub-block i's low 4 bits), qs[128] (16 bytes per sub-block of 32);
// weight = d * (scale - 32) * kvalues[q]. x: Q8_K blocks (292 bytes: f32 d, q at 4); nb = k / 256.
@inline
export function iq4_xs_rows(w: usize, xa: usize, xc: usize, nb: i32, two: bool, yc: usize): f32 {
  let acc: f32 = 0, accC: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * IQ4_XS_BYTES;
    const xb = xa + <usize>b * 292, xbc = xc + <usize>b * 292;
    const sh = <i32>load<u16>(wb, 2);
    const sl = load<u32>(wb, 4);
    let s = 0, sC = 0;
    for (let i = 0; i < 8; i++) {
      const ls = (<i32>(sl >> (<u32>i * 4)) & 15) | (((sh >> (2 * i)) & 3) << 4);
      const q = wb + 8 + <usize>i * 16;
      const at: usize = 4 + <usize>i * 32;
      if (ASC_FEATURE_SIMD) {
        const v = v128.load(q);
        const lo = iq4_values(v, false), hi = iq4_values(v, true);
        s += (ls - 32) * iq4_dot(lo, hi, xb + at);
        if (two) sC += (ls - 32) * iq4_dot(lo, hi, xbc + at);
      } else {
        s += (ls - 32) * iq4_dot_scalar(q, xb + at);
      }
    }
    const d = half_finite_to_f32(load<u16>(wb));
    acc += <f32>s * (d * load<f32>(xb));
    if (two) accC += <f32>sC * (d * load<f32>(xbc));
  }
  if (two) store<f32>(yc, accC);
  return acc;
}
