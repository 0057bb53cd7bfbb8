// Q5_K weights repacked at load into groups of 4 rows, and their GEMV/GEMM.
//
// Q5_K is Q4_K plus a fifth bit per weight (values 0..31). Its groups keep Q4_K's header (q4x4.ts:
// d and dmin widened to f32, scales and mins one per byte) and its word order (one 32-bit word
// per row in each 16-byte vector, put_word's weights w0 w4 w1 w5 against the relaxed path's
// x[0..3] and w2 w6 w3 w7 against x[4..7]), but the 5 bits of a weight are not split 4 + 1.
// Byte e of a row's word holds its first weight A whole and the low 3 bits of its second, B:
//
//   byte = A | (B & 7) << 5,    and B >> 3 (2 bits) in a plane of 16 bytes per sub-block
//
// The plane of sub-block j (its 4 vectors c of 32 weights of each of the 4 rows) has byte 4i + e
// for row i and byte e of the row's words: bits 2c, 2c + 1 are B >> 3 of byte e of vector c.
// So A is one mask away, and B one shift and mask of the word and one of the plane, or-ed:
//
// - relaxed: A = v & 0x1f, B = (v >> 5) & 7 | (plane shifted so bits 2c.. land on 3..4) & 0x18
//   (16-bit shifts, each byte's own bits staying under the byte's mask), in 0..31, go to
//   i16x8.relaxed_dot_i8x16_i7x16_s as Q4_K's nibbles do. A pair sum is at most 2 * 31 * 128 =
//   7936, so 4 of them (two vectors) add up inside i16 (31744) before they are widened.
// - i16: read as two u16 per row (w0 w2 w4 w6 and w1 w3 w5 w7), each weight put at Q4_K's place
//   in its lane (times 1, 16, 256 and 1) so Q4_K's pre-scaled i16 activations serve: w0, w1 by
//   the mask 0x001f, w4, w5 by 0x1f00, w2, w3 as ((u >> 1) & 0x0070) | (plane << 7 - 2c) & 0x0180,
//   w6, w7 as (u >> 13) | (plane >> 5 + 2c) & 0x0018. The largest operand is 31 * 256 = 7936;
//   every product is 256 * w * x, exactly.
//
// Ggml's 4 + 1 split (the nibbles as Q4_K's, the fifth bits in a plane) costs a shift, a mask
// and an or for every weight's fifth bit; this one puts A's in place and B's two top bits in a
// quarter of the plane: a third fewer instructions to unpack a vector on the relaxed path (a
// fifth fewer on the i16 path), in the same 0.72 bytes.
//
// The activations are Q4_K's (q8_k_quantize_f32_x4, assembly/q8.ts). Per super-block, as ggml's
// vec_dot_q5_K_q8_K: sumq = sum_j scale_j * (w_j . x_j), summ = sum_j min_j * sum(x_j), then
// y += f32(sumq) * (d * d_x) - f32(summ) * (dmin * d_x). Integer sums are exact on every path,
// so every build, path, token tiling and thread split gives the same bits.

import { DOT_I16, FORM_EXACT } from './dot';
import { half_finite_to_f32 } from './half';
import { byte, k4_scales, Q5_K_BYTES } from './kquants';
import { k4_scaled, pair_byte, q4_k_nibble, relaxed_i16_exact, scales_x2, store_rows, store_rows_x4, token_chunk } from './q4x4';
import { XQ4_K_BSUMS, XQ4_K_BYTES, XQ4_K_I16, XQ4_K_I8 } from './q8';

// ---- packing -----------------------------------------------------------------------------
//
// Packed layout: per group of 4 rows (the last padded with zero rows), per super-block b of
// 256 columns, 736 bytes:
//
//   [d: 4 f32] [dmin: 4 f32]                                             32 bytes
//   [scales: byte 4j + i = row i's 6-bit scale of sub-block j]             32 bytes
//   [mins: byte 8p + 2i + e = row i's min of sub-block 2p + e]              32 bytes
//   [words: sub-block j, vector c at 96 + 64j + 16c: weights 32j + 8c .. + 7, row i's word at 4i]  512 bytes
//   [planes: sub-block j at 608 + 16j, row i's 4 bytes at 4i (above)]     128 bytes
//
// (the first 96 bytes are Q4_K's header, so its float step k4_scaled reads them; GGUF's 704
// bytes for 4 x 256 weights plus 32: 0.719 bytes per weight.)

