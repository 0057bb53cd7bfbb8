// Causal grouped-query attention with the options of Gemma-style graphs: a score scale of the
// caller's choosing, tanh soft-capping of the scores, and a sliding window. The same loop as
// attention_f32 (assembly/attention.ts), which stays the plain Llama path:
//   score[s] = q · k[s] * scale, then, when softcap > 0, softcap * tanh(score[s] / softcap)
//   (Gemma 2 caps at 50), over the keys s = first .. pos, where first = pos - window + 1 when
//   window > 0 (llama.cpp's standard window: a query sees itself and the window - 1 keys before
//   it) and 0 otherwise; a stable softmax; the score-weighted sum of v[s].
//
// Layout (floats; all row strides in floats), as attention_f32:
//   q:      t rows, stride q_stride; a row holds n_heads heads of head_dim, head-major
//   k, v:   cache rows for positions 0 .. p0+t-1, stride kv_stride; a row holds n_kv_heads heads
//           (the rows of this block must already be written)
//   out:    t rows, stride out_stride; a row receives n_heads heads of head_dim
//   scores: scratch of at least p0 + t floats (window > 0: at least min(window, p0 + t))
// out must not overlap q, k, v or scores. Query head h reads KV head h / (n_heads / n_kv_heads).

import { dot } from './reduce';
import { softmax_row } from './norm';
import { axpy } from './elementwise';
import { tanh1 } from './math';

export function f32_attention_windowed(
  q: usize, q_stride: i32, k: usize, v: usize, kv_stride: i32, out: usize, out_stride: i32, scores: usize,
  t: i32, p0: i32, n_heads: i32, n_kv_heads: i32, head_dim: i32, scale: f32, softcap: f32, window: i32,
): void {
  const group = n_heads / n_kv_heads;
  const head_bytes = <usize>head_dim * 4;
  const kv_row = <usize>kv_stride * 4;
  const inv_cap: f32 = softcap > 0 ? <f32>1.0 / softcap : 0;
  for (let i = 0; i < t; i++) {
    const pos = p0 + i;
    const first = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
    const n = pos + 1 - first;
    const k0 = k + <usize>first * kv_row;
    const v0 = v + <usize>first * kv_row;
    for (let h = 0; h < n_heads; h++) {
      const qh = q + (<usize>i * <usize>q_stride) * 4 + <usize>h * head_bytes;
      const kvh = <usize>(h / group) * head_bytes;
      for (let s = 0; s < n; s++) {
        let score = dot(qh, k0 + <usize>s * kv_row + kvh, head_dim) * scale;
        if (softcap > 0) score = softcap * tanh1(score * inv_cap);
        store<f32>(scores + <usize>s * 4, score);
      }
      softmax_row(scores, scores, n);
      const oh = out + (<usize>i * <usize>out_stride) * 4 + <usize>h * head_bytes;
      memory.fill(oh, 0, head_bytes);
      for (let s = 0; s < n; s++) {
        axpy(load<f32>(scores + <usize>s * 4), v0 + <usize>s * kv_row + kvh, oh, head_dim);
      }
    }
  }
}
