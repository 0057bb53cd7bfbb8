// Q6_K weights repacked at load into groups of 4 rows, one byte per weight, and their GEMV/GEMM.
//
// As in q4x4.ts, the 4 rows of a group sit side by side, one 32-bit word per row in each 16-byte
// vector, so one activation broadcast serves 4 rows and each row's sum stays in its lanes. Here
// a row's word holds 4 consecutive weights q0..q3 (0..63, the zero point 32 not taken off) as
// its 4 bytes, which both dot paths read with the fewest instructions:
//
// - relaxed: the bytes as they are, in 0..127 as i16x8.relaxed_dot_i8x16_i7x16_s needs (one
//   pmaddubsw on x86), against the 4 int8 activations broadcast: q0 x0 + q1 x1 and q2 x2 + q3 x3
//   in the row's two i16 lanes. A pair sum is at most 2 * 63 * 128 = 16128, so two of them add up
//   inside i16 before i32x4.dot_i16x8_s widens them, times the sub-block's scale.
// - i16: masking the low byte of each u16 (0x00ff) leaves q0 and q2 in the row's two i16 lanes,
//   shifting down by 8 leaves q1 and q3; i32x4.dot_i16x8_s against the activation pairs (x0, x2)
//   and (x1, x3), widened from the int8 activations, gives each row's q . x exactly.
//
// The activations are ggml's block_q8_K (assembly/q8.ts, q8_k_quantize_f32: d, 256 int8 q, 16
// i16 sums of 16). Per super-block, as ggml's vec_dot_q6_K_q8_K: sumq = sum_j scale_j * (q_j . x_j)
// - 32 * sum_j scale_j * sum(x_j) over the 16 sub-blocks j of 16 weights (the zero point through
// the activations' sums), then y += f32(sumq) * (d * d_x). One byte per weight costs a fifth more
// memory than GGUF's 6.5625 bits, and saves the 6-bit unpacking that bounded the kernel.
//
// Integer sums are exact on both paths, so every build, path and thread split gives the same bits.

import { half_to_f32 } from './half';
import { DOT_I16, FORM_EXACT } from './dot';
import { pair_byte, relaxed_i16_exact, store_rows, store_rows_x4, token_chunk } from './q4x4';

// ---- packing -----------------------------------------------------------------------------
//
// Packed layout: per group of 4 rows (the last padded with zero rows), per super-block b of
// 256 columns, 1104 bytes:
//
//   [d: the 4 rows' super-block scales as f32]                                           16 bytes
//   [scales: sub-blocks 2p and 2p + 1 at 16 + 8p: byte 2i = row i's int8 scale of 2p, 2i + 1 of 2p + 1] 64 bytes
//   [weights: sub-block j (weights 16j .. 16j + 15), vector c (16j + 4c .. + 3) at 80 + 64j + 16c, row i's word at 4i] 1024 bytes

const GROUP_BLOCK: usize = 1104;
const SCALES: usize = 16;
const WEIGHTS: usize = 80;

// Offsets into a block_q8_K of activations (292 bytes).
const XQ_BYTES: usize = 292;
const XQ: usize = 4;
const XSUMS: usize = 260;

/** Bytes of n rows of k columns (k a multiple of 256) of Q6_K in the 4-row layout. */
export function q6_k_gemm_packed_bytes(n: i32, k: i32): i32 {
  return ((n + 3) >> 2) * (k / 256) * <i32>GROUP_BLOCK;
}

// Weight w (0..255) of a GGUF Q6_K super-block at wb, as its 6-bit value 0..63: ql[128] (low 4
// bits), qh[64] (high 2 bits); per half h of 128 and quarter g of 32, with l in 0..31,
// weight 128h + 32g + l takes ql[64h + l + 32(g & 1)] (low nibble for g < 2) and bits 2g..2g+1
// of qh[32h + l].
@inline
function q6_value(wb: usize, w: i32): i32 {
  const h = w >> 7, g = (w >> 5) & 3, l = w & 31;
  const ql = <i32>load<u8>(wb + <usize>(64 * h + l + 32 * (g & 1)));
  const qh = <i32>load<u8>(wb + 128 + <usize>(32 * h + l));
  return (g < 2 ? ql & 15 : ql >> 4) | (((qh >> (2 * g)) & 3) << 4);
}

