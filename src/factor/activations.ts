// The SwiGLU activations silu(w1 h)·(w3 h) of one layer's FFN on recorded inputs, in wasm: what
// the co-activation split clusters and what pruning ranks neurons by.

import type { Engine } from '../runtime/engine.js';
import type { LlamaLayer } from '../model/weights.js';

/** [tokens, hidden] activations of `layer` on the first `tokens` rows of `inputs` [*, dim]. */
export function swigluActivations(engine: Engine, layer: Pick<LlamaLayer, 'w1' | 'w3'>, inputs: Float32Array, tokens: number, dim: number, hidden: number): Float32Array {
  const k = engine.kernels;
  const x = engine.upload(inputs.subarray(0, tokens * dim));
  const w1 = k.packFrom(layer.w1, hidden, dim);
  const w3 = k.packFrom(layer.w3, hidden, dim);
  const g = engine.alloc(tokens * hidden);
  const u = engine.alloc(tokens * hidden);
  try {
    k.gemm(x, w1, g, tokens);
    k.gemm(x, w3, u, tokens);
    k.swiglu(g, u, g);
    return g.toArray();
  } finally {
    for (const b of [x, w1.data, w3.data, g, u]) b.free();
  }
}
