// Q8_0 (GGUF's 8-bit format): blocks of 32 weights, each block 34 bytes: an IEEE half scale d
// followed by 32 int8 q, weight = d * q. GGUF stores a matrix row after row, each row K/32
// consecutive blocks; q8_0_gemm_pack_x4 interleaves the rows by 4 for the kernel (below).
//
// Activations are quantized per block the same way (q8_0_quantize), widened once to int16,
// and each block's dot product is i32x4.dot_i16x8_s on the integers, scaled by d_w * d_x: the
// int8 path that is safe on Node 20 (not the relaxed i8 dot, which V8 gets wrong there).

import { hmax } from './simd';
import { store_rows, store_rows_x4 } from './q4x4';
import { f32_to_half, half_to_f32 } from './half';

// Quantizes x[k] (k a multiple of 32; m rows of k go as one run of m*k) to Q8_0 blocks for the
// dot product: int16 values into xq[k] (i16, widened from the int8 q), and the block scales
// into xd[k/32], with d = max|x| / 127 and q = round(x / d), as ggml's quantize_row_q8_0; d is
// stored rounded to a half, the precision of ggml's block_q8_0 (q is computed with d unrounded,
// as ggml does), so the products agree with llama.cpp's to float32 rounding.
// Rounding is C's roundf (half away from zero), exactly: from trunc(v) and whether |v - trunc(v)|
// (exact in float) reaches 0.5; floor(|v| + 0.5) would round the largest float below 0.5 up to
// 1, since that sum is not a float. Both builds give the same bytes.
export function q8_0_quantize(x: usize, k: i32, xq: usize, xd: usize): void {
  for (let b = 0; b < k / 32; b++) {
    const xb = x + <usize>b * 128;
    const qb = xq + <usize>b * 64;
    if (ASC_FEATURE_SIMD) {
      const v0 = v128.load(xb), v1 = v128.load(xb, 16), v2 = v128.load(xb, 32), v3 = v128.load(xb, 48);
      const v4 = v128.load(xb, 64), v5 = v128.load(xb, 80), v6 = v128.load(xb, 96), v7 = v128.load(xb, 112);
      const m = f32x4.max(
        f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
        f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))),
      );
      const d = hmax(m) / 127;
      store<f32>(xd + <usize>b * 4, half_to_f32(f32_to_half(d)));
      const id = f32x4.splat(d != 0 ? <f32>1 / d : 0);
      v128.store(qb, i16x8.narrow_i32x4_s(round_q(v0, id), round_q(v1, id)));
      v128.store(qb, i16x8.narrow_i32x4_s(round_q(v2, id), round_q(v3, id)), 16);
      v128.store(qb, i16x8.narrow_i32x4_s(round_q(v4, id), round_q(v5, id)), 32);
      v128.store(qb, i16x8.narrow_i32x4_s(round_q(v6, id), round_q(v7, id)), 48);
    } else {
      let amax: f32 = 0;
      for (let j = 0; j < 32; j++) amax = max(amax, abs(load<f32>(xb + <usize>j * 4)));
      const d = amax / 127;
      const id: f32 = d != 0 ? <f32>1 / d : 0;
      store<f32>(xd + <usize>b * 4, half_to_f32(f32_to_half(d)));
      for (let j = 0; j < 32; j++) {
        const v = load<f32>(xb + <usize>j * 4) * id;
        const t = Mathf.trunc(v);
        store<i16>(qb + <usize>j * 2, <i16>(<i32>(abs(v - t) >= <f32>0.5 ? t + (v < 0 ? <f32>-1 : <f32>1) : t)));
      }
    }
  }
}

// roundf(v * id) to integers, lane by lane (see q8_0_quantize).
@inline
export function round_q(v: v128, id: v128): v128 {
  const a = f32x4.mul(v, id);
  const t = f32x4.trunc(a);
  const up = f32x4.ge(f32x4.abs(f32x4.sub(a, t)), f32x4.splat(0.5));
  // +-1 with a's sign where the fraction reaches one half, else 0
  const step = v128.and(up, v128.or(f32x4.splat(1), v128.and(a, i32x4.splat(0x80000000))));
  return i32x4.trunc_sat_f32x4_s(f32x4.add(t, step));
}

