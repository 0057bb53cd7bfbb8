// Q4_0 and Q4_K weights repacked at load into groups of 4 rows, and their GEMV/GEMM.
//
// Read one row at a time, a 4-bit block costs more to unpack than to multiply: its nibbles are
// widened byte by byte and every partial sum reduced on its own. Here the 4 rows of a group sit
// side by side, one 32-bit word per row in each 16-byte vector, so one activation broadcast
// serves all 4 rows and each integer sum lands in its row's lane, never reduced across lanes.
//
// A row's word holds 8 consecutive weights w0..w7 (0..15) of one block as
//
//   byte 0 = w0 | w2 << 4,  byte 1 = w4 | w6 << 4,  byte 2 = w1 | w3 << 4,  byte 3 = w5 | w7 << 4
//
// which the two dot paths read with the fewest instructions:
//
// - i16: read as two u16 (w0 w2 w4 w6 and w1 w3 w5 w7, a nibble each), masking nibble p in
//   place (0x000f, 0x00f0, 0x0f00) or shifting the top one down leaves weights 2p and 2p+1 of the
//   row in its two i16 lanes, times 1, 16, 256 or 1; i32x4.dot_i16x8_s against the activation
//   pair (x[2p], x[2p+1]) broadcast to every row, stored in i16 and pre-scaled by 256, 16, 1 and
//   256, gives 256 * (w . x) for each row exactly (|x| <= 127, so 256 * x fits i16).
// - relaxed: the low nibbles of the 4 bytes are w0 w4 w1 w5 and the high ones w2 w6 w3 w7, in
//   0..15 as i16x8.relaxed_dot_i8x16_i7x16_s needs; it sums each pair of bytes into a 16-bit
//   lane (two per row) against int8 activations broadcast in that order ([x0 x4 x1 x5 x2 x6 x3 x7]
//   per 8). The 16-bit form is one pmaddubsw on x86, where the 32-bit form with its accumulator
//   costs two more instructions; a pair sum is at most 2 * 15 * 128 = 3840, so the 8 pair sums of
//   a block of 32 add up inside i16 (30720) before they are widened once.
//
// The activations for both paths come from q8_1_quantize_f32_x4 and q8_k_quantize_f32_x4
// (assembly/q8.ts): the values ggml's Q8_1 / Q8_K would hold, laid out for these kernels.
// Integer sums are exact on both paths, so every build, path and thread split gives the same bits.

import { DOT_I16, DOT_RELAXED, FORM_EXACT } from './dot';
import { half_to_f32 } from './half';
import { byte, k4_scales } from './kquants';
import { XQ4_0_BYTES, XQ4_0_D, XQ4_0_I16, XQ4_0_I8, XQ4_0_SUM, XQ4_K_BSUMS, XQ4_K_BYTES, XQ4_K_I16, XQ4_K_I8 } from './q8';

// ---- packing -----------------------------------------------------------------------------

// The word of row `lane` for weights w(0)..w(7), given as a function of the weight index.
@inline
function word_byte(lo: i32, hi: i32): u8 {
  return <u8>((lo & 15) | ((hi & 15) << 4));
}

// Nibble of weight j (0..31) of a GGUF Q4_0 block's 16 bytes at q: byte j low (j < 16), byte j - 16 high.
@inline
function q4_0_nibble(q: usize, j: i32): i32 {
  const b = <i32>load<u8>(q + <usize>(j & 15));
  return j < 16 ? b & 15 : b >> 4;
}

// Nibble of weight w (0..255) of a GGUF Q4_K super-block's 128 bytes at q: byte 32(w/64) + w%32, high for the second 32 of each 64.
@inline
export function q4_k_nibble(q: usize, w: i32): i32 {
  const b = <i32>load<u8>(q + <usize>((w >> 6) * 32 + (w & 31)));
  return (w & 32) != 0 ? b >> 4 : b & 15;
}

// Writes the 4 bytes of one row's word for the 8 weights n(0)..n(7) at out.
@inline
export function put_word(out: usize, n0: i32, n1: i32, n2: i32, n3: i32, n4: i32, n5: i32, n6: i32, n7: i32): void {
  store<u8>(out, word_byte(n0, n2));
  store<u8>(out, word_byte(n4, n6), 1);
  store<u8>(out, word_byte(n1, n3), 2);
  store<u8>(out, word_byte(n5, n7), 3);
}

// Where row `lane`'s byte for sub-block j sits in a plane of per-sub-block bytes kept in pairs
// (sub-blocks 2p and 2p + 1 at 8p: byte 2i row i's of 2p, 2i + 1 of 2p + 1), the order in which
// v128.load8x8 widens a pair to one row per 32-bit lane: Q4_K's and Q5_K's mins, Q2_K's, Q3_K's
// and Q6_K's scales.
@inline
export function pair_byte(j: i32, lane: usize): usize {
  return <usize>(8 * (j >> 1) + (j & 1)) + lane * 2;
}

// ---- Q4_0 ---------------------------------------------------------------------------------
//
// Packed layout: per group of 4 rows (the last padded with zero rows), per block b of 32
// columns, 80 bytes:
//
//   [d: the 4 rows' scales as f32] [4 vectors of 16 bytes: vector c holds weights 8c..8c+7
//   of the block, row i's word at byte 4i]
//
// (the 4 scales widened to f32: 80 bytes per 4 x 32 weights, GGUF's 72 plus 8).

const Q4_0_GROUP_BLOCK: usize = 80;

/** Bytes of n rows of k columns (k a multiple of 32) of Q4_0 in the 4-row layout. */
export function q4_0_gemm_packed_bytes(n: i32, k: i32): i32 {
  return ((n + 3) >> 2) * (k / 32) * <i32>Q4_0_GROUP_BLOCK;
}

