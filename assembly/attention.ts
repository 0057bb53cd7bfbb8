// Causal multi-head attention with grouped-query heads, over a KV cache, for a block of t query
// tokens at positions p0 .. p0+t-1 (t = 1 when decoding). As llama2.c's forward: per query head,
// scores[s] = q · k[s] / sqrt(head_dim) for s = 0 .. pos, a stable softmax, then the
// score-weighted sum of v[s]. Query head h reads KV head h / (n_heads / n_kv_heads).

import { dot } from './reduce';
import { softmax_row } from './norm';
import { axpy } from './elementwise';
import { madd } from './simd';

// Layout (floats; all row strides in floats):
//   q:      t rows, stride q_stride; a row holds n_heads heads of head_dim, head-major
//   k, v:   cache rows for positions 0 .. p0+t-1, stride kv_stride; a row holds n_kv_heads heads
//           (the rows of this block must already be written)
//   out:    t rows, stride out_stride; a row receives n_heads heads of head_dim
//   scores: scratch of at least p0 + t floats
// out must not overlap q, k, v or scores.
export function f32_attention(
  q: usize, q_stride: i32, k: usize, v: usize, kv_stride: i32, out: usize, out_stride: i32, scores: usize,
  t: i32, p0: i32, n_heads: i32, n_kv_heads: i32, head_dim: i32,
): void {
  const group = n_heads / n_kv_heads;
  const root = Mathf.sqrt(<f32>head_dim);
  const head_bytes = <usize>head_dim * 4;
  const kv_row = <usize>kv_stride * 4;
  for (let i = 0; i < t; i++) {
    const n = p0 + i + 1;
    for (let h = 0; h < n_heads; h++) {
      const qh = q + (<usize>i * <usize>q_stride) * 4 + <usize>h * head_bytes;
      const kvh = <usize>(h / group) * head_bytes;
      for (let s = 0; s < n; s++) {
        store<f32>(scores + <usize>s * 4, dot(qh, k + <usize>s * kv_row + kvh, head_dim) / root);
      }
      softmax_row(scores, scores, n);
      const oh = out + (<usize>i * <usize>out_stride) * 4 + <usize>h * head_bytes;
      memory.fill(oh, 0, head_bytes);
      for (let s = 0; s < n; s++) {
        axpy(load<f32>(scores + <usize>s * 4), v + <usize>s * kv_row + kvh, oh, head_dim);
      }
    }
  }
}

// ---- one whole sequence (training) ---------------------------------------------------------
// With every key of a sequence at hand, the loops run over keys instead of over head_dim: each
// KV head's keys and values are first transposed to [head_dim][t] (key-major rows), so a query's
// scores are head_dim multiply-adds of four keys at a time and each output is one dot product
// over keys. With small heads (stories260K's are 8 wide) this is several times faster than the
// per-key dot products of f32_attention, which suit a KV cache read once per decoded token.

// dst[d * t + s] = src[s * row + d] for s < t, d < hd: one head of t rows, transposed.
@inline
export function transpose_head(src: usize, row: usize, t: i32, hd: i32, dst: usize): void {
  for (let s = 0; s < t; s++) {
    const r = src + <usize>s * row;
    for (let d = 0; d < hd; d++) store<f32>(dst + (<usize>d * <usize>t + <usize>s) * 4, load<f32>(r + <usize>d * 4));
  }
}

// out[j] = scale * sum_d x[d] * mt[d * t + j] for j < n: a vector against the first n columns of
// a [hd][t] key-major matrix (scores against transposed keys, or dO against transposed values).
@inline
export function keys_dot(x: usize, mt: usize, t: i32, hd: i32, n: i32, scale: f32, out: usize): void {
  const rowBytes = <usize>t * 4;
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    const vs = f32x4.splat(scale);
    for (; j + 4 <= n; j += 4) {
      let acc = f32x4.splat(0);
      let p = mt + <usize>j * 4;
      for (let d = 0; d < hd; d++) {
        acc = madd(v128.load32_splat(x + <usize>d * 4), v128.load(p), acc);
        p += rowBytes;
      }
      v128.store(out + <usize>j * 4, f32x4.mul(acc, vs));
    }
  }
  for (; j < n; j++) {
    let acc: f32 = 0;
    for (let d = 0; d < hd; d++) acc += load<f32>(x + <usize>d * 4) * load<f32>(mt + (<usize>d * <usize>t + <usize>j) * 4);
    store<f32>(out + <usize>j * 4, acc * scale);
  }
}

// The softmax row of one query (x, head_dim floats) against the first n of t key-major keys:
// p[j] = softmax_j(x · k_j * inv_root). The forward computes it once per query and head; the
// backward (f32_attention_seq_backward) recomputes it through this same function, so bit for bit.
@inline
export function softmax_scores(x: usize, kT: usize, t: i32, hd: i32, n: i32, inv_root: f32, p: usize): void {
  keys_dot(x, kT, t, hd, n, inv_root, p);
  softmax_row(p, p, n);
}

// Causal grouped-query attention over one sequence of t tokens at positions 0 .. t-1 (the same
// function as f32_attention with p0 = 0 and keys and values the sequence's own rows).
// Layout (floats; strides in floats): q, k, v rows of stride qkv_stride (q: n_heads heads of
// head_dim; k, v: n_kv_heads heads); out rows of stride o_stride, apart from the inputs;
// scratch: 2 * head_dim * t + t floats.
export function f32_attention_seq(
  q: usize, k: usize, v: usize, qkv_stride: i32, out: usize, o_stride: i32, scratch: usize,
  t: i32, n_heads: i32, n_kv_heads: i32, head_dim: i32,
): void {
  const group = n_heads / n_kv_heads;
  const inv_root = <f32>1.0 / Mathf.sqrt(<f32>head_dim);
  const head_bytes = <usize>head_dim * 4;
  const row = <usize>qkv_stride * 4;
  const orow = <usize>o_stride * 4;
  const plane = <usize>head_dim * <usize>t * 4;
  const kT = scratch;
  const vT = scratch + plane;
  const scores = vT + plane;
  for (let g = 0; g < n_kv_heads; g++) {
    transpose_head(k + <usize>g * head_bytes, row, t, head_dim, kT);
    transpose_head(v + <usize>g * head_bytes, row, t, head_dim, vT);
    for (let h = g * group; h < (g + 1) * group; h++) {
      for (let i = 0; i < t; i++) {
        const n = i + 1;
        softmax_scores(q + <usize>i * row + <usize>h * head_bytes, kT, t, head_dim, n, inv_root, scores);
        const oh = out + <usize>i * orow + <usize>h * head_bytes;
        for (let d = 0; d < head_dim; d++) {
          store<f32>(oh + <usize>d * 4, dot(scores, vT + <usize>d * <usize>t * 4, n));
        }
      }
    }
  }
}
