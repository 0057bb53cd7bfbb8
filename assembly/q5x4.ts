// Q5_K weights repacked at load into groups of 4 rows, and their GEMV/GEMM.
//
// Q5_K is Q4_K plus a fifth bit per weight (values 0..31), so its layout is Q4_K's (q4x4.ts:
// d and dmin widened to f32, scales and mins one per byte, the low nibbles in the same 32-bit
// words, one per row in each 16-byte vector) followed by a plane of the fifth bits. Sub-block j
// (32 weights of each of the 4 rows) has 16 bytes of them, byte 4i + e for row i and byte e of
// the row's words: bit c of that byte is the fifth bit of the low nibble of byte e of vector c
// (0..3), bit 4 + c that of its high nibble. With that placement one 16-bit shift of the plane
// brings the bit of every row and byte of a vector under the nibble it belongs to (bit 4 of the
// byte for the relaxed path, the bit above the masked nibble for the i16 path), and one mask
// and one or give the 5-bit weight:
//
// - relaxed: low nibbles | (plane << 4 - c) & 0x10 and high nibbles | (plane >> c) & 0x10, in
//   0..31, go to i16x8.relaxed_dot_i8x16_i7x16_s as Q4_K's nibbles do. A pair sum is at most
//   2 * 31 * 128 = 7936, so only 4 of them (two vectors) add up inside i16 (31744) before they
//   are widened, where Q4_K adds 8.
// - i16: as Q4_K's, each nibble masked in place inside its 16-bit lane (times 1, 16, 256, and
//   the top one shifted down), with its fifth bit or-ed in just above it: (plane << 4 - c) gives
//   the bits for nibbles 0, 1 and 2 of the lane (masks 0x0010, 0x0100, 0x1000), (plane >> 8 + c)
//   that for the top one (0x0010). The largest operand is 31 * 256 = 7936; against Q4_K's
//   pre-scaled i16 activations every product is 256 * w * x, exactly.
//
// Splitting each weight into its nibble and its bit instead (w . x = lo . x + 16 * hi . x) would
// need twice the dot instructions (the bits' own), for the same shifts and masks.
//
// The activations are Q4_K's (q8_k_quantize_f32_x4, assembly/q8.ts). Per super-block, as ggml's
// vec_dot_q5_K_q8_K: sumq = sum_j scale_j * (w_j . x_j), summ = sum_j min_j * sum(x_j), then
// y += f32(sumq) * (d * d_x) - f32(summ) * (dmin * d_x). Integer sums are exact on every path,
// so every build, path, token tiling and thread split gives the same bits.

import { DOT_I16, FORM_EXACT } from './dot';
import { half_finite_to_f32 } from './half';
import { byte, k4_scales, Q5_K_BYTES } from './kquants';
import { k4_scaled, put_word, q4_k_nibble, relaxed_i16_exact, store_rows } from './q4x4';
import { XQ4_K_BSUMS, XQ4_K_BYTES, XQ4_K_I16, XQ4_K_I8 } from './q8';

// ---- packing -----------------------------------------------------------------------------
//
// Packed layout: per group of 4 rows (the last padded with zero rows), per super-block b of
// 256 columns, 736 bytes:
//
//   [d: 4 f32] [dmin: 4 f32]                                             32 bytes
//   [scales: byte 4j + i = row i's 6-bit scale of sub-block j]             32 bytes
//   [mins: byte 8p + 2i + e = row i's min of sub-block 2p + e]              32 bytes
//   [nibbles: sub-block j, vector c at 96 + 64j + 16c: weights 32j + 8c .. + 7, row i's word at 4i]  512 bytes
//   [fifth bits: sub-block j at 608 + 16j, row i's 4 bytes at 4i (above)]  128 bytes
//
// (the first 608 bytes are Q4_K's layout, so its float step k4_scaled reads them; GGUF's 704
// bytes for 4 x 256 weights plus 32: 0.719 bytes per weight.)

const GROUP_BLOCK: usize = 736;
const SCALES: usize = 32;
const MINS: usize = 64;
const NIBBLES: usize = 96;
const HIGH: usize = 608;

/** Bytes of n rows of k columns (k a multiple of 256) of Q5_K in the 4-row layout. */
export function q5_k_gemm_packed_bytes(n: i32, k: i32): i32 {
  return ((n + 3) >> 2) * (k / 256) * <i32>GROUP_BLOCK;
}

