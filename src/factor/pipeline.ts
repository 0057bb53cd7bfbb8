// The whole FactorLLM recipe on a model: split each layer's neurons, build the experts,
// calibrate, then (unless told not to) train each layer's router with the PA loss on its own
// recorded FFN inputs (each layer its own input h, not the previous layer's FFN output as the
// authors' code does). The PA targets are the oracle's choice for the combination in use (see
// llm/routed-ffn.ts). Deterministic for a seed.

import { FfnkitError } from '../errors.js';
import type { Tokenizer } from '../formats/tokenizer.js';
import { LlamaModel, type ModelOptions } from '../llm/model.js';
import { matrixF32, type Combination, type HostMatrix, type LlamaConfig, type LlamaLayer, type LlamaWeights, type RoutedFfnWeights } from '../model/weights.js';
import { createEngine, type Engine } from '../runtime/engine.js';
import { swigluActivations } from './activations.js';
import { collectFfnInputs, type CalibrationData } from './calibrate.js';
import { expertsInSourceType } from './expert-blocks.js';
import { factorizeLayer } from './factorize.js';
import { gemmDistances } from './gemm-distances.js';
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

/**
 * A factorized copy of `weights` (the input is not modified). The model runs as it is held (block
 * types stay blocks, in the kernels that run them), and one layer at a time its FFN alone is
 * widened to float32 on the host to split and cut, so the dense weights are never all in float32
 * at once. The experts are in the block types of the matrices they were cut from (expert-blocks.ts
 * says which may be rounded again). Weight-only splits calibrate the model of experts and record
 * the PA targets as it runs; the co-activation split calibrates the dense model, then computes the
 * targets per layer.
 */
