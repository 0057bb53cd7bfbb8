// Q2_K and Q3_K weights repacked at load into groups of 4 rows, in bit planes as GGUF keeps them,
// and their GEMV/GEMM.
//
// Read one row at a time, a 2- or 3-bit weight costs more to unpack than to multiply; here, as in
// q4x4.ts and q6x4.ts, the 4 rows of a group sit side by side, one 32-bit word per row in each
// 16-byte vector, so one activation broadcast serves 4 rows and each row's sum stays in its lanes.
// Both types keep their weights' low 2 bits in a plane of crumbs, one vector per sub-block j of
// 16 weights, byte e of row i's word holding at bits 2c..2c+1 the low bits of weight 16j + 4c + e;
// Q3_K adds a plane of high bits, one vector per pair of sub-blocks 2p, 2p + 1, byte e of row i's
// word holding at bit 4o + c the high bit of weight 16(2p + o) + 4c + e. One shift and mask of
// each plane (16-bit shifts, whose bits that cross a byte are masked off), and for Q3_K an or,
// give vector c of sub-block j: weights 4c..4c+3 of each row as bytes in row order (Q2_K's q in
// 0..3, Q3_K's q' = q + 4 in 0..7 for ggml's q in -4..3), the operand q6x4.ts's sub-block
// products take. From there, per super-block, sumq = sum_j scale_j * (q_j . x_j) with block_q8_K
// activations (assembly/q8.ts, q8_k_quantize_f32), and
//
// - Q3_K, as Q6_K: the zero point 4 through the activations' sums of 16 (q6_zero), y +=
//   f32(sumq - 4 * zero) * (d * d_x), as ggml's vec_dot_q3_K_q8_K;
// - Q2_K, as Q4_K: summ = sum_j min_j * sum(x_j), y += f32(sumq) * (d * d_x) - f32(summ) *
//   (dmin * d_x) (k_min_step), as ggml's vec_dot_q2_K_q8_K.
//
// Integer sums are exact on both paths, so every build, path and thread split gives the same bits.

import { half_to_f32 } from './half';
import { DOT_I16, FORM_EXACT } from './dot';
import { byte, k3_scales } from './kquants';
import { k_min_step, pair_byte, relaxed_i16_exact, store_rows, token_chunk } from './q4x4';
import { LOW_BYTES, q6_step, q6_zero, scale_scalar, scales_i32, scales_of, step_scalar, sub_i16_split, sub_relaxed_values } from './q6x4';

// ---- Q3_K: packing -------------------------------------------------------------------------
//
// Packed layout: per group of 4 rows (the last padded with zero rows), per super-block b of
// 256 columns, 464 bytes:
//
//   [d: the 4 rows' super-block scales as f32]                                             16 bytes
//   [scales: sub-blocks 2p and 2p + 1 at 16 + 8p: byte 2i = row i's scale of 2p minus 32 (int8), 2i + 1 of 2p + 1]  64 bytes
//   [crumbs: sub-block j's vector at 80 + 16j]                                            256 bytes
//   [high bits: sub-blocks 2p and 2p + 1's vector at 336 + 16p]                           128 bytes
//
// d and the scales where q6x4.ts has them, so that its zero-point sum and float step read both.

const Q3_GROUP: usize = 464;
const SCALES: usize = 16;
const Q3_CRUMBS: usize = 80;
const HIGH: usize = 336;

// Offsets into a block_q8_K of activations (292 bytes).
const XQ_BYTES: usize = 292;
const XQ: usize = 4;

/** Bytes of n rows of k columns (k a multiple of 256) of Q3_K in the 4-row layout. */
export function q3_k_gemm_packed_bytes(n: i32, k: i32): i32 {
  return ((n + 3) >> 2) * (k / 256) * <i32>Q3_GROUP;
}