// ---- weights: Q8_0 rows interleaved by 4 and 8 ---------------------------------------------
//
// GGUF keeps each row's blocks together, so a kernel reading one row at a time runs one stream
// per row, decodes an f16 scale per 32 weights and must reduce each row's partial sums across
// lanes. Here, as for the 4-bit types (assembly/q4x4.ts), rows sit side by side: a group of 4
// rows holds, per block of 32 columns, 16 column pairs of 8 bytes, pair p being weights 2p and
// 2p+1 of row 0, then of row 1, row 2, row 3. One pair, sign-extended to 8 int16 as it loads,
// meets the activation pair (x[2p], x[2p+1]) broadcast to every row: i32x4.dot_i16x8_s leaves
// each row's two products summed in its own lane, so a block's integer sums need no reduction
// across lanes and become floats with one convert and one multiply.
//
// Groups go in twos (8 rows), interleaved block by block so that the matrix stays one
// sequential stream while each activation pair serves 8 rows: per block b, 288 bytes
//
//   [d: group 0's 4 scales as f32] [d: group 1's] [16 x (pair p of group 0: 8 bytes, of group 1: 8 bytes)]
//
// A last group without a partner (an odd number of groups) keeps 144 bytes per block:
//
//   [d: its 4 scales as f32] [16 x pair p: 8 bytes]
//
// Either way 36 bytes per 4 x 32 weights (GGUF's 34, the scales widened to f32) and group G
// starts at byte G * blocks * 144; the int8 values are GGUF's, unchanged. A last group with
// fewer than 4 rows is padded with zero rows. A thread's share of the rows starts at an even
// group, so that it holds whole pairs.

export const GROUP_BLOCK_BYTES: usize = 144;
export const PAIR_BLOCK_BYTES: usize = 288;

/** Floats of room for n rows of k columns (k a multiple of 32) in the 4-row interleaved layout. */
export function q8_0_gemm_packed_floats(n: i32, k: i32): i32 {
  return ((n + 3) >> 2) * (k / 32) * 36;
}

// Interleaves n rows of Q8_0 (GGUF's layout, k/32 blocks of 34 bytes per row, any byte address)
// at w into the layout above at out (q8_0_gemm_packed_floats(n, k) floats, 16-byte aligned).
// Returns how many blocks have a scale that is infinite or NaN (a corrupt file: every output of
// such a row would be NaN). Groups pair up from row 0 of the call, so a matrix packed in pieces
// (each at out + its first group * blocks * 144) needs every piece but the last to be a multiple
// of 8 rows.
export function q8_0_gemm_pack_x4(w: usize, n: i32, k: i32, out: usize): i32 {
  return pack_groups(w, n, k, out, 2, 0);
}

// The packing of q8_0_gemm_pack_x4 for units of `unit` consecutive columns (2: the column pairs
// above; 4: the column quads of assembly/q8u8.ts), each weight byte XORed with `flip` (0, or
// 0x80 to store w + 128 as an unsigned byte): per block, group 0's unit u of 4 rows, then group
// 1's, as above, a unit being `unit` bytes of row 0, then of row 1, row 2, row 3.
@inline
export function pack_groups(w: usize, n: i32, k: i32, out: usize, unit: usize, flip: u8): i32 {
  const blocks = k / 32;
  const groups = (n + 3) >> 2;
  const groupBytes = <usize>blocks * GROUP_BLOCK_BYTES;
  const unitBytes = unit * 4;
  memory.fill(out, 0, <usize>groups * groupBytes);
  let bad = 0;
  for (let r = 0; r < n; r++) {
    const group = r >> 2;
    const lane = <usize>(r & 3);
    const paired = (group | 1) < groups;
    // where this row's group keeps block 0's scales and units, and the step from one block to the next
    const at = out + <usize>(group & ~1) * groupBytes;
    const scales = at + (paired ? <usize>(group & 1) * 16 : 0) + lane * 4;
    const units = at + (paired ? 32 + <usize>(group & 1) * unitBytes : 16) + lane * unit;
    const step = paired ? PAIR_BLOCK_BYTES : GROUP_BLOCK_BYTES;
    const unitStride: usize = paired ? unitBytes << 1 : unitBytes;
    for (let b = 0; b < blocks; b++) {
      const src = w + (<usize>r * blocks + b) * 34;
      const h = <u32>load<u16>(src);
      if ((h & 0x7c00) == 0x7c00) bad++;
      store<f32>(scales + <usize>b * step, half_to_f32(h));
      const q = units + <usize>b * step;
      if (unit == 4) {
        for (let u: usize = 0; u < 8; u++) store<u32>(q + u * unitStride, load<u32>(src + 2 + u * 4) ^ (<u32>flip * 0x01010101));
      } else {
        for (let u: usize = 0; u < 16; u++) store<u16>(q + u * unitStride, load<u16>(src + 2 + u * 2) ^ (<u16>flip * 0x0101));
      }
    }
  }
  return bad;
}