// Packs n rows of GGUF Q4_0 (k / 32 blocks of 18 bytes per row, any byte address) at w into
// the layout above at out (q4_0_gemm_packed_bytes(n, k) bytes, 16-byte aligned). Scales must be
// finite (the caller checks them first).
export function q4_0_gemm_pack_x4(w: usize, n: i32, k: i32, out: usize): void {
  const nb = k / 32;
  memory.fill(out, 0, <usize>q4_0_gemm_packed_bytes(n, k));
  for (let r = 0; r < n; r++) {
    const lane = <usize>(r & 3);
    for (let b = 0; b < nb; b++) {
      const src = w + (<usize>r * nb + b) * 18;
      const dst = out + (<usize>(r >> 2) * nb + b) * Q4_0_GROUP_BLOCK;
      store<f32>(dst + lane * 4, half_to_f32(load<u16>(src)));
      for (let c = 0; c < 4; c++) {
        const q = src + 2;
        const j = c * 8;
        put_word(dst + 16 + <usize>c * 16 + lane * 4,
          q4_0_nibble(q, j), q4_0_nibble(q, j + 1), q4_0_nibble(q, j + 2), q4_0_nibble(q, j + 3),
          q4_0_nibble(q, j + 4), q4_0_nibble(q, j + 5), q4_0_nibble(q, j + 6), q4_0_nibble(q, j + 7));
      }
    }
  }
}

// ---- Q4_K ---------------------------------------------------------------------------------
//
// Packed layout: per group of 4 rows (the last padded with zero rows), per super-block b of
// 256 columns, 608 bytes:
//
//   [d: 4 f32] [dmin: 4 f32]                                           32 bytes
//   [scales: byte 4j + i = row i's 6-bit scale of sub-block j]           32 bytes
//   [mins: byte 8p + 2i + e = row i's min of sub-block 2p + e]            32 bytes
//   [nibbles: sub-block j, vector c at 96 + 64j + 16c: weights 32j + 8c .. + 7, row i's word at 4i]
//
// (GGUF's 576 bytes for 4 x 256 weights plus 32: the scales and mins one per byte, d and dmin
// widened at load, so no super-block converts halves.)

const Q4_K_GROUP_BLOCK: usize = 608;
const K_DMIN: usize = 16;
const K_SCALES: usize = 32;
const K_MINS: usize = 64;
const K_NIBBLES: usize = 96;

/** Bytes of n rows of k columns (k a multiple of 256) of Q4_K in the 4-row layout. */
export function q4_k_gemm_packed_bytes(n: i32, k: i32): i32 {
  return ((n + 3) >> 2) * (k / 256) * <i32>Q4_K_GROUP_BLOCK;
}

// Packs n rows of GGUF Q4_K (k / 256 super-blocks of 144 bytes per row, any byte address) at w
// into the layout above at out (q4_k_gemm_packed_bytes(n, k) bytes, 16-byte aligned). Scales
// must be finite (the caller checks them first).
export function q4_k_gemm_pack_x4(w: usize, n: i32, k: i32, out: usize): void {
  const nb = k / 256;
  memory.fill(out, 0, <usize>q4_k_gemm_packed_bytes(n, k));
  for (let r = 0; r < n; r++) {
    const lane = <usize>(r & 3);
    for (let b = 0; b < nb; b++) {
      const src = w + (<usize>r * nb + b) * 144;
      const dst = out + (<usize>(r >> 2) * nb + b) * Q4_K_GROUP_BLOCK;
      store<f32>(dst + lane * 4, half_to_f32(load<u16>(src)));
      store<f32>(dst + K_DMIN + lane * 4, half_to_f32(load<u16>(src, 2)));
      for (let j = 0; j < 8; j++) {
        store<u8>(dst + K_SCALES + <usize>(4 * j) + lane, <u8>byte(k4_scales(src, j >> 2), j & 3));
        store<u8>(dst + K_MINS + pair_byte(j, lane), <u8>byte(k4_scales(src, 2 + (j >> 2)), j & 3));
        const q = src + 16;
        for (let c = 0; c < 4; c++) {
          const at = 32 * j + 8 * c;
          put_word(dst + K_NIBBLES + <usize>(64 * j + 16 * c) + lane * 4,
            q4_k_nibble(q, at), q4_k_nibble(q, at + 1), q4_k_nibble(q, at + 2), q4_k_nibble(q, at + 3),
            q4_k_nibble(q, at + 4), q4_k_nibble(q, at + 5), q4_k_nibble(q, at + 6), q4_k_nibble(q, at + 7));
        }
      }
    }
  }
}

// ---- the shared inner step ------------------------------------------------------------------

// 4 vectors of packed nibbles at p (32 weights of each of the 4 rows) against the activations
// of those 32 weights: the i16 path's 64 bytes at xs or the relaxed path's 32 at x8. Returns
// each row's integer dot product in its lane (i16: times 256, see the top).
@inline
function dot32_x4(p: usize, xs: usize, x8: usize, relaxed: bool): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (relaxed) return i32x4.extadd_pairwise_i16x8_s(dot32_x4_relaxed16(p, x8));
  }
  // a loop, not unrolled: fewer values live at once, which keeps the engine from spilling them
  const m0 = v128.load(NIBBLE_MASKS), m1 = v128.load(NIBBLE_MASKS, 16), m2 = v128.load(NIBBLE_MASKS, 32);
  let acc = i32x4.splat(0);
  for (let c: usize = 0; c < 64; c += 16) {
    const v = v128.load(p + c);
    const x = xs + c;
    const d0 = i32x4.dot_i16x8_s(v128.and(v, m0), v128.load32_splat(x));
    const d1 = i32x4.dot_i16x8_s(v128.and(v, m1), v128.load32_splat(x, 4));
    const d2 = i32x4.dot_i16x8_s(v128.and(v, m2), v128.load32_splat(x, 8));
    const d3 = i32x4.dot_i16x8_s(i16x8.shr_u(v, 12), v128.load32_splat(x, 12));
    acc = i32x4.add(acc, i32x4.add(i32x4.add(d0, d1), i32x4.add(d2, d3)));
  }
  return acc;
}

