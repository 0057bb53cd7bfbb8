// The dense SwiGLU feed-forward block of Llama-family models, y = W2 · (silu(W1 x) * (W3 x)),
// as one call for one token (GEMV on row-major weights) and for a block of tokens (GEMM on packed
// weights). d = model width, h = hidden width.

import { gemv_f32 } from './gemv';
import { gemm_f32 } from './gemm';
import { swiglu } from './elementwise';

// One token.
//   x: d floats; w1, w3: h rows of d floats (gate, up); w2: d rows of h floats (down)
//   scratch: 2h floats; y: d floats. y must not overlap x, the weights or scratch.
export function ffn_swiglu_gemv_f32(x: usize, w1: usize, w3: usize, w2: usize, d: i32, h: i32, scratch: usize, y: usize): void {
  const gate = scratch;
  const up = scratch + <usize>h * 4;
  gemv_f32(w1, x, 0, gate, h, d);
  gemv_f32(w3, x, 0, up, h, d);
  swiglu(gate, up, gate, h);
  gemv_f32(w2, gate, 0, y, d, h);
}

// A block of t tokens.
//   x: t rows of d floats; w1p, w3p: gate and up packed by gemm_pack_f32 (N = h, K = d);
//   w2p: down packed (N = d, K = h); scratch: 2*t*h floats; y: t rows of d floats.
//   y must not overlap x, the weights or scratch.
export function ffn_swiglu_gemm_f32(x: usize, t: i32, w1p: usize, w3p: usize, w2p: usize, d: i32, h: i32, scratch: usize, y: usize): void {
  const gate = scratch;
  const up = scratch + <usize>t * <usize>h * 4;
  gemm_f32(x, w1p, gate, t, h, d);
  gemm_f32(x, w3p, up, t, h, d);
  swiglu(gate, up, gate, t * h);
  gemm_f32(gate, w2p, y, t, d, h);
}