// y[t][r] = sum over blocks b of f32(sum_j q[r][b][j] * xq[t][b][j]) * (d[r][b] * xd[t][b]), for
// m token rows t of activations quantized by q8_0_quantize (xq: m x k int16, xd: m x k/32
// f32) and n output features r of W interleaved by q8_0_gemm_pack_x4 at w (at an even group,
// n rows on from there: a whole matrix, or a share of its rows starting at an even group and
// ending at a multiple of 8 rows or at the matrix's end). y rows are ldy floats apart and must
// not overlap the inputs. Every output is its row's sum over the blocks in order, each block's
// integer sum exact, whatever m and however the tokens fall into tiles: one token (decoding),
// a block of tokens (prefill) and any split of the rows over threads give identical rows, on
// every build.
//
// Per 8 rows the tokens run 4 at a time (the rest one by one), so each weight pair loaded serves
// 4 tokens and each activation pair 8 rows, while the rows' blocks (36 KiB at k = 4096) stay in cache.
export function q8_0_gemm_x4(w: usize, xq: usize, xd: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32): void {
  const blocks = k / 32;
  const groupBytes = <usize>blocks * GROUP_BLOCK_BYTES;
  const xBytes = <usize>k * 2;
  const dBytes = <usize>blocks * 4;
  const yBytes = <usize>ldy * 4;
  for (let r = 0; r < n; r += 8) {
    const g = w + <usize>(r >> 2) * groupBytes;
    const yr = y + <usize>r * 4;
    if (r + 4 >= n) {
      // the last group, on its own
      const rows = n - r;
      if (ASC_FEATURE_SIMD) {
        let t = 0;
        for (; t + 4 <= m; t += 4) tile_4x4(g, xq + <usize>t * xBytes, xd + <usize>t * dBytes, yr + <usize>t * yBytes, blocks, xBytes, dBytes, yBytes, rows);
        for (; t < m; t++) tile_4x1(g, xq + <usize>t * xBytes, xd + <usize>t * dBytes, yr + <usize>t * yBytes, blocks, rows);
      } else {
        for (let t = 0; t < m; t++) rows_scalar(g, g + 16, GROUP_BLOCK_BYTES, 8, xq + <usize>t * xBytes, xd + <usize>t * dBytes, yr + <usize>t * yBytes, blocks, rows);
      }
      return;
    }
    // a pair of groups; the second has 1 to 4 rows
    const rows = min(4, n - r - 4);
    if (ASC_FEATURE_SIMD) {
      let t = 0;
      for (; t + 4 <= m; t += 4) tile_8x4(g, xq + <usize>t * xBytes, xd + <usize>t * dBytes, yr + <usize>t * yBytes, blocks, xBytes, dBytes, yBytes, rows);
      for (; t < m; t++) tile_8x1(g, xq + <usize>t * xBytes, xd + <usize>t * dBytes, yr + <usize>t * yBytes, blocks, rows);
    } else {
      for (let t = 0; t < m; t++) {
        const xt = xq + <usize>t * xBytes, dt = xd + <usize>t * dBytes, yt = yr + <usize>t * yBytes;
        rows_scalar(g, g + 32, PAIR_BLOCK_BYTES, 16, xt, dt, yt, blocks, 4);
        rows_scalar(g + 16, g + 40, PAIR_BLOCK_BYTES, 16, xt, dt, yt + 16, blocks, rows);
      }
    }
  }
}

// One column pair's weights of 4 rows (w: 8 int16) against the activation pair at x broadcast
// to every row: each row's two products, summed, in its lane.
@inline
function pair_dot(w: v128, x: usize): v128 {
  return i32x4.dot_i16x8_s(w, v128.load32_splat(x));
}

