// The dense SwiGLU feed-forward block, `y = w2 · (silu(w1 x) * (w3 x))`: one fused wasm call on
// f32 panels (assembly/ffn.ts), or its three products with the SwiGLU between them.

import { FfnkitError } from '../../errors.js';
import type { F32Buffer } from '../buffer.js';
import { checkDisjoint, checkSize } from '../check.js';
import { PARALLEL_MIN_MACS, type KernelContext } from './context.js';
import { checkGemmWeights, checkMatrix, gemm, pack, isBlocks, type Matrix, type SingleWeights } from './gemm.js';
import { activationsOf, gemmQuantized, quantizeActivations } from './ggml.js';

/** The gate activation of a gated FFN: SiLU (SwiGLU, Llama) or GELU's tanh form (GeGLU, Gemma). */
export type GateActivation = 'silu' | 'gelu-tanh';

/**
 * The weights of a dense gated FFN, `y = w2 · (act(w1 x) * (w3 x))` (SwiGLU unless `activation`
 * says otherwise), packed once: w1 (gate) and w3 (up) are [hidden, dim], w2 (down) is [dim,
 * hidden]. The packed panels (or Q8_0 groups) serve both one token (GEMV) and blocks of tokens
 * (GEMM), so the row-major originals may be freed.
 */
export interface DenseFfn {
  readonly dim: number;
  readonly hidden: number;
  readonly w1: SingleWeights;
  readonly w3: SingleWeights;
  readonly w2: SingleWeights;
  readonly activation?: GateActivation;
}

export function denseFfn(ctx: KernelContext, w1: Matrix, w3: Matrix, w2: Matrix): DenseFfn {
  checkMatrix(ctx, 'w1', w1);
  checkMatrix(ctx, 'w3', w3);
  checkMatrix(ctx, 'w2', w2);
  return denseFfnFromPacked(pack(ctx, w1), pack(ctx, w3), pack(ctx, w2));
}

export function denseFfnFromPacked(w1: SingleWeights, w3: SingleWeights, w2: SingleWeights, activation: GateActivation = 'silu'): DenseFfn {
  if (activation !== 'silu' && activation !== 'gelu-tanh') throw new FfnkitError('E_ARG', `activation: expected 'silu' or 'gelu-tanh', found '${String(activation)}'`);
  for (const [name, w] of [['w1', w1], ['w3', w3], ['w2', w2]] as const) {
    if ((w as { type?: string })?.type === 'stack') throw new FfnkitError('E_ARG', `${name}: an FFN takes single matrices, not a stack`);
  }
  const hidden = w1.rows;
  const dim = w1.cols;
  if (w3.rows !== hidden || w3.cols !== dim) {
    throw new FfnkitError('E_SHAPE', `w3: expected ${hidden}x${dim} like w1, found ${w3.rows}x${w3.cols}`);
  }
  if (w2.rows !== dim || w2.cols !== hidden) {
    throw new FfnkitError('E_SHAPE', `w2: expected ${dim}x${hidden} (dim x hidden), found ${w2.rows}x${w2.cols}`);
  }
  return activation === 'silu' ? { dim, hidden, w1, w3, w2 } : { dim, hidden, w1, w3, w2, activation };
}

export function ffn(ctx: KernelContext, f: DenseFfn, x: F32Buffer, y: F32Buffer, tokens: number): void {
  checkSize('tokens', tokens, 1);
  ctx.buf('x', x, tokens * f.dim);
  ctx.buf('y', y, tokens * f.dim);
  checkDisjoint('y', y, 'x', x);
  for (const [name, w] of [['w1', f.w1], ['w3', f.w3], ['w2', f.w2]] as const) {
    checkGemmWeights(ctx, name, w);
    checkDisjoint('y', y, name, w.data);
  }
  const scratch = ctx.scratch('ffn', 2 * tokens * f.hidden);
  checkDisjoint('y', y, 'scratch', scratch);
  const macs = tokens * f.dim * f.hidden;
  const geglu = f.activation === 'gelu-tanh';
  // the fused kernel is SwiGLU's; GeGLU takes the three products with its activation between
  const fused = !geglu && f.w1.type === 'f32-panel8' && f.w3.type === 'f32-panel8' && f.w2.type === 'f32-panel8';
  const threaded = ctx.pool !== undefined && macs >= PARALLEL_MIN_MACS;
  if (fused && (!threaded || tokens >= 8)) {
    // one call, or whole 4-row tiles of tokens per thread, each with its share of the scratch
    ctx.parallel({ units: tokens, align: 4, macs, minUnits: 8 }, (r0, r1) => ({
      fn: 'f32_ffn_swiglu_4x8',
      args: [x.ptr + r0 * f.dim * 4, r1 - r0, f.w1.data.ptr, f.w3.data.ptr, f.w2.data.ptr, f.dim, f.hidden, scratch.ptr + 2 * r0 * f.hidden * 4, y.ptr + r0 * f.dim * 4],
    }));
    return;
  }
  // block weights (Q8_0 and the other ggml types), or a few tokens (decoding) on threads: the
  // three products, each split over the threads by output rows, and the SwiGLU between them (for
  // f32 panels the same operations in the same order as f32_ffn_swiglu_4x8)
  const gate = scratch.sub(0, tokens * f.hidden);
  const up = scratch.sub(tokens * f.hidden, tokens * f.hidden);
  if (isBlocks(f.w1) && isBlocks(f.w3) && activationsOf(f.w1) === activationsOf(f.w3)) {
    // gate and up read the same x: quantize it once
    const xq = quantizeActivations(ctx, activationsOf(f.w1), x, tokens, f.dim);
    gemmQuantized(ctx, xq, f.w1, gate);
    gemmQuantized(ctx, xq, f.w3, up);
  } else {
    gemm(ctx, x, f.w1, gate, tokens);
    gemm(ctx, x, f.w3, up, tokens);
  }
  if (geglu) ctx.wasm.f32_geglu_tanh(gate.ptr, up.ptr, gate.ptr, tokens * f.hidden);
  else ctx.wasm.f32_swiglu(gate.ptr, up.ptr, gate.ptr, tokens * f.hidden);
  gemm(ctx, gate, f.w2, y, tokens);
}