// The relaxed path of dot32_x4 before its widening: each row's two 16-bit partial sums, in its
// two i16 lanes (at most 4 * 3840 each, see the top).
@inline
function dot32_x4_relaxed16(p: usize, x8: usize): v128 {
  const m = v128.load(NIBBLE_MASKS, 48);
  // two vectors per trip, the weights and activations each their own pointer: the least
  // address arithmetic a loop can have
  let acc = i16x8.splat(0);
  let x = x8;
  for (let v = p; v < p + 64; v += 32) {
    acc = i16x8.add(acc, i16x8.add(relaxed_dot_nibbles(v128.load(v), x, m), relaxed_dot_nibbles(v128.load(v, 16), x + 8, m)));
    x += 16;
  }
  return acc;
}

// One vector of nibbles v (8 weights of each of 4 rows) against its 8 int8 activations at x:
// the low nibbles against x[0..3], the high ones against x[4..7], pair sums in 16-bit lanes.
@inline
function relaxed_dot_nibbles(v: v128, x: usize, m: v128): v128 {
  return i16x8.add(
    i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x), v128.and(v, m)),
    i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 4), v128.and(i16x8.shr_u(v, 4), m)));
}

// The i16 path's masks of nibbles 0, 1 and 2 of each u16 (and the relaxed path's of each byte), read from memory rather than built as
// constants: an engine may rebuild a constant inside every loop iteration, but not a load.
const NIBBLE_MASKS = memory.data<u16>([
  0x000f, 0x000f, 0x000f, 0x000f, 0x000f, 0x000f, 0x000f, 0x000f,
  0x00f0, 0x00f0, 0x00f0, 0x00f0, 0x00f0, 0x00f0, 0x00f0, 0x00f0,
  0x0f00, 0x0f00, 0x0f00, 0x0f00, 0x0f00, 0x0f00, 0x0f00, 0x0f00,
  0x0f0f, 0x0f0f, 0x0f0f, 0x0f0f, 0x0f0f, 0x0f0f, 0x0f0f, 0x0f0f, // the relaxed path's low nibbles of bytes
], 16);

// The scalar build's dot product of row `lane`'s 32 weights in the 4 vectors at p with the
// 32 int8 activations at x8 (in the relaxed path's order).
@inline
function dot32_scalar(p: usize, x8: usize, lane: usize): i32 {
  let s = 0;
  for (let c = 0; c < 4; c++) {
    const wd = p + <usize>c * 16 + lane * 4;
    const xc = x8 + <usize>c * 8;
    for (let i = 0; i < 4; i++) {
      const b = <i32>load<u8>(wd + <usize>i);
      s += (b & 15) * <i32>load<i8>(xc + <usize>i) + (b >> 4) * <i32>load<i8>(xc + <usize>i + 4);
    }
  }
  return s;
}