// acc + f32(s) * (d_w * d_x) per row: a block's float step, in the order every build takes.
@inline
export function block_step(acc: v128, s: v128, dw: v128, dx: usize): v128 {
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.mul(dw, v128.load32_splat(dx))));
}

// A pair of groups (at g; the second's first `rows` rows exist) times 4 tokens (activations at
// x and xd, token i at x + i * xs and xd + i * ds) into y[0..8), then y[4..4 + rows) of the
// second group, of each token's output row (token i's at y + i * ys).
@inline
function tile_8x4(g: usize, x: usize, xd: usize, y: usize, blocks: i32, xs: usize, ds: usize, ys: usize, rows: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let e0 = f32x4.splat(0), e1 = f32x4.splat(0), e2 = f32x4.splat(0), e3 = f32x4.splat(0);
  let p = g;
  let xb = x;
  for (let b = 0; b < blocks; b++) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    let u0 = i32x4.splat(0), u1 = i32x4.splat(0), u2 = i32x4.splat(0), u3 = i32x4.splat(0);
    for (let c: usize = 0; c < 64; c += 4) {
      // column pair c / 4: weights at p + 32 + 4c (group 0) and + 8 (group 1), activations at xb + c
      const v = v128.load8x8_s(p + 32 + c * 4), w = v128.load8x8_s(p + 40 + c * 4);
      let xv = v128.load32_splat(xb + c);
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(v, xv));
      u0 = i32x4.add(u0, i32x4.dot_i16x8_s(w, xv));
      xv = v128.load32_splat(xb + xs + c);
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(v, xv));
      u1 = i32x4.add(u1, i32x4.dot_i16x8_s(w, xv));
      xv = v128.load32_splat(xb + 2 * xs + c);
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(v, xv));
      u2 = i32x4.add(u2, i32x4.dot_i16x8_s(w, xv));
      xv = v128.load32_splat(xb + 3 * xs + c);
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(v, xv));
      u3 = i32x4.add(u3, i32x4.dot_i16x8_s(w, xv));
    }
    const dv = v128.load(p), dw = v128.load(p, 16);
    const dx = xd + <usize>b * 4;
    a0 = block_step(a0, s0, dv, dx);
    e0 = block_step(e0, u0, dw, dx);
    a1 = block_step(a1, s1, dv, dx + ds);
    e1 = block_step(e1, u1, dw, dx + ds);
    a2 = block_step(a2, s2, dv, dx + 2 * ds);
    e2 = block_step(e2, u2, dw, dx + 2 * ds);
    a3 = block_step(a3, s3, dv, dx + 3 * ds);
    e3 = block_step(e3, u3, dw, dx + 3 * ds);
    p += PAIR_BLOCK_BYTES;
    xb += 64;
  }
  store_rows_x4(y, ys, a0, a1, a2, a3, 4);
  store_rows_x4(y + 16, ys, e0, e1, e2, e3, rows);
}

// A pair of groups (as in tile_8x4) times one token (at x, xd) into y[0..4 + rows).
@inline
function tile_8x1(g: usize, x: usize, xd: usize, y: usize, blocks: i32, rows: i32): void {
  let a = f32x4.splat(0), e = f32x4.splat(0);
  let p = g;
  let xb = x;
  for (let b = 0; b < blocks; b++) {
    // two sums per group, so that consecutive multiplies do not wait on one chain of adds
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), u0 = i32x4.splat(0), u1 = i32x4.splat(0);
    for (let c: usize = 0; c < 64; c += 8) {
      const x0 = v128.load32_splat(xb + c), x1 = v128.load32_splat(xb + c + 4);
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(v128.load8x8_s(p + 32 + c * 4), x0));
      u0 = i32x4.add(u0, i32x4.dot_i16x8_s(v128.load8x8_s(p + 40 + c * 4), x0));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(v128.load8x8_s(p + 48 + c * 4), x1));
      u1 = i32x4.add(u1, i32x4.dot_i16x8_s(v128.load8x8_s(p + 56 + c * 4), x1));
    }
    const dx = xd + <usize>b * 4;
    a = block_step(a, i32x4.add(s0, s1), v128.load(p), dx);
    e = block_step(e, i32x4.add(u0, u1), v128.load(p, 16), dx);
    p += PAIR_BLOCK_BYTES;
    xb += 64;
  }
  v128.store(y, a);
  store_rows(y + 16, e, rows);
}

