// The machine's bounds the peers' whole-model rows are printed next to, measured once in the
// suite's process: decode streams every weight once per token (read bandwidth), prefill is
// compute-bound (the multiply-add peak of the widest wasm instruction for the weights' kind).

import type { Engine, LlamaModel } from '../../src/index.js';
import { sig3 } from '../harness.js';
import { intDotPeak } from '../probes.js';

export interface Bounds {
  /** Read bandwidth in GB/s (all threads together when there are several). */
  bandwidth: number;
  /** One thread's f32 multiply-add peak in GFLOP/s. */
  madd: number;
  /** One thread's integer multiply-add peak in GOP/s on `intDotPath`, the engine's integer dot path. */
  intDot: number;
  intDotPath: 'relaxed' | 'i16';
}

/** Measures the bounds on `engine` (the suite's best; bandwidth already measured, with threads where there are several). */
export function measureBounds(engine: Engine, bandwidth: number, madd: number, quick: boolean): Bounds {
  return { bandwidth, madd, intDot: intDotPeak(engine, quick), intDotPath: engine.dot.code === 1 ? 'relaxed' : 'i16' };
}

export interface Bound {
  bound: number;
  boundName: string;
  share: number;
}

/** Decode's bound in tokens/s: read bandwidth over the bytes of weights `model` streams per token. */
export function decodeBound(model: LlamaModel, bounds: Bounds, rate: number): Bound {
  const bound = (bounds.bandwidth * 1e9) / model.weightBytes();
  return { bound: sig3(bound), boundName: `read bandwidth / ffnkit's ${sig3(model.weightBytes() / 2 ** 20)} MiB of weights per token`, share: sig3(rate / bound) };
}

/**
 * Prefill's bound in tokens/s for a prompt of `tokens` through `model` (quantized or f32 weights)
 * on `threads` threads: the matrix products' work per token over the peak of the instruction
 * they multiply with in wasm, one thread's peak times the threads. Quantized: the relaxed
 * integer dot where this engine allows it (16 multiply-adds per instruction), else the i16
 * path's (8); f32: the f32 multiply-add. No wasm kernel of any runtime passes this bound.
 */
export function prefillBound(model: LlamaModel, quantized: boolean, tokens: number, threads: number, bounds: Bounds, rate: number): Bound {
  const peak = quantized ? bounds.intDot : bounds.madd;
  const what = quantized ? `integer dot peak (${bounds.intDotPath} path)` : 'madd peak';
  const work = model.matmulFlops(tokens) / tokens;
  const bound = (threads * peak * 1e9) / work;
  return {
    bound: sig3(bound),
    boundName: `${threads > 1 ? `${threads} threads x one thread's ` : ''}${what} ${sig3(peak)} GOP/s / ${sig3(work / 1e6)} M ops of matrix products per token`,
    share: sig3(rate / bound),
  };
}
