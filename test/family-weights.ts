// Random weights of each family for tests: Llama's draws plus the family's own tensors, shaped so
// the logits have a clear most likely token (shared by the llama.cpp comparisons and training).

import { familyConfig, type Family, type LlamaConfig, type LlamaWeights } from '../src/node/index.js';
import { llamaConfig, randomLlamaWeights } from '../src/llm/random.js';
import { rng } from '../src/rng.js';

/** Random weights of `family`: Llama's draws plus the family's own tensors (biases, q/k norms, post-norms), norms 1 +- 0.2. */
export function familyWeights(family: Family, shape: Partial<LlamaConfig>, seed: number, extras: { ropeFactors?: boolean } = {}): LlamaWeights {
  const base = llamaConfig({ dim: 128, hiddenDim: 320, nLayers: 3, nHeads: 4, nKvHeads: 2, vocabSize: 512, seqLen: 128, normEps: Math.fround(1e-5), ...shape });
  const c = familyConfig(family, base);
  const w = randomLlamaWeights(c, seed);
  const next = rng(seed + 1000);
  const around = (n: number, mid: number, spread: number) => Float32Array.from({ length: n }, () => mid + spread * (2 * next() - 1));
  const hd = c.headDim ?? c.dim / c.nHeads;
  const q = hd * c.nHeads;
  const kv = hd * c.nKvHeads;
  // Gemma's embeddings are scaled by sqrt(dim): draw them smaller so the stream keeps its size
  if (c.embeddingScale !== undefined) w.tokenEmbedding.forEach((v, i, a) => (a[i] = v / c.embeddingScale!));
  w.layers = w.layers.map((l) => ({
    ...l,
    attnNorm: around(c.dim, 1, 0.2),
    ffnNorm: around(c.dim, 1, 0.2),
    ...(family === 'qwen2' ? { bq: around(q, 0, 0.5), bk: around(kv, 0, 0.5), bv: around(kv, 0, 0.5) } : {}),
    ...(family === 'qwen3' || family === 'gemma3' ? { qNorm: around(hd, 1, 0.2), kNorm: around(hd, 1, 0.2) } : {}),
    ...(family === 'gemma2' || family === 'gemma3' ? { postAttnNorm: around(c.dim, 1, 0.2), postFfnNorm: around(c.dim, 1, 0.2) } : {}),
  }));
  w.finalNorm = around(c.dim, 1, 0.2);
  // a classifier with some spread, so the most likely token is a clear one
  if (!c.sharedClassifier) w.classifier = w.classifier.map((v) => v * 8);
  else w.tokenEmbedding.forEach((v, i, a) => (a[i] = v * 4));
  if (extras.ropeFactors) w.ropeFactors = Float32Array.from({ length: hd / 2 }, (_, i) => (i < hd / 8 ? 1 : i < hd / 4 ? 1 + (i - hd / 8) / 2 : 8));
  return w;
}

