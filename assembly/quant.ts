// Q8_0 (GGUF's 8-bit format): blocks of 32 weights, each block 34 bytes: an IEEE half scale d
// followed by 32 int8 q, weight = d * q. GGUF stores a matrix row after row, each row K/32
// consecutive blocks; q8_0_gemm_pack_x4 regroups the rows by 4 for the kernel (below).
//
// Activations are quantized per block the same way (q8_0_quantize), widened once to int16,
// and each block's dot product is i32x4.dot_i16x8_s on the integers, scaled by d_w * d_x: the
// int8 path that is safe on Node 20 (not the relaxed i8 dot, which V8 gets wrong there).

import { hmax } from './simd';
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

// ---- weights: Q8_0 rows regrouped by 4 -----------------------------------------------------
//
// GGUF keeps each row's blocks together, so a GEMV reading one row at a time runs one stream
// per row and decodes an f16 scale per 32 weights. The kernel below instead reads the blocks
// of 4 rows side by side (what llama.cpp's CPU "repack" does for ARM): at load, each group of 4
// rows becomes, per block b, 144 bytes:
//
//   [d0 d1 d2 d3: the 4 rows' scales as f32] [q of row 0: 32 int8] [row 1] [row 2] [row 3]
//
// The int8 values are GGUF's, unchanged; only the scales are widened (36 bytes per 32 weights
// instead of 34). One 4-row tile then shares its activation loads, turns its 4 integer sums into
// floats with one convert and one multiply, and streams a single contiguous run of memory: 1.4x
// the row-at-a-time kernel at 4096x4096 here. A last group with fewer than 4 rows is padded
// with zero rows.

const GROUP_BLOCK_BYTES: usize = 144;

/** Floats of room for n rows of k columns (k a multiple of 32) in the 4-row grouped layout. */
export function q8_0_gemm_packed_floats(n: i32, k: i32): i32 {
  return ((n + 3) >> 2) * (k / 32) * 36;
}

// Regroups n rows of Q8_0 (GGUF's layout, k/32 blocks of 34 bytes per row) at w into the layout
// above at out (q8_0_gemm_packed_floats(n, k) floats, 16-byte aligned). Returns how many blocks
// have a scale that is infinite or NaN (a corrupt file: every output of such a row would be NaN).
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
      memory.copy(dst + 16 + lane * 32, src + 2, 32);
    }
  }
  return bad;
}

// The 4 lanes' sums of s0..s3, as one vector: [sum(s0), sum(s1), sum(s2), sum(s3)].
@inline
function i32x4_sum4(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const t0 = i32x4.add(i32x4.shuffle(s0, s1, 0, 4, 1, 5), i32x4.shuffle(s0, s1, 2, 6, 3, 7));
  const t1 = i32x4.add(i32x4.shuffle(s2, s3, 0, 4, 1, 5), i32x4.shuffle(s2, s3, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(t0, t1, 0, 1, 4, 5), i32x4.shuffle(t0, t1, 2, 3, 6, 7));
}

// One row's block (32 int8 at q, sign-extended as they load) against 32 int16 activations.
@inline
function i32x4_block_dot(q: usize, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  let s = i32x4.dot_i16x8_s(v128.load8x8_s(q), x0);
  s = i32x4.add(s, i32x4.dot_i16x8_s(v128.load8x8_s(q, 8), x1));
  s = i32x4.add(s, i32x4.dot_i16x8_s(v128.load8x8_s(q, 16), x2));
  return i32x4.add(s, i32x4.dot_i16x8_s(v128.load8x8_s(q, 24), x3));
}

// y[t][r] = sum over blocks b of f32(sum_j q[r][b][j] * xq[t][b][j]) * (d[r][b] * xd[t][b]), for
// m token rows t of activations quantized by q8_0_quantize (xq: m x k int16, xd: m x k/32
// f32) and n output features r of W grouped by q8_0_gemm_pack_x4 at w. y rows are ldy floats apart
// and must not overlap the inputs. Every output is summed block by block in order, whatever m:
// one token (decoding) and a block of tokens (prefill) give identical rows. For m > 1 the 4-row
// group's 18 KiB (k = 4096) stay in L1/L2 while the tokens pass over them.
export function q8_0_gemm_x4(w: usize, xq: usize, xd: usize, y: usize, m: i32, n: i32, k: i32, ldy: i32): void {
  const blocks = k / 32;
  const groupBytes = <usize>blocks * GROUP_BLOCK_BYTES;
  for (let r = 0; r < n; r += 4) {
    const g = w + <usize>(r >> 2) * groupBytes;
    for (let t = 0; t < m; t++) {
      const xqt = xq + <usize>t * k * 2;
      const xdt = xd + <usize>t * blocks * 4;
      const yt = y + (<usize>t * ldy + r) * 4;
      if (ASC_FEATURE_SIMD) {
        let p = g;
        let acc = f32x4.splat(0);
        for (let b = 0; b < blocks; b++) {
          const xb = xqt + <usize>b * 64;
          const x0 = v128.load(xb), x1 = v128.load(xb, 16), x2 = v128.load(xb, 32), x3 = v128.load(xb, 48);
          const s = i32x4_sum4(i32x4_block_dot(p + 16, x0, x1, x2, x3), i32x4_block_dot(p + 48, x0, x1, x2, x3),
            i32x4_block_dot(p + 80, x0, x1, x2, x3), i32x4_block_dot(p + 112, x0, x1, x2, x3));
          const d = f32x4.mul(v128.load(p), v128.load32_splat(xdt + <usize>b * 4));
          acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), d));
          p += GROUP_BLOCK_BYTES;
        }
        if (r + 4 <= n) v128.store(yt, acc);
        else {
          // a last group of 1 to 3 rows: only those outputs exist
          store<f32>(yt, f32x4.extract_lane(acc, 0));
          if (n - r > 1) store<f32>(yt, f32x4.extract_lane(acc, 1), 4);
          if (n - r > 2) store<f32>(yt, f32x4.extract_lane(acc, 2), 8);
        }
      } else {
        for (let i = 0; i < min(4, n - r); i++) {
          let acc: f32 = 0;
          for (let b = 0; b < blocks; b++) {
            const p = g + <usize>b * GROUP_BLOCK_BYTES;
            const q = p + 16 + <usize>i * 32;
            let s: i32 = 0;
            for (let j = 0; j < 32; j++) s += <i32>load<i8>(q + <usize>j) * <i32>load<i16>(xqt + (<usize>b * 32 + <usize>j) * 2);
            acc += <f32>s * (load<f32>(p + <usize>i * 4) * load<f32>(xdt + <usize>b * 4));
          }
          store<f32>(yt + <usize>i * 4, acc);
        }
      }
    }
  }
}