// Stores the first n (1..4) lanes of v at y.
@inline
export function store_rows(y: usize, v: v128, n: i32): void {
  if (n >= 4) {
    v128.store(y, v);
    return;
  }
  store<f32>(y, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(y, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(y, f32x4.extract_lane(v, 2), 8);
}

// Stores the first n (1..4) lanes of each of 4 tokens' vectors v0..v3, token i's at y + i * ys:
// the end of every 4-token tile.
@inline
export function store_rows_x4(y: usize, ys: usize, v0: v128, v1: v128, v2: v128, v3: v128, n: i32): void {
  store_rows(y, v0, n);
  store_rows(y + ys, v1, n);
  store_rows(y + 2 * ys, v2, n);
  store_rows(y + 3 * ys, v3, n);
}

// Whether the relaxed path may run in this call: dot is DOT_RELAXED and the code running it
// computes i16x8.relaxed_dot_i8x16_i7x16_s as specified for weight bytes in 0..127. The probe is
// the extreme pair sum, 2 * (-128 * 127), which a signed first operand gives and neither wraps
// nor saturates in 16 bits; its operands come from `dot`, so no compiler can fold it. (Node 20's
// baseline code, whose 32-bit form is doubled, computes this 16-bit form exactly.)
@inline
export function relaxed_i16_exact(dot: i32): bool {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (dot != DOT_RELAXED) return false;
    const r = i16x8.relaxed_dot_i8x16_i7x16_s(i8x16.splat(<i8>(-128 * dot)), i8x16.splat(<i8>(127 * dot)));
    return i16x8.extract_lane_s(r, 0) == -32512;
  }
  return false;
}

// How many tokens a GEMM runs against every group of rows before the next tokens: as many as
// keep their activations (xBytes each) within about 512 KiB, half of the smallest L2 this was
// sized on (1 MiB; 2 MiB per core on the later VM), a multiple of 4
// (the widest token tile). Every group's weights (a few KiB) stay in L1 across the tokens, but
// all of a long prompt's activations (128 tokens of 5632 columns: 2.2 MB with both forms) would
// fall out of L2 and come from L3 again for every group; with this many, each group's weights
// come from L3 once per chunk instead, far fewer bytes. Changes the order in which the outputs
// are computed only, not any output's sums.
@inline
export function token_chunk(xBytes: usize): i32 {
  return max(4, <i32>((<usize>524288 / max<usize>(xBytes, 1)) & ~3));
}

// ---- the products ---------------------------------------------------------------------------
//
//   TYPE_gemm_x4(w, x, y, m, n, k, ldy, dot)
//
// y[t][r] = row r of W times token t, for m tokens and n rows of k weights: w packed by
// TYPE_gemm_pack_x4 (its first group), x the m tokens' activations (q8_1_quantize_f32_x4 for
// Q4_0, q8_k_quantize_f32_x4 for Q4_K, tokens one after another), y rows ldy floats apart, not
// overlapping the inputs. dot: DOT_I16, or DOT_RELAXED to take the relaxed path where this
// call finds the 16-bit relaxed dot exact (relaxed_i16_exact; otherwise, and without relaxed
// SIMD, the i16 path). Returns the path taken: FORM_EXACT or DOT_I16. Each output is its row's sum over the blocks in order, as ggml's
// vec_dot_q4_0_q8_0 / vec_dot_q4_K_q8_K form it, identical for any m and any split of the groups.

export function q4_0_gemm_x4(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): i32 {
  if (ASC_FEATURE_RELAXED_SIMD && relaxed_i16_exact(dot)) {
    q4_0_gemm(w, x, y, m, n, k, ldy, true);
    return FORM_EXACT;
  }
  q4_0_gemm(w, x, y, m, n, k, ldy, false);
  return DOT_I16;
}

export function q4_k_gemm_x4(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): i32 {
  if (ASC_FEATURE_RELAXED_SIMD && relaxed_i16_exact(dot)) {
    q4_k_gemm(w, x, y, m, n, k, ldy, true);
    return FORM_EXACT;
  }
  q4_k_gemm(w, x, y, m, n, k, ldy, false);
  return DOT_I16;
}

// One Q4_0 block's float step for a token: f32(s - 8 * sum(x)) * (d_w * d_x), s = w . x of each
// row of the packed block at p, from the token's activation block at xb.
@inline
function q4_0_scaled(p: usize, xb: usize, s: v128): v128 {
  const z = i32x4.sub(s, i32x4.splat(8 * load<i32>(xb, XQ4_0_SUM)));
  return f32x4.mul(f32x4.convert_i32x4_s(z), f32x4.mul(v128.load(p), v128.load32_splat(xb + XQ4_0_D)));
}

// The relaxed path on two tokens at once (activation rows xa and xc), each vector of nibbles
// unpacked once for both, as q4_k_pair_relaxed; the same integers and float steps as one token
// at a time.
@inline
function q4_0_pair_relaxed(g: usize, xa: usize, xc: usize, ya: usize, yc: usize, nb: i32, rows: i32): void {
  const m = v128.load(NIBBLE_MASKS, 48);
  let accA = f32x4.splat(0), accC = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const p = g + <usize>b * Q4_0_GROUP_BLOCK;
    const ba = xa + <usize>b * XQ4_0_BYTES, bc = xc + <usize>b * XQ4_0_BYTES;
    const ia = ba + XQ4_0_I8, ic = bc + XQ4_0_I8;
    let ha = i16x8.splat(0), hc = i16x8.splat(0);
    for (let c: usize = 0; c < 64; c += 16) {
      const v = v128.load(p + 16 + c);
      const lo = v128.and(v, m), hi = v128.and(i16x8.shr_u(v, 4), m);
      const o = c >> 1;
      ha = i16x8.add(ha, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ia + o), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ia + o, 4), hi)));
      hc = i16x8.add(hc, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ic + o), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ic + o, 4), hi)));
    }
    accA = f32x4.add(accA, q4_0_scaled(p, ba, i32x4.extadd_pairwise_i16x8_s(ha)));
    accC = f32x4.add(accC, q4_0_scaled(p, bc, i32x4.extadd_pairwise_i16x8_s(hc)));
  }
  store_rows(ya, accA, rows);
  store_rows(yc, accC, rows);
}

// The relaxed path on four tokens at once (activation rows xBytes apart from xa, output rows
// yBytes apart from ya): each vector of nibbles unpacked once for all four, a quarter of the
// pair's unpacking per token. The four 16-bit sums and four float accumulators with the mask and
// the two unpacked vectors stay within the engine's 16 vector registers. The same integers and
// float steps as one token at a time.
@inline
function q4_0_quad_relaxed(g: usize, xa: usize, xBytes: usize, ya: usize, yBytes: usize, nb: i32, rows: i32): void {
  const m = v128.load(NIBBLE_MASKS, 48);
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
  let b0 = xa;
  const end = g + <usize>nb * Q4_0_GROUP_BLOCK;
  for (let p = g; p < end; p += Q4_0_GROUP_BLOCK) {
    const b1 = b0 + xBytes, b2 = b1 + xBytes, b3 = b2 + xBytes;
    let h0 = i16x8.splat(0), h1 = i16x8.splat(0), h2 = i16x8.splat(0), h3 = i16x8.splat(0);
    for (let c: usize = 0; c < 64; c += 16) {
      const v = v128.load(p + 16 + c);
      const lo = v128.and(v, m), hi = v128.and(i16x8.shr_u(v, 4), m);
      const o = XQ4_0_I8 + (c >> 1);
      h0 = i16x8.add(h0, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(b0 + o), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(b0 + o, 4), hi)));
      h1 = i16x8.add(h1, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(b1 + o), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(b1 + o, 4), hi)));
      h2 = i16x8.add(h2, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(b2 + o), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(b2 + o, 4), hi)));
      h3 = i16x8.add(h3, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(b3 + o), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(b3 + o, 4), hi)));
    }
    acc0 = f32x4.add(acc0, q4_0_scaled(p, b0, i32x4.extadd_pairwise_i16x8_s(h0)));
    acc1 = f32x4.add(acc1, q4_0_scaled(p, b1, i32x4.extadd_pairwise_i16x8_s(h1)));
    acc2 = f32x4.add(acc2, q4_0_scaled(p, b2, i32x4.extadd_pairwise_i16x8_s(h2)));
    acc3 = f32x4.add(acc3, q4_0_scaled(p, b3, i32x4.extadd_pairwise_i16x8_s(h3)));
    b0 += XQ4_0_BYTES;
  }
  store_rows_x4(ya, yBytes, acc0, acc1, acc2, acc3, rows);
}