const GROUP_BLOCK: usize = 736;
const SCALES: usize = 32;
const MINS: usize = 64;
const WORDS: usize = 96;
const PLANES: usize = 608;

/** Bytes of n rows of k columns (k a multiple of 256) of Q5_K in the 4-row layout. */
export function q5_k_gemm_packed_bytes(n: i32, k: i32): i32 {
  return ((n + 3) >> 2) * (k / 256) * <i32>GROUP_BLOCK;
}

// Weight w (0..255) of a GGUF Q5_K super-block, 0..31: its nibble in qs at q, its fifth bit bit
// w / 32 of qh[w % 32] at qh.
@inline
function q5_k_weight(q: usize, qh: usize, w: i32): i32 {
  return q4_k_nibble(q, w) | (((<i32>load<u8>(qh + <usize>(w & 31)) >> (w >> 5)) & 1) << 4);
}

// Which weight of a vector (0..7) byte e of a row's word holds as A and as B (put_word's
// order: w0|w2, w4|w6, w1|w3, w5|w7).
const A_OF_BYTE = memory.data<u8>([0, 4, 1, 5]);
const B_OF_BYTE = memory.data<u8>([2, 6, 3, 7]);

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
        store<u8>(dst + MINS + pair_byte(j, lane), <u8>byte(k4_scales(src, 2 + (j >> 2)), j & 3));
        const plane = dst + PLANES + <usize>(16 * j) + lane * 4;
        for (let c = 0; c < 4; c++) {
          const word = dst + WORDS + <usize>(64 * j + 16 * c) + lane * 4;
          for (let e: usize = 0; e < 4; e++) {
            const at = 32 * j + 8 * c;
            const a = q5_k_weight(q, qh, at + <i32>load<u8>(A_OF_BYTE + e));
            const bw = q5_k_weight(q, qh, at + <i32>load<u8>(B_OF_BYTE + e));
            store<u8>(word + e, <u8>(a | ((bw & 7) << 5)));
            store<u8>(plane + e, load<u8>(plane + e) | <u8>((bw >> 3) << (2 * c)));
          }
        }
      }
    }
  }
}

// ---- the inner steps -----------------------------------------------------------------------

// The masks, read from memory rather than built as constants (an engine may rebuild a constant
// inside every loop iteration, but not a load): the relaxed path's A, B's low bits and B's top
// bits of each byte; the i16 path's w0 w1, w4 w5, w2 w3's low bits (after u >> 1) and top bits,
// and w6 w7's top bits, of each u16.
const MASKS = memory.data<u16>([
  0x1f1f, 0x1f1f, 0x1f1f, 0x1f1f, 0x1f1f, 0x1f1f, 0x1f1f, 0x1f1f,
  0x0707, 0x0707, 0x0707, 0x0707, 0x0707, 0x0707, 0x0707, 0x0707,
  0x1818, 0x1818, 0x1818, 0x1818, 0x1818, 0x1818, 0x1818, 0x1818,
  0x001f, 0x001f, 0x001f, 0x001f, 0x001f, 0x001f, 0x001f, 0x001f,
  0x1f00, 0x1f00, 0x1f00, 0x1f00, 0x1f00, 0x1f00, 0x1f00, 0x1f00,
  0x0070, 0x0070, 0x0070, 0x0070, 0x0070, 0x0070, 0x0070, 0x0070,
  0x0180, 0x0180, 0x0180, 0x0180, 0x0180, 0x0180, 0x0180, 0x0180,
  0x0018, 0x0018, 0x0018, 0x0018, 0x0018, 0x0018, 0x0018, 0x0018,
], 16);
const M_A: usize = 0, M_B_LOW: usize = 16, M_B_TOP: usize = 32;
const M_W01: usize = 48, M_W45: usize = 64, M_W23_LOW: usize = 80, M_W23_TOP: usize = 96, M_W67_TOP: usize = 112;

// The relaxed path's B weights of vector c (v: its words, h: the sub-block's plane): B's low
// bits from the word, its top two (bits 2c, 2c + 1 of the plane) moved to bits 3 and 4.
@inline
function q5_b(v: v128, h: v128, c: i32, mlow: v128, mtop: v128): v128 {
  const top = c < 2 ? i16x8.shl(h, 3 - 2 * c) : i16x8.shr_u(h, 2 * c - 3);
  return v128.or(v128.and(i16x8.shr_u(v, 5), mlow), v128.and(top, mtop));
}

