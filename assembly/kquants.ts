// ggml's k-quants in GGUF's own rows: Q5_K's row kernel, which stays for the benchmark that
// times q5x4.ts against it, and the 6-bit scale unpacking the packers of Q3_K (k3_scales), Q4_K
// and Q5_K (k4_scales) use (Q2_K, Q3_K, Q4_K, Q5_K and Q6_K are repacked by 4 rows, q23x4.ts,
// q4x4.ts, q5x4.ts and q6x4.ts). GGUF's super-blocks of 256 weights with 6-bit sub-block
// scales, one row's super-blocks after another; the row kernel is one row's dot product with
// one token's Q8_K activations (assembly/q8.ts, blocks of 292 bytes: f32 d, 256 int8 q, 16 i16
// sums of 16 q), as ggml's vec_dot_q5_K_q8_K computes it: per super-block the integer sum of
// sub-block scale times sub-block dot product, the mins through the activations' sums, then
// one float scaling: exact integers, so every build and dot path gives the same bits. w is the
// row's first super-block, nb = k / 256.
//
// Weight values in 0..31 go to dot_u8x16 (which the relaxed dot path can take).

import { dot_total, dot_u8x16, hsum_i32x4 } from './dot';
import { half_finite_to_f32 } from './half';

/** Bytes of one super-block of 256 weights. */
export const Q5_K_BYTES: usize = 176;

// Offsets into a Q8_K activation block.
const XQ: usize = 4;
const XSUMS: usize = 260;

// acc + p * sc on the four lanes: one sub-block's partial dot product times its scale.
@inline
function scaled(acc: v128, p: v128, sc: i32): v128 {
  return i32x4.add(acc, i32x4.mul(p, i32x4.splat(sc)));
}

// Byte i of the word w.
@inline
export function byte(w: u32, i: i32): i32 {
  return <i32>((w >> (<u32>i * 8)) & 0xff);
}

// The activations' 16-sums j and j+1 together: the sum of 32-wide sub-block j/2.
@inline
function sum32(xb: usize, i: i32): i32 {
  return <i32>load<i16>(xb + XSUMS + <usize>i * 4) + <i32>load<i16>(xb + XSUMS + <usize>i * 4 + 2);
}

// ---- Q4_K (run on its own layout, q4x4.ts, which packs it with k4_scales): d, dmin (f16), 12
// bytes of eight 6-bit scales and eight 6-bit mins, 128 bytes of nibbles: byte 32j + l holds
// weight 64j + l (low nibble, sub-block 2j) and 64j + 32 + l (high nibble, sub-block 2j + 1).
// weight = d * scale * q - dmin * min.

// The four 6-bit scales (which = 0: sub-blocks 0..3, 1: 4..7) or mins (2: 0..3, 3: 4..7) of
// the Q4_K / Q5_K super-block at wb, one per byte.
@inline
export function k4_scales(wb: usize, which: i32): u32 {
  const s0 = load<u32>(wb, 4), s1 = load<u32>(wb, 8), s2 = load<u32>(wb, 12);
  if (which == 0) return s0 & 0x3f3f3f3f; // scales 0..3
  if (which == 1) return (s2 & 0x0f0f0f0f) | (((s0 >> 6) & 0x03030303) << 4); // scales 4..7
  if (which == 2) return s1 & 0x3f3f3f3f; // mins 0..3
  return ((s2 >> 4) & 0x0f0f0f0f) | (((s1 >> 6) & 0x03030303) << 4); // mins 4..7
}

// ---- Q5_K: Q4_K's fields, then 32 bytes qh before the nibbles: bit 2j of qh[l] is the fifth
// bit of weight 64j + l, bit 2j + 1 that of weight 64j + 32 + l. Layout: d, dmin, scales[12],
// qh[32], qs[128].