export async function factorizeModel(
  weights: LlamaWeights, tokenizer: Tokenizer, calibText: string, options: FactorizeModelOptions, modelOptions?: ModelOptions,
): Promise<LlamaWeights>;
export async function factorizeModel(
  weights: LlamaWeights<HostMatrix>, tokenizer: Tokenizer, calibText: string, options: FactorizeModelOptions, modelOptions?: ModelOptions,
): Promise<LlamaWeights<HostMatrix>>;
export async function factorizeModel(
  weights: LlamaWeights<HostMatrix>, tokenizer: Tokenizer, calibText: string, options: FactorizeModelOptions, modelOptions: ModelOptions = {},
): Promise<LlamaWeights<HostMatrix>> {
  const c = weights.config;
  const { experts, topK, split, combination = 'sum', steps = 300, lr = 0.01, batch = 256, balanceWeight = 0.01, seed = 1 } = options;
  checkExpertShape(experts, topK, c.hiddenDim);
  if (!SPLIT_METHODS.includes(split)) throw new FfnkitError('E_ARG', `split: expected one of ${SPLIT_METHODS.join(', ')}, found '${String(split)}'`);
  if (weights.layers.some((l) => l.routed)) throw new FfnkitError('E_ARG', 'model: already factorized');
  const progress = options.onProgress ?? (() => {});
  const maxTokens = options.calibTokens ?? 8192;
  const engine = modelOptions.engine ?? (await createEngine(modelOptions));
  const onTokens = (n: number, total: number) => progress('calibrate', n, total);

  /** One layer cut into experts, its FFN widened to float32 only meanwhile. */
  const cut = (layer: LlamaLayer<HostMatrix>, li: number, calib?: CalibrationData): RoutedFfnWeights<HostMatrix> => {
    progress('split', li, c.nLayers);
    // this layer's FFN in float32 (the arrays themselves when they are float32 already)
    const ffn = { w1: matrixF32(layer.w1), w2: matrixF32(layer.w2), w3: matrixF32(layer.w3) };
    // SwiGLU activations of a sample of the recorded inputs
    const n = split === 'coactivation' ? Math.min(calib!.tokens, options.coactivationTokens ?? 2048) : 0;
    const activations = n > 0 ? swigluActivations(engine, ffn, calib!.inputs[li]!, n, c.dim, c.hiddenDim) : undefined;
    // k-means distances as GEMMs in the engine
    const distances = gemmDistances(engine);
    let groups: number[][];
    try {
      groups = splitNeurons(split, experts, { hidden: c.hiddenDim, dim: c.dim, w1: ffn.w1, w3: ffn.w3, ...(activations ? { activations } : {}) }, seed + li, distances.table);
    } finally {
      distances.free();
    }
    return expertsInSourceType(factorizeLayer(ffn, c.dim, c.hiddenDim, groups, { topK, combination, split, seed: seed + 1000 + li }), groups, layer, c.dim);
  };
  const train = (routed: RoutedFfnWeights<HostMatrix>, li: number, inputs: Float32Array, targets: Int32Array) => {
    progress('train', li, c.nLayers);
    trainRouter(routed.router, routed.routerBias, inputs, targets, topK, {
      steps, lr, batch, balanceWeight, seed: seed + 2000 + li, trainBias: options.routerBias ?? true,
      onStep: (step, pa, bal) => options.onLoss?.(li, step, pa, bal),
    });
  };
  const withExperts = (routed: RoutedFfnWeights<HostMatrix>[]) => ({ ...weights, layers: weights.layers.map((l, li) => ({ ...l, routed: routed[li]! })) });

  if (split !== 'coactivation' && steps > 0) {
    // The split needs only the weights: cut every layer first, then calibrate the model of
    // experts, each FFN running all its experts (their sum is the dense FFN) and recording the
    // oracle's choice on the way, so the PA targets cost no second pass.
    const routed = weights.layers.map((layer, li) => cut(layer, li));
    const model = await LlamaModel.create(withExperts(routed), { ...modelOptions, engine });
    const targets = routed.map(() => new Int32Array(maxTokens * topK));
    const seen = routed.map(() => 0);
    const calib = collectFfnInputs(model, tokenizer, calibText, maxTokens, onTokens, (li) => {
      const ffn = model.layers[li]!.ffn as RoutedLayerFfn;
      return (x, y, tokens) => {
        const idx = ffn.allExperts(x, y, tokens);
        const room = Math.max(0, Math.min(tokens, maxTokens - seen[li]!));
        targets[li]!.set(idx.subarray(0, room * topK), seen[li]! * topK);
        seen[li]! += tokens;
      };
    });
    routed.forEach((r, li) => train(r, li, calib.inputs[li]!, targets[li]!.subarray(0, calib.tokens * topK)));
    progress('done', c.nLayers, c.nLayers);
    return withExperts(routed);
  }

  // co-activation clusters what the dense model's neurons do: calibrate it first
  const calib = split === 'coactivation'
    ? collectFfnInputs(await LlamaModel.create(weights, { ...modelOptions, engine }), tokenizer, calibText, maxTokens, onTokens)
    : undefined;
  const routed = weights.layers.map((layer, li) => {
    const r = cut(layer, li, calib);
    if (steps > 0) {
      progress('targets', li, c.nLayers);
      train(r, li, calib!.inputs[li]!, oracleTargets(engine, r, calib!, li, topK, c.dim, c.activation));
    }
    return r;
  });
  progress('done', c.nLayers, c.nLayers);
  return withExperts(routed);
}

/** The PA targets of one layer: for each recorded input, the oracle's k experts (see routed-ffn.ts). */
function oracleTargets(
  engine: Engine, routed: RoutedFfnWeights<HostMatrix>, calib: CalibrationData, li: number, topK: number, dim: number, activation?: LlamaConfig['activation'],
): Int32Array {
  const ffn = new RoutedLayerFfn(engine, routed, dim, `layers.${li}`, activation);
  try {
    ffn.mode = 'oracle';
    const n = calib.tokens;
    const targets = new Int32Array(n * topK);
    const block = 256;
    for (let t = 0; t < n; t += block) {
      const m = Math.min(block, n - t);
      const x = engine.upload(calib.inputs[li]!.subarray(t * dim, (t + m) * dim));
      targets.set(ffn.route(x, m).idx, t * topK);
      x.free();
    }
    return targets;
  } finally {
    ffn.free();
  }
}
