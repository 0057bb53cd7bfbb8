// Q8_0 on the relaxed i8 dot where an engine computes it as x86's VNNI does (vpdpbusd: second
// operand unsigned, four products per 32-bit lane summed without saturation, accumulator added;
// assembly/dot.ts, relaxed_u8_exact). The weights are GGUF's int8 values stored as w + 128
// (w XOR 0x80, an unsigned byte) and the activations as int8, so that
//
//   relaxed_dot(x, w + 128, acc) = acc + x . w + 128 * sum(x)
//
// exactly: each block's sum starts from -128 * sum(x) (stored with the activations) and the
// dot products accumulate on it in place, one instruction per 16 products. Where a call's code
// does not have that form, the same layout runs on the i16 path (i32x4.dot_i16x8_s on the
// widened bytes), whose integer sums are the same; the float steps are q8_0_gemm_x4's
// (assembly/quant.ts), in its order, so both layouts, both paths, every tile and every thread
// split give the same bits.

import { FORM_EXACT, DOT_I16, relaxed_u8_exact } from './dot';
import { GROUP_BLOCK_BYTES, PAIR_BLOCK_BYTES, block_step, pack_groups } from './quant';
import { q8_block32 } from './q8';
import { store_rows, store_rows_x4 } from './q4x4';
import { f32_to_half, half_to_f32 } from './half';

// ---- weights: 4-row groups of column quads ---------------------------------------------------
//
// q8_0_gemm_x4's groups (assembly/quant.ts), with 4 consecutive columns of a row in each 32-bit
// lane instead of 2 in each 16-bit pair: a group of 4 rows holds, per block of 32 columns, 8
// column quads of 16 bytes, quad u being weights 4u..4u+3 of row 0, then of row 1, row 2, row 3,
// each byte w XOR 0x80. Groups go in twos (8 rows), interleaved block by block; per block b,
// 288 bytes
//
//   [d: group 0's 4 scales as f32] [d: group 1's] [8 x (quad u of group 0: 16 bytes, of group 1: 16 bytes)]
//
// and a last group without a partner keeps 144 bytes per block: [d: its 4 scales] [8 x quad u].
// The sizes are q8_0_gemm_x4's (q8_0_gemm_packed_floats; group G at byte G * blocks * 144), and
// so is the thread split (at even groups). A last group with fewer than 4 rows is padded with
// rows of scale 0 and bytes 0.

// Repacks n rows of Q8_0 (GGUF's layout, k/32 blocks of 34 bytes per row, any byte address) at w
// into the layout above at out (q8_0_gemm_packed_floats(n, k) floats, 16-byte aligned). Returns
// how many blocks have a scale that is infinite or NaN. Groups pair up from row 0 of the call,
// as in q8_0_gemm_pack_x4.
export function q8_0_gemm_pack_x4_u8(w: usize, n: i32, k: i32, out: usize): i32 {
  return pack_groups(w, n, k, out, 4, 0x80);
}

// ---- activations ------------------------------------------------------------------------------
//
// Quantized as q8_0_quantize (ggml's quantize_row_q8_0: d = max|x| / 127, q = roundf(x / d), d
// stored rounded to a half; the same q and d bit for bit), in blocks of 40 bytes:
//
//   [q: 32 int8] [d: f32] [c: i32, -128 * sum(q)]

export const XQ8_U8_BYTES: usize = 40;
const XQ8_U8_D: usize = 32;
const XQ8_U8_C: usize = 36;

// x[n] (n a multiple of 32; several tokens' rows go as one run) as n/32 blocks of the layout
// above at out.
export function q8_0_quantize_f32_x4_u8(x: usize, n: i32, out: usize): void {
  for (let b = 0; b < n / 32; b++) {
    const ob = out + <usize>b * XQ8_U8_BYTES;
    const sum = q8_block32(x + <usize>b * 128, ob, ob + XQ8_U8_D);
    store<f32>(ob + XQ8_U8_D, half_to_f32(f32_to_half(load<f32>(ob + XQ8_U8_D))));
    store<i32>(ob + XQ8_U8_C, -128 * sum);
  }
}

// ---- the product ------------------------------------------------------------------------------

