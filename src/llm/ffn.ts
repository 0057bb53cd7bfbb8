// The FFN of a layer, as a swappable part: the layer loop hands it the post-attention RMSNorm
// output and takes back the block's output. Dense here; FactorLLM's routed experts in
// llm/routed-ffn.ts.

import { FfnkitError } from '../errors.js';
import type { F32Buffer } from '../runtime/buffer.js';
import type { DenseFfn, GemmWeights, Kernels } from '../runtime/kernels.js';
import type { HostMatrix } from '../model/weights.js';

/** One host matrix into the engine: float32 as gemm panels, Q8_0 blocks as int8 groups. */
export function uploadMatrix(k: Kernels, m: HostMatrix, rows: number, cols: number, what: string): GemmWeights {
  if (m instanceof Float32Array) return k.packFrom(m, rows, cols, what);
  if (m.type === 'Q8_0') return k.q8Matrix(m.bytes, rows, cols, what);
  throw new FfnkitError('E_UNSUPPORTED', `${what}: no kernel runs ${m.type} matrices yet (read the file with blocks: 'runnable' to widen them to float32)`);
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
    return (w.w1.data.length + w.w3.data.length + w.w2.data.length) * 4;
  }
}
