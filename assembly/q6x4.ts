// Q6_K weights repacked at load into groups of 4 rows, and their GEMV/GEMM.
//
// As in q4x4.ts, the 4 rows of a group sit side by side, one 32-bit word (two u16) per row in
// each 16-byte vector, so one activation broadcast serves 4 rows and each row's sum stays in its
// lane. Here three vectors hold one 16-weight sub-block q0..q15 (0..63) of each row, its two u16
// per vector being
//
//   v1: q0 | q2 << 6 | (q12 & 15) << 12       q1 | q3 << 6 | (q13 & 15) << 12
//   v2: q4 | q6 << 6 | (q14 & 15) << 12       q5 | q7 << 6 | (q15 & 15) << 12
//   v3: q8 | q10 << 6 | (q12 >> 4) << 12 | (q14 >> 4) << 14     (q9, q11, q13, q15 likewise)
//
// so that one mask (0x003f or 0x0fc0) leaves a whole pair of weights (times 1 or 64) in a row's
// two i16 lanes, and the last two pairs take 4 instructions each. i32x4.dot_i16x8_s against the
// pair of activations broadcast to every row, stored in i16 and pre-scaled by 256 or 4 to match
// (assembly/q8.ts, q8_k_quantize_f32_q6x4), gives 256 * (w . x) for each row exactly. The same
// 6.5625 bits per weight as GGUF's, in the i16 path only: the relaxed dot needs each weight in a
// byte of its own.
//
// Integer sums are exact, so every build and thread split gives the same bits.

import { f32x4_from_half_hi, half_finite_to_f32 } from './half';
import { XQ6_K_BYTES, XQ6_K_I16, XQ6_K_ZSUMS } from './q8';
import { DOT_I16 } from './dot';
import { store_rows } from './q4x4';

// ---- packing -----------------------------------------------------------------------------
//
// Packed layout: per group of 4 rows (the last padded with zero rows), per super-block b of
// 256 columns, 848 bytes:
//
//   [d: 4 halves] [8 bytes unused]                                                 16 bytes
//   [scales: byte 4j + i = row i's int8 scale of sub-block j]                        64 bytes
//   [sub-block j (weights 16j .. 16j + 15): v1 v2 v3 at 80 + 48j, row i's word at 4i] 768 bytes

const GROUP_BLOCK: usize = 848;
const SCALES: usize = 16;
const VECTORS: usize = 80;

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
      store<u16>(dst + lane * 2, load<u16>(src, 208));
      for (let j = 0; j < 16; j++) {
        store<i8>(dst + SCALES + <usize>(4 * j) + lane, load<i8>(src + 192 + <usize>j));
        const v = dst + VECTORS + <usize>j * 48 + lane * 4;
        const base = 16 * j;
        const q0 = q6_value(src, base), q1 = q6_value(src, base + 1), q2 = q6_value(src, base + 2), q3 = q6_value(src, base + 3);
        const q4 = q6_value(src, base + 4), q5 = q6_value(src, base + 5), q6 = q6_value(src, base + 6), q7 = q6_value(src, base + 7);
        const q8 = q6_value(src, base + 8), q9 = q6_value(src, base + 9), q10 = q6_value(src, base + 10), q11 = q6_value(src, base + 11);
        const q12 = q6_value(src, base + 12), q13 = q6_value(src, base + 13), q14 = q6_value(src, base + 14), q15 = q6_value(src, base + 15);
        store<u16>(v, <u16>(q0 | (q2 << 6) | ((q12 & 15) << 12)));
        store<u16>(v, <u16>(q1 | (q3 << 6) | ((q13 & 15) << 12)), 2);
        store<u16>(v, <u16>(q4 | (q6 << 6) | ((q14 & 15) << 12)), 16);
        store<u16>(v, <u16>(q5 | (q7 << 6) | ((q15 & 15) << 12)), 18);
        store<u16>(v, <u16>(q8 | (q10 << 6) | ((q12 >> 4) << 12) | ((q14 >> 4) << 14)), 32);
        store<u16>(v, <u16>(q9 | (q11 << 6) | ((q13 >> 4) << 12) | ((q15 >> 4) << 14)), 34);
      }
    }
  }
}