// Packs n rows of GGUF Q6_K (k / 256 super-blocks of 210 bytes per row: ql[128] qh[64]
// scales[16] d; any byte address) at w into the layout above at out (q6_k_gemm_packed_bytes(n, k)
// bytes, 16-byte aligned). Scales must be finite (the caller checks them first).
export function q6_k_gemm_pack_x4(w: usize, n: i32, k: i32, out: usize): void {
  const nb = k / 256;
  memory.fill(out, 0, <usize>q6_k_gemm_packed_bytes(n, k));
  for (let r = 0; r < n; r++) {
    const lane = <usize>(r & 3);
    for (let b = 0; b < nb; b++) {
      const src = w + (<usize>r * nb + b) * 210;
      const dst = out + (<usize>(r >> 2) * nb + b) * GROUP_BLOCK;
      store<f32>(dst + lane * 4, half_to_f32(load<u16>(src, 208)));
      for (let j = 0; j < 16; j++) {
        store<i8>(dst + SCALES + pair_byte(j, lane), load<i8>(src + 192 + <usize>j));
        for (let c = 0; c < 4; c++) {
          const word = dst + WEIGHTS + <usize>(64 * j + 16 * c) + lane * 4;
          for (let e = 0; e < 4; e++) store<u8>(word + <usize>e, <u8>q6_value(src, 16 * j + 4 * c + e));
        }
      }
    }
  }
}

// ---- the product --------------------------------------------------------------------------

// The masks and shuffles of the i16 path, read from memory rather than built as constants (an
// engine may rebuild a constant inside every loop iteration, but not a load).
export const LOW_BYTES = memory.data<u16>([0x00ff, 0x00ff, 0x00ff, 0x00ff, 0x00ff, 0x00ff, 0x00ff, 0x00ff], 16);

// Sub-block j's scales of the 4 rows, each twice ([s0 s0 s1 s1 s2 s2 s3 s3], i16), from the
// scale pairs of its pair of sub-blocks widened to i16 (sp = [s0 t0 s1 t1 ...]): j even takes the
// first of each pair, j odd the second.
@inline
export function scales_of(sp: v128, odd: bool): v128 {
  return odd
    ? i8x16.shuffle(sp, sp, 2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15)
    : i8x16.shuffle(sp, sp, 0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13);
}

// Relaxed path: sub-block j (4 vectors at v) against its 16 int8 activations at xq, times its
// scales sc ([s0 s0 s1 s1 ...]): each row's scale_j * (q_j . x_j).
@inline
function sub_relaxed(v: usize, xq: usize, sc: v128): v128 {
  return sub_relaxed_values(v128.load(v), v128.load(v, 16), v128.load(v, 32), v128.load(v, 48), xq, sc);
}

// sub_relaxed on the sub-block's 4 weight vectors w0..w3 as values: bytes in 0..63 (Q6_K's 0..63,
// Q3_K's 0..7, Q2_K's 0..3), so that two pair sums add up inside i16 (4 * 63 * 128 < 32768).
@inline
export function sub_relaxed_values(w0: v128, w1: v128, w2: v128, w3: v128, xq: usize, sc: v128): v128 {
  const a = i16x8.add(
    i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xq), w0),
    i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xq, 4), w1));
  const b = i16x8.add(
    i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xq, 8), w2),
    i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xq, 12), w3));
  return i32x4.add(i32x4.dot_i16x8_s(a, sc), i32x4.dot_i16x8_s(b, sc));
}

// i16 path: sub-block j's 4 vectors at v against its 16 int8 activations at xq: each row's
// q . x in its lane. Per vector (weights 4c .. 4c + 3 of each row) the low bytes (q0, q2) and
// the high ones (q1, q3) against the activation pairs (x0, x2) and (x1, x3).
@inline
function sub_i16(v: usize, xq: usize, low: v128): v128 {
  const w0 = v128.load(v), w1 = v128.load(v, 16), w2 = v128.load(v, 32), w3 = v128.load(v, 48);
  return sub_i16_split(
    v128.and(w0, low), i16x8.shr_u(w0, 8), v128.and(w1, low), i16x8.shr_u(w1, 8),
    v128.and(w2, low), i16x8.shr_u(w2, 8), v128.and(w3, low), i16x8.shr_u(w3, 8), xq);
}