// The i16 path on two tokens at once (activation rows xa and xc, outputs at ya and yc): each
// vector of nibbles masked once for both, the browsers' path without relaxed SIMD. The masks
// are read from memory at each use, an operand of the and itself on x86, so that both tokens'
// sums and the four masked vectors fit the registers. The same integers and float steps as one
// token at a time.
@inline
function q4_0_pair_i16(g: usize, xa: usize, xc: usize, ya: usize, yc: usize, nb: i32, rows: i32): void {
  let accA = f32x4.splat(0), accC = f32x4.splat(0);
  let ba = xa, bc = xc;
  const end = g + <usize>nb * Q4_0_GROUP_BLOCK;
  for (let p = g; p < end; p += Q4_0_GROUP_BLOCK) {
    let sA = i32x4.splat(0), sC = i32x4.splat(0);
    for (let c: usize = 0; c < 64; c += 16) {
      const v = v128.load(p + 16 + c);
      const u0 = v128.and(v, v128.load(NIBBLE_MASKS)), u1 = v128.and(v, v128.load(NIBBLE_MASKS, 16));
      const u2 = v128.and(v, v128.load(NIBBLE_MASKS, 32)), u3 = i16x8.shr_u(v, 12);
      const a = ba + XQ4_0_I16 + c, e = bc + XQ4_0_I16 + c;
      sA = i32x4.add(sA, i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(u0, v128.load32_splat(a)), i32x4.dot_i16x8_s(u1, v128.load32_splat(a, 4))),
        i32x4.add(i32x4.dot_i16x8_s(u2, v128.load32_splat(a, 8)), i32x4.dot_i16x8_s(u3, v128.load32_splat(a, 12)))));
      sC = i32x4.add(sC, i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(u0, v128.load32_splat(e)), i32x4.dot_i16x8_s(u1, v128.load32_splat(e, 4))),
        i32x4.add(i32x4.dot_i16x8_s(u2, v128.load32_splat(e, 8)), i32x4.dot_i16x8_s(u3, v128.load32_splat(e, 12)))));
    }
    accA = f32x4.add(accA, q4_0_scaled(p, ba, i32x4.shr_s(sA, 8)));
    accC = f32x4.add(accC, q4_0_scaled(p, bc, i32x4.shr_s(sC, 8)));
    ba += XQ4_0_BYTES;
    bc += XQ4_0_BYTES;
  }
  store_rows(ya, accA, rows);
  store_rows(yc, accC, rows);
}

// Q4_0: per block, s = w . x - 8 * sum(x) (the zero point through the activations' sum), then
// y += f32(s) * (d_w * d_x).
@inline
function q4_0_gemm(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, relaxed: bool): void {
  const chunk = token_chunk(<usize>(k / 32) * XQ4_0_BYTES);
  for (let t0 = 0; t0 < m; t0 += chunk) q4_0_gemm_tokens(w, x, y, t0, min(m, t0 + chunk), n, k, ldy, relaxed);
}

// Tokens t0 .. t1 - 1 of q4_0_gemm, every group of rows.
@inline
function q4_0_gemm_tokens(w: usize, x: usize, y: usize, t0: i32, t1: i32, n: i32, k: i32, ldy: i32, relaxed: bool): void {
  const nb = k / 32;
  const groupBytes = <usize>nb * Q4_0_GROUP_BLOCK;
  const xBytes = <usize>nb * XQ4_0_BYTES;
  for (let r = 0; r < n; r += 4) {
    const g = w + <usize>(r >> 2) * groupBytes;
    const rows = min(4, n - r);
    let t = t0;
    if (ASC_FEATURE_RELAXED_SIMD && relaxed) {
      for (; t + 3 < t1; t += 4) {
        q4_0_quad_relaxed(g, x + <usize>t * xBytes, xBytes, y + (<usize>t * ldy + r) * 4, <usize>ldy * 4, nb, rows);
      }
      for (; t + 1 < t1; t += 2) {
        const xt = x + <usize>t * xBytes;
        const yt = y + (<usize>t * ldy + r) * 4;
        q4_0_pair_relaxed(g, xt, xt + xBytes, yt, yt + <usize>ldy * 4, nb, rows);
      }
    } else if (ASC_FEATURE_SIMD) {
      for (; t + 1 < t1; t += 2) {
        const xt = x + <usize>t * xBytes;
        const yt = y + (<usize>t * ldy + r) * 4;
        q4_0_pair_i16(g, xt, xt + xBytes, yt, yt + <usize>ldy * 4, nb, rows);
      }
    }
    for (; t < t1; t++) {
      const xt = x + <usize>t * xBytes;
      const yt = y + (<usize>t * ldy + r) * 4;
      if (ASC_FEATURE_SIMD) {
        let acc = f32x4.splat(0);
        // the weights and activations each their own pointer: the least loop arithmetic
        let xb = xt;
        for (let p = g; p < g + groupBytes; p += Q4_0_GROUP_BLOCK) {
          const s = dot32_x4(p + 16, xb + XQ4_0_I16, xb + XQ4_0_I8, relaxed);
          acc = f32x4.add(acc, q4_0_scaled(p, xb, relaxed ? s : i32x4.shr_s(s, 8)));
          xb += XQ4_0_BYTES;
        }
        store_rows(yt, acc, rows);
      } else {
        for (let i = 0; i < rows; i++) {
          let acc: f32 = 0;
          for (let b = 0; b < nb; b++) {
            const p = g + <usize>b * Q4_0_GROUP_BLOCK;
            const xb = xt + <usize>b * XQ4_0_BYTES;
            const s = dot32_scalar(p + 16, xb + XQ4_0_I8, <usize>i) - 8 * load<i32>(xb, XQ4_0_SUM);
            acc += <f32>s * (load<f32>(p + <usize>i * 4) * load<f32>(xb, XQ4_0_D));
          }
          store<f32>(yt + <usize>i * 4, acc);
        }
      }
    }
  }
}

