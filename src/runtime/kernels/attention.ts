// Causal grouped-query attention over a KV cache (assembly/attention.ts) and the rotary position
// embedding applied to its queries and keys.

import { FfnkitError } from '../../errors.js';
import type { F32Buffer } from '../buffer.js';
import { checkDisjoint, checkFinite, checkSize } from '../check.js';
import type { KernelContext } from './context.js';

/**
 * How a KV cache holds its keys and values, and how attention sums over them: 'f32' floats;
 * 'f16' IEEE halves (half the bytes) with f32 sums; 'f16-flash' halves summed as llama.cpp's CPU
 * flash attention sums its default f16 cache (query rounded to halves, the output accumulated in
 * halves), which gives llama.cpp's logits. See assembly/attention-f16.ts.
 */
export type KvCache = 'f32' | 'f16' | 'f16-flash';

export const KV_CACHES: readonly KvCache[] = ['f32', 'f16', 'f16-flash'];

/** Bytes one cached key or value takes. */
export function kvValueBytes(cache: KvCache): number {
  return cache === 'f32' ? 4 : 2;
}

/** The shape of an attention call (strides in floats; in halves for a cache of halves). */
export interface AttentionShape {
  tokens: number;
  pos0: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  qStride?: number;
  kvStride?: number;
  outStride?: number;
  /** Score scale; 1/sqrt(headDim) when absent. */
  scale?: number;
  /** Scores soft-capped to softcap * tanh(score / softcap) (Gemma 2); none when absent. */
  softcap?: number;
  /** Each query sees only the last `window` positions (itself included); all when absent. */
  window?: number;
  /** What k and v hold: floats ('f32', the default) or halves, two to a float of the buffers ('f16', 'f16-flash'). */
  cache?: KvCache;
}

/** RoPE pair layout: llama2.c / GGUF rotate (x[2i], x[2i+1]); Hugging Face rotates (x[i], x[i + d/2]). */
export type RopeLayout = 'interleaved' | 'half';

export function attention(ctx: KernelContext, q: F32Buffer, k: F32Buffer, v: F32Buffer, out: F32Buffer, shape: AttentionShape): void {
  const tokens = checkSize('tokens', shape.tokens, 1);
  const pos0 = checkSize('pos0', shape.pos0, 0);
  const heads = checkSize('heads', shape.heads, 1);
  const kvHeads = checkSize('kvHeads', shape.kvHeads, 1);
  const headDim = checkSize('headDim', shape.headDim, 1);
  if (heads % kvHeads !== 0) throw new FfnkitError('E_SHAPE', `heads: ${heads} is not a multiple of kvHeads ${kvHeads}`);
  const qStride = checkSize('qStride', shape.qStride ?? heads * headDim, heads * headDim);
  const kvStride = checkSize('kvStride', shape.kvStride ?? kvHeads * headDim, kvHeads * headDim);
  const outStride = checkSize('outStride', shape.outStride ?? heads * headDim, heads * headDim);
  const cache = shape.cache ?? 'f32';
  if (!KV_CACHES.includes(cache)) throw new FfnkitError('E_ARG', `cache: expected ${KV_CACHES.map((c) => `'${c}'`).join(', ')}, found '${String(cache)}'`);
  const need = (name: string, b: F32Buffer, rows: number, stride: number, width: number, perFloat = 1) => {
    ctx.buf(name, b);
    const n = (rows - 1) * stride + width;
    const unit = perFloat === 1 ? 'floats' : 'halves';
    if (b.length * perFloat < n) throw new FfnkitError('E_SHAPE', `${name}: expected at least ${n} ${unit} (${rows} rows), found ${b.length * perFloat}`);
  };
  const perFloat = 4 / kvValueBytes(cache);
  need('q', q, tokens, qStride, heads * headDim);
  need('k', k, pos0 + tokens, kvStride, kvHeads * headDim, perFloat);
  need('v', v, pos0 + tokens, kvStride, kvHeads * headDim, perFloat);
  need('out', out, tokens, outStride, heads * headDim);
  checkDisjoint('out', out, 'q', q);
  checkDisjoint('out', out, 'k', k);
  checkDisjoint('out', out, 'v', v);
  const rows = pos0 + tokens;
  const group = heads / kvHeads;
  const plain = shape.scale === undefined && shape.softcap === undefined && shape.window === undefined;
  const scale = shape.scale ?? 1 / Math.sqrt(headDim);
  checkFinite('scale', scale);
  const softcap = shape.softcap ?? 0;
  if (!(softcap >= 0 && Number.isFinite(softcap))) throw new FfnkitError('E_ARG', `softcap: expected a positive number, found ${softcap}`);
  const window = shape.window === undefined ? 0 : checkSize('window', shape.window, 1);
  // whole KV heads per thread, with their query heads and a scratch row each: every head is
  // computed as in one thread; the plain form over floats is Llama's kernel, scale, soft-cap,
  // window or a cache of halves take the kernels with options
  const valueBytes = kvValueBytes(cache);
  const scratch = cache === 'f16-flash' ? 2 * headDim : rows;
  ctx.parallel({ units: kvHeads, align: 1, macs: 2 * tokens * heads * rows * headDim, scratch: { name: 'attention', floats: scratch } }, (g0, g1, scores) => {
    const args = [q.ptr + g0 * group * headDim * 4, qStride, k.ptr + g0 * headDim * valueBytes, v.ptr + g0 * headDim * valueBytes, kvStride,
      out.ptr + g0 * group * headDim * 4, outStride, scores, tokens, pos0, (g1 - g0) * group, g1 - g0, headDim] as const;
    if (cache === 'f16') return { fn: 'f16_attention', args: [...args, scale, softcap, window] };
    if (cache === 'f16-flash') return { fn: 'f16_attention_flash', args: [...args, scale, softcap, window] };
    return plain ? { fn: 'f32_attention', args: [...args] } : { fn: 'f32_attention_windowed', args: [...args, scale, softcap, window] };
  });
}