// y[t][r] = sum over blocks b of f32(sum_j q[r][b][j] * x[t][b][j]) * (d[r][b] * d_x[t][b]), as
// q8_0_gemm_x4, for m token rows of activations quantized by q8_0_quantize_f32_x4_u8 at x and n
// output features of W repacked by q8_0_gemm_pack_x4_u8 at w (at an even group, n rows on from
// there: a whole matrix, or a share of its rows starting at an even group and ending at a
// multiple of 8 rows or at the matrix's end). y rows are ldy floats apart and must not overlap
// the inputs. dot: DOT_RELAXED to take the unsigned relaxed dot where this call's code has it
// (relaxed_u8_exact), else (and DOT_I16, and builds without relaxed SIMD) the i16 path. Returns
// the path taken: FORM_EXACT or DOT_I16.
//
// Per 8 rows the tokens run 2 at a time (a last one alone), the integer sums accumulating in
// place, so each weight quad loaded serves 2 tokens and each activation quad 8 rows; a lone
// last group runs 4 tokens at a time.
export function q8_0_gemm_x4_u8(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, dot: i32): i32 {
  if (ASC_FEATURE_RELAXED_SIMD && relaxed_u8_exact(dot)) {
    gemm(w, x, y, m, n, k, ldy, true);
    return FORM_EXACT;
  }
  gemm(w, x, y, m, n, k, ldy, false);
  return DOT_I16;
}

@inline
function gemm(w: usize, x: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32, u8: bool): void {
  const blocks = k / 32;
  const groupBytes = <usize>blocks * GROUP_BLOCK_BYTES;
  const xs = <usize>blocks * XQ8_U8_BYTES;
  const ys = <usize>ldy * 4;
  for (let r = 0; r < n; r += 8) {
    const g = w + <usize>(r >> 2) * groupBytes;
    const yr = y + <usize>r * 4;
    if (r + 4 >= n) {
      // the last group, on its own
      const rows = n - r;
      if (ASC_FEATURE_SIMD) {
        let t = 0;
        if (u8) {
          for (; t + 4 <= m; t += 4) tile_4x4(g, x + <usize>t * xs, yr + <usize>t * ys, blocks, xs, ys, rows);
          for (; t < m; t++) tile_4x1(g, x + <usize>t * xs, yr + <usize>t * ys, blocks, rows);
        } else {
          for (; t < m; t++) group_i16(g, g + 16, GROUP_BLOCK_BYTES, 16, x + <usize>t * xs, yr + <usize>t * ys, blocks, rows);
        }
      } else {
        for (let t = 0; t < m; t++) rows_scalar(g, g + 16, GROUP_BLOCK_BYTES, 16, x + <usize>t * xs, yr + <usize>t * ys, blocks, rows);
      }
      return;
    }
    // a pair of groups; the second has 1 to 4 rows
    const rows = min(4, n - r - 4);
    if (ASC_FEATURE_SIMD) {
      let t = 0;
      if (u8) {
        for (; t + 2 <= m; t += 2) tile_8x2(g, x + <usize>t * xs, yr + <usize>t * ys, blocks, xs, ys, rows);
        for (; t < m; t++) tile_8x1(g, x + <usize>t * xs, yr + <usize>t * ys, blocks, rows);
      } else {
        for (; t < m; t++) {
          const xt = x + <usize>t * xs, yt = yr + <usize>t * ys;
          group_i16(g, g + 32, PAIR_BLOCK_BYTES, 32, xt, yt, blocks, 4);
          group_i16(g + 16, g + 48, PAIR_BLOCK_BYTES, 32, xt, yt + 16, blocks, rows);
        }
      }
    } else {
      for (let t = 0; t < m; t++) {
        const xt = x + <usize>t * xs, yt = yr + <usize>t * ys;
        rows_scalar(g, g + 32, PAIR_BLOCK_BYTES, 32, xt, yt, blocks, 4);
        rows_scalar(g + 16, g + 48, PAIR_BLOCK_BYTES, 32, xt, yt + 16, blocks, rows);
      }
    }
  }
}

// acc + relaxed_dot(x, q, acc): 16 products of 4 rows (q: a quad, w + 128 as bytes) with the 4
// activations at x broadcast to every row, each row's four in its lane.
@inline
function quad_dot(x: usize, q: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x), q, acc);
  unreachable(); // the tiles that call it run only where relaxed_u8_exact holds
  return acc;
}