// Fifth bit of weight w (0..255) of a GGUF Q5_K super-block's qh[32] at qh: bit w / 32 of qh[w % 32].
@inline
function q5_k_bit(qh: usize, w: i32): i32 {
  return (<i32>load<u8>(qh + <usize>(w & 31)) >> (w >> 5)) & 1;
}

// Which weight of a vector (0..7) byte e of a row's word holds in its low nibble and in its high
// one (put_word's order: bytes w0|w2, w4|w6, w1|w3, w5|w7).
const LO_OF_BYTE = memory.data<u8>([0, 4, 1, 5]);
const HI_OF_BYTE = memory.data<u8>([2, 6, 3, 7]);

// Packs n rows of GGUF Q5_K (k / 256 super-blocks of 176 bytes per row: d, dmin, scales[12],
// qh[32], qs[128]; any byte address) at w into the layout above at out
// (q5_k_gemm_packed_bytes(n, k) bytes, 16-byte aligned). Scales must be finite (the caller
// checks them first).
export function q5_k_gemm_pack_x4(w: usize, n: i32, k: i32, out: usize): void {
  const nb = k / 256;
  memory.fill(out, 0, <usize>q5_k_gemm_packed_bytes(n, k));
  for (let r = 0; r < n; r++) {
    const lane = <usize>(r & 3);
    for (let b = 0; b < nb; b++) {
      const src = w + (<usize>r * nb + b) * Q5_K_BYTES;
      const dst = out + (<usize>(r >> 2) * nb + b) * GROUP_BLOCK;
      store<f32>(dst + lane * 4, half_finite_to_f32(load<u16>(src)));
      store<f32>(dst + 16 + lane * 4, half_finite_to_f32(load<u16>(src, 2)));
      const qh = src + 16, q = src + 48;
      for (let j = 0; j < 8; j++) {
        store<u8>(dst + SCALES + <usize>(4 * j) + lane, <u8>byte(k4_scales(src, j >> 2), j & 3));
        store<u8>(dst + MINS + <usize>(8 * (j >> 1) + (j & 1)) + lane * 2, <u8>byte(k4_scales(src, 2 + (j >> 2)), j & 3));
        for (let c = 0; c < 4; c++) {
          const at = 32 * j + 8 * c;
          put_word(dst + NIBBLES + <usize>(64 * j + 16 * c) + lane * 4,
            q4_k_nibble(q, at), q4_k_nibble(q, at + 1), q4_k_nibble(q, at + 2), q4_k_nibble(q, at + 3),
            q4_k_nibble(q, at + 4), q4_k_nibble(q, at + 5), q4_k_nibble(q, at + 6), q4_k_nibble(q, at + 7));
        }
        for (let e = 0; e < 4; e++) {
          let bits = 0;
          for (let c = 0; c < 4; c++) {
            const at = 32 * j + 8 * c;
            bits |= q5_k_bit(qh, at + <i32>load<u8>(LO_OF_BYTE + <usize>e)) << c;
            bits |= q5_k_bit(qh, at + <i32>load<u8>(HI_OF_BYTE + <usize>e)) << (4 + c);
          }
          store<u8>(dst + HIGH + <usize>(16 * j + e) + lane * 4, <u8>bits);
        }
      }
    }
  }
}

// ---- the inner steps -----------------------------------------------------------------------

// The masks, read from memory rather than built as constants (an engine may rebuild a constant
// inside every loop iteration, but not a load): the relaxed path's low nibble and fifth bit of
// each byte, the i16 path's nibbles 0..2 and fifth bits 0..2 of each u16.
const MASKS = memory.data<u16>([
  0x0f0f, 0x0f0f, 0x0f0f, 0x0f0f, 0x0f0f, 0x0f0f, 0x0f0f, 0x0f0f,
  0x1010, 0x1010, 0x1010, 0x1010, 0x1010, 0x1010, 0x1010, 0x1010,
  0x000f, 0x000f, 0x000f, 0x000f, 0x000f, 0x000f, 0x000f, 0x000f,
  0x00f0, 0x00f0, 0x00f0, 0x00f0, 0x00f0, 0x00f0, 0x00f0, 0x00f0,
  0x0f00, 0x0f00, 0x0f00, 0x0f00, 0x0f00, 0x0f00, 0x0f00, 0x0f00,
  0x0010, 0x0010, 0x0010, 0x0010, 0x0010, 0x0010, 0x0010, 0x0010,
  0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100,
  0x1000, 0x1000, 0x1000, 0x1000, 0x1000, 0x1000, 0x1000, 0x1000,
], 16);
const M_NIB: usize = 0, M_BIT: usize = 16;
const M0: usize = 32, M1: usize = 48, M2: usize = 64, B0: usize = 80, B1: usize = 96, B2: usize = 112;

