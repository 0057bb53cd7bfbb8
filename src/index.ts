// ffnkit: the browser-safe entry (no `node:` imports), with what a user of models needs. Node users
// get `ffnkit/node` (the package's "node" export condition), which adds local-file reading and
// re-exports all of this. The big areas have their own entries in src/entries/: ffnkit/kernels,
// ffnkit/factor, ffnkit/train, ffnkit/mixer and ffnkit/onnx.

export { FfnkitError, type ErrorCode } from './errors.js';

// runtime: engines (their kernels are in ffnkit/kernels)
export { createEngine, Engine, type EngineOptions } from './runtime/engine.js';
export { type Backend, BACKENDS } from './runtime/wasm.js';
export { INTEGER_DOTS, type IntegerDot } from './runtime/kernels/relaxed-dot.js';
export { type ByteSource, readBytes } from './runtime/io.js';

// Llama-family models
export { LlamaModel, weightType, type ModelOptions, type ForwardOptions, type WeightType } from './llm/model.js';
export { KV_CACHES, type KvCache } from './runtime/kernels.js';
export { loadModel, readWeights, type ModelSource, type HfSource, type ModelFormat, type LoadedWeights, type ReadWeightsOptions } from './llm/load.js';
export { type LayerFfn } from './llm/ffn.js';
export { generate, generateIds, type GenerateOptions, type FinishReason } from './llm/generate.js';
export { Sampler, type SamplerOptions } from './llm/sampler.js';
export { ChatSession, chat, type ChatOptions, type ChatSessionOptions, type TurnStats } from './llm/chat.js';
export { ChatTemplate, checkMessages, checkTools, checkVariables, messageText, type ChatMessage, type ChatTextPart, type ChatTool, type RenderOptions } from './text/chat-template.js';
export { evaluate, type EvalResult, type EvalOptions } from './llm/evaluate.js';
export {
  type LlamaConfig, type LlamaWeights, type LlamaLayer, type RopeStyle, type Family, type Activation, type RoutedFfnWeights, type Combination, type HostMatrix, type BlockMatrix, type Q8Weights, parameterCount,
} from './model/weights.js';

// file formats
export { Tokenizer, BOS, EOS, type EncodeOptions, type DecodeOptions, type StreamDecoder } from './formats/tokenizer.js';
export { SpmTokenizer } from './formats/spm.js';
export { BpeTokenizer } from './formats/bpe.js';
export { PRE_TOKENIZERS } from './formats/pretokenize.js';
export {
  ggufChatVocabulary, hfChatVocabulary, sentencePieceChatVocabulary, END_OF_TURN_TEXTS, type ChatVocabulary, type SpecialToken, type HfChatFiles,
} from './formats/chat-vocabulary.js';
export { readLlama2c, writeLlama2c } from './formats/llama2c.js';
export { readGguf, writeGguf, planGguf, parseGguf, type TensorType, type GgufVocabulary, type ReadGgufOptions, type WriteGgufOptions, type GgufTensorPlan, type MetaValue } from './formats/gguf.js';
export { ggufMetadata, type GgufMetadata, type GgufEntry, type GgufValueType, type GgufScalarType, type GgufRead } from './formats/gguf.js';
export { FILE_TYPES, fileTypeByName, type FileType } from './formats/quant-plan.js';
export { GGML_TYPES, ggmlTypeById, ggmlTypeByName, type GgmlType, type GgmlTypeName, type VecDotType } from './model/ggml-types.js';
export { familyReads, familyConfig, LLAMA_CPP_COMBINATION, LLAMA_CPP_MOE_GAPS, MOE_ARCHS } from './formats/gguf-families.js';
export { readHfLlama, writeHfLlama, parseSafetensors, writeSafetensors, type SafetensorsTensors } from './formats/safetensors.js';

// FFN-SkipLLM
export {
  SkipPolicy, ThresholdSkip, RandomSkip, StaticSkip, parseSkip, defaultSkipOptions, HISTOGRAM_BINS, type SkipStats, type ThresholdOptions,
} from './skip/policy.js';
