// Random Llama weights from a seed, for benchmarks and tests of shapes no real checkpoint has:
// uniform in ±1/sqrt(fan_in) for matrices (so activations keep their scale through the layers),
// ones for the norms.

import { rng } from '../rng.js';
import type { LlamaConfig, LlamaWeights } from './weights.js';
import { checkConfig, kvDim } from './weights.js';

/** The defaults of a llama2.c-style config; pass the shape fields. */
export function llamaConfig(shape: Pick<LlamaConfig, 'dim' | 'hiddenDim' | 'nLayers' | 'nHeads' | 'nKvHeads' | 'vocabSize' | 'seqLen'> & Partial<LlamaConfig>): LlamaConfig {
  return { normEps: 1e-5, ropeTheta: 10000, ropeStyle: 'interleaved', sharedClassifier: true, ...shape };
}

/** Weights for `config`, reproducible from `seed`. */
export function randomLlamaWeights(config: LlamaConfig, seed = 1): LlamaWeights {
  checkConfig(config, 'random weights');
  const next = rng(seed);
  const matrix = (rows: number, cols: number) => {
    const a = new Float32Array(rows * cols);
    const scale = 1 / Math.sqrt(cols);
    for (let i = 0; i < a.length; i++) a[i] = (2 * next() - 1) * scale;
    return a;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const c = config;
  const kv = kvDim(c);
  const tokenEmbedding = matrix(c.vocabSize, c.dim);
  return {
    config: c,
    tokenEmbedding,
    layers: Array.from({ length: c.nLayers }, () => ({
      attnNorm: ones(c.dim),
      wq: matrix(c.dim, c.dim),
      wk: matrix(kv, c.dim),
      wv: matrix(kv, c.dim),
      wo: matrix(c.dim, c.dim),
      ffnNorm: ones(c.dim),
      w1: matrix(c.hiddenDim, c.dim),
      w2: matrix(c.dim, c.hiddenDim),
      w3: matrix(c.hiddenDim, c.dim),
    })),
    finalNorm: ones(c.dim),
    classifier: c.sharedClassifier ? tokenEmbedding : matrix(c.vocabSize, c.dim),
  };
}
