// Prefill and decode speed next to this machine's bounds. Prefill runs the prompt as matrix
// products (compute-bound: the multiply-add peak over the flops of a token); decoding reads every
// weight once per token (memory-bound: the read bandwidth over the bytes of weights). A model
// whose weights fit in the CPU's caches decodes faster than the memory bound: the line says so
// rather than showing a rate past its bound without a word.

import type { Bounds, Speed } from '../protocol.js';
import { bytes, ms, sig } from './format.js';

export interface SpeedFigures {
  prefill: number;
  prefillBound: number;
  decode: number;
  decodeBound: number;
}

export function speedFigures(s: Speed, b: Bounds, threads: number): SpeedFigures {
  return {
    prefill: s.prefillSeconds > 0 ? s.prefillTokens / s.prefillSeconds : 0,
    prefillBound: (b.peak * 1e9 * threads) / s.flopsPerToken,
    decode: s.decodeSeconds > 0 ? s.decodeTokens / s.decodeSeconds : 0,
    decodeBound: (b.bandwidth * 1e9) / s.weightBytes,
  };
}

/** The decode rate against its bound, in words. */
export function decodeText(s: Speed, b: Bounds | undefined, threads: number): string {
  if (s.decodeTokens === 0) return 'no tokens decoded';
  const f = b ? speedFigures(s, b, threads) : undefined;
  const rate = `${sig(s.decodeTokens / s.decodeSeconds)} tokens/s`;
  if (!f) return `${rate} (${s.decodeTokens} tokens)`;
  const bound = `memory bound ${sig(f.decodeBound)} tokens/s: ${sig(b!.bandwidth)} GB/s read bandwidth (one thread) over ${bytes(s.weightBytes)} of weights per token`;
  if (f.decode <= f.decodeBound) return `${rate} (${s.decodeTokens} tokens; ${bound})`;
  const why = s.weightBytes < b!.probeBytes ? `the ${bytes(s.weightBytes)} of weights stay in the CPU cache` : 'threads read in parallel';
  return `${rate} (${s.decodeTokens} tokens), above the ${bound}: ${why}`;
}

export function prefillText(s: Speed, b: Bounds | undefined, threads: number): string {
  if (s.prefillTokens === 0) return 'no prompt run';
  const rate = `${s.prefillTokens} tokens in ${ms(s.prefillSeconds)} = ${sig(s.prefillTokens / s.prefillSeconds)} tokens/s`;
  if (!b) return rate;
  const f = speedFigures(s, b, threads);
  return `${rate} (compute bound ${sig(f.prefillBound)} tokens/s: ${sig(b.peak * threads)} GFLOP/s${threads > 1 ? ` on ${threads} threads` : ''} over ${sig(s.flopsPerToken / 1e6)} MFLOP per token)`;
}
