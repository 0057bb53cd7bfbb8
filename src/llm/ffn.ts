// The FFN of a layer, as a swappable part: the layer loop hands it the post-attention RMSNorm
// output and takes back the block's output. Dense here; FactorLLM's routed experts in
// llm/routed-ffn.ts.

import type { F32Buffer } from '../runtime/buffer.js';
import { weightBytes, type DenseFfn, type GemmWeights, type GgmlBlockType, type Kernels, type SingleWeights } from '../runtime/kernels.js';
import { type HostMatrix, stackRows } from '../model/weights.js';

/**
 * One host matrix into the engine: float32 as gemm panels, Q8_0 blocks as int8 groups, every
 * other ggml type in its own blocks (never widened).
 */
export function uploadMatrix(k: Kernels, m: HostMatrix, rows: number, cols: number, what: string): SingleWeights {
  if (m instanceof Float32Array) return k.packFrom(m, rows, cols, what);
  if (m.type === 'Q8_0') return k.q8Matrix(m.bytes, rows, cols, what);
  return k.ggmlMatrix(m.bytes, m.type.toLowerCase() as GgmlBlockType, rows, cols, what);
}

/**
 * Matrices of `cols` columns (wq, wk, wv) as one product: one matrix when they share a type,
 * else a stack of each in its own.
 */
export function uploadStacked(k: Kernels, parts: HostMatrix[], rows: number[], cols: number, what: string): GemmWeights {
  const one = stackRows(parts, cols);
  if (one) return uploadMatrix(k, one, rows.reduce((a, b) => a + b, 0), cols, what);
  return k.stack(parts.map((p, i) => uploadMatrix(k, p, rows[i]!, cols, `${what} part ${i}`)));
}

export interface LayerFfn {
  /** 'dense', or the name of another implementation. */
  readonly kind: string;
  /** y = FFN(x) for `tokens` rows of dim floats (x and y apart). */
  forward(x: F32Buffer, y: F32Buffer, tokens: number): void;
  /** Bytes of weights one decoded token streams from memory (routed: the k experts it uses). */
  bytesPerToken(): number;
}

/** The dense SwiGLU FFN on packed weights, one wasm call per block of tokens. */
export class DenseLayerFfn implements LayerFfn {
  readonly kind = 'dense';
  readonly weights: DenseFfn;
  private readonly kernels: Kernels;

  constructor(kernels: Kernels, weights: DenseFfn) {
    this.kernels = kernels;
    this.weights = weights;
  }

  forward(x: F32Buffer, y: F32Buffer, tokens: number): void {
    this.kernels.ffn(this.weights, x, y, tokens);
  }

  bytesPerToken(): number {
    const w = this.weights;
    return weightBytes(w.w1) + weightBytes(w.w3) + weightBytes(w.w2);
  }
}