// Sub-block j (32 weights) of the packed Q4_K super-block at p against the activation block at xb: each row's w . x.
@inline
function k4_sub(p: usize, xb: usize, j: i32, relaxed: bool): v128 {
  const s = dot32_x4(p + K_NIBBLES + <usize>j * 64, xb + XQ4_K_I16 + <usize>j * 64, xb + XQ4_K_I8 + <usize>j * 32, relaxed);
  return relaxed ? s : i32x4.shr_s(s, 8);
}

// The relaxed path's sub-block j of the packed Q4_K super-block at p against the activation
// block at xb, times its scales: each row's two 16-bit sums multiplied by the row's scale and
// added in one i32x4.dot_i16x8_s. sp: the scales of j's pair of sub-blocks as i16 (j even: lanes
// 0..3, odd: 4..7), each duplicated here for the row's two lanes.
@inline
function k4_sub_scaled(p: usize, xb: usize, j: i32, sp: v128): v128 {
  const h = dot32_x4_relaxed16(p + K_NIBBLES + <usize>j * 64, xb + XQ4_K_I8 + <usize>j * 32);
  const sc = (j & 1) == 0
    ? i8x16.shuffle(sp, sp, 0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7)
    : i8x16.shuffle(sp, sp, 8, 9, 8, 9, 10, 11, 10, 11, 12, 13, 12, 13, 14, 15, 14, 15);
  return i32x4.dot_i16x8_s(h, sc);
}

// The float step of one super-block: f32(sumq) * (d * d_x) - f32(summ) * (dmin * d_x) for each
// row of the packed super-block at p, summ = sum_j min_j * sum(x_j) from the token's activation block at xb.
@inline
export function k4_scaled(p: usize, xb: usize, sumq: v128): v128 {
  let summ = i32x4.dot_i16x8_s(v128.load8x8_u(p + K_MINS), v128.load32_splat(xb + XQ4_K_BSUMS));
  summ = i32x4.add(summ, i32x4.dot_i16x8_s(v128.load8x8_u(p + K_MINS + 8), v128.load32_splat(xb + XQ4_K_BSUMS + 4)));
  summ = i32x4.add(summ, i32x4.dot_i16x8_s(v128.load8x8_u(p + K_MINS + 16), v128.load32_splat(xb + XQ4_K_BSUMS + 8)));
  summ = i32x4.add(summ, i32x4.dot_i16x8_s(v128.load8x8_u(p + K_MINS + 24), v128.load32_splat(xb + XQ4_K_BSUMS + 12)));
  return k_min_step(p, xb, sumq, summ);
}

// The float step of a super-block with scales and mins, given its sums: f32(sumq) * (d * d_x) -
// f32(summ) * (dmin * d_x) per row, d and dmin the 4 rows' f32 at p and p + 16 (Q4_K's layout
// and Q2_K's, q23x4.ts), d_x the f32 that starts the token's activation block at xb.
@inline
export function k_min_step(p: usize, xb: usize, sumq: v128, summ: v128): v128 {
  const d = v128.load(p), dmin = v128.load(p + K_DMIN);
  const dx = v128.load32_splat(xb);
  return f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(sumq), f32x4.mul(d, dx)), f32x4.mul(f32x4.convert_i32x4_s(summ), f32x4.mul(dmin, dx)));
}

// A sub-block's 4 scale bytes at s (one per row) as i16, each twice: [s0 s0 s1 s1 s2 s2 s3 s3],
// the operand that multiplies a row's two 16-bit sums by its scale and adds them in one dot.
@inline
export function scales_x2(s: usize): v128 {
  const w = i16x8.extend_low_i8x16_u(v128.load32_zero(s));
  return i8x16.shuffle(w, w, 0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7);
}

// The relaxed path on two tokens at once (activation blocks xa and xc): each vector of nibbles
// is unpacked once for both, the step a GEMM (prefill) repeats for every token. Writes the two
// tokens' rows at ya and yc: the same integers, and the same float steps, as one token at a time.
@inline
function q4_k_pair_relaxed(g: usize, xa: usize, xc: usize, ya: usize, yc: usize, nb: i32, rows: i32): void {
  const m = v128.load(NIBBLE_MASKS, 48);
  let accA = f32x4.splat(0), accC = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const p = g + <usize>b * Q4_K_GROUP_BLOCK;
    const ba = xa + <usize>b * XQ4_K_BYTES, bc = xc + <usize>b * XQ4_K_BYTES;
    let sumA = i32x4.splat(0), sumC = i32x4.splat(0);
    for (let j: usize = 0; j < 8; j++) {
      const q = p + K_NIBBLES + j * 64;
      const ia = ba + XQ4_K_I8 + j * 32, ic = bc + XQ4_K_I8 + j * 32;
      let ha = i16x8.splat(0), hc = i16x8.splat(0);
      for (let c: usize = 0; c < 64; c += 16) {
        const v = v128.load(q + c);
        const lo = v128.and(v, m), hi = v128.and(i16x8.shr_u(v, 4), m);
        const o = c >> 1;
        ha = i16x8.add(ha, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ia + o), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ia + o, 4), hi)));
        hc = i16x8.add(hc, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ic + o), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ic + o, 4), hi)));
      }
      const sc = scales_x2(p + K_SCALES + j * 4);
      sumA = i32x4.add(sumA, i32x4.dot_i16x8_s(ha, sc));
      sumC = i32x4.add(sumC, i32x4.dot_i16x8_s(hc, sc));
    }
    accA = f32x4.add(accA, k4_scaled(p, ba, sumA));
    accC = f32x4.add(accC, k4_scaled(p, bc, sumC));
  }
  store_rows(ya, accA, rows);
  store_rows(yc, accC, rows);
}

