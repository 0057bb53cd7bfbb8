// Turning a dense SwiGLU FFN into E experts (FactorLLM): expert e owns a group of intermediate
// neurons, i.e. those rows of w1 (gate) and w3 (up) and those columns of w2 (down), stored
// contiguously and zero-padded to the largest group, so the experts' outputs add up to the
// dense output exactly (a zero row gives silu(0)·0 = 0).

import { FfnkitError } from '../errors.js';
import type { Combination, LlamaLayer, RoutedFfnWeights } from '../model/weights.js';
import { rng } from '../rng.js';

export interface FactorizeOptions {
  topK: number;
  combination?: Combination;
  split?: string;
  /** Seed of the untrained router's initialisation. */
  seed?: number;
}

/** Experts from `groups` (neuron indices per expert) of a dense layer with `dim` inputs. */
export function factorizeLayer(layer: Pick<LlamaLayer, 'w1' | 'w2' | 'w3'>, dim: number, hidden: number, groups: number[][], options: FactorizeOptions): RoutedFfnWeights {
  const E = groups.length;
  const { topK, combination = 'sum', seed = 1 } = options;
  if (E < 2) throw new FfnkitError('E_ARG', `experts: expected at least 2, found ${E}`);
  if (!Number.isInteger(topK) || topK < 1 || topK > E) throw new FfnkitError('E_ARG', `top-k: expected an integer in 1..${E}, found ${topK}`);
  const seen = new Uint8Array(hidden);
  for (const g of groups) {
    for (const i of g) {
      if (!Number.isInteger(i) || i < 0 || i >= hidden || seen[i]) throw new FfnkitError('E_ARG', `groups: neuron ${i} is out of range or in two experts`);
      seen[i] = 1;
    }
  }
  if (seen.some((s) => s === 0)) throw new FfnkitError('E_ARG', 'groups: some neurons are in no expert');
  const he = Math.max(...groups.map((g) => g.length));
  const w1 = new Float32Array(E * he * dim);
  const w3 = new Float32Array(E * he * dim);
  const w2 = new Float32Array(E * dim * he);
  groups.forEach((g, e) => {
    g.forEach((n, j) => {
      w1.set(layer.w1.subarray(n * dim, (n + 1) * dim), (e * he + j) * dim);
      w3.set(layer.w3.subarray(n * dim, (n + 1) * dim), (e * he + j) * dim);
      for (let r = 0; r < dim; r++) w2[(e * dim + r) * he + j] = layer.w2[r * hidden + n]!;
    });
  });
  return {
    experts: E,
    topK,
    combination,
    expertHidden: he,
    router: initRouter(E, dim, seed),
    routerBias: new Float32Array(E),
    w1,
    w3,
    w2,
    ...(options.split ? { split: options.split } : {}),
  };
}

/** An untrained router: uniform in ±1/sqrt(dim), as a freshly initialised nn.Linear. */
export function initRouter(experts: number, dim: number, seed: number): Float32Array {
  const next = rng(seed);
  const bound = 1 / Math.sqrt(dim);
  return Float32Array.from({ length: experts * dim }, () => (2 * next() - 1) * bound);
}

