// The 4-row kernels' token tiles (relaxed path: Q4_0, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K 4, 2 and 1
// tokens; i16 path: the same types 2 and 1; the row kernels of Q4_1, Q5_0, Q5_1, IQ4_NL and
// IQ4_XS 2 and 1 on both) and their token chunks (assembly/q4x4.ts token_chunk): every token count from 1 to 9,
// so every tile and every tail runs, gives each token the bits it gets alone, on every build and
// on both dot paths, and agrees with the float64 reference. The long rows make a chunk 4 tokens,
// so 9 tokens cross two chunk boundaries, each in the middle of no tile.

import { describe, expect, test } from 'vitest';
import { GGML_KERNEL_TRAITS, type GgmlKernelExports, type GgmlMatrix } from '../src/runtime/kernels/ggml.js';
import type { Engine } from '../src/node/index.js';
import { BACKENDS, U32, engineFor, expectClose, placed } from './helpers.js';
import { REF_LAYOUT, gemvRef, randomBlocks } from '../testing/ggml-reference.js';
import { randomF32 } from '../testing/random.js';

const TYPES = ['q4_0', 'q4_k', 'q5_k', 'q6_k', 'q3_k', 'q2_k', 'q4_1', 'q5_0', 'q5_1', 'iq4_nl', 'iq4_xs'] as const;
const ROW_KERNELS: readonly string[] = ['q4_1', 'q5_0', 'q5_1', 'iq4_nl', 'iq4_xs'];
/** Columns: a short row (all 9 tokens in one chunk) and a long one (the 4-row kernels: chunks of 4 tokens). */
const COLS = {
  q4_0: [96, 18432], q4_k: [512, 22528], q5_k: [512, 22528], q6_k: [512, 57600], q3_k: [256, 57600], q2_k: [256, 57600],
  q4_1: [96, 2848], q5_0: [96, 2848], q5_1: [96, 2848], iq4_nl: [96, 2848], iq4_xs: [256, 2816],
} as const;
const ROWS = 13; // 3 groups of 4 and a group of 1
const M = 9;

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

function run(e: Engine, w: GgmlMatrix, x: Float32Array, m: number): Float32Array {
  const y = placed(e, new Float32Array(m * w.rows), 1);
  e.kernels.gemm(placed(e, x, 0), w, y, m);
  return y.toArray();
}

describe.each(TYPES)('%s', (type) => {
  test.each(COLS[type].map((c) => [c]))('%i columns: 1..9 tokens on every build give each token its GEMV bits and the reference', async (cols) => {
    const bytes = randomBlocks(type, ROWS, cols, cols + 3);
    const x = randomF32(M * cols, cols, -2, 2);
    const want = Array.from({ length: M }, (_, t) => gemvRef(type, bytes, x.subarray(t * cols, (t + 1) * cols), ROWS, cols));
    const tol = (t: number) => (i: number) => (cols / REF_LAYOUT[type].block + 6) * U32 * want[t]!.mag[i]!;
    let first: number[] | undefined;
    for (const backend of BACKENDS) {
      const e = await engineFor(backend);
      const w = e.kernels.ggmlMatrix(bytes, type, ROWS, cols);
      const all = run(e, w, x, M);
      for (let t = 0; t < M; t++) expectClose(all.subarray(t * ROWS, (t + 1) * ROWS), want[t]!.y, tol(t), `${backend} token ${t}`);
      for (const m of [1, 2, 3, 4, 5, 6, 7, 8]) {
        expect(bits(run(e, w, x.subarray(0, m * cols), m)), `${backend} first ${m} tokens`).toEqual(bits(all.subarray(0, m * ROWS)));
      }
      // each token alone, starting at every tile position
      for (let t = 0; t < M; t++) {
        expect(bits(run(e, w, x.subarray(t * cols, (t + 1) * cols), 1)), `${backend} token ${t} alone`).toEqual(bits(all.subarray(t * ROWS, (t + 1) * ROWS)));
      }
      // odd numbers of tokens starting at odd tokens: the tiles see other activations in each slot
      expect(bits(run(e, w, x.subarray(3 * cols, 8 * cols), 5)), `${backend} tokens 3..7`).toEqual(bits(all.subarray(3 * ROWS, 8 * ROWS)));
      if (first) expect(bits(all), `${backend} against ${BACKENDS[0]}`).toEqual(first);
      else first = bits(all);
      // the relaxed build's i16 path, called directly, gives the same bits at every token count
      if (backend === 'relaxed' && e.dot.code !== 0) {
        const traits = GGML_KERNEL_TRAITS[type];
        const gemm = (e.wasm as GgmlKernelExports)[traits.gemm as 'q4_k_gemm_x4'] as unknown as (...a: number[]) => number;
        for (const m of [1, 3, 5, 7, 9]) {
          const xq = e.kernels.ggmlActivations(traits.activations, e.upload(x.subarray(0, m * cols)), m, cols).x;
          const y = e.alloc(m * ROWS);
          const path = gemm(w.data.ptr, xq, y.ptr, m, ROWS, cols, ROWS, 0);
          if (!ROW_KERNELS.includes(type)) expect(path).toBe(0); // the 4-row kernels return the path they took
          expect(bits(y.toArray()), `relaxed build, i16 path, ${m} tokens`).toEqual(bits(all.subarray(0, m * ROWS)));
          y.free();
        }
      }
      w.data.free();
    }
  });
});

// F16 and BF16 (assembly/f16.ts), one token at a time over each row: 1..9 tokens give each token
// the bits it gets alone on each build (the builds differ among themselves: fused and separate
// multiply-adds), within the float64 reference's worst-case rounding bound; 1003 columns leave
// a tail of 3 after the groups of 8.
describe.each(['f16', 'bf16'] as const)('%s', (type) => {
  test('1..9 tokens on every build give each token its GEMV bits and the reference', async () => {
    const cols = 1003;
    const bytes = randomBlocks(type, ROWS, cols, 17);
    const x = randomF32(M * cols, 5, -2, 2);
    const want = Array.from({ length: M }, (_, t) => gemvRef(type, bytes, x.subarray(t * cols, (t + 1) * cols), ROWS, cols));
    for (const backend of BACKENDS) {
      const e = await engineFor(backend);
      const w = e.kernels.ggmlMatrix(bytes, type, ROWS, cols);
      const all = run(e, w, x, M);
      for (let t = 0; t < M; t++) {
        expectClose(all.subarray(t * ROWS, (t + 1) * ROWS), want[t]!.y, (i) => cols * U32 * want[t]!.mag[i]!, `${backend} token ${t}`);
        expect(bits(run(e, w, x.subarray(t * cols, (t + 1) * cols), 1)), `${backend} token ${t} alone`).toEqual(bits(all.subarray(t * ROWS, (t + 1) * ROWS)));
      }
      for (const m of [2, 3, 4, 5, 6, 7, 8]) {
        expect(bits(run(e, w, x.subarray(0, m * cols), m)), `${backend} first ${m} tokens`).toEqual(bits(all.subarray(0, m * ROWS)));
      }
      expect(bits(run(e, w, x.subarray(3 * cols, 8 * cols), 5)), `${backend} tokens 3..7`).toEqual(bits(all.subarray(3 * ROWS, 8 * ROWS)));
      w.data.free();
    }
  });
});