// A pair of groups (at g; the second's first `rows` rows exist) times 2 tokens (token i's
// activation blocks at x + i * xs) into y[0..8), then y[4..4 + rows) of the second group, of each
// token's output row (token i's at y + i * ys). Two tokens, not q8_0_gemm_x4's four: with the
// sums accumulating in place, 8 rows x 2 tokens keep 4 integer and 4 float accumulators, the
// weights and an activation in x64's 16 vector registers, where 8 x 4 spill.
@inline
function tile_8x2(g: usize, x: usize, y: usize, blocks: i32, xs: usize, ys: usize, rows: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  let e0 = f32x4.splat(0), e1 = f32x4.splat(0);
  let p = g;
  let xb = x;
  for (let b = 0; b < blocks; b++) {
    let s0 = v128.load32_splat(xb + XQ8_U8_C), s1 = v128.load32_splat(xb + xs + XQ8_U8_C);
    let u0 = s0, u1 = s1;
    for (let c: usize = 0; c < 32; c += 4) {
      const v = v128.load(p + 32 + c * 8), w = v128.load(p + 48 + c * 8);
      s0 = quad_dot(xb + c, v, s0);
      u0 = quad_dot(xb + c, w, u0);
      s1 = quad_dot(xb + xs + c, v, s1);
      u1 = quad_dot(xb + xs + c, w, u1);
    }
    const dv = v128.load(p), dw = v128.load(p, 16);
    const dx = xb + XQ8_U8_D;
    a0 = block_step(a0, s0, dv, dx);
    e0 = block_step(e0, u0, dw, dx);
    a1 = block_step(a1, s1, dv, dx + xs);
    e1 = block_step(e1, u1, dw, dx + xs);
    p += PAIR_BLOCK_BYTES;
    xb += XQ8_U8_BYTES;
  }
  v128.store(y, a0);
  store_rows(y + 16, e0, rows);
  v128.store(y + ys, a1);
  store_rows(y + ys + 16, e1, rows);
}

// A pair of groups (as in tile_8x2) times one token (at x) into y[0..4 + rows).
@inline
function tile_8x1(g: usize, x: usize, y: usize, blocks: i32, rows: i32): void {
  let a = f32x4.splat(0), e = f32x4.splat(0);
  let p = g;
  let xb = x;
  for (let b = 0; b < blocks; b++) {
    // two sums per group, so that consecutive dot products do not wait on one another
    let s0 = v128.load32_splat(xb + XQ8_U8_C), s1 = i32x4.splat(0);
    let u0 = s0, u1 = i32x4.splat(0);
    for (let c: usize = 0; c < 32; c += 8) {
      s0 = quad_dot(xb + c, v128.load(p + 32 + c * 8), s0);
      u0 = quad_dot(xb + c, v128.load(p + 48 + c * 8), u0);
      s1 = quad_dot(xb + c + 4, v128.load(p + 64 + c * 8), s1);
      u1 = quad_dot(xb + c + 4, v128.load(p + 80 + c * 8), u1);
    }
    const dx = xb + XQ8_U8_D;
    a = block_step(a, i32x4.add(s0, s1), v128.load(p), dx);
    e = block_step(e, i32x4.add(u0, u1), v128.load(p, 16), dx);
    p += PAIR_BLOCK_BYTES;
    xb += XQ8_U8_BYTES;
  }
  v128.store(y, a);
  store_rows(y + 16, e, rows);
}

// A lone group (at g) times 4 tokens (as in tile_8x2) into y[0..rows) of each token's row.
@inline
function tile_4x4(g: usize, x: usize, y: usize, blocks: i32, xs: usize, ys: usize, rows: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let p = g;
  let xb = x;
  for (let b = 0; b < blocks; b++) {
    let s0 = v128.load32_splat(xb + XQ8_U8_C), s1 = v128.load32_splat(xb + xs + XQ8_U8_C);
    let s2 = v128.load32_splat(xb + 2 * xs + XQ8_U8_C), s3 = v128.load32_splat(xb + 3 * xs + XQ8_U8_C);
    for (let c: usize = 0; c < 32; c += 4) {
      const v = v128.load(p + 16 + c * 4);
      s0 = quad_dot(xb + c, v, s0);
      s1 = quad_dot(xb + xs + c, v, s1);
      s2 = quad_dot(xb + 2 * xs + c, v, s2);
      s3 = quad_dot(xb + 3 * xs + c, v, s3);
    }
    const dw = v128.load(p);
    const dx = xb + XQ8_U8_D;
    a0 = block_step(a0, s0, dw, dx);
    a1 = block_step(a1, s1, dw, dx + xs);
    a2 = block_step(a2, s2, dw, dx + 2 * xs);
    a3 = block_step(a3, s3, dw, dx + 3 * xs);
    p += GROUP_BLOCK_BYTES;
    xb += XQ8_U8_BYTES;
  }
  store_rows_x4(y, ys, a0, a1, a2, a3, rows);
}

