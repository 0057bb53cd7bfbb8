// ffnkit/factor: FactorLLM, a dense model's FFNs cut into experts with a trained router: the
// whole-model pipeline, its steps (neuron splits, factorization, calibration, router training on
// the PA loss) and the routed FFN a factorized model runs.

export { factorizeModel, checkExpertShape, type FactorizeModelOptions } from '../factor/pipeline.js';
export { pruneModel, strongestNeurons, keepNeurons, type PruneOptions } from '../factor/prune.js';
export { splitNeurons, groupSizes, balancedKmeans, SPLIT_METHODS, type SplitMethod, type SplitInput } from '../factor/split.js';
export { factorizeLayer, initRouter, type FactorizeOptions } from '../factor/factorize.js';
export { collectFfnInputs, type CalibrationData } from '../factor/calibrate.js';
export { trainRouter, type RouterTrainOptions } from '../factor/router.js';
export { paLoss, type PaTerms } from '../factor/pa-loss.js';
export { RoutedLayerFfn, type RoutingMode } from '../llm/routed-ffn.js';
export { denseOfRouted } from '../model/weights.js';