// Packs n rows of GGUF Q3_K (k / 256 super-blocks of 110 bytes per row: hmask[32] qs[64]
// scales[12] d; any byte address) at w into the layout above at out (q3_k_gemm_packed_bytes(n, k)
// bytes, 16-byte aligned). In GGUF, weight 128h + 32s + l (l in 0..31) takes bits 2s..2s+1 of
// qs[32h + l] and bit 4h + s of hmask[l] (clear: q = low bits - 4), and sub-block (weight / 16)'s
// scale. Scales must be finite (the caller checks them first).
export function q3_k_gemm_pack_x4(w: usize, n: i32, k: i32, out: usize): void {
  const nb = k / 256;
  memory.fill(out, 0, <usize>q3_k_gemm_packed_bytes(n, k));
  for (let r = 0; r < n; r++) {
    const lane = <usize>(r & 3);
    for (let b = 0; b < nb; b++) {
      const src = w + (<usize>r * nb + b) * 110;
      const dst = out + (<usize>(r >> 2) * nb + b) * Q3_GROUP;
      store<f32>(dst + lane * 4, half_to_f32(load<u16>(src, 108)));
      for (let j = 0; j < 16; j++) {
        store<i8>(dst + SCALES + pair_byte(j, lane), <i8>(byte(k3_scales(src, j >> 2), j & 3) - 32));
        for (let c = 0; c < 4; c++) {
          for (let e = 0; e < 4; e++) {
            const wi = 16 * j + 4 * c + e;
            const low = qs_crumb(src + 32, wi);
            const high = (<i32>load<u8>(src + <usize>(wi & 31)) >> (4 * (wi >> 7) + ((wi >> 5) & 3))) & 1;
            put_crumb(dst + Q3_CRUMBS, j, c, e, lane, low);
            const hat = dst + HIGH + <usize>(16 * (j >> 1)) + lane * 4 + <usize>e;
            store<u8>(hat, load<u8>(hat) | <u8>(high << (4 * (j & 1) + c)));
          }
        }
      }
    }
  }
}

// The low 2 bits of weight wi (0..255) in GGUF's qs (Q2_K's and Q3_K's alike): weight 128h + 32s
// + l (l in 0..31) takes bits 2s..2s+1 of qs[32h + l].
@inline
function qs_crumb(qs: usize, wi: i32): i32 {
  return (<i32>load<u8>(qs + <usize>(32 * (wi >> 7) + (wi & 31))) >> (2 * ((wi >> 5) & 3))) & 3;
}

// Ors the low 2 bits `low` of weight 16j + 4c + e of row `lane` into the crumb plane at plane.
@inline
function put_crumb(plane: usize, j: i32, c: i32, e: i32, lane: usize, low: i32): void {
  const at = plane + <usize>(16 * j + e) + lane * 4;
  store<u8>(at, load<u8>(at) | <u8>(low << (2 * c)));
}

// The scalar build's read of what put_crumb wrote: the low 2 bits of weight 16j + 4c + e of row `lane`.
@inline
function get_crumb(plane: usize, j: i32, c: i32, e: i32, lane: usize): i32 {
  return (<i32>load<u8>(plane + <usize>(16 * j + e) + lane * 4) >> (2 * c)) & 3;
}

// ---- unpacking ------------------------------------------------------------------------------

// The masks, read from memory rather than built as constants (an engine may rebuild a constant
// inside every loop iteration, but not a load): the low 2 bits and bit 2 of each byte, and the
// low nibble of each u16 (Q2_K's scales); the i16 path's split takes q6x4.ts's LOW_BYTES.
const MASKS = memory.data<u8>([
  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
  4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
  0x0f, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0,
], 16);

// Vector c (a constant) of a sub-block's crumb vector cv: the low 2 bits of its weights 4c..4c+3
// of each row, as bytes.
@inline
function crumbs(cv: v128, c: i32, m3: v128): v128 {
  return c == 0 ? v128.and(cv, m3) : v128.and(i16x8.shr_u(cv, 2 * c), m3);
}