// Two vectors' weights (A and B of each) against their 16 int8 activations at x: each row's
// 4 pair sums per 16-bit lane (at most 31744), not yet widened.
@inline
function q5_dot16(a0: v128, b0: v128, a1: v128, b1: v128, x: usize): v128 {
  const s = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x), a0), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 4), b0));
  const t = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 8), a1), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 12), b1));
  return i16x8.add(s, t);
}

// The two vectors of words at q (vectors 0 and 1 of a sub-block, their top bits in plane h's
// bits 0..3) against their 16 int8 activations at x: q5_dot16 of their weights.
@inline
function q5_half(q: usize, h: v128, x: usize, m: v128, mlow: v128, mtop: v128): v128 {
  const v0 = v128.load(q), v1 = v128.load(q, 16);
  return q5_dot16(v128.and(v0, m), q5_b(v0, h, 0, mlow, mtop), v128.and(v1, m), q5_b(v1, h, 1, mlow, mtop), x);
}

// The relaxed path's sub-block j of the packed super-block at p against the activation block at
// xb, times its scales: each half's 16-bit sums multiplied by the row's scale and added in one
// i32x4.dot_i16x8_s against the scales duplicated for the row's two lanes (scales_x2). The two
// halves run as a loop of two trips, the second half being the first's unpacking on the plane
// shifted down by 4 (16-bit lanes: each byte's bits 4..7, vectors 2 and 3's, land on its bits
// 0..3 under the mask): both halves inlined put more values live at once than the engine has
// registers.
@inline
function q5_sub_scaled(p: usize, xb: usize, j: usize, m: v128, mlow: v128, mtop: v128): v128 {
  let q = p + WORDS + j * 64;
  let h = v128.load(p + PLANES + j * 16);
  let x = xb + XQ4_K_I8 + j * 32;
  const sc = scales_x2(p + SCALES + j * 4);
  let s = i32x4.splat(0);
  for (let half = 0; half < 2; half++) {
    s = i32x4.add(s, i32x4.dot_i16x8_s(q5_half(q, h, x, m, mlow, mtop), sc));
    q += 32;
    x += 16;
    h = i16x8.shr_u(h, 4);
  }
  return s;
}

// The i16 path's sub-block j of the packed super-block at p against the activation block at xb:
// each row's w . x in its lane.
@inline
function q5_sub_i16(p: usize, xb: usize, j: usize): v128 {
  const q = p + WORDS + j * 64;
  const h = v128.load(p + PLANES + j * 16);
  const xs = xb + XQ4_K_I16 + j * 64;
  let acc = q5_i16_vec(v128.load(q), h, 0, xs);
  acc = i32x4.add(acc, q5_i16_vec(v128.load(q, 16), h, 1, xs + 16));
  acc = i32x4.add(acc, q5_i16_vec(v128.load(q, 32), h, 2, xs + 32));
  acc = i32x4.add(acc, q5_i16_vec(v128.load(q, 48), h, 3, xs + 48));
  return i32x4.shr_s(acc, 8);
}

// The i16 path on vector c (words v, the sub-block's plane h) against its 4 pre-scaled
// activation pairs at x: 256 * (w . x) per row.
@inline
function q5_i16_vec(v: v128, h: v128, c: i32, x: usize): v128 {
  const w23 = v128.or(v128.and(i16x8.shr_u(v, 1), v128.load(MASKS, M_W23_LOW)), v128.and(i16x8.shl(h, 7 - 2 * c), v128.load(MASKS, M_W23_TOP)));
  const w67 = v128.or(i16x8.shr_u(v, 13), v128.and(i16x8.shr_u(h, 5 + 2 * c), v128.load(MASKS, M_W67_TOP)));
  return q5_i16_dot4(v128.and(v, v128.load(MASKS, M_W01)), w23, v128.and(v, v128.load(MASKS, M_W45)), w67, x);
}

// A vector's weights w0 w1, w2 w3, w4 w5, w6 w7 (each at its lane's place, as q5_i16_vec builds
// them) against the 4 pre-scaled activation pairs at x.
@inline
function q5_i16_dot4(w01: v128, w23: v128, w45: v128, w67: v128, x: usize): v128 {
  const d01 = i32x4.add(i32x4.dot_i16x8_s(w01, v128.load32_splat(x)), i32x4.dot_i16x8_s(w23, v128.load32_splat(x, 4)));
  const d23 = i32x4.add(i32x4.dot_i16x8_s(w45, v128.load32_splat(x, 8)), i32x4.dot_i16x8_s(w67, v128.load32_splat(x, 12)));
  return i32x4.add(d01, d23);
}