// The i16 path on a sub-block's weights split into their low (l0..l3) and high (h0..h3) bytes
// of each u16, against its 16 int8 activations at xq. The 16 activations are read once,
// reordered [x0 x2 x1 x3 x4 x6 ...] and widened to i16, so that every pair is a 32-bit lane,
// broadcast by a 32-bit shuffle (one pshufd on x86, where a byte shuffle costs its mask's
// construction on every use).
@inline
export function sub_i16_split(l0: v128, h0: v128, l1: v128, h1: v128, l2: v128, h2: v128, l3: v128, h3: v128, xq: usize): v128 {
  const x = v128.load(xq);
  const r = i8x16.shuffle(x, x, 0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15);
  const e0 = i16x8.extend_low_i8x16_s(r), e1 = i16x8.extend_high_i8x16_s(r);
  const d0 = i32x4.add(i32x4.dot_i16x8_s(l0, i32x4.shuffle(e0, e0, 0, 0, 0, 0)), i32x4.dot_i16x8_s(h0, i32x4.shuffle(e0, e0, 1, 1, 1, 1)));
  const d1 = i32x4.add(i32x4.dot_i16x8_s(l1, i32x4.shuffle(e0, e0, 2, 2, 2, 2)), i32x4.dot_i16x8_s(h1, i32x4.shuffle(e0, e0, 3, 3, 3, 3)));
  const d2 = i32x4.add(i32x4.dot_i16x8_s(l2, i32x4.shuffle(e1, e1, 0, 0, 0, 0)), i32x4.dot_i16x8_s(h2, i32x4.shuffle(e1, e1, 1, 1, 1, 1)));
  const d3 = i32x4.add(i32x4.dot_i16x8_s(l3, i32x4.shuffle(e1, e1, 2, 2, 2, 2)), i32x4.dot_i16x8_s(h3, i32x4.shuffle(e1, e1, 3, 3, 3, 3)));
  return i32x4.add(i32x4.add(d0, d1), i32x4.add(d2, d3));
}

// The zero point's sum of one super-block for a token: sum_j scale_j * sum(x_j), the scales of
// the packed super-block at p against the token's sums of 16 at xb + XSUMS. (Q3_K's layout,
// q23x4.ts, puts its d and scales where this layout does.)
@inline
export function q6_zero(p: usize, xb: usize): v128 {
  let zero = i32x4.splat(0);
  let xs = xb + XSUMS;
  for (let s = p + SCALES; s < p + WEIGHTS; s += 8) {
    zero = i32x4.add(zero, i32x4.dot_i16x8_s(v128.load8x8_s(s), v128.load32_splat(xs)));
    xs += 4;
  }
  return zero;
}

// The float step of one super-block for a token (its activation block at xb), given its zero
// point's sum: f32(sumq - 2^zeroShift * zero) * (d * d_x) per row (Q6_K's zero point 32, shift
// 5; Q3_K's 4, shift 2).
@inline
export function q6_step(p: usize, xb: usize, sumq: v128, zero: v128, zeroShift: i32 = 5): v128 {
  const s = i32x4.sub(sumq, i32x4.shl(zero, zeroShift));
  return f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.mul(v128.load(p), v128.load32_splat(xb)));
}

// q6_step with the zero point's sum taken here, for the tiles that leave it out of their loop.
@inline
function q6_scaled(p: usize, xb: usize, sumq: v128): v128 {
  return q6_step(p, xb, sumq, q6_zero(p, xb));
}

// A pair of sub-blocks' scales as i32 per row (sp = [s0 t0 s1 t1 ...] as i16, so each row's
// pair in one 32-bit lane): the first sub-block's (the low half of each lane) or the second's.
@inline
export function scales_i32(sp: v128, odd: bool): v128 {
  return odd ? i32x4.shr_s(sp, 16) : i32x4.shr_s(i32x4.shl(sp, 16), 16);
}