// Vector c (a constant) of sub-block 2p + o (o a constant) from its crumb vector cv and its
// pair's high-bit vector hv: weights 4c..4c+3 of each row as bytes q' in 0..7.
@inline
function q3_vector(cv: v128, hv: v128, c: i32, o: i32, m3: v128, m4: v128): v128 {
  const low = crumbs(cv, c, m3);
  const t = 4 * o + c; // the high bit's place, moved to bit 2
  const high = t == 2 ? v128.and(hv, m4) : t < 2 ? v128.and(i16x8.shl(hv, 2 - t), m4) : v128.and(i16x8.shr_u(hv, t - 2), m4);
  return v128.or(low, high);
}

// Sub-block j's 4 weight vectors w0..w3 (from crumbs or q3_vector) against its 16 int8
// activations at xq, times its scales (sp: its pair's widened to i16, [s0 t0 s1 t1 ...]; odd: j is
// the pair's second): each row's scale_j * (q_j . x_j).
@inline
function sub_x4(w0: v128, w1: v128, w2: v128, w3: v128, xq: usize, sp: v128, odd: bool, relaxed: bool): v128 {
  if (ASC_FEATURE_RELAXED_SIMD && relaxed) return sub_relaxed_values(w0, w1, w2, w3, xq, scales_of(sp, odd));
  const low = v128.load(LOW_BYTES);
  const l0 = v128.and(w0, low), h0 = i16x8.shr_u(w0, 8), l1 = v128.and(w1, low), h1 = i16x8.shr_u(w1, 8);
  const l2 = v128.and(w2, low), h2 = i16x8.shr_u(w2, 8), l3 = v128.and(w3, low), h3 = i16x8.shr_u(w3, 8);
  return i32x4.mul(sub_i16_split(l0, h0, l1, h1, l2, h2, l3, h3, xq), scales_i32(sp, odd));
}

// The scalar build: row `lane`'s sum of the group at g against one token's activations at xt.
@inline
function q3_row_scalar(g: usize, xt: usize, nb: i32, lane: usize): f32 {
  let acc: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const p = g + <usize>b * Q3_GROUP;
    const xb = xt + <usize>b * XQ_BYTES;
    let sumq = 0;
    for (let j = 0; j < 16; j++) {
      let d = 0;
      for (let c = 0; c < 4; c++) {
        for (let e = 0; e < 4; e++) {
          const crumb = get_crumb(p + Q3_CRUMBS, j, c, e, lane);
          const high = (<i32>load<u8>(p + HIGH + <usize>(16 * (j >> 1)) + lane * 4 + <usize>e) >> (4 * (j & 1) + c)) & 1;
          d += (crumb | (high << 2)) * <i32>load<i8>(xb + XQ + <usize>(16 * j + 4 * c + e));
        }
      }
      sumq += scale_scalar(p, j, lane) * d;
    }
    acc += step_scalar(p, xb, lane, sumq, 2);
  }
  return acc;
}

// ---- Q2_K --------------------------------------------------------------------------------
//
// GGUF's block: scales[16] (low 4 bits the scale, high 4 the min of sub-block j, one byte each),
// qs[64] (weight 128h + 32s + l takes bits 2s..2s+1 of qs[32h + l], as Q3_K's low bits), d and
// dmin (f16); weight = d * scale_j * q - dmin * min_j. Packed layout: per group of 4 rows (the last
// padded with zero rows), per super-block b of 256 columns, 352 bytes:
//
//   [d: the 4 rows' f32] [dmin: the 4 rows' f32]                                          32 bytes
//   [scales and mins: sub-blocks 2p and 2p + 1 at 32 + 8p: byte 2i = row i's GGUF byte of 2p, 2i + 1 of 2p + 1]  64 bytes
//   [crumbs: sub-block j's vector at 96 + 16j]                                            256 bytes
//
// d and dmin where q4x4.ts's Q4_K layout has them, so that its float step (k_min_step) reads both.

