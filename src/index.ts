// ffnkit: the browser-safe entry (no `node:` imports). Node users get `ffnkit/node` (the package's
// "node" export condition), which adds local-file reading and re-exports all of this.

export { FfnkitError, type ErrorCode } from './errors.js';
export { createEngine, Engine, type EngineOptions } from './runtime/engine.js';
export { F32Buffer } from './runtime/buffer.js';
export { Arena } from './runtime/arena.js';
export { Kernels, ropeCosSin, type Matrix, type PackedMatrix, type DenseFfn, type RopeLayout, type AttentionShape } from './runtime/kernels.js';
export { type Backend, BACKENDS, selectBackend } from './runtime/wasm.js';
