// Static structured pruning, the baseline FactorLLM has to beat at equal compute: keep in every
// layer the FFN neurons that fire most (largest mean |silu(w1 h)·(w3 h)| over calibration text),
// drop the rest for every token. The result is a dense model with a narrower FFN.

import { FfnkitError } from '../errors.js';
import type { Tokenizer } from '../formats/tokenizer.js';
import { LlamaModel, type ModelOptions } from '../llm/model.js';
import type { LlamaLayer, LlamaWeights } from '../model/weights.js';
import { swigluActivations } from './activations.js';
import { collectFfnInputs } from './calibrate.js';

export interface PruneOptions {
  /** FFN neurons kept per layer. */
  keep: number;
  /** Calibration tokens to rank neurons on. Default 8192. */
  calibTokens?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

/** The `keep` neurons of largest mean |activation|, in their original order. */
export function strongestNeurons(activations: Float32Array, tokens: number, hidden: number, keep: number): number[] {
  const mean = new Float64Array(hidden);
  for (let t = 0; t < tokens; t++) for (let j = 0; j < hidden; j++) mean[j]! += Math.abs(activations[t * hidden + j]!);
  const order = Array.from({ length: hidden }, (_, j) => j).sort((a, b) => mean[b]! - mean[a]! || a - b);
  return order.slice(0, keep).sort((a, b) => a - b);
}

/** A layer's FFN cut to the neurons `kept`: their rows of w1/w3 and columns of w2. */
export function keepNeurons(layer: LlamaLayer, kept: number[], dim: number, hidden: number): LlamaLayer {
  const h = kept.length;
  const w1 = new Float32Array(h * dim);
  const w3 = new Float32Array(h * dim);
  const w2 = new Float32Array(dim * h);
  kept.forEach((j, r) => {
    w1.set(layer.w1.subarray(j * dim, (j + 1) * dim), r * dim);
    w3.set(layer.w3.subarray(j * dim, (j + 1) * dim), r * dim);
    for (let i = 0; i < dim; i++) w2[i * h + r] = layer.w2[i * hidden + j]!;
  });
  return { ...layer, w1, w3, w2 };
}

/** A pruned copy of the dense `weights` (the input is not modified). */
export async function pruneModel(
  weights: LlamaWeights, tokenizer: Tokenizer, calibText: string, options: PruneOptions, modelOptions: ModelOptions = {},
): Promise<LlamaWeights> {
  const c = weights.config;
  const { keep } = options;
  if (!Number.isInteger(keep) || keep < 1 || keep > c.hiddenDim) {
    throw new FfnkitError('E_ARG', `keep: expected an integer in 1..${c.hiddenDim} (the FFN's hidden size), found ${String(keep)}`);
  }
  if (weights.layers.some((l) => l.routed)) throw new FfnkitError('E_ARG', 'model: factorized (pruning takes a dense model)');
  const progress = options.onProgress ?? (() => {});
  const dense = await LlamaModel.create(weights, modelOptions);
  try {
    const calib = collectFfnInputs(dense, tokenizer, calibText, options.calibTokens ?? 8192, (n, total) => progress('calibrate', n, total));
    const layers = weights.layers.map((layer, li) => {
      progress('rank', li, c.nLayers);
      const act = swigluActivations(dense.engine, layer, calib.inputs[li]!, calib.tokens, c.dim, c.hiddenDim);
      return keepNeurons(layer, strongestNeurons(act, calib.tokens, c.hiddenDim, keep), c.dim, c.hiddenDim);
    });
    progress('done', c.nLayers, c.nLayers);
    return { ...weights, config: { ...c, hiddenDim: keep }, layers };
  } finally {
    if (!modelOptions.engine) dense.engine.close();
  }
}