// ---- the product --------------------------------------------------------------------------

// The masks of the i16 path, read from memory rather than built as constants (an engine may
// rebuild a constant inside every loop iteration, but not a load): 0x003f, 0x0fc0, 0x0030.
const MASKS = memory.data<u16>([
  0x003f, 0x003f, 0x003f, 0x003f, 0x003f, 0x003f, 0x003f, 0x003f,
  0x0fc0, 0x0fc0, 0x0fc0, 0x0fc0, 0x0fc0, 0x0fc0, 0x0fc0, 0x0fc0,
  0x0030, 0x0030, 0x0030, 0x0030, 0x0030, 0x0030, 0x0030, 0x0030,
], 16);

// Sub-block at v (three vectors) against its 32 bytes of scaled i16 activations at xs: each
// row's 256 * (w . x) in its lane.
@inline
function dot16_x4(v: usize, xs: usize, a: v128, b: v128, h: v128): v128 {
  const v1 = v128.load(v), v2 = v128.load(v, 16), v3 = v128.load(v, 32);
  const p = v128.or(i16x8.shr_u(v1, 12), v128.and(i16x8.shr_u(v3, 8), h));
  const q = v128.or(i16x8.shr_u(v2, 12), v128.and(i16x8.shr_u(v3, 10), h));
  const d0 = i32x4.add(i32x4.dot_i16x8_s(v128.and(v1, a), v128.load32_splat(xs)), i32x4.dot_i16x8_s(v128.and(v1, b), v128.load32_splat(xs, 4)));
  const d1 = i32x4.add(i32x4.dot_i16x8_s(v128.and(v2, a), v128.load32_splat(xs, 8)), i32x4.dot_i16x8_s(v128.and(v2, b), v128.load32_splat(xs, 12)));
  const d2 = i32x4.add(i32x4.dot_i16x8_s(v128.and(v3, a), v128.load32_splat(xs, 16)), i32x4.dot_i16x8_s(v128.and(v3, b), v128.load32_splat(xs, 20)));
  const d3 = i32x4.add(i32x4.dot_i16x8_s(p, v128.load32_splat(xs, 24)), i32x4.dot_i16x8_s(q, v128.load32_splat(xs, 28)));
  return i32x4.add(i32x4.add(d0, d1), i32x4.add(d2, d3));
}

// The scalar build's 256 * (w . x) for row `lane` of the sub-block at v, from the same words
// and activations (so the same integer).
@inline
function dot16_scalar(v: usize, xs: usize, lane: usize): i32 {
  let s = 0;
  for (let e: usize = 0; e < 2; e++) {
    // e = 0: each pair's first weight (the word's low u16), e = 1: its second
    const w1 = <i32>load<u16>(v + lane * 4 + e * 2), w2 = <i32>load<u16>(v + 16 + lane * 4 + e * 2), w3 = <i32>load<u16>(v + 32 + lane * 4 + e * 2);
    const x = xs + e * 2;
    s += (w1 & 0x3f) * <i32>load<i16>(x) + (w1 & 0xfc0) * <i32>load<i16>(x, 4);
    s += (w2 & 0x3f) * <i32>load<i16>(x, 8) + (w2 & 0xfc0) * <i32>load<i16>(x, 12);
    s += (w3 & 0x3f) * <i32>load<i16>(x, 16) + (w3 & 0xfc0) * <i32>load<i16>(x, 20);
    s += ((w1 >> 12) | ((w3 >> 8) & 0x30)) * <i32>load<i16>(x, 24) + ((w2 >> 12) | ((w3 >> 10) & 0x30)) * <i32>load<i16>(x, 28);
  }
  return s;
}