// The relaxed path on four tokens at once (activations xBytes apart from xa, output rows yBytes
// apart from ya): each weight vector loaded once for all four, each pair of sub-blocks' scales
// widened once; the zero point's sums after each super-block (q6_scaled), so that only the four
// integer sums, the sub-block's four vectors and its scales are live in the loop. The same
// integers and float steps as one token at a time.
@inline
function q6_k_quad_relaxed(g: usize, xa: usize, xBytes: usize, ya: usize, yBytes: usize, nb: i32, rows: i32): void {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
  let b0 = xa;
  const end = g + <usize>nb * GROUP_BLOCK;
  for (let p = g; p < end; p += GROUP_BLOCK) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    let v = p + WEIGHTS, q0 = b0 + XQ;
    for (let s = p + SCALES; s < p + WEIGHTS; s += 8) {
      const sp = v128.load8x8_s(s);
      for (let e = 0; e < 2; e++) {
        const sc = scales_of(sp, e == 1);
        const q1 = q0 + xBytes, q2 = q1 + xBytes, q3 = q2 + xBytes;
        s0 = i32x4.add(s0, sub_relaxed(v, q0, sc));
        s1 = i32x4.add(s1, sub_relaxed(v, q1, sc));
        s2 = i32x4.add(s2, sub_relaxed(v, q2, sc));
        s3 = i32x4.add(s3, sub_relaxed(v, q3, sc));
        v += 64;
        q0 += 16;
      }
    }
    acc0 = f32x4.add(acc0, q6_scaled(p, b0, s0));
    acc1 = f32x4.add(acc1, q6_scaled(p, b0 + xBytes, s1));
    acc2 = f32x4.add(acc2, q6_scaled(p, b0 + 2 * xBytes, s2));
    acc3 = f32x4.add(acc3, q6_scaled(p, b0 + 3 * xBytes, s3));
    b0 += XQ_BYTES;
  }
  store_rows_x4(ya, yBytes, acc0, acc1, acc2, acc3, rows);
}

// The i16 path on two tokens at once (activations at xa and xc, outputs at ya and yc): each
// weight vector loaded and split into its bytes once for both. The same integers and float
// steps as one token at a time.
@inline
function q6_k_pair_i16(g: usize, xa: usize, xc: usize, ya: usize, yc: usize, nb: i32, rows: i32): void {
  const low = v128.load(LOW_BYTES);
  let accA = f32x4.splat(0), accC = f32x4.splat(0);
  let ba = xa, bc = xc;
  const end = g + <usize>nb * GROUP_BLOCK;
  for (let p = g; p < end; p += GROUP_BLOCK) {
    let sumA = i32x4.splat(0), sumC = i32x4.splat(0);
    let v = p + WEIGHTS, o: usize = XQ;
    for (let s = p + SCALES; s < p + WEIGHTS; s += 8) {
      const sp = v128.load8x8_s(s);
      let dA = i32x4.splat(0), dC = i32x4.splat(0);
      for (let e = 0; e < 2; e++) {
        const w0 = v128.load(v), w1 = v128.load(v, 16), w2 = v128.load(v, 32), w3 = v128.load(v, 48);
        const l0 = v128.and(w0, low), h0 = i16x8.shr_u(w0, 8), l1 = v128.and(w1, low), h1 = i16x8.shr_u(w1, 8);
        const l2 = v128.and(w2, low), h2 = i16x8.shr_u(w2, 8), l3 = v128.and(w3, low), h3 = i16x8.shr_u(w3, 8);
        const sc = scales_i32(sp, e == 1);
        dA = i32x4.add(dA, i32x4.mul(sub_i16_split(l0, h0, l1, h1, l2, h2, l3, h3, ba + o), sc));
        dC = i32x4.add(dC, i32x4.mul(sub_i16_split(l0, h0, l1, h1, l2, h2, l3, h3, bc + o), sc));
        v += 64;
        o += 16;
      }
      sumA = i32x4.add(sumA, dA);
      sumC = i32x4.add(sumC, dC);
    }
    accA = f32x4.add(accA, q6_scaled(p, ba, sumA));
    accC = f32x4.add(accC, q6_scaled(p, bc, sumC));
    ba += XQ_BYTES;
    bc += XQ_BYTES;
  }
  store_rows(ya, accA, rows);
  store_rows(yc, accC, rows);
}

