// ffnkit: the browser-safe entry (no `node:` imports). Node users get `ffnkit/node` (the package's
// "node" export condition), which adds local-file reading and re-exports all of this.

export { FfnkitError, type ErrorCode } from './errors.js';

// runtime: engines, memory, checked kernels
export { createEngine, Engine, type EngineOptions } from './runtime/engine.js';
export { F32Buffer } from './runtime/buffer.js';
export { Arena } from './runtime/arena.js';
export {
  Kernels, ropeCosSin, type Matrix, type PackedMatrix, type Q8Matrix, type GemmWeights, type DenseFfn, type RopeLayout, type AttentionShape, type GroupedPointwise,
} from './runtime/kernels.js';
export { type Backend, BACKENDS, selectBackend } from './runtime/wasm.js';
export { type ByteSource, readBytes } from './runtime/io.js';
export { rng } from './rng.js';

// Llama-family models
export { LlamaModel, weightType, type ModelOptions, type ForwardOptions, type WeightType } from './llm/model.js';
export { loadModel, readWeights, type ModelSource, type HfSource, type ModelFormat, type LoadedWeights, type ReadWeightsOptions } from './llm/load.js';
export { type LayerFfn, DenseLayerFfn, uploadMatrix } from './llm/ffn.js';
export { generate, generateIds, type GenerateOptions } from './llm/generate.js';
export { Sampler, Rng, argmax, type SamplerOptions } from './llm/sampler.js';
export { evaluate, type EvalResult, type EvalOptions } from './llm/evaluate.js';
export { splitDocuments } from './text/documents.js';
export {
  type LlamaConfig, type LlamaWeights, type LlamaLayer, type RopeStyle, type Family, type Activation, type RoutedFfnWeights, type Combination, type HostMatrix, type Q8Weights, parameterCount, denseOfRouted, matrixF32, matrixSize,
} from './model/weights.js';
export { randomLlamaWeights, llamaConfig } from './llm/random.js';

// file formats
export { Tokenizer, BOS, EOS, type EncodeOptions } from './formats/tokenizer.js';
export { readLlama2c, writeLlama2c } from './formats/llama2c.js';
export { readGguf, writeGguf, parseGguf, type TensorType, type GgufVocabulary, type ReadGgufOptions, type MetaValue } from './formats/gguf.js';
export { familyReads, familyConfig } from './formats/gguf-families.js';
export { readHfLlama, writeHfLlama, parseSafetensors, writeSafetensors } from './formats/safetensors.js';
export { encodeQ8_0, decodeQ8_0 } from './model/q8.js';

// FactorLLM
export { factorizeModel, checkExpertShape, type FactorizeModelOptions } from './factor/pipeline.js';
export { splitNeurons, groupSizes, balancedKmeans, SPLIT_METHODS, type SplitMethod } from './factor/split.js';
export { factorizeLayer, initRouter } from './factor/factorize.js';
export { RoutedLayerFfn, type RoutingMode } from './llm/routed-ffn.js';
export { paLoss, softmax64 } from './factor/pa-loss.js';
export { paTargets } from './llm/oracle.js';
export { trainRouter, type RouterTrainOptions } from './factor/router.js';
export { collectFfnInputs, type CalibrationData } from './factor/calibrate.js';
export { AdamW, type AdamWOptions } from './optim/adamw.js';
export { BackwardKernels, type TrainAttentionShape } from './runtime/backward.js';
export { TrainableLlama, type TrainModelOptions, type LossTerms } from './train/llama-train.js';
export { namedTensors, trainableNames, FACTORLLM_TRAINABLE } from './train/params.js';
export { type AuxWeights } from './train/expert-ffn.js';
export { finetune, learningRate, textTokens, sampleBatch, type FinetuneOptions, type FinetuneResult, type StepReport } from './train/finetune.js';
export { encodeCheckpoint, decodeCheckpoint, modelFingerprint, tokensFingerprint, type Checkpoint, type CheckpointTensor } from './train/checkpoint.js';
export { teacherText, teacherWeights, type TeacherTextOptions } from './train/teacher-text.js';
export { type AdamWState } from './optim/adamw.js';

// FFN-SkipLLM
export {
  SkipPolicy, ThresholdSkip, RandomSkip, StaticSkip, parseSkip, defaultSkipOptions, HISTOGRAM_BINS, type SkipStats, type ThresholdOptions,
} from './skip/policy.js';

// MetaMixer / FFNet
export { FfnetModel, type FfnetOptions } from './mixer/ffnet.js';
export {
  TimeSeriesFfnet, TIMESERIES_ETTH1, timeSeriesParameterShapes, randomTimeSeriesParams, readTimeSeriesSafetensors, checkTimeSeriesConfig, patchCount,
  mixerGroups, groupedPointwiseDense, type MixerPointwise,
  type TimeSeriesFfnetConfig,
} from './mixer/timeseries.js';
export { FFNET_VARIANTS, ffnetConfig, checkFfnetConfig, type FfnetConfig, type FfnetVariant } from './mixer/ffnet-config.js';
export { ffnetParameterShapes, randomFfnetParams, readFfnetSafetensors, paramSource, type ParamMap } from './mixer/ffnet-params.js';
export { buildFfnetGraph, type ParamSource, type FfnetGraphOptions } from './mixer/ffnet-graph.js';
export { GraphBuilder, graphParameterCount, graphFlops, type MixerGraph, type MixerOp, type FeatureShape, type Param } from './mixer/graph.js';
export { MixerRunner, kernelOf } from './mixer/runner.js';
