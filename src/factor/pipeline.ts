// The whole FactorLLM recipe on a model: calibrate the dense model, split each layer's neurons,
// build the experts, then (unless told not to) train each layer's router with the PA loss on its
// own recorded FFN inputs (each layer its own input h, not the previous layer's FFN output as the
// authors' code does). The PA targets are the oracle's choice for the combination in use (see
// moe.ts). Deterministic for a seed.

import { FfnkitError } from '../errors.js';
import type { Tokenizer } from '../formats/tokenizer.js';
import { LlamaModel, type ModelOptions } from '../llm/model.js';
import type { Combination, LlamaWeights } from '../model/weights.js';
import { swigluActivations } from './activations.js';
import { collectFfnInputs } from './calibrate.js';
import { factorizeLayer } from './factorize.js';
import { RoutedLayerFfn } from '../llm/routed-ffn.js';
import { trainRouter } from './router.js';
import { SPLIT_METHODS, type SplitMethod, splitNeurons } from './split.js';

export interface FactorizeModelOptions {
  experts: number;
  topK: number;
  split: SplitMethod;
  combination?: Combination;
  /** Router training steps per layer; 0 leaves the routers untrained. Default 300. */
  steps?: number;
  lr?: number;
  batch?: number;
  /**
   * Give each router a bias (default true). Without one the file is one llama.cpp runs (its llama
   * graph has no router bias), with the `weighted` combination.
   */
  routerBias?: boolean;
  /** Weight of the balance term (0.01 in the paper; 0 = off). Default 0.01. */
  balanceWeight?: number;
  seed?: number;
  /** Calibration tokens to record. Default 8192. */
  calibTokens?: number;
  /** Tokens whose activations cluster neurons for the coactivation split. Default 2048. */
  coactivationTokens?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
  onLoss?: (layer: number, step: number, pa: number, balance: number) => void;
}

/** Checks E and k against the model before any work. */
export function checkExpertShape(experts: unknown, topK: unknown, hidden: number): void {
  if (typeof experts !== 'number' || !Number.isInteger(experts) || experts < 2) {
    throw new FfnkitError('E_ARG', `experts: expected an integer >= 2, found ${String(experts)}`);
  }
  if (experts > hidden) throw new FfnkitError('E_ARG', `experts: ${experts} is more than the hidden size ${hidden}`);
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1 || topK > experts) {
    throw new FfnkitError('E_ARG', `top-k: expected an integer in 1..${experts} (the expert count), found ${String(topK)}`);
  }
}

/** A factorized copy of `weights` (the input is not modified). */
export async function factorizeModel(
  weights: LlamaWeights, tokenizer: Tokenizer, calibText: string, options: FactorizeModelOptions, modelOptions: ModelOptions = {},
): Promise<LlamaWeights> {
  const c = weights.config;
  const { experts, topK, split, combination = 'sum', steps = 300, lr = 0.01, batch = 256, balanceWeight = 0.01, seed = 1 } = options;
  checkExpertShape(experts, topK, c.hiddenDim);
  if (!SPLIT_METHODS.includes(split)) throw new FfnkitError('E_ARG', `split: expected one of ${SPLIT_METHODS.join(', ')}, found '${String(split)}'`);
  if (weights.layers.some((l) => l.routed)) throw new FfnkitError('E_ARG', 'model: already factorized');
  const needInputs = steps > 0 || split === 'coactivation';
  const progress = options.onProgress ?? (() => {});

  const dense = await LlamaModel.create(weights, modelOptions);
  const calib = needInputs
    ? collectFfnInputs(dense, tokenizer, calibText, options.calibTokens ?? 8192, (n, total) => progress('calibrate', n, total))
    : undefined;
  const engine = dense.engine;

  const layers = weights.layers.map((layer, li) => {
    progress('split', li, c.nLayers);
    // SwiGLU activations of a sample of the recorded inputs
    const n = split === 'coactivation' ? Math.min(calib!.tokens, options.coactivationTokens ?? 2048) : 0;
    const activations = n > 0 ? swigluActivations(engine, layer, calib!.inputs[li]!, n, c.dim, c.hiddenDim) : undefined;
    const groups = splitNeurons(split, experts, { hidden: c.hiddenDim, dim: c.dim, w1: layer.w1, w3: layer.w3, ...(activations ? { activations } : {}) }, seed + li);
    const routed = factorizeLayer(layer, c.dim, c.hiddenDim, groups, { topK, combination, split, seed: seed + 1000 + li });
    return { ...layer, routed };
  });

  if (steps > 0) {
    layers.forEach((layer, li) => {
      progress('targets', li, c.nLayers);
      const routed = layer.routed;
      // the PA targets: for each recorded input, the k experts closest to dense / (E/k)
      const ffn = new RoutedLayerFfn(engine, routed, c.dim, `layers.${li}`, c.activation);
      ffn.mode = 'oracle';
      const n = calib!.tokens;
      const targets = new Int32Array(n * topK);
      const block = 256;
      for (let t = 0; t < n; t += block) {
        const m = Math.min(block, n - t);
        const x = engine.upload(calib!.inputs[li]!.subarray(t * c.dim, (t + m) * c.dim));
        targets.set(ffn.route(x, m).idx, t * topK);
        x.free();
      }
      progress('train', li, c.nLayers);
      trainRouter(routed.router, routed.routerBias, calib!.inputs[li]!, targets, topK, {
        steps, lr, batch, balanceWeight, seed: seed + 2000 + li, trainBias: options.routerBias ?? true,
        onStep: (step, pa, bal) => options.onLoss?.(li, step, pa, bal),
      });
    });
  }
  progress('done', c.nLayers, c.nLayers);
  return { ...weights, layers };
}
