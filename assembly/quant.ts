// Q8_0 (GGUF's 8-bit format): blocks of 32 weights, each block 34 bytes: an IEEE half scale d
// followed by 32 int8 q, weight = d * q. GGUF stores a matrix row after row, each row K/32
// consecutive blocks; q8_0_gemm_pack_x4 interleaves the rows by 4 for the kernel (below).
//
// Activations are quantized per block the same way (q8_0_quantize), widened once to int16,
// and each block's dot product is i32x4.dot_i16x8_s on the integers, scaled by d_w * d_x: the
// int8 path that is safe on Node 20 (not the relaxed i8 dot, which V8 gets wrong there).

import { hmax } from './simd';
import { store_rows } from './q4x4';
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

// ---- weights: Q8_0 rows interleaved by 4 ---------------------------------------------------
//
// GGUF keeps each row's blocks together, so a kernel reading one row at a time runs one stream
// per row, decodes an f16 scale per 32 weights and must reduce each row's partial sums across
// lanes. Here, as for the 4-bit types (assembly/q4x4.ts), the 4 rows of a group sit side by
// side: at load, each group of 4 rows becomes, per block b, 144 bytes:
//
//   [d0 d1 d2 d3: the 4 rows' scales as f32] [16 column pairs of 8 bytes: pair p holds weights
//   2p and 2p+1 of row 0, then of row 1, row 2, row 3]
//
// The int8 values are GGUF's, unchanged; only the scales are widened (36 bytes per 32 weights
// instead of 34). One pair, sign-extended to 8 int16 as it loads, meets the activation pair
// (x[2p], x[2p+1]) broadcast to every row: i32x4.dot_i16x8_s leaves each row's two products
// summed in its own lane, so a block's 4 integer sums need no reduction across lanes and turn
// into floats with one convert and one multiply. The weights of one pair, loaded once, serve
// 4 tokens at a time (prefill); a single token (decoding) reads them once. A last group with
// fewer than 4 rows is padded with zero rows.

const GROUP_BLOCK_BYTES: usize = 144;

/** Floats of room for n rows of k columns (k a multiple of 32) in the 4-row interleaved layout. */
export function q8_0_gemm_packed_floats(n: i32, k: i32): i32 {
  return ((n + 3) >> 2) * (k / 32) * 36;
}

// Interleaves n rows of Q8_0 (GGUF's layout, k/32 blocks of 34 bytes per row, any byte address)
// at w into the layout above at out (q8_0_gemm_packed_floats(n, k) floats, 16-byte aligned).
// Returns how many blocks have a scale that is infinite or NaN (a corrupt file: every output of
// such a row would be NaN).
export function q8_0_gemm_pack_x4(w: usize, n: i32, k: i32, out: usize): i32 {
  const blocks = k / 32;
  const groups = (n + 3) >> 2;
  memory.fill(out, 0, <usize>groups * blocks * GROUP_BLOCK_BYTES);
  let bad = 0;
  for (let r = 0; r < n; r++) {
    const lane = <usize>(r & 3);
    for (let b = 0; b < blocks; b++) {
      const src = w + (<usize>r * blocks + b) * 34;
      const dst = out + (<usize>(r >> 2) * blocks + b) * GROUP_BLOCK_BYTES;
      const h = <u32>load<u16>(src);
      if ((h & 0x7c00) == 0x7c00) bad++;
      store<f32>(dst + lane * 4, half_to_f32(h));
      for (let p: usize = 0; p < 16; p++) store<u16>(dst + 16 + p * 8 + lane * 2, load<u16>(src + 2 + p * 2));
    }
  }
  return bad;
}

