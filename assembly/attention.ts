// Causal multi-head attention with grouped-query heads, over a KV cache, for a block of t query
// tokens at positions p0 .. p0+t-1 (t = 1 when decoding). As llama2.c's forward: per query head,
// scores[s] = q · k[s] / sqrt(head_dim) for s = 0 .. pos, a stable softmax, then the
// score-weighted sum of v[s]. Query head h reads KV head h / (n_heads / n_kv_heads).
//
// Layout (floats; all row strides in floats):
//   q:      t rows, stride q_stride; a row holds n_heads heads of head_dim, head-major
//   k, v:   cache rows for positions 0 .. p0+t-1, stride kv_stride; a row holds n_kv_heads heads
//           (the rows of this block must already be written)
//   out:    t rows, stride out_stride; a row receives n_heads heads of head_dim
//   scores: scratch of at least p0 + t floats
// out must not overlap q, k, v or scores.

import { dot } from './reduce';
import { softmax_row } from './norm';
import { axpy } from './elementwise';

export function attention_f32(
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