const Q2_GROUP: usize = 352;
const Q2_SCALES: usize = 32;
const Q2_CRUMBS: usize = 96;
const XSUMS: usize = 260;

/** Bytes of n rows of k columns (k a multiple of 256) of Q2_K in the 4-row layout. */
export function q2_k_gemm_packed_bytes(n: i32, k: i32): i32 {
  return ((n + 3) >> 2) * (k / 256) * <i32>Q2_GROUP;
}

// Packs n rows of GGUF Q2_K (k / 256 super-blocks of 84 bytes per row, any byte address) at w
// into the layout above at out (q2_k_gemm_packed_bytes(n, k) bytes, 16-byte aligned). Scales must
// be finite (the caller checks them first).
export function q2_k_gemm_pack_x4(w: usize, n: i32, k: i32, out: usize): void {
  const nb = k / 256;
  memory.fill(out, 0, <usize>q2_k_gemm_packed_bytes(n, k));
  for (let r = 0; r < n; r++) {
    const lane = <usize>(r & 3);
    for (let b = 0; b < nb; b++) {
      const src = w + (<usize>r * nb + b) * 84;
      const dst = out + (<usize>(r >> 2) * nb + b) * Q2_GROUP;
      store<f32>(dst + lane * 4, half_to_f32(load<u16>(src, 80)));
      store<f32>(dst + 16 + lane * 4, half_to_f32(load<u16>(src, 82)));
      for (let j = 0; j < 16; j++) {
        store<u8>(dst + Q2_SCALES + pair_byte(j, lane), load<u8>(src + <usize>j));
        for (let c = 0; c < 4; c++) {
          for (let e = 0; e < 4; e++) {
            const wi = 16 * j + 4 * c + e;
            put_crumb(dst + Q2_CRUMBS, j, c, e, lane, qs_crumb(src + 16, wi));
          }
        }
      }
    }
  }
}

// The scalar build: row `lane`'s sum of the Q2_K group at g against one token's activations at xt.
@inline
function q2_row_scalar(g: usize, xt: usize, nb: i32, lane: usize): f32 {
  let acc: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const p = g + <usize>b * Q2_GROUP;
    const xb = xt + <usize>b * XQ_BYTES;
    let sumq = 0, summ = 0;
    for (let j = 0; j < 16; j++) {
      const sm = <i32>load<u8>(p + Q2_SCALES + pair_byte(j, lane));
      let d = 0;
      for (let c = 0; c < 4; c++) {
        for (let e = 0; e < 4; e++) {
          const crumb = get_crumb(p + Q2_CRUMBS, j, c, e, lane);
          d += crumb * <i32>load<i8>(xb + XQ + <usize>(16 * j + 4 * c + e));
        }
      }
      sumq += (sm & 15) * d;
      summ += (sm >> 4) * <i32>load<i16>(xb + XSUMS + <usize>j * 2);
    }
    const dx = load<f32>(xb);
    acc += <f32>sumq * (load<f32>(p + lane * 4) * dx) - <f32>summ * (load<f32>(p + 16 + lane * 4) * dx);
  }
  return acc;
}

// ---- both types ----------------------------------------------------------------------------
//
// The functions below take `type` (Q2 or Q3, a constant at every call site, so each export
// compiles to its own loops).

const Q2: i32 = 2, Q3: i32 = 3;

// Vector c of sub-block 2p + o (c and o constants) from its crumb vector cv and, for Q3_K, its
// pair's high bits hv: weights 4c..4c+3 of each row, as bytes.
@inline
function weights(type: i32, cv: v128, hv: v128, c: i32, o: i32, m3: v128, m4: v128): v128 {
  return type == Q3 ? q3_vector(cv, hv, c, o, m3, m4) : crumbs(cv, c, m3);
}

