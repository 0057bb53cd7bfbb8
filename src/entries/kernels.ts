// ffnkit/kernels: the checked WebAssembly kernels behind the models, for building other networks:
// engines and their memory, matrix products (f32, packed, Q8_0), FFNs, attention, convolutions,
// and the backward kernels training uses. Results are F32Buffers in wasm memory (`toArray()`).

export { createEngine, Engine, type EngineOptions } from '../runtime/engine.js';
export { F32Buffer } from '../runtime/buffer.js';
export { Arena } from '../runtime/arena.js';
export {
  Kernels, ropeCosSin, type Matrix, type PackedMatrix, type Q8Matrix, type GemmWeights, type DenseFfn, type RopeLayout, type AttentionShape, type KvCache, type GroupedPointwise,
  type SingleWeights, type StackedMatrix, weightBytes,
} from '../runtime/kernels.js';
export { BackwardKernels, type TrainAttentionShape } from '../runtime/backward.js';
export { type Backend, BACKENDS, selectBackend } from '../runtime/wasm.js';
export { encodeQ8_0, decodeQ8_0 } from '../model/q8.js';
export { GGML_KERNEL_TRAITS, ggmlMatrixBytes, ggmlRowBytes, type GgmlBlockType, type GgmlKernelExports, type GgmlMatrix } from '../runtime/kernels/ggml.js';
export { type DotPath, type DotSelfTest, type RelaxedDotForm } from '../runtime/kernels/relaxed-dot.js';
export { INTEGER_DOTS, type IntegerDot } from '../runtime/kernels/relaxed-dot.js';