// The relaxed path on two tokens at once (block_q8_K activations at xa and xc, outputs at ya
// and yc): each weight vector loaded once for both, and each pair of sub-blocks' scales widened
// once. The same integers and float steps as one token at a time.
@inline
function q6_k_pair_relaxed(g: usize, xa: usize, xc: usize, ya: usize, yc: usize, nb: i32, rows: i32): void {
  let accA = f32x4.splat(0), accC = f32x4.splat(0);
  let ba = xa, bc = xc;
  const end = g + <usize>nb * GROUP_BLOCK;
  for (let p = g; p < end; p += GROUP_BLOCK) {
    let sumA = i32x4.splat(0), sumC = i32x4.splat(0);
    let zeroA = i32x4.splat(0), zeroC = i32x4.splat(0);
    let v = p + WEIGHTS, o: usize = 0;
    for (let s = p + SCALES; s < p + WEIGHTS; s += 8) {
      const sp = v128.load8x8_s(s);
      const so = o >> 3; // the pair's sums of 16 at XSUMS + 4 * pair
      zeroA = i32x4.add(zeroA, i32x4.dot_i16x8_s(sp, v128.load32_splat(ba + XSUMS + so)));
      zeroC = i32x4.add(zeroC, i32x4.dot_i16x8_s(sp, v128.load32_splat(bc + XSUMS + so)));
      for (let e = 0; e < 2; e++) {
        const sc = scales_of(sp, e == 1);
        const qa = ba + XQ + o, qc = bc + XQ + o;
        const w0 = v128.load(v), w1 = v128.load(v, 16);
        const aA = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(qa), w0), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(qa, 4), w1));
        const aC = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(qc), w0), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(qc, 4), w1));
        const w2 = v128.load(v, 32), w3 = v128.load(v, 48);
        const bA = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(qa, 8), w2), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(qa, 12), w3));
        const bC = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(qc, 8), w2), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(qc, 12), w3));
        sumA = i32x4.add(sumA, i32x4.add(i32x4.dot_i16x8_s(aA, sc), i32x4.dot_i16x8_s(bA, sc)));
        sumC = i32x4.add(sumC, i32x4.add(i32x4.dot_i16x8_s(aC, sc), i32x4.dot_i16x8_s(bC, sc)));
        v += 64;
        o += 16;
      }
    }
    accA = f32x4.add(accA, q6_step(p, ba, sumA, zeroA));
    accC = f32x4.add(accC, q6_step(p, bc, sumC, zeroC));
    ba += XQ_BYTES;
    bc += XQ_BYTES;
  }
  store_rows(ya, accA, rows);
  store_rows(yc, accC, rows);
}

// The scalar build's scale of sub-block j for row `lane` of the packed super-block at p.
@inline
export function scale_scalar(p: usize, j: i32, lane: usize): i32 {
  return <i32>load<i8>(p + SCALES + pair_byte(j, lane));
}

// The scalar build's float step of one super-block for row `lane` (the q6_step of one lane),
// given its sumq: the zero point's sum taken here.
@inline
export function step_scalar(p: usize, xb: usize, lane: usize, sumq: i32, zeroShift: i32): f32 {
  let zero = 0;
  for (let j = 0; j < 16; j++) zero += scale_scalar(p, j, lane) * <i32>load<i16>(xb + XSUMS + <usize>j * 2);
  return <f32>(sumq - (zero << zeroShift)) * (load<f32>(p + lane * 4) * load<f32>(xb));
}

// The scalar build's q . x for row `lane` of sub-block j's 4 vectors at v against its 16 int8 activations at xq.
@inline
function sub_scalar(v: usize, xq: usize, lane: usize): i32 {
  let s = 0;
  for (let c: usize = 0; c < 4; c++) {
    for (let e: usize = 0; e < 4; e++) s += <i32>load<u8>(v + c * 16 + lane * 4 + e) * <i32>load<i8>(xq + c * 4 + e);
  }
  return s;
}

// y[t][r] = row r of W times token t, for m tokens and n rows of k weights: w packed by
// q6_k_gemm_pack_x4 (its first group), x the m tokens' block_q8_K activations
// (q8_k_quantize_f32, tokens one after another), y rows ldy floats apart, not overlapping the
// inputs. dot: DOT_I16, or DOT_RELAXED to take the relaxed path where this call finds the 16-bit
// relaxed dot exact (relaxed_i16_exact; otherwise, and without relaxed SIMD, the i16 path).
// Returns the path taken: FORM_EXACT or DOT_I16. Each output is its row's sum over the blocks
// in order, identical for any m and any split of the groups.
export function q6_k_gemm_x4(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): i32 {
  if (ASC_FEATURE_RELAXED_SIMD && relaxed_i16_exact(dot)) {
    q6_k_gemm(w, x, y, m, n, k, ldy, true);
    return FORM_EXACT;
  }
  q6_k_gemm(w, x, y, m, n, k, ldy, false);
  return DOT_I16;
}