// The relaxed path's 5-bit weights of vector c (v: its nibbles, h: the sub-block's fifth bits):
// the low nibbles' (against x[0..3] of the vector's 8) and the high ones' (x[4..7]).
@inline
function q5_lo(v: v128, h: v128, c: i32, mn: v128, mb: v128): v128 {
  return v128.or(v128.and(v, mn), v128.and(i16x8.shl(h, 4 - c), mb));
}
@inline
function q5_hi(v: v128, h: v128, c: i32, mn: v128, mb: v128): v128 {
  const hb = c == 0 ? h : i16x8.shr_u(h, c);
  return v128.or(v128.and(i16x8.shr_u(v, 4), mn), v128.and(hb, mb));
}

// Two vectors' 5-bit weights (low and high halves of each) against their 16 int8 activations
// at x: each row's dot product, widened to its i32 lane.
@inline
function q5_dot16(l0: v128, u0: v128, l1: v128, u1: v128, x: usize): v128 {
  const a = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x), l0), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 4), u0));
  const b = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 8), l1), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 12), u1));
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(a, b));
}

// Sub-block j of the packed super-block at p against the activation block at xb: each row's
// w . x in its lane, on the relaxed path (relaxed) or the i16 path.
@inline
function q5_sub(p: usize, xb: usize, j: usize, relaxed: bool): v128 {
  const q = p + NIBBLES + j * 64;
  const h = v128.load(p + HIGH + j * 16);
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (relaxed) {
      const mn = v128.load(MASKS, M_NIB), mb = v128.load(MASKS, M_BIT);
      const x = xb + XQ4_K_I8 + j * 32;
      // two vectors' pair sums (4 per lane, at most 31744) before each widening
      const v0 = v128.load(q), v1 = v128.load(q, 16), v2 = v128.load(q, 32), v3 = v128.load(q, 48);
      const a = q5_dot16(q5_lo(v0, h, 0, mn, mb), q5_hi(v0, h, 0, mn, mb), q5_lo(v1, h, 1, mn, mb), q5_hi(v1, h, 1, mn, mb), x);
      const b = q5_dot16(q5_lo(v2, h, 2, mn, mb), q5_hi(v2, h, 2, mn, mb), q5_lo(v3, h, 3, mn, mb), q5_hi(v3, h, 3, mn, mb), x + 16);
      return i32x4.add(a, b);
    }
  }
  const xs = xb + XQ4_K_I16 + j * 64;
  let acc = i32x4.splat(0);
  acc = i32x4.add(acc, q5_i16_vec(v128.load(q), i16x8.shl(h, 4), i16x8.shr_u(h, 8), xs));
  acc = i32x4.add(acc, q5_i16_vec(v128.load(q, 16), i16x8.shl(h, 3), i16x8.shr_u(h, 9), xs + 16));
  acc = i32x4.add(acc, q5_i16_vec(v128.load(q, 32), i16x8.shl(h, 2), i16x8.shr_u(h, 10), xs + 32));
  acc = i32x4.add(acc, q5_i16_vec(v128.load(q, 48), i16x8.shl(h, 1), i16x8.shr_u(h, 11), xs + 48));
  return i32x4.shr_s(acc, 8);
}

