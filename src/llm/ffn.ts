// The FFN of a layer, as a swappable part: the layer loop hands it the post-attention RMSNorm
// output and takes back the block's output. Dense is the one implementation so far; FactorLLM's
// routed experts will be the second.

import type { F32Buffer } from '../runtime/buffer.js';
import type { DenseFfn, Kernels } from '../runtime/kernels.js';

export interface LayerFfn {
  /** 'dense', or the name of another implementation. */
  readonly kind: string;
  /** y = FFN(x) for `tokens` rows of dim floats (x and y apart). */
  forward(x: F32Buffer, y: F32Buffer, tokens: number): void;
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
}