// y[t][r] = sum over blocks b of f32(sum_j q[r][b][j] * xq[t][b][j]) * (d[r][b] * xd[t][b]), for
// m token rows t of activations quantized by q8_0_quantize (xq: m x k int16, xd: m x k/32
// f32) and n output features r of W interleaved by q8_0_gemm_pack_x4 at w (its first group).
// y rows are ldy floats apart and must not overlap the inputs. Every output is its row's sum
// over the blocks in order, each block's integer sum exact, whatever m and however the tokens
// fall into tiles: one token (decoding), a block of tokens (prefill) and any split of the groups
// over threads give identical rows, on every build.
//
// Per 4-row group the tokens run 4 at a time (the rest one by one), so each weight pair loaded
// serves 4 tokens while the group's blocks (18 KiB at k = 4096) stay in cache.
export function q8_0_gemm_x4(w: usize, xq: usize, xd: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32): void {
  const blocks = k / 32;
  const groupBytes = <usize>blocks * GROUP_BLOCK_BYTES;
  const xBytes = <usize>k * 2;
  const dBytes = <usize>blocks * 4;
  const yBytes = <usize>ldy * 4;
  for (let r = 0; r < n; r += 4) {
    const g = w + <usize>(r >> 2) * groupBytes;
    const rows = min(4, n - r);
    const yr = y + <usize>r * 4;
    if (ASC_FEATURE_SIMD) {
      let t = 0;
      for (; t + 4 <= m; t += 4) tile_4x4(g, xq + <usize>t * xBytes, xd + <usize>t * dBytes, yr + <usize>t * yBytes, blocks, xBytes, dBytes, yBytes, rows);
      for (; t < m; t++) tile_4x1(g, xq + <usize>t * xBytes, xd + <usize>t * dBytes, yr + <usize>t * yBytes, blocks, rows);
    } else {
      for (let t = 0; t < m; t++) rows_scalar(g, xq + <usize>t * xBytes, xd + <usize>t * dBytes, yr + <usize>t * yBytes, blocks, rows);
    }
  }
}

// One column pair's weights of the 4 rows (w: 8 int16) against the activation pair at x
// broadcast to every row: each row's two products, summed, in its lane.
@inline
function pair_dot(w: v128, x: usize): v128 {
  return i32x4.dot_i16x8_s(w, v128.load32_splat(x));
}

// y += f32(s) * (d_w * d_x) per row: the block's float step, in the order every build takes.
@inline
function block_step(acc: v128, s: v128, dw: v128, dx: usize): v128 {
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.mul(dw, v128.load32_splat(dx))));
}

// One 4-row group (at g) times 4 tokens (activations at x and xd, token i at x + i * xs and
// xd + i * ds), into the first `rows` lanes of y, y + ys, y + 2 ys, y + 3 ys.
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
  store_rows(y, a0, rows);
  store_rows(y + ys, a1, rows);
  store_rows(y + 2 * ys, a2, rows);
  store_rows(y + 3 * ys, a3, rows);
}

// One 4-row group (at g) times one token (at x, xd) into the first `rows` lanes of y.
@inline
function tile_4x1(g: usize, x: usize, xd: usize, y: usize, blocks: i32, rows: i32): void {
  let acc = f32x4.splat(0);
  let p = g;
  let xb = x;
  for (let b = 0; b < blocks; b++) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0);
    // two sums, so that consecutive multiplies do not wait on one add chain
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

// The scalar build: the same sums row by row.
@inline
function rows_scalar(g: usize, x: usize, xd: usize, y: usize, blocks: i32, rows: i32): void {
  for (let i = 0; i < rows; i++) {
    let acc: f32 = 0;
    for (let b = 0; b < blocks; b++) {
      const p = g + <usize>b * GROUP_BLOCK_BYTES;
      const q = p + 16 + <usize>i * 2;
      const xb = x + <usize>b * 64;
      let s: i32 = 0;
      for (let j: usize = 0; j < 32; j++) s += <i32>load<i8>(q + (j >> 1) * 8 + (j & 1)) * <i32>load<i16>(xb + j * 2);
      acc += <f32>s * (load<f32>(p + <usize>i * 4) * load<f32>(xd + <usize>b * 4));
    }
    store<f32>(y + <usize>i * 4, acc);
  }
}
