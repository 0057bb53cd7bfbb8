// ggml's k-quants that run in GGUF's own rows (Q2_K; Q5_K's row kernel stays for the
// benchmark that times q5x4.ts against it; Q3_K, Q4_K, Q5_K and Q6_K are repacked by 4 rows,
// q3x4.ts, q4x4.ts, q5x4.ts and q6x4.ts): super-blocks of 256 weights with 6-bit or 8-bit sub-block scales,
// one row's super-blocks after another. Each function here is one row's dot product with one
// token's Q8_K activations (assembly/q8.ts, blocks of 292 bytes: f32 d, 256 int8 q, 16 i16 sums
// of 16 q), as ggml's vec_dot_qN_K_q8_K computes it: per super-block the integer sum of
// sub-block scale times sub-block dot product, the zero points or mins through the activations'
// 16-sums, then one float scaling: exact integers, so every build and dot path gives the same
// bits. w is the row's first super-block, nb = k / 256.
//
// Weight values in 0..31 go to dot_u8x16 (which the relaxed dot path can take).

import { dot_total, dot_u8x16, hsum_i32x4 } from './dot';
import { half_finite_to_f32 } from './half';

/** Bytes of one super-block of 256 weights. */
export const Q2_K_BYTES: usize = 84;
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

// The 16 activation 16-sums (i16) against 16 integer factors given as two i16x8 vectors.
@inline
function sums16_dot(xb: usize, f0: v128, f1: v128): i32 {
  return hsum_i32x4(i32x4.add(i32x4.dot_i16x8_s(f0, v128.load(xb, XSUMS)), i32x4.dot_i16x8_s(f1, v128.load(xb, XSUMS + 16))));
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

// ---- Q3_K (run on its own layout, q3x4.ts, which packs it with k3_scales): hmask[32], qs[64]
// (low 2 bits), 12 bytes of sixteen 6-bit scales, d (f16).

// Scales 4i..4i+3 (6 bits, minus 32 later), one per byte: low 4 bits from bytes 0..7, high 2
// bits from bytes 8..11.
@inline
export function k3_scales(wb: usize, i: i32): u32 {
  const s0 = load<u32>(wb, 96), s1 = load<u32>(wb, 100), t = load<u32>(wb, 104);
  const lo = i == 0 ? s0 : i == 1 ? s1 : i == 2 ? s0 >> 4 : s1 >> 4;
  return (lo & 0x0f0f0f0f) | (((t >> (<u32>i * 2)) & 0x03030303) << 4);
}

// ---- Q2_K: 16 scale bytes (low 4 bits scale, high 4 bits min, one per 16 weights), qs[64]
// (2 bits), d, dmin (f16). Per half h (qs 32h..) and shift s, weights 128h + 32s + l take bits
// 2s..2s+1 of qs[32h + l], scale byte 8h + 2s + l/16. weight = d * scale * q - dmin * min.

// One row's dot product with token a's activations (xa), and with token c's (xc) when `two`
// (the SIMD builds; a constant at each call site), each vector of weights unpacked once for
// both (the unpacking costs several instructions per dot): returns token a's sum and stores
// token c's at yc, each the bits it gets alone.
@inline
export function q2_k_rows(w: usize, xa: usize, xc: usize, nb: i32, form: i32, two: bool, yc: usize): f32 {
  let acc: f32 = 0, accC: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * Q2_K_BYTES;
    const xb = xa + <usize>b * 292, xbc = xc + <usize>b * 292;
    let sumq = 0, summ = 0, sumqC = 0, summC = 0;
    if (ASC_FEATURE_SIMD) {
      let a = i32x4.splat(0), c = a;
      const m3 = i8x16.splat(3);
      for (let h = 0; h < 2; h++) {
        // the current 2 bits in bits 0..1, shifted down as s advances (constant shift counts)
        let q0 = v128.load(wb + 16 + <usize>h * 32), q1 = v128.load(wb + 32 + <usize>h * 32);
        for (let s = 0; s < 4; s++) {
          const at = XQ + <usize>(128 * h + 32 * s);
          const is = wb + <usize>(8 * h + 2 * s);
          const w0 = v128.and(q0, m3), w1 = v128.and(q1, m3);
          const sc0 = <i32>load<u8>(is) & 15, sc1 = <i32>load<u8>(is, 1) & 15;
          a = scaled(a, dot_u8x16(w0, xb + at, form), sc0);
          a = scaled(a, dot_u8x16(w1, xb + at + 16, form), sc1);
          if (two) {
            c = scaled(c, dot_u8x16(w0, xbc + at, form), sc0);
            c = scaled(c, dot_u8x16(w1, xbc + at + 16, form), sc1);
          }
          q0 = i8x16.shr_u(q0, 2);
          q1 = i8x16.shr_u(q1, 2);
        }
      }
      sumq = dot_total(a, form);
      const mins = i8x16.shr_u(v128.load(wb), 4);
      const m0 = i16x8.extend_low_i8x16_u(mins), m1 = i16x8.extend_high_i8x16_u(mins);
      summ = sums16_dot(xb, m0, m1);
      if (two) {
        sumqC = dot_total(c, form);
        summC = sums16_dot(xbc, m0, m1);
      }
    } else {
      for (let i = 0; i < 16; i++) {
        const h = i >> 3, s = (i >> 1) & 3, c = i & 1;
        const xq = xb + XQ + <usize>i * 16;
        let d = 0;
        for (let j = 0; j < 16; j++) {
          d += ((<i32>load<u8>(wb + 16 + <usize>(h * 32 + c * 16 + j)) >> (2 * s)) & 3) * <i32>load<i8>(xq + <usize>j);
        }
        const sm = <i32>load<u8>(wb + <usize>i);
        sumq += (sm & 15) * d;
        summ += (sm >> 4) * <i32>load<i16>(xb + XSUMS + <usize>i * 2);
      }
    }
    const d = half_finite_to_f32(load<u16>(wb, 80)), dmin = half_finite_to_f32(load<u16>(wb, 82));
    const dx = load<f32>(xb);
    acc += <f32>sumq * (d * dx) - <f32>summ * (dmin * dx);
    if (two) {
      const dc = load<f32>(xbc);
      accC += <f32>sumqC * (d * dc) - <f32>summC * (dmin * dc);
    }
  }
  if (two) store<f32>(yc, accC);
  return acc;
}