// The scales of sub-blocks 2p and 2p + 1 of the packed super-block at p, as i16 [s0 t0 s1 t1 ...]
// (row i's pair in 32-bit lane i): Q3_K's int8 bytes, Q2_K's low nibbles.
@inline
function pair_scales(type: i32, p: usize, pair: usize, nibble: v128): v128 {
  return type == Q3 ? v128.load8x8_s(p + SCALES + 8 * pair) : v128.and(v128.load8x8_u(p + Q2_SCALES + 8 * pair), nibble);
}

// Q2_K's sum of mins for a token: sum_j min_j * sum(x_j), the high nibbles of the packed
// super-block at p against the token's sums of 16 at xb + XSUMS (as q6_zero for the scales).
@inline
function q2_mins(p: usize, xb: usize): v128 {
  let summ = i32x4.splat(0);
  let xs = xb + XSUMS;
  for (let s = p + Q2_SCALES; s < p + Q2_CRUMBS; s += 8) {
    summ = i32x4.add(summ, i32x4.dot_i16x8_s(i16x8.shr_u(v128.load8x8_u(s), 4), v128.load32_splat(xs)));
    xs += 4;
  }
  return summ;
}

// The float step of the packed super-block at p for a token (its activation block at xb), given
// its sumq: Q3_K's zero point 4 (q6_step), Q2_K's mins (k_min_step).
@inline
function block_step(type: i32, p: usize, xb: usize, sumq: v128): v128 {
  return type == Q3 ? q6_step(p, xb, sumq, q6_zero(p, xb), 2) : k_min_step(p, xb, sumq, q2_mins(p, xb));
}

// The group at g (rows of it stored: `rows`) against token a's activations (xa, output at ya)
// and, when `two`, token c's (xc, yc): each sub-block's planes unpacked once for both. The same
// integers and float steps as one token at a time.
@inline
function rows_x4(type: i32, g: usize, xa: usize, xc: usize, ya: usize, yc: usize, nb: i32, rows: i32, two: bool, relaxed: bool): void {
  const m3 = v128.load(MASKS), m4 = v128.load(MASKS, 16), nibble = v128.load(MASKS, 32);
  const groupBytes = type == Q3 ? Q3_GROUP : Q2_GROUP;
  let accA = f32x4.splat(0), accC = f32x4.splat(0);
  let ba = xa, bc = xc;
  const end = g + <usize>nb * groupBytes;
  for (let p = g; p < end; p += groupBytes) {
    let sumA = i32x4.splat(0), sumC = i32x4.splat(0);
    // a pair of sub-blocks per trip, in a loop: fewer values live at once, which keeps the
    // engine from spilling them; the two sub-blocks written out, so that every shift is a constant
    let cp = p + (type == Q3 ? Q3_CRUMBS : Q2_CRUMBS), xo = XQ;
    for (let pair: usize = 0; pair < 8; pair++) {
      const sp = pair_scales(type, p, pair, nibble);
      const hv = type == Q3 ? v128.load(p + HIGH + 16 * pair) : m3;
      const c0 = v128.load(cp);
      const a0 = weights(type, c0, hv, 0, 0, m3, m4), a1 = weights(type, c0, hv, 1, 0, m3, m4);
      const a2 = weights(type, c0, hv, 2, 0, m3, m4), a3 = weights(type, c0, hv, 3, 0, m3, m4);
      sumA = i32x4.add(sumA, sub_x4(a0, a1, a2, a3, ba + xo, sp, false, relaxed));
      if (two) sumC = i32x4.add(sumC, sub_x4(a0, a1, a2, a3, bc + xo, sp, false, relaxed));
      const c1 = v128.load(cp, 16);
      const b0 = weights(type, c1, hv, 0, 1, m3, m4), b1 = weights(type, c1, hv, 1, 1, m3, m4);
      const b2 = weights(type, c1, hv, 2, 1, m3, m4), b3 = weights(type, c1, hv, 3, 1, m3, m4);
      sumA = i32x4.add(sumA, sub_x4(b0, b1, b2, b3, ba + xo + 16, sp, true, relaxed));
      if (two) sumC = i32x4.add(sumC, sub_x4(b0, b1, b2, b3, bc + xo + 16, sp, true, relaxed));
      cp += 32;
      xo += 32;
    }
    accA = f32x4.add(accA, block_step(type, p, ba, sumA));
    if (two) accC = f32x4.add(accC, block_step(type, p, bc, sumC));
    ba += XQ_BYTES;
    bc += XQ_BYTES;
  }
  store_rows(ya, accA, rows);
  if (two) store_rows(yc, accC, rows);
}