// The relaxed path on four tokens at once (activation blocks xBytes apart from xa, output rows
// yBytes apart from ya), as q4_0_quad_relaxed: each vector of nibbles unpacked once for all
// four. In the innermost loop only the four 16-bit sums, the mask and the two unpacked vectors
// are live; the super-block and float accumulators are touched once per sub-block or
// super-block, so an engine short of registers keeps those in memory. The same integers and
// float steps as one token at a time.
@inline
function q4_k_quad_relaxed(g: usize, xa: usize, xBytes: usize, ya: usize, yBytes: usize, nb: i32, rows: i32): void {
  const m = v128.load(NIBBLE_MASKS, 48);
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
  let b0 = xa;
  const end = g + <usize>nb * Q4_K_GROUP_BLOCK;
  for (let p = g; p < end; p += Q4_K_GROUP_BLOCK) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    let i0 = b0 + XQ4_K_I8;
    for (let j: usize = 0; j < 8; j++) {
      const q = p + K_NIBBLES + j * 64;
      const i1 = i0 + xBytes, i2 = i1 + xBytes, i3 = i2 + xBytes;
      let h0 = i16x8.splat(0), h1 = i16x8.splat(0), h2 = i16x8.splat(0), h3 = i16x8.splat(0);
      for (let c: usize = 0; c < 64; c += 16) {
        const v = v128.load(q + c);
        const lo = v128.and(v, m), hi = v128.and(i16x8.shr_u(v, 4), m);
        const o = c >> 1;
        h0 = i16x8.add(h0, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(i0 + o), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(i0 + o, 4), hi)));
        h1 = i16x8.add(h1, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(i1 + o), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(i1 + o, 4), hi)));
        h2 = i16x8.add(h2, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(i2 + o), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(i2 + o, 4), hi)));
        h3 = i16x8.add(h3, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(i3 + o), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(i3 + o, 4), hi)));
      }
      // each row's two 16-bit sums times its scale and added in one i32x4.dot_i16x8_s
      const sc = scales_x2(p + K_SCALES + j * 4);
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(h0, sc));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(h1, sc));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(h2, sc));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(h3, sc));
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
// vector of nibbles masked once for both, the browsers' path without relaxed SIMD. The same
// integers and float steps as one token at a time.
@inline
function q4_k_pair_i16(g: usize, xa: usize, xc: usize, ya: usize, yc: usize, nb: i32, rows: i32): void {
  const m0 = v128.load(NIBBLE_MASKS), m1 = v128.load(NIBBLE_MASKS, 16), m2 = v128.load(NIBBLE_MASKS, 32);
  let accA = f32x4.splat(0), accC = f32x4.splat(0);
  let ba = xa, bc = xc;
  const end = g + <usize>nb * Q4_K_GROUP_BLOCK;
  for (let p = g; p < end; p += Q4_K_GROUP_BLOCK) {
    let sumA = i32x4.splat(0), sumC = i32x4.splat(0);
    let a = ba + XQ4_K_I16, e = bc + XQ4_K_I16;
    for (let j: usize = 0; j < 8; j++) {
      const q = p + K_NIBBLES + j * 64;
      let hA = i32x4.splat(0), hC = i32x4.splat(0);
      for (let c: usize = 0; c < 64; c += 16) {
        const v = v128.load(q + c);
        const u0 = v128.and(v, m0), u1 = v128.and(v, m1), u2 = v128.and(v, m2), u3 = i16x8.shr_u(v, 12);
        hA = i32x4.add(hA, i32x4.add(
          i32x4.add(i32x4.dot_i16x8_s(u0, v128.load32_splat(a + c)), i32x4.dot_i16x8_s(u1, v128.load32_splat(a + c, 4))),
          i32x4.add(i32x4.dot_i16x8_s(u2, v128.load32_splat(a + c, 8)), i32x4.dot_i16x8_s(u3, v128.load32_splat(a + c, 12)))));
        hC = i32x4.add(hC, i32x4.add(
          i32x4.add(i32x4.dot_i16x8_s(u0, v128.load32_splat(e + c)), i32x4.dot_i16x8_s(u1, v128.load32_splat(e + c, 4))),
          i32x4.add(i32x4.dot_i16x8_s(u2, v128.load32_splat(e + c, 8)), i32x4.dot_i16x8_s(u3, v128.load32_splat(e + c, 12)))));
      }
      // sub-block j's scales of the 4 rows, one i32 lane each
      const sc = i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p + K_SCALES + j * 4)));
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

// Q4_K: per super-block, sumq = sum_j scale_j * (w_j . x_j) and summ = sum_j min_j * sum(x_j)
// over the 8 sub-blocks j of 32, then y += f32(sumq) * (d * d_x) - f32(summ) * (dmin * d_x).
@inline
function q4_k_gemm(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, relaxed: bool): void {
  const chunk = token_chunk(<usize>(k / 256) * XQ4_K_BYTES);
  for (let t0 = 0; t0 < m; t0 += chunk) q4_k_gemm_tokens(w, x, y, t0, min(m, t0 + chunk), n, k, ldy, relaxed);
}

