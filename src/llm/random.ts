// Random Llama weights from a seed, for benchmarks and tests of shapes no real checkpoint has:
// uniform in ±1/sqrt(fan_in) for matrices (so activations keep their scale through the layers),
// ones for the norms. In Q8_0 each matrix is quantized as soon as it is drawn, so a 1.1B-shaped
// model never holds its 4.4 GB of float32 at once.

import { FfnkitError } from '../errors.js';
import { rng } from '../rng.js';
import { encodeQ8_0 } from '../model/q8.js';
import type { HostMatrix, LlamaConfig, LlamaWeights } from '../model/weights.js';
import { checkConfig, kvDim, qDim } from '../model/weights.js';

/** The defaults of a llama2.c-style config; pass the shape fields. */
export function llamaConfig(shape: Pick<LlamaConfig, 'dim' | 'hiddenDim' | 'nLayers' | 'nHeads' | 'nKvHeads' | 'vocabSize' | 'seqLen'> & Partial<LlamaConfig>): LlamaConfig {
  return { normEps: 1e-5, ropeTheta: 10000, ropeStyle: 'interleaved', sharedClassifier: true, ...shape };
}

/**
 * Weights for `config`, reproducible from `seed`: float32, or with `type` 'q8_0' every matrix in
 * Q8_0 (the same draws, quantized; the embedding too, which a shared classifier is). Q8_0 needs
 * dim and hiddenDim in multiples of 32.
 */
export function randomLlamaWeights(config: LlamaConfig, seed?: number, type?: 'f32'): LlamaWeights;
export function randomLlamaWeights(config: LlamaConfig, seed: number, type: 'f32' | 'q8_0'): LlamaWeights<HostMatrix>;
export function randomLlamaWeights(config: LlamaConfig, seed = 1, type: 'f32' | 'q8_0' = 'f32'): LlamaWeights<HostMatrix> {
  checkConfig(config, 'random weights');
  if (type === 'q8_0' && (config.dim % 32 !== 0 || config.hiddenDim % 32 !== 0)) {
    throw new FfnkitError('E_ARG', `random weights: Q8_0 needs dim and hiddenDim in multiples of 32, found ${config.dim} and ${config.hiddenDim}`);
  }
  const next = rng(seed);
  const draw = (rows: number, cols: number) => {
    const a = new Float32Array(rows * cols);
    const scale = 1 / Math.sqrt(cols);
    for (let i = 0; i < a.length; i++) a[i] = (2 * next() - 1) * scale;
    return a;
  };
  const matrix = (rows: number, cols: number): HostMatrix =>
    type === 'q8_0' ? { type: 'Q8_0', rows, cols, bytes: encodeQ8_0(draw(rows, cols)) } : draw(rows, cols);
  const ones = (n: number) => new Float32Array(n).fill(1);
  const c = config;
  const kv = kvDim(c);
  const embedding = matrix(c.vocabSize, c.dim);
  return {
    config: c,
    tokenEmbedding: embedding,
    layers: Array.from({ length: c.nLayers }, () => ({
      attnNorm: ones(c.dim),
      wq: matrix(qDim(c), c.dim),
      wk: matrix(kv, c.dim),
      wv: matrix(kv, c.dim),
      wo: matrix(c.dim, qDim(c)),
      ffnNorm: ones(c.dim),
      w1: matrix(c.hiddenDim, c.dim),
      w2: matrix(c.dim, c.hiddenDim),
      w3: matrix(c.hiddenDim, c.dim),
    })),
    finalNorm: ones(c.dim),
    classifier: c.sharedClassifier ? embedding : matrix(c.vocabSize, c.dim),
  };
}
