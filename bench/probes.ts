// The bounds every speed figure is printed next to, measured in the same process:
// read bandwidth (sum a 256 MiB buffer in wasm, far larger than any cache) and the arithmetic
// peak of each build (a register-only multiply-add loop, assembly/probe.ts). A bound is what the
// machine can do, so each is taken from the fastest sample, not the median.

import type { Engine } from '../src/index.js';
import { GGML_KERNEL_TRAITS, encodeQ8_0, type GgmlBlockType, type GgmlKernelExports } from '../src/entries/kernels.js';
import { randomBlocks } from '../testing/ggml-reference.js';
import { randomF32 } from '../testing/random.js';
import { time } from './harness.js';

/** Read bandwidth in GB/s (1e9 bytes/s), from summing `mib` MiB of floats with SIMD loads. */
export function readBandwidth(engine: Engine, quick: boolean, mib = 256): number {
  const n = (mib << 20) / 4;
  const buf = engine.alloc(n, 'bandwidth probe');
  buf.view().fill(1);
  const t = time(() => engine.wasm.f32_probe_read(buf.ptr, n), quick);
  buf.free();
  return (n * 4) / t.fastest / 1e9;
}

/** Arithmetic peak of the engine's build in GFLOP/s: 12 independent multiply-accumulate chains (10 f32 on the scalar build). */
export function maddPeak(engine: Engine, quick: boolean): number {
  const iters = 1 << 20;
  const flopsPerIter = engine.backend === 'scalar' ? 20 : 96;
  const t = time(() => engine.wasm.f32_probe_madd(iters, 0.5), quick);
  return (iters * flopsPerIter) / t.fastest / 1e9;
}

/**
 * Integer multiply-add peak in GOP/s (2 ops per multiply-add, as GFLOP/s counts) on the integer
 * dot path `dot` (the engine's own by default; 0 for the i16 path): 12 independent chains of the
 * quantized kernels' inner instruction (assembly/probe.ts). A compute-bound quantized GEMM, as
 * prefill is, runs below this however its weights are laid out.
 */
export function intDotPeak(engine: Engine, quick: boolean, dot: number = engine.dot.code): number {
  const iters = 1 << 20;
  const dotsPerIter = engine.backend === 'scalar' ? 10 : 12;
  const t = time(() => engine.wasm.i8_probe_dot(iters, 5, dot), quick);
  return (2 * iters * dotsPerIter * engine.wasm.i8_probe_dot_width(dot)) / t.fastest / 1e9;
}

/**
 * The Q8_0 kernel's rate in GFLOP/s with its weights in cache: one token through 64 rows of 4096
 * columns (295 KB of grouped blocks, which stay in L2), activations quantized once. A Q8_0 GEMV
 * that streams its weights from memory runs at the lower of this and the bandwidth bound: on
 * `i32x4.dot_i16x8_s` the integer work, not memory, may be what limits decoding.
 */
export function q8DotPeak(engine: Engine, quick: boolean): number {
  const rows = 64, cols = 4096, calls = 16;
  const w = engine.kernels.q8Matrix(encodeQ8_0(randomF32(rows * cols, 11)), rows, cols, 'q8 probe weights');
  const x = engine.upload(randomF32(cols, 12), 'q8 probe activations');
  const xq = engine.alloc(cols / 2 + cols / 32, 'q8 probe quantized activations');
  const xd = xq.ptr + cols * 2;
  const y = engine.alloc(rows, 'q8 probe output');
  // the kernel of the engine's layout (column pairs, or quads on the unsigned relaxed dot)
  const quads = engine.kernels.q8Layout === 'x4_u8';
  if (quads) engine.wasm.q8_0_quantize_f32_x4_u8(x.ptr, cols, xq.ptr);
  else engine.wasm.q8_0_quantize(x.ptr, cols, xq.ptr, xd);
  const t = time(() => {
    for (let i = 0; i < calls; i++) {
      if (quads) engine.wasm.q8_0_gemm_x4_u8(w.data.ptr, xq.ptr, y.ptr, 1, rows, cols, rows, engine.dot.code);
      else engine.wasm.q8_0_gemm_x4(w.data.ptr, xq.ptr, xd, y.ptr, 1, rows, cols, rows);
    }
  }, quick);
  for (const b of [w.data, x, xq, y]) b.free();
  return (2 * rows * cols * calls) / t.fastest / 1e9;
}

/** Read bandwidth in GB/s with every thread of `engine`'s pool summing its share of `mib` MiB. */
export function readBandwidthThreads(engine: Engine, quick: boolean, mib = 256): number {
  const pool = engine.pool;
  if (!pool) return readBandwidth(engine, quick, mib);
  const n = (mib << 20) / 4;
  const buf = engine.alloc(n, 'bandwidth probe');
  buf.view().fill(1);
  const per = Math.floor(n / pool.threads);
  const t = time(() => pool.run(Array.from({ length: pool.threads }, (_, i) => ({ fn: 'f32_probe_read', args: [buf.ptr + i * per * 4, per] }))), quick);
  buf.free();
  return (per * pool.threads * 4) / t.fastest / 1e9;
}

/**
 * A ggml block type's GEMV rate in GFLOP/s with its weights in cache: one token through 64 rows
 * of 4096 columns (at most 512 KB, which stays in L2), activations prepared once (not Q8_0: see
 * q8DotPeak), the kernel called directly on the integer dot path `dot` (the engine's own by
 * default; 0 for the i16 path). A GEMV streaming its weights runs at the lower of this and the bandwidth bound.
 */
export function ggmlDotPeak(engine: Engine, type: GgmlBlockType, quick: boolean, dot: number = engine.dot.code): number {
  const rows = 64, cols = 4096, calls = 16;
  const w = engine.kernels.ggmlMatrix(randomBlocks(type, rows, cols, 11), type, rows, cols, `${type} probe weights`);
  const x = engine.upload(randomF32(cols, 12), `${type} probe activations`);
  const y = engine.alloc(rows, `${type} probe output`);
  engine.kernels.gemv(w, x, y); // checks the shapes once
  const traits = GGML_KERNEL_TRAITS[type];
  const xq = engine.kernels.ggmlActivations(traits.activations, x, 1, cols).x;
  const gemm = (engine.wasm as unknown as GgmlKernelExports)[traits.gemm as Exclude<typeof traits.gemm, 'q8_0_gemm_x4'>];
  const t = time(() => {
    for (let i = 0; i < calls; i++) gemm(w.data.ptr, xq, y.ptr, 1, rows, cols, rows, dot);
  }, quick);
  for (const b of [w.data, x, y]) b.free();
  return (2 * rows * cols * calls) / t.fastest / 1e9;
}