// ---- the products ---------------------------------------------------------------------------
//
//   TYPE_gemm_x4(w, x, y, m, n, k, ldy, dot)
//
// y[t][r] = row r of W times token t, for m tokens and n rows of k weights: w packed by
// TYPE_gemm_pack_x4 (its first group), x the m tokens' block_q8_K activations
// (q8_k_quantize_f32, tokens one after another), y rows ldy floats apart, not overlapping the
// inputs. dot: DOT_I16, or DOT_RELAXED to take the relaxed path where this call finds the 16-bit
// relaxed dot exact (relaxed_i16_exact; otherwise, and without relaxed SIMD, the i16 path).
// Returns the path taken: FORM_EXACT or DOT_I16. Each output is its row's sum over the blocks
// in order, identical for any m and any split of the groups.

export function q2_k_gemm_x4(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): i32 {
  return gemm_x4(Q2, w, x, y, m, n, k, ldy, dot);
}

export function q3_k_gemm_x4(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): i32 {
  return gemm_x4(Q3, w, x, y, m, n, k, ldy, dot);
}

// The product for `type` (a constant at both call sites, so each export compiles to its own loops).
@inline
function gemm_x4(type: i32, w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): i32 {
  const relaxed = ASC_FEATURE_RELAXED_SIMD && relaxed_i16_exact(dot);
  const chunk = token_chunk(<usize>(k / 256) * XQ_BYTES);
  for (let t0 = 0; t0 < m; t0 += chunk) {
    if (relaxed) gemm_tokens(type, w, x, y, t0, min(m, t0 + chunk), n, k, ldy, true);
    else gemm_tokens(type, w, x, y, t0, min(m, t0 + chunk), n, k, ldy, false);
  }
  return relaxed ? FORM_EXACT : DOT_I16;
}

// Tokens t0 .. t1 - 1 of gemm_x4, every group of rows: two tokens at a time, a last one alone (a
// four-token tile, as Q6_K's, measured slower: its unpacked vectors and sums spill).
@inline
function gemm_tokens(type: i32, w: usize, x: usize, y: usize, t0: i32, t1: i32, n: i32, k: i32, ldy: i32, relaxed: bool): void {
  const nb = k / 256;
  const groupBytes = <usize>nb * (type == Q3 ? Q3_GROUP : Q2_GROUP);
  const xBytes = <usize>nb * XQ_BYTES;
  const yBytes = <usize>ldy * 4;
  for (let r = 0; r < n; r += 4) {
    const g = w + <usize>(r >> 2) * groupBytes;
    const rows = min(4, n - r);
    for (let t = t0; t < t1; ) {
      const xt = x + <usize>t * xBytes;
      const yt = y + (<usize>t * ldy + r) * 4;
      if (ASC_FEATURE_SIMD) {
        if (t + 1 < t1) {
          rows_x4(type, g, xt, xt + xBytes, yt, yt + yBytes, nb, rows, true, relaxed);
          t += 2;
        } else {
          rows_x4(type, g, xt, 0, yt, 0, nb, rows, false, relaxed);
          t++;
        }
      } else {
        for (let i = 0; i < rows; i++) {
          store<f32>(yt + <usize>i * 4, type == Q3 ? q3_row_scalar(g, xt, nb, <usize>i) : q2_row_scalar(g, xt, nb, <usize>i));
        }
        t++;
      }
    }
  }
}