// y[t][r] = row r of W times token t, for m tokens and n rows of k weights: w packed by
// q6_k_gemm_pack_x4 (its first group), x the m tokens' activations from q8_k_quantize_f32_q6x4
// (tokens one after another), y rows ldy floats apart, not overlapping the inputs. dot is
// ignored (this kernel has the i16 path only); returns DOT_I16, the path taken. Per super-block,
// as ggml's vec_dot_q6_K_q8_K: sumq = sum_i scale_i * (w_i . x_i - 32 * sum(x_i)) over the 16
// sub-blocks (the zero point 32 through the activations' sums), y += f32(sumq) * (d * d_x):
// identical for any m and any split of the groups.
export function q6_k_gemm_x4(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): i32 {
  const nb = k / 256;
  const groupBytes = <usize>nb * GROUP_BLOCK;
  const xBytes = <usize>nb * XQ6_K_BYTES;
  for (let r = 0; r < n; r += 4) {
    const g = w + <usize>(r >> 2) * groupBytes;
    const rows = min(4, n - r);
    for (let t = 0; t < m; t++) {
      const xt = x + <usize>t * xBytes;
      const yt = y + (<usize>t * ldy + r) * 4;
      if (ASC_FEATURE_SIMD) {
        const ma = v128.load(MASKS), mb = v128.load(MASKS, 16), mh = v128.load(MASKS, 32);
        let acc = f32x4.splat(0);
        for (let b = 0; b < nb; b++) {
          const p = g + <usize>b * GROUP_BLOCK;
          const xb = xt + <usize>b * XQ6_K_BYTES;
          // one sub-block per step, in a loop: fewer values live at once, which keeps the engine from spilling them
          let sumq = i32x4.splat(0);
          for (let j: usize = 0; j < 16; j++) {
            const dj = dot16_x4(p + VECTORS + j * 48, xb + XQ6_K_I16 + j * 32, ma, mb, mh);
            // (256 * (w . x) - 256 * 32 * sum(x)) / 256, exactly: the zero point taken off
            const sj = i32x4.shr_s(i32x4.sub(dj, v128.load32_splat(xb + XQ6_K_ZSUMS + j * 4)), 8);
            const sc = i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(p + SCALES + j * 4)));
            sumq = i32x4.add(sumq, i32x4.mul(sj, sc));
          }
          const d = f32x4_from_half_hi(i8x16.shuffle(i32x4.splat(0), v128.load64_zero(p), 0, 0, 16, 17, 0, 0, 18, 19, 0, 0, 20, 21, 0, 0, 22, 23));
          const s = f32x4.convert_i32x4_s(sumq);
          acc = f32x4.add(acc, f32x4.mul(s, f32x4.mul(d, v128.load32_splat(xb))));
        }
        store_rows(yt, acc, rows);
      } else {
        for (let i = 0; i < rows; i++) {
          const lane = <usize>i;
          let acc: f32 = 0;
          for (let b = 0; b < nb; b++) {
            const p = g + <usize>b * GROUP_BLOCK;
            const xb = xt + <usize>b * XQ6_K_BYTES;
            let sumq = 0;
            for (let j = 0; j < 16; j++) {
              const sc = <i32>load<i8>(p + SCALES + <usize>(4 * j) + lane);
              sumq += sc * ((dot16_scalar(p + VECTORS + <usize>j * 48, xb + XQ6_K_I16 + <usize>j * 32, lane) - load<i32>(xb + XQ6_K_ZSUMS + <usize>j * 4)) >> 8);
            }
            acc += <f32>sumq * (half_finite_to_f32(load<u16>(p + lane * 2)) * load<f32>(xb));
          }
          store<f32>(yt + <usize>i * 4, acc);
        }
      }
    }
  }
  return DOT_I16;
}