// The scalar build's w . x of row `lane`'s 32 weights of sub-block j of the packed super-block
// at p with the 32 int8 activations at x8 (in the relaxed path's order).
@inline
function q5_dot32_scalar(p: usize, j: i32, x8: usize, lane: usize): i32 {
  let s = 0;
  const plane = p + PLANES + <usize>j * 16 + lane * 4;
  for (let c = 0; c < 4; c++) {
    const word = p + WORDS + <usize>(64 * j + 16 * c) + lane * 4;
    const xc = x8 + <usize>c * 8;
    for (let e: usize = 0; e < 4; e++) {
      const v = <i32>load<u8>(word + e);
      const a = v & 31;
      const b = (v >> 5) | (((<i32>load<u8>(plane + e) >> (2 * c)) & 3) << 3);
      s += a * <i32>load<i8>(xc + e) + b * <i32>load<i8>(xc + e + 4);
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

// The scales of sub-block j of the super-block at p, one i32 lane per row (the i16 path).
@inline
function q5_scales(p: usize, j: usize): v128 {
  return i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p + SCALES + j * 4)));
}

// The relaxed path on two tokens at once (activation rows xa and xc): each vector's weights are
// built once for both, the step a GEMM (prefill) repeats for every token. The same integers and
// float steps as one token at a time.
@inline
function q5_k_pair_relaxed(g: usize, xa: usize, xc: usize, ya: usize, yc: usize, nb: i32, rows: i32): void {
  const m = v128.load(MASKS, M_A), mlow = v128.load(MASKS, M_B_LOW), mtop = v128.load(MASKS, M_B_TOP);
  let accA = f32x4.splat(0), accC = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const p = g + <usize>b * GROUP_BLOCK;
    const ba = xa + <usize>b * XQ4_K_BYTES, bc = xc + <usize>b * XQ4_K_BYTES;
    let sumA = i32x4.splat(0), sumC = i32x4.splat(0);
    for (let j: usize = 0; j < 8; j++) {
      const q = p + WORDS + j * 64;
      const h = v128.load(p + PLANES + j * 16);
      const sc = scales_x2(p + SCALES + j * 4);
      const ia = ba + XQ4_K_I8 + j * 32, ic = bc + XQ4_K_I8 + j * 32;
      // vectors 0 and 1, then 2 and 3, their weights built once for both tokens: 4 pair sums
      // per lane inside i16, each half's times the scales in one dot
      const v0 = v128.load(q), v1 = v128.load(q, 16), v2 = v128.load(q, 32), v3 = v128.load(q, 48);
      const a0 = v128.and(v0, m), b0 = q5_b(v0, h, 0, mlow, mtop), a1 = v128.and(v1, m), b1 = q5_b(v1, h, 1, mlow, mtop);
      sumA = i32x4.add(sumA, i32x4.dot_i16x8_s(q5_dot16(a0, b0, a1, b1, ia), sc));
      sumC = i32x4.add(sumC, i32x4.dot_i16x8_s(q5_dot16(a0, b0, a1, b1, ic), sc));
      const a2 = v128.and(v2, m), b2 = q5_b(v2, h, 2, mlow, mtop), a3 = v128.and(v3, m), b3 = q5_b(v3, h, 3, mlow, mtop);
      sumA = i32x4.add(sumA, i32x4.dot_i16x8_s(q5_dot16(a2, b2, a3, b3, ia + 16), sc));
      sumC = i32x4.add(sumC, i32x4.dot_i16x8_s(q5_dot16(a2, b2, a3, b3, ic + 16), sc));
    }
    accA = f32x4.add(accA, k4_scaled(p, ba, sumA));
    accC = f32x4.add(accC, k4_scaled(p, bc, sumC));
  }
  store_rows(ya, accA, rows);
  store_rows(yc, accC, rows);
}