// A lone group (at g) times one token (at x) into y[0..rows).
@inline
function tile_4x1(g: usize, x: usize, y: usize, blocks: i32, rows: i32): void {
  let acc = f32x4.splat(0);
  let p = g;
  let xb = x;
  for (let b = 0; b < blocks; b++) {
    let s0 = v128.load32_splat(xb + XQ8_U8_C), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    for (let c: usize = 0; c < 32; c += 16) {
      s0 = quad_dot(xb + c, v128.load(p + 16 + c * 4), s0);
      s1 = quad_dot(xb + c + 4, v128.load(p + 32 + c * 4), s1);
      s2 = quad_dot(xb + c + 8, v128.load(p + 48 + c * 4), s2);
      s3 = quad_dot(xb + c + 12, v128.load(p + 64 + c * 4), s3);
    }
    acc = block_step(acc, i32x4.add(i32x4.add(s0, s1), i32x4.add(s2, s3)), v128.load(p), xb + XQ8_U8_D);
    p += GROUP_BLOCK_BYTES;
    xb += XQ8_U8_BYTES;
  }
  store_rows(y, acc, rows);
}

// The i16 path, for calls whose relaxed dot is not the unsigned form: one group (block-0 scales
// at d, quads at q, blocks `step` bytes apart and quads `quadStride` apart) times one token (at x)
// into y[0..rows). Each quad's bytes widen to rows 0-1 and rows 2-3 (w + 128, unsigned) and meet
// the 4 activations twice over; the pairs of lanes of each row add up at the block's end.
@inline
function group_i16(d: usize, q: usize, step: usize, quadStride: usize, x: usize, y: usize, blocks: i32, rows: i32): void {
  let acc = f32x4.splat(0);
  let xb = x;
  for (let b = 0; b < blocks; b++) {
    const qb = q + <usize>b * step;
    let lo = i32x4.splat(0), hi = i32x4.splat(0);
    for (let u: usize = 0; u < 8; u++) {
      const v = v128.load(qb + u * quadStride);
      const xx = i16x8.extend_low_i8x16_s(v128.load32_splat(xb + u * 4));
      lo = i32x4.add(lo, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v), xx));
      hi = i32x4.add(hi, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(v), xx));
    }
    const s = i32x4.add(i32x4.add(i32x4.shuffle(lo, hi, 0, 2, 4, 6), i32x4.shuffle(lo, hi, 1, 3, 5, 7)), v128.load32_splat(xb + XQ8_U8_C));
    acc = block_step(acc, s, v128.load(d + <usize>b * step), xb + XQ8_U8_D);
    xb += XQ8_U8_BYTES;
  }
  store_rows(y, acc, rows);
}

// The scalar build: the same sums row by row, for the group laid out as in group_i16.
@inline
function rows_scalar(d: usize, q: usize, step: usize, quadStride: usize, x: usize, y: usize, blocks: i32, rows: i32): void {
  for (let i = 0; i < rows; i++) {
    let acc: f32 = 0;
    for (let b = 0; b < blocks; b++) {
      const qb = q + <usize>b * step + <usize>i * 4;
      const xb = x + <usize>b * XQ8_U8_BYTES;
      let s: i32 = load<i32>(xb + XQ8_U8_C);
      for (let j: usize = 0; j < 32; j++) s += <i32>load<u8>(qb + (j >> 2) * quadStride + (j & 3)) * <i32>load<i8>(xb + j);
      acc += <f32>s * (load<f32>(d + <usize>b * step + <usize>i * 4) * load<f32>(xb + XQ8_U8_D));
    }
    store<f32>(y + <usize>i * 4, acc);
  }
}
