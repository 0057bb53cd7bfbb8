// The Q8_0 product on both layouts and every path an engine has, called on the kernels directly
// (assembly/quant.ts: column pairs, the i16 path; assembly/q8u8.ts: column quads of w + 128, the
// unsigned relaxed dot where the call's code has it, else its i16 path), for the tests that
// compare them bit for bit in Node and in Chromium. Self-contained (no imports at run time), so
// that a browser test can define it in a page from its source.

import type { Engine } from '../src/index.js';

export interface Q8PathOutputs {
  /** m x n outputs of q8_0_gemm_x4 on the pairs layout. */
  pairs: number[];
  /** q8_0_gemm_x4_u8 on the quads layout with the engine's dot code, and the path it returned (1: the unsigned relaxed dot, 0: i16). */
  quads: number[];
  quadsPath: number;
  /** q8_0_gemm_x4_u8 with DOT_I16. */
  quadsI16: number[];
  /** q8_0_gemm_x4_u8 called once per share of the rows (each starting at an even group), as threads split it. */
  quadsSplit: number[];
  /** The first token alone, and the tokens from 1 on, through q8_0_gemm_x4_u8 (the engine's dot): other places in the 4-token tiles. */
  quadsFirst: number[];
  quadsRest: number[];
}

/**
 * y = x · wᵀ for m tokens of k floats (x) and n rows of GGUF Q8_0 bytes (w) on both layouts. `cut`
 * are the row counts (multiples of 8) at which quadsSplit cuts the matrix.
 */
export function q8PathOutputs(engine: Engine, w: Uint8Array, x: Float32Array, m: number, n: number, k: number, cut: number[]): Q8PathOutputs {
  const e = engine.wasm;
  const blocks = k / 32;
  const groupBytes = blocks * 144;
  const staging = engine.alloc(Math.ceil(w.length / 4) + 1, 'q8 paths: GGUF bytes');
  // GGUF's bytes at an address that is not 4-byte aligned
  const at = staging.ptr + 1;
  new Uint8Array(engine.memory.buffer, at, w.length).set(w);
  const floats = e.q8_0_gemm_packed_floats(n, k);
  const pairs = engine.alloc(floats, 'q8 paths: pairs');
  const quads = engine.alloc(floats, 'q8 paths: quads');
  if (e.q8_0_gemm_pack_x4(at, n, k, pairs.ptr) !== 0 || e.q8_0_gemm_pack_x4_u8(at, n, k, quads.ptr) !== 0) throw new Error('non-finite scales');
  const xs = engine.upload(x, 'q8 paths: activations');
  const xq = engine.alloc((m * k) / 2 + (m * k) / 32, 'q8 paths: int16 activations');
  const xd = xq.ptr + m * k * 2;
  e.q8_0_quantize(xs.ptr, m * k, xq.ptr, xd);
  const xBytes = blocks * 40;
  const xu = engine.alloc((m * xBytes) / 4, 'q8 paths: int8 activations');
  e.q8_0_quantize_f32_x4_u8(xs.ptr, m * k, xu.ptr);
  const y = engine.alloc(m * n, 'q8 paths: outputs');
  const out = (): number[] => Array.from(new Uint32Array(engine.memory.buffer, y.ptr, m * n));
  const code = engine.dot.code;
  e.q8_0_gemm_x4(pairs.ptr, xq.ptr, xd, y.ptr, m, n, k, n);
  const r: Partial<Q8PathOutputs> = { pairs: out() };
  r.quadsPath = e.q8_0_gemm_x4_u8(quads.ptr, xu.ptr, y.ptr, m, n, k, n, code) as unknown as number;
  r.quads = out();
  e.q8_0_gemm_x4_u8(quads.ptr, xu.ptr, y.ptr, m, n, k, n, 0);
  r.quadsI16 = out();
  new Float32Array(engine.memory.buffer, y.ptr, m * n).fill(NaN);
  const ends = [...cut, n];
  for (let i = 0, r0 = 0; i < ends.length; r0 = ends[i]!, i++) {
    e.q8_0_gemm_x4_u8(quads.ptr + (r0 / 4) * groupBytes, xu.ptr, y.ptr + r0 * 4, m, ends[i]! - r0, k, n, code);
  }
  r.quadsSplit = out();
  new Float32Array(engine.memory.buffer, y.ptr, m * n).fill(NaN);
  e.q8_0_gemm_x4_u8(quads.ptr, xu.ptr, y.ptr, 1, n, k, n, code);
  r.quadsFirst = out().slice(0, n);
  if (m > 1) e.q8_0_gemm_x4_u8(quads.ptr, xu.ptr + xBytes, y.ptr, m - 1, n, k, n, code);
  r.quadsRest = m > 1 ? out().slice(0, (m - 1) * n) : [];
  for (const b of [staging, pairs, quads, xs, xq, xu, y]) b.free();
  return r as Q8PathOutputs;
}