// The i16 path on one vector v of nibbles, with the fifth bits shifted under nibbles 0..2 (a)
// and under the top nibble shifted down (t), against the 4 pre-scaled activation pairs at x:
// 256 * (w . x) per row.
@inline
function q5_i16_vec(v: v128, a: v128, t: v128, x: usize): v128 {
  const w0 = v128.or(v128.and(v, v128.load(MASKS, M0)), v128.and(a, v128.load(MASKS, B0)));
  const w1 = v128.or(v128.and(v, v128.load(MASKS, M1)), v128.and(a, v128.load(MASKS, B1)));
  const w2 = v128.or(v128.and(v, v128.load(MASKS, M2)), v128.and(a, v128.load(MASKS, B2)));
  const w3 = v128.or(i16x8.shr_u(v, 12), v128.and(t, v128.load(MASKS, B0)));
  const d01 = i32x4.add(i32x4.dot_i16x8_s(w0, v128.load32_splat(x)), i32x4.dot_i16x8_s(w1, v128.load32_splat(x, 4)));
  const d23 = i32x4.add(i32x4.dot_i16x8_s(w2, v128.load32_splat(x, 8)), i32x4.dot_i16x8_s(w3, v128.load32_splat(x, 12)));
  return i32x4.add(d01, d23);
}

// The scalar build's w . x of row `lane`'s 32 weights of sub-block j of the packed super-block
// at p with the 32 int8 activations at x8 (in the relaxed path's order).
@inline
function q5_dot32_scalar(p: usize, j: i32, x8: usize, lane: usize): i32 {
  let s = 0;
  const hb = p + HIGH + <usize>j * 16 + lane * 4;
  for (let c = 0; c < 4; c++) {
    const wd = p + NIBBLES + <usize>(64 * j + 16 * c) + lane * 4;
    const xc = x8 + <usize>c * 8;
    for (let e = 0; e < 4; e++) {
      const b = <i32>load<u8>(wd + <usize>e);
      const h = <i32>load<u8>(hb + <usize>e);
      const lo = (b & 15) | (((h >> c) & 1) << 4);
      const hi = (b >> 4) | (((h >> (4 + c)) & 1) << 4);
      s += lo * <i32>load<i8>(xc + <usize>e) + hi * <i32>load<i8>(xc + <usize>e + 4);
    }
  }
  return s;
}

// ---- the product ----------------------------------------------------------------------------
//
//   q5_k_gemm_x4(w, x, y, m, n, k, ldy, dot)
//
// y[t][r] = row r of W times token t, for m tokens and n rows of k weights: w packed by
// q5_k_gemm_pack_x4 (its first group), x the m tokens' activations (q8_k_quantize_f32_x4, tokens
// one after another), y rows ldy floats apart, not overlapping the inputs. dot: DOT_I16, or
// DOT_RELAXED to take the relaxed path where this call finds the 16-bit relaxed dot exact
// (relaxed_i16_exact; otherwise, and without relaxed SIMD, the i16 path). Returns the path
// taken: FORM_EXACT or DOT_I16. Each output is its row's sum over the super-blocks in order, as
// ggml's vec_dot_q5_K_q8_K forms it, identical for any m and any split of the groups.

export function q5_k_gemm_x4(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): i32 {
  if (ASC_FEATURE_RELAXED_SIMD && relaxed_i16_exact(dot)) {
    q5_k_gemm(w, x, y, m, n, k, ldy, true);
    return FORM_EXACT;
  }
  q5_k_gemm(w, x, y, m, n, k, ldy, false);
  return DOT_I16;
}

// The scales of sub-block j of the super-block at p, one i32 lane per row.
@inline
function q5_scales(p: usize, j: usize): v128 {
  return i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p + SCALES + j * 4)));
}