// The relaxed path on four tokens at once (activation blocks xBytes apart from xa, output rows
// yBytes apart from ya), as q4_k_quad_relaxed: each vector's weights built once for all four.
// The same integers and float steps as one token at a time.
@inline
function q5_k_quad_relaxed(g: usize, xa: usize, xBytes: usize, ya: usize, yBytes: usize, nb: i32, rows: i32): void {
  const m = v128.load(MASKS, M_A), mlow = v128.load(MASKS, M_B_LOW), mtop = v128.load(MASKS, M_B_TOP);
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
  let b0 = xa;
  const end = g + <usize>nb * GROUP_BLOCK;
  for (let p = g; p < end; p += GROUP_BLOCK) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    let i0 = b0 + XQ4_K_I8;
    for (let j: usize = 0; j < 8; j++) {
      const q = p + WORDS + j * 64;
      const h = v128.load(p + PLANES + j * 16);
      const sc = scales_x2(p + SCALES + j * 4);
      const i1 = i0 + xBytes, i2 = i1 + xBytes, i3 = i2 + xBytes;
      // vectors 0 and 1: their weights once, then each token's 4 pair sums per lane inside i16
      const v0 = v128.load(q), v1 = v128.load(q, 16);
      let a0 = v128.and(v0, m), c0 = q5_b(v0, h, 0, mlow, mtop), a1 = v128.and(v1, m), c1 = q5_b(v1, h, 1, mlow, mtop);
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(q5_dot16(a0, c0, a1, c1, i0), sc));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(q5_dot16(a0, c0, a1, c1, i1), sc));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(q5_dot16(a0, c0, a1, c1, i2), sc));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(q5_dot16(a0, c0, a1, c1, i3), sc));
      // vectors 2 and 3
      const v2 = v128.load(q, 32), v3 = v128.load(q, 48);
      a0 = v128.and(v2, m); c0 = q5_b(v2, h, 2, mlow, mtop); a1 = v128.and(v3, m); c1 = q5_b(v3, h, 3, mlow, mtop);
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(q5_dot16(a0, c0, a1, c1, i0 + 16), sc));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(q5_dot16(a0, c0, a1, c1, i1 + 16), sc));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(q5_dot16(a0, c0, a1, c1, i2 + 16), sc));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(q5_dot16(a0, c0, a1, c1, i3 + 16), sc));
      i0 += 32;
    }
    acc0 = f32x4.add(acc0, k4_scaled(p, b0, s0));
    acc1 = f32x4.add(acc1, k4_scaled(p, b0 + xBytes, s1));
    acc2 = f32x4.add(acc2, k4_scaled(p, b0 + 2 * xBytes, s2));
    acc3 = f32x4.add(acc3, k4_scaled(p, b0 + 3 * xBytes, s3));
    b0 += XQ4_K_BYTES;
  }
  store_rows_x4(ya, yBytes, acc0, acc1, acc2, acc3, rows);
}

// The i16 path on two tokens at once (activation blocks xa and xc, outputs at ya and yc): each
// vector's weights built once for both, the browsers' path without relaxed SIMD. The plane's
// bits for vector c are shifted into place step by step (each step 2 bits further), as
// q5_i16_vec's shifts by 7 - 2c and 5 + 2c: the bits kept are below bit 9 of the plane, so
// none is lost. The same integers and float steps as one token at a time.
@inline
function q5_k_pair_i16(g: usize, xa: usize, xc: usize, ya: usize, yc: usize, nb: i32, rows: i32): void {
  const m01 = v128.load(MASKS, M_W01), m45 = v128.load(MASKS, M_W45), m23 = v128.load(MASKS, M_W23_LOW);
  const t23 = v128.load(MASKS, M_W23_TOP), t67 = v128.load(MASKS, M_W67_TOP);
  let accA = f32x4.splat(0), accC = f32x4.splat(0);
  let ba = xa, bc = xc;
  const end = g + <usize>nb * GROUP_BLOCK;
  for (let p = g; p < end; p += GROUP_BLOCK) {
    let sumA = i32x4.splat(0), sumC = i32x4.splat(0);
    let a = ba + XQ4_K_I16, e = bc + XQ4_K_I16;
    for (let j: usize = 0; j < 8; j++) {
      const q = p + WORDS + j * 64;
      const h = v128.load(p + PLANES + j * 16);
      let h23 = i16x8.shl(h, 7), h67 = i16x8.shr_u(h, 5);
      let hA = i32x4.splat(0), hC = i32x4.splat(0);
      for (let c: usize = 0; c < 64; c += 16) {
        const v = v128.load(q + c);
        const w01 = v128.and(v, m01), w45 = v128.and(v, m45);
        const w23 = v128.or(v128.and(i16x8.shr_u(v, 1), m23), v128.and(h23, t23));
        const w67 = v128.or(i16x8.shr_u(v, 13), v128.and(h67, t67));
        hA = i32x4.add(hA, q5_i16_dot4(w01, w23, w45, w67, a + c));
        hC = i32x4.add(hC, q5_i16_dot4(w01, w23, w45, w67, e + c));
        h23 = i16x8.shr_u(h23, 2);
        h67 = i16x8.shr_u(h67, 2);
      }
      const sc = q5_scales(p, j);
      sumA = i32x4.add(sumA, i32x4.mul(i32x4.shr_s(hA, 8), sc));
      sumC = i32x4.add(sumC, i32x4.mul(i32x4.shr_s(hC, 8), sc));
      a += 64;
      e += 64;
    }
    accA = f32x4.add(accA, k4_scaled(p, ba, sumA));
    accC = f32x4.add(accC, k4_scaled(p, bc, sumC));
    ba += XQ4_K_BYTES;
    bc += XQ4_K_BYTES;
  }
  store_rows(ya, accA, rows);
  store_rows(yc, accC, rows);
}

