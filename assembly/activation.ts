// Activations of the Gemma-style graphs: GeGLU, the gate of their FFN (SwiGLU lives in
// elementwise.ts, next to the fused FFN), and tanh soft-capping. Any alignment; the output may be
// an input.

import { gelu_tanh4, gelu_tanh1 } from './math';

// y[n] = GELU_tanh(gate[n]) * up[n]   (gate, up, y: n floats)
export function f32_geglu_tanh(gate: usize, up: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i * 4;
      v128.store(y + o, f32x4.mul(gelu_tanh4(v128.load(gate + o)), v128.load(up + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(y + o, gelu_tanh1(load<f32>(gate + o)) * load<f32>(up + o));
  }
}

// y[i] = cap * tanh(x[i] / cap)   (x, y: n floats; cap > 0): the soft-capping of
// Gemma 2's final logits.
export function f32_softcap(x: usize, cap: f32, y: usize, n: i32): void {
  const inv = <f32>1.0 / cap;
  for (let i = 0; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(y + o, cap * Mathf.tanh(load<f32>(x + o) * inv));
  }
}
