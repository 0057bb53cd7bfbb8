// The dense SwiGLU feed-forward block of Llama-family models, y = W2 · (silu(W1 x) * (W3 x)), for
// t tokens in one call, on weights packed by f32_gemm_pack_4x8. With t = 1 each product is the
// packed GEMV of decoding (f32_gemm_4x8 with M = 1); with more tokens the 4x8 GEMM microkernel.
// d = model width, h = hidden width.

import { f32_gemm_4x8 } from './gemm';
import { swiglu } from './elementwise';

//   x: t rows of d floats; w1p, w3p: gate and up packed (N = h, K = d); w2p: down packed
//   (N = d, K = h); scratch: 2*t*h floats; y: t rows of d floats.
//   y must not overlap x, the weights or scratch.
export function f32_ffn_swiglu_4x8(x: usize, t: i32, w1p: usize, w3p: usize, w2p: usize, d: i32, h: i32, scratch: usize, y: usize): void {
  const gate = scratch;
  const up = scratch + <usize>t * <usize>h * 4;
  f32_gemm_4x8(x, w1p, gate, t, h, d);
  f32_gemm_4x8(x, w3p, up, t, h, d);
  swiglu(gate, up, gate, t * h);
  f32_gemm_4x8(gate, w2p, y, t, d, h);
}