@inline
export function q5_k_row(w: usize, x: usize, nb: i32, form: i32): f32 {
  let acc: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * Q5_K_BYTES;
    const xb = x + <usize>b * 292;
    const scLo = k4_scales(wb, 0), scHi = k4_scales(wb, 1), mLo = k4_scales(wb, 2), mHi = k4_scales(wb, 3);
    let sumq = 0, summ = 0;
    if (ASC_FEATURE_SIMD) {
      let a = i32x4.splat(0);
      const m4 = i8x16.splat(0x0f);
      const b4 = i8x16.splat(0x10);
      // the fifth bits of this j's two sub-blocks sit in bits 0 and 1 (shifted down by 2 per j,
      // so every shift count is a constant)
      let h0 = v128.load(wb, 16), h1 = v128.load(wb, 32);
      for (let j = 0; j < 4; j++) {
        const q = wb + 48 + <usize>j * 32;
        const xq = xb + XQ + <usize>j * 64;
        const v0 = v128.load(q), v1 = v128.load(q, 16);
        const l0 = v128.or(v128.and(v0, m4), v128.and(i8x16.shl(h0, 4), b4));
        const l1 = v128.or(v128.and(v1, m4), v128.and(i8x16.shl(h1, 4), b4));
        const u0 = v128.or(i8x16.shr_u(v0, 4), v128.and(i8x16.shl(h0, 3), b4));
        const u1 = v128.or(i8x16.shr_u(v1, 4), v128.and(i8x16.shl(h1, 3), b4));
        h0 = i8x16.shr_u(h0, 2);
        h1 = i8x16.shr_u(h1, 2);
        const lo = i32x4.add(dot_u8x16(l0, xq, form), dot_u8x16(l1, xq + 16, form));
        const hi = i32x4.add(dot_u8x16(u0, xq + 32, form), dot_u8x16(u1, xq + 48, form));
        const sc = j < 2 ? scLo : scHi;
        a = scaled(scaled(a, lo, byte(sc, (j & 1) * 2)), hi, byte(sc, (j & 1) * 2 + 1));
      }
      sumq = dot_total(a, form);
      const mins = i16x8.extend_low_i8x16_u(i32x4.replace_lane(i32x4.splat(mLo), 1, mHi));
      const s32 = i16x8.narrow_i32x4_s(i32x4.extadd_pairwise_i16x8_s(v128.load(xb, XSUMS)), i32x4.extadd_pairwise_i16x8_s(v128.load(xb, XSUMS + 16)));
      summ = hsum_i32x4(i32x4.dot_i16x8_s(mins, s32));
    } else {
      for (let i = 0; i < 8; i++) {
        const q = wb + 48 + <usize>(i >> 1) * 32;
        const shift = (i & 1) * 4;
        const xq = xb + XQ + <usize>i * 32;
        let s = 0;
        for (let l = 0; l < 32; l++) {
          const v = ((<i32>load<u8>(q + <usize>l) >> shift) & 15) | (((<i32>load<u8>(wb + 16 + <usize>l) >> i) & 1) << 4);
          s += v * <i32>load<i8>(xq + <usize>l);
        }
        sumq += s * byte(i < 4 ? scLo : scHi, i & 3);
        summ += byte(i < 4 ? mLo : mHi, i & 3) * sum32(xb, i);
      }
    }
    const dx = load<f32>(xb);
    acc += <f32>sumq * (half_finite_to_f32(load<u16>(wb)) * dx) - <f32>summ * (half_finite_to_f32(load<u16>(wb, 2)) * dx);
  }
  return acc;
}

// ---- Q3_K (run on its own layout, q23x4.ts, which packs it with k3_scales): hmask[32], qs[64]
// (low 2 bits), 12 bytes of sixteen 6-bit scales, d (f16).

// Scales 4i..4i+3 (6 bits, minus 32 later), one per byte: low 4 bits from bytes 0..7, high 2
// bits from bytes 8..11.
@inline
export function k3_scales(wb: usize, i: i32): u32 {
  const s0 = load<u32>(wb, 96), s1 = load<u32>(wb, 100), t = load<u32>(wb, 104);
  const lo = i == 0 ? s0 : i == 1 ? s1 : i == 2 ? s0 >> 4 : s1 >> 4;
  return (lo & 0x0f0f0f0f) | (((t >> (<u32>i * 2)) & 0x03030303) << 4);
}