// The relaxed path on two tokens at once (activation rows xa and xc): each vector's 5-bit
// weights are built once for both, the step a GEMM (prefill) repeats for every token. The same
// integers and float steps as one token at a time.
@inline
function q5_k_pair_relaxed(g: usize, xa: usize, xc: usize, ya: usize, yc: usize, nb: i32, rows: i32): void {
  const mn = v128.load(MASKS, M_NIB), mb = v128.load(MASKS, M_BIT);
  let accA = f32x4.splat(0), accC = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const p = g + <usize>b * GROUP_BLOCK;
    const ba = xa + <usize>b * XQ4_K_BYTES, bc = xc + <usize>b * XQ4_K_BYTES;
    let sumA = i32x4.splat(0), sumC = i32x4.splat(0);
    for (let j: usize = 0; j < 8; j++) {
      const q = p + NIBBLES + j * 64;
      const h = v128.load(p + HIGH + j * 16);
      const ia = ba + XQ4_K_I8 + j * 32, ic = bc + XQ4_K_I8 + j * 32;
      // vectors 0 and 1, then 2 and 3, their 5-bit weights built once for both tokens: 4 pair
      // sums per lane inside i16, then widened
      const v0 = v128.load(q), v1 = v128.load(q, 16), v2 = v128.load(q, 32), v3 = v128.load(q, 48);
      const l0 = q5_lo(v0, h, 0, mn, mb), u0 = q5_hi(v0, h, 0, mn, mb), l1 = q5_lo(v1, h, 1, mn, mb), u1 = q5_hi(v1, h, 1, mn, mb);
      let sa = q5_dot16(l0, u0, l1, u1, ia), sc = q5_dot16(l0, u0, l1, u1, ic);
      const l2 = q5_lo(v2, h, 2, mn, mb), u2 = q5_hi(v2, h, 2, mn, mb), l3 = q5_lo(v3, h, 3, mn, mb), u3 = q5_hi(v3, h, 3, mn, mb);
      sa = i32x4.add(sa, q5_dot16(l2, u2, l3, u3, ia + 16));
      sc = i32x4.add(sc, q5_dot16(l2, u2, l3, u3, ic + 16));
      const s = q5_scales(p, j);
      sumA = i32x4.add(sumA, i32x4.mul(sa, s));
      sumC = i32x4.add(sumC, i32x4.mul(sc, s));
    }
    accA = f32x4.add(accA, k4_scaled(p, ba, sumA));
    accC = f32x4.add(accC, k4_scaled(p, bc, sumC));
  }
  store_rows(ya, accA, rows);
  store_rows(yc, accC, rows);
}

@inline
function q5_k_gemm(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, relaxed: bool): void {
  const nb = k / 256;
  const groupBytes = <usize>nb * GROUP_BLOCK;
  const xBytes = <usize>nb * XQ4_K_BYTES;
  for (let r = 0; r < n; r += 4) {
    const g = w + <usize>(r >> 2) * groupBytes;
    const rows = min(4, n - r);
    let t = 0;
    if (ASC_FEATURE_RELAXED_SIMD && relaxed) {
      for (; t + 1 < m; t += 2) {
        const xt = x + <usize>t * xBytes;
        const yt = y + (<usize>t * ldy + r) * 4;
        q5_k_pair_relaxed(g, xt, xt + xBytes, yt, yt + <usize>ldy * 4, nb, rows);
      }
    }
    for (; t < m; t++) {
      const xt = x + <usize>t * xBytes;
      const yt = y + (<usize>t * ldy + r) * 4;
      if (ASC_FEATURE_SIMD) {
        let acc = f32x4.splat(0);
        let xb = xt;
        for (let p = g; p < g + groupBytes; p += GROUP_BLOCK) {
          // a loop over the sub-blocks: eight inlined in a row make the engine spill
          let sumq = i32x4.splat(0);
          for (let j: usize = 0; j < 8; j++) {
            sumq = i32x4.add(sumq, i32x4.mul(q5_sub(p, xb, j, relaxed), q5_scales(p, j)));
          }
          acc = f32x4.add(acc, k4_scaled(p, xb, sumq));
          xb += XQ4_K_BYTES;
        }
        store_rows(yt, acc, rows);
      } else {
        for (let i = 0; i < rows; i++) {
          let acc: f32 = 0;
          const lane = <usize>i;
          for (let b = 0; b < nb; b++) {
            const p = g + <usize>b * GROUP_BLOCK;
            const xb = xt + <usize>b * XQ4_K_BYTES;
            let sumq = 0, summ = 0;
            for (let j = 0; j < 8; j++) {
              sumq += <i32>load<u8>(p + SCALES + <usize>(4 * j) + lane) * q5_dot32_scalar(p, j, xb + XQ4_K_I8 + <usize>j * 32, lane);
              summ += <i32>load<u8>(p + MINS + <usize>(8 * (j >> 1) + (j & 1)) + lane * 2) * <i32>load<i16>(xb + XQ4_K_BSUMS + <usize>j * 2);
            }
            const dx = load<f32>(xb);
            const d = load<f32>(p + lane * 4), dmin = load<f32>(p + 16 + lane * 4);
            acc += <f32>sumq * (d * dx) - <f32>summ * (dmin * dx);
          }
          store<f32>(yt + <usize>i * 4, acc);
        }
      }
    }
  }
}