@inline
function q6_k_gemm(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, relaxed: bool): void {
  const chunk = token_chunk(<usize>(k / 256) * XQ_BYTES);
  for (let t0 = 0; t0 < m; t0 += chunk) q6_k_gemm_tokens(w, x, y, t0, min(m, t0 + chunk), n, k, ldy, relaxed);
}

// Tokens t0 .. t1 - 1 of q6_k_gemm, every group of rows.
@inline
function q6_k_gemm_tokens(w: usize, x: usize, y: usize, t0: i32, t1: i32, n: i32, k: i32, ldy: i32, relaxed: bool): void {
  const nb = k / 256;
  const groupBytes = <usize>nb * GROUP_BLOCK;
  const xBytes = <usize>nb * XQ_BYTES;
  for (let r = 0; r < n; r += 4) {
    const g = w + <usize>(r >> 2) * groupBytes;
    const rows = min(4, n - r);
    let t = t0;
    if (ASC_FEATURE_RELAXED_SIMD && relaxed) {
      for (; t + 3 < t1; t += 4) {
        q6_k_quad_relaxed(g, x + <usize>t * xBytes, xBytes, y + (<usize>t * ldy + r) * 4, <usize>ldy * 4, nb, rows);
      }
      for (; t + 1 < t1; t += 2) {
        const xt = x + <usize>t * xBytes;
        const yt = y + (<usize>t * ldy + r) * 4;
        q6_k_pair_relaxed(g, xt, xt + xBytes, yt, yt + <usize>ldy * 4, nb, rows);
      }
    } else if (ASC_FEATURE_SIMD) {
      for (; t + 1 < t1; t += 2) {
        const xt = x + <usize>t * xBytes;
        const yt = y + (<usize>t * ldy + r) * 4;
        q6_k_pair_i16(g, xt, xt + xBytes, yt, yt + <usize>ldy * 4, nb, rows);
      }
    }
    for (; t < t1; t++) {
      const xt = x + <usize>t * xBytes;
      const yt = y + (<usize>t * ldy + r) * 4;
      if (ASC_FEATURE_SIMD) {
        // the quad tile's loop for one token: a sub-block per trip of a two-trip loop and the zero
        // point after the super-block, so that few values are live at once (the pair of
        // sub-blocks in one trip, their sixteen loads issued first, made the engine spill)
        const low = v128.load(LOW_BYTES);
        let acc = f32x4.splat(0);
        let xb = xt;
        for (let p = g; p < g + groupBytes; p += GROUP_BLOCK) {
          let sumq = i32x4.splat(0);
          let v = p + WEIGHTS, q = xb + XQ;
          for (let s = p + SCALES; s < p + WEIGHTS; s += 8) {
            const sp = v128.load8x8_s(s); // [s0 t0 s1 t1 s2 t2 s3 t3]: the pair's scales per row
            for (let e = 0; e < 2; e++) {
              const d = ASC_FEATURE_RELAXED_SIMD && relaxed
                ? sub_relaxed(v, q, scales_of(sp, e == 1))
                : i32x4.mul(sub_i16(v, q, low), scales_i32(sp, e == 1));
              sumq = i32x4.add(sumq, d);
              v += 64;
              q += 16;
            }
          }
          acc = f32x4.add(acc, q6_scaled(p, xb, sumq));
          xb += XQ_BYTES;
        }
        store_rows(yt, acc, rows);
      } else {
        for (let i = 0; i < rows; i++) {
          const lane = <usize>i;
          let acc: f32 = 0;
          for (let b = 0; b < nb; b++) {
            const p = g + <usize>b * GROUP_BLOCK;
            const xb = xt + <usize>b * XQ_BYTES;
            let sumq = 0;
            for (let j = 0; j < 16; j++) sumq += scale_scalar(p, j, lane) * sub_scalar(p + WEIGHTS + <usize>j * 64, xb + XQ + <usize>j * 16, lane);
            acc += step_scalar(p, xb, lane, sumq, 5);
          }
          store<f32>(yt + <usize>i * 4, acc);
        }
      }
    }
  }
}