/**
 * Writes `src` as IEEE halves (nearest, ties to even, as ggml rounds f32 to f16) into `cache`
 * (two halves to a float) from half `at` on, for a KV cache of halves. Returns how many values
 * overflowed a half (|x| beyond 65504 after rounding) or were NaN: the attention kernels' in-register
 * conversion takes finite halves only, so the caller refuses those.
 */
export function toHalves(ctx: KernelContext, src: F32Buffer, cache: F32Buffer, at: number): number {
  ctx.buf('src', src);
  ctx.buf('cache', cache);
  checkSize('at', at, 0);
  if (at + src.length > 2 * cache.length) throw new FfnkitError('E_SHAPE', `cache: ${src.length} halves from half ${at} pass its ${2 * cache.length}`);
  checkDisjoint('src', src, 'cache', cache);
  return ctx.wasm.f32_to_f16_cache(src.ptr, src.length, cache.ptr + 2 * at);
}

export function rope(ctx: KernelContext, x: F32Buffer, heads: number, headDim: number, cs: F32Buffer, layout: RopeLayout): void {
  checkSize('heads', heads, 1);
  checkSize('headDim', headDim, 2);
  if (headDim % 2 !== 0) throw new FfnkitError('E_ARG', `headDim: expected an even number, found ${headDim}`);
  if (layout !== 'interleaved' && layout !== 'half') {
    throw new FfnkitError('E_ARG', `layout: expected 'interleaved' or 'half', found '${String(layout)}'`);
  }
  ctx.buf('x', x, heads * headDim);
  ctx.buf('cs', cs, headDim);
  checkDisjoint('x', x, 'cs', cs);
  ctx.wasm.f32_rope(x.ptr, heads, headDim, cs.ptr, layout === 'half' ? 1 : 0);
}

/** How RoPE angles deviate from `pos * theta^(-2i/headDim)`: linear scaling, per-pair factors. */
export interface RopeScaling {
  /** Every angle multiplied by this (linear scaling: 1 / factor). */
  scale?: number;
  /** headDim/2 factors: pair i's angle divided by factors[i] (Llama 3.1's rope_freqs). */
  factors?: Float32Array;
}

/**
 * The RoPE table for one position, as `kernels.rope` takes it: headDim/2 cosines then headDim/2
 * sines of `pos * theta^(-2i/headDim)` (divided by pair i's factor, times the scale, as ggml's
 * rope applies them). Computed in float32 steps like llama2.c's run.c, so rotations match the
 * reference implementation's.
 */
export function ropeCosSin(pos: number, headDim: number, theta = 10000, scaling: RopeScaling = {}): Float32Array {
  checkSize('pos', pos, 0);
  checkSize('headDim', headDim, 2);
  if (headDim % 2 !== 0) throw new FfnkitError('E_ARG', `headDim: expected an even number, found ${headDim}`);
  const f = Math.fround;
  const half = headDim / 2;
  const { scale, factors } = scaling;
  if (factors !== undefined && factors.length !== half) throw new FfnkitError('E_SHAPE', `factors: expected ${half} RoPE factors, found ${factors.length}`);
  const out = new Float32Array(headDim);
  for (let i = 0; i < half; i++) {
    const freq = f(1 / f(Math.pow(theta, f(f(2 * i) / headDim))));
    let val = f(pos * freq);
    if (factors !== undefined) val = f(val / factors[i]!);
    if (scale !== undefined) val = f(val * scale);
    out[i] = Math.cos(val);
    out[half + i] = Math.sin(val);
  }
  return out;
}