// A lone group (at g) times 4 tokens (as in tile_8x4) into y[0..rows) of each token's row.
@inline
function tile_4x4(g: usize, x: usize, xd: usize, y: usize, blocks: i32, xs: usize, ds: usize, ys: usize, rows: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let p = g;
  let xb = x;
  for (let b = 0; b < blocks; b++) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    for (let c: usize = 0; c < 64; c += 8) {
      // two column pairs per step: weights at p + 16 + 2c, activations at xb + c
      const w0 = v128.load8x8_s(p + 16 + c * 2);
      s0 = i32x4.add(s0, pair_dot(w0, xb + c));
      s1 = i32x4.add(s1, pair_dot(w0, xb + xs + c));
      s2 = i32x4.add(s2, pair_dot(w0, xb + 2 * xs + c));
      s3 = i32x4.add(s3, pair_dot(w0, xb + 3 * xs + c));
      const w1 = v128.load8x8_s(p + 24 + c * 2);
      s0 = i32x4.add(s0, pair_dot(w1, xb + c + 4));
      s1 = i32x4.add(s1, pair_dot(w1, xb + xs + c + 4));
      s2 = i32x4.add(s2, pair_dot(w1, xb + 2 * xs + c + 4));
      s3 = i32x4.add(s3, pair_dot(w1, xb + 3 * xs + c + 4));
    }
    const dw = v128.load(p);
    const dx = xd + <usize>b * 4;
    a0 = block_step(a0, s0, dw, dx);
    a1 = block_step(a1, s1, dw, dx + ds);
    a2 = block_step(a2, s2, dw, dx + 2 * ds);
    a3 = block_step(a3, s3, dw, dx + 3 * ds);
    p += GROUP_BLOCK_BYTES;
    xb += 64;
  }
  store_rows_x4(y, ys, a0, a1, a2, a3, rows);
}

// A lone group (at g) times one token (at x, xd) into y[0..rows).
@inline
function tile_4x1(g: usize, x: usize, xd: usize, y: usize, blocks: i32, rows: i32): void {
  let acc = f32x4.splat(0);
  let p = g;
  let xb = x;
  for (let b = 0; b < blocks; b++) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0);
    for (let c: usize = 0; c < 64; c += 16) {
      s0 = i32x4.add(s0, pair_dot(v128.load8x8_s(p + 16 + c * 2), xb + c));
      s1 = i32x4.add(s1, pair_dot(v128.load8x8_s(p + 24 + c * 2), xb + c + 4));
      s0 = i32x4.add(s0, pair_dot(v128.load8x8_s(p + 32 + c * 2), xb + c + 8));
      s1 = i32x4.add(s1, pair_dot(v128.load8x8_s(p + 40 + c * 2), xb + c + 12));
    }
    acc = block_step(acc, i32x4.add(s0, s1), v128.load(p), xd + <usize>b * 4);
    p += GROUP_BLOCK_BYTES;
    xb += 64;
  }
  store_rows(y, acc, rows);
}

// The scalar build: the same sums row by row, for the group whose block-0 scales are at d and
// pairs at q, blocks `step` bytes apart and pairs `pairStride` apart.
@inline
function rows_scalar(d: usize, q: usize, step: usize, pairStride: usize, x: usize, xd: usize, y: usize, blocks: i32, rows: i32): void {
  for (let i = 0; i < rows; i++) {
    let acc: f32 = 0;
    for (let b = 0; b < blocks; b++) {
      const qb = q + <usize>b * step + <usize>i * 2;
      const xb = x + <usize>b * 64;
      let s: i32 = 0;
      for (let j: usize = 0; j < 32; j++) s += <i32>load<i8>(qb + (j >> 1) * pairStride + (j & 1)) * <i32>load<i16>(xb + j * 2);
      acc += <f32>s * (load<f32>(d + <usize>b * step + <usize>i * 4) * load<f32>(xd + <usize>b * 4));
    }
    store<f32>(y + <usize>i * 4, acc);
  }
}