// Tokens t0 .. t1 - 1 of q4_k_gemm, every group of rows.
@inline
function q4_k_gemm_tokens(w: usize, x: usize, y: usize, t0: i32, t1: i32, n: i32, k: i32, ldy: i32, relaxed: bool): void {
  const nb = k / 256;
  const groupBytes = <usize>nb * Q4_K_GROUP_BLOCK;
  const xBytes = <usize>nb * XQ4_K_BYTES;
  for (let r = 0; r < n; r += 4) {
    const g = w + <usize>(r >> 2) * groupBytes;
    const rows = min(4, n - r);
    let t = t0;
    if (ASC_FEATURE_RELAXED_SIMD && relaxed) {
      for (; t + 3 < t1; t += 4) {
        q4_k_quad_relaxed(g, x + <usize>t * xBytes, xBytes, y + (<usize>t * ldy + r) * 4, <usize>ldy * 4, nb, rows);
      }
      for (; t + 1 < t1; t += 2) {
        const xt = x + <usize>t * xBytes;
        const yt = y + (<usize>t * ldy + r) * 4;
        q4_k_pair_relaxed(g, xt, xt + xBytes, yt, yt + <usize>ldy * 4, nb, rows);
      }
    } else if (ASC_FEATURE_SIMD) {
      for (; t + 1 < t1; t += 2) {
        const xt = x + <usize>t * xBytes;
        const yt = y + (<usize>t * ldy + r) * 4;
        q4_k_pair_i16(g, xt, xt + xBytes, yt, yt + <usize>ldy * 4, nb, rows);
      }
    }
    for (; t < t1; t++) {
      const xt = x + <usize>t * xBytes;
      const yt = y + (<usize>t * ldy + r) * 4;
      if (ASC_FEATURE_SIMD) {
        let acc = f32x4.splat(0);
        let xb = xt;
        for (let p = g; p < g + groupBytes; p += Q4_K_GROUP_BLOCK) {
          // the scales of the 8 sub-blocks: 4 rows' bytes each, widened to i16
          const s03 = v128.load(p + K_SCALES), s47 = v128.load(p + K_SCALES, 16);
          const s01 = i16x8.extend_low_i8x16_u(s03), s23 = i16x8.extend_high_i8x16_u(s03);
          const s45 = i16x8.extend_low_i8x16_u(s47), s67 = i16x8.extend_high_i8x16_u(s47);
          if (ASC_FEATURE_RELAXED_SIMD && relaxed) {
            let sumq = i32x4.add(k4_sub_scaled(p, xb, 0, s01), k4_sub_scaled(p, xb, 1, s01));
            sumq = i32x4.add(sumq, i32x4.add(k4_sub_scaled(p, xb, 2, s23), k4_sub_scaled(p, xb, 3, s23)));
            sumq = i32x4.add(sumq, i32x4.add(k4_sub_scaled(p, xb, 4, s45), k4_sub_scaled(p, xb, 5, s45)));
            sumq = i32x4.add(sumq, i32x4.add(k4_sub_scaled(p, xb, 6, s67), k4_sub_scaled(p, xb, 7, s67)));
            acc = f32x4.add(acc, k4_scaled(p, xb, sumq));
            xb += XQ4_K_BYTES;
            continue;
          }
          // the i16 path: each scale widened to one i32 lane per row
          let sumq = i32x4.mul(k4_sub(p, xb, 0, relaxed), i32x4.extend_low_i16x8_u(s01));
          sumq = i32x4.add(sumq, i32x4.mul(k4_sub(p, xb, 1, relaxed), i32x4.extend_high_i16x8_u(s01)));
          sumq = i32x4.add(sumq, i32x4.mul(k4_sub(p, xb, 2, relaxed), i32x4.extend_low_i16x8_u(s23)));
          sumq = i32x4.add(sumq, i32x4.mul(k4_sub(p, xb, 3, relaxed), i32x4.extend_high_i16x8_u(s23)));
          sumq = i32x4.add(sumq, i32x4.mul(k4_sub(p, xb, 4, relaxed), i32x4.extend_low_i16x8_u(s45)));
          sumq = i32x4.add(sumq, i32x4.mul(k4_sub(p, xb, 5, relaxed), i32x4.extend_high_i16x8_u(s45)));
          sumq = i32x4.add(sumq, i32x4.mul(k4_sub(p, xb, 6, relaxed), i32x4.extend_low_i16x8_u(s67)));
          sumq = i32x4.add(sumq, i32x4.mul(k4_sub(p, xb, 7, relaxed), i32x4.extend_high_i16x8_u(s67)));
          acc = f32x4.add(acc, k4_scaled(p, xb, sumq));
          xb += XQ4_K_BYTES;
        }
        store_rows(yt, acc, rows);
      } else {
        for (let i = 0; i < rows; i++) {
          let acc: f32 = 0;
          const lane = <usize>i;
          for (let b = 0; b < nb; b++) {
            const p = g + <usize>b * Q4_K_GROUP_BLOCK;
            const xb = xt + <usize>b * XQ4_K_BYTES;
            let sumq = 0, summ = 0;
            for (let j = 0; j < 8; j++) {
              sumq += <i32>load<u8>(p + K_SCALES + <usize>(4 * j) + lane) * dot32_scalar(p + K_NIBBLES + <usize>j * 64, xb + XQ4_K_I8 + <usize>j * 32, lane);
              summ += <i32>load<u8>(p + K_MINS + pair_byte(j, lane)) * <i32>load<i16>(xb + XQ4_K_BSUMS + <usize>j * 2);
            }
            const dx = load<f32>(xb);
            const d = load<f32>(p + lane * 4), dmin = load<f32>(p + K_DMIN + lane * 4);
            acc += <f32>sumq * (d * dx) - <f32>summ * (dmin * dx);
          }
          store<f32>(yt + <usize>i * 4, acc);
        }
      }
    }
  }
}