// Per super-block, sumq = sum_j scale_j * (w_j . x_j) and summ = sum_j min_j * sum(x_j) over
// the 8 sub-blocks j of 32, then y += f32(sumq) * (d * d_x) - f32(summ) * (dmin * d_x); the
// tokens in chunks whose activations stay in cache (token_chunk).
@inline
function q5_k_gemm(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, relaxed: bool): void {
  const chunk = token_chunk(<usize>(k / 256) * XQ4_K_BYTES);
  for (let t0 = 0; t0 < m; t0 += chunk) q5_k_gemm_tokens(w, x, y, t0, min(m, t0 + chunk), n, k, ldy, relaxed);
}

// Tokens t0 .. t1 - 1 of q5_k_gemm, every group of rows.
@inline
function q5_k_gemm_tokens(w: usize, x: usize, y: usize, t0: i32, t1: i32, n: i32, k: i32, ldy: i32, relaxed: bool): void {
  const nb = k / 256;
  const groupBytes = <usize>nb * GROUP_BLOCK;
  const xBytes = <usize>nb * XQ4_K_BYTES;
  for (let r = 0; r < n; r += 4) {
    const g = w + <usize>(r >> 2) * groupBytes;
    const rows = min(4, n - r);
    let t = t0;
    if (ASC_FEATURE_RELAXED_SIMD && relaxed) {
      for (; t + 3 < t1; t += 4) {
        q5_k_quad_relaxed(g, x + <usize>t * xBytes, xBytes, y + (<usize>t * ldy + r) * 4, <usize>ldy * 4, nb, rows);
      }
      for (; t + 1 < t1; t += 2) {
        const xt = x + <usize>t * xBytes;
        const yt = y + (<usize>t * ldy + r) * 4;
        q5_k_pair_relaxed(g, xt, xt + xBytes, yt, yt + <usize>ldy * 4, nb, rows);
      }
    } else if (ASC_FEATURE_SIMD) {
      for (; t + 1 < t1; t += 2) {
        const xt = x + <usize>t * xBytes;
        const yt = y + (<usize>t * ldy + r) * 4;
        q5_k_pair_i16(g, xt, xt + xBytes, yt, yt + <usize>ldy * 4, nb, rows);
      }
    }
    for (; t < t1; t++) {
      const xt = x + <usize>t * xBytes;
      const yt = y + (<usize>t * ldy + r) * 4;
      if (ASC_FEATURE_SIMD) {
        let acc = f32x4.splat(0);
        let xb = xt;
        for (let p = g; p < g + groupBytes; p += GROUP_BLOCK) {
          // a loop over the sub-blocks: eight inlined in a row make the engine spill
          let sumq = i32x4.splat(0);
          if (ASC_FEATURE_RELAXED_SIMD && relaxed) {
            const m = v128.load(MASKS, M_A), mlow = v128.load(MASKS, M_B_LOW), mtop = v128.load(MASKS, M_B_TOP);
            for (let j: usize = 0; j < 8; j++) sumq = i32x4.add(sumq, q5_sub_scaled(p, xb, j, m, mlow, mtop));
          } else {
            for (let j: usize = 0; j < 8; j++) sumq = i32x4.add(sumq, i32x4.mul(q5_sub_i16(p, xb, j), q5_scales(p, j)));
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
              summ += <i32>load<u8>(p + MINS + pair_byte(j, lane)) * <i32>load<i16>(xb + XQ4_K_BSUMS + <usize>j * 2);
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
