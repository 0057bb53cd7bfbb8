// The Q8_0 GEMM's tiles (assembly/quant.ts): 8 rows (two interleaved 4-row groups) or a lone
// last group, times 4 tokens or one. Every row count (pairs, a lone group, partial groups),
// token count (whole tiles and the rest) and thread split must give the float64 reference's
// values and the very bits of one token at a time.

import { afterAll, describe, expect, test } from 'vitest';
import { createEngine, type Engine } from '../src/node/index.js';
import { encodeQ8_0 } from '../src/entries/node/kernels.js';
import { randomF32 } from '../testing/random.js';
import { gemvQ8Ref } from '../testing/q8-reference.js';
import { halfValue } from '../testing/ggml-reference.js';
import { BACKENDS, U32, engineFor, expectClose, placed } from './helpers.js';

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** (m tokens, n rows, k columns): lone groups of 1..4 rows, pairs whose second group is partial, tails of 1..3 tokens. */
const SHAPES: [number, number, number][] = [
  [1, 1, 32], [2, 5, 64], [3, 7, 96], [4, 9, 32], [5, 12, 160], [6, 13, 64], [9, 17, 96], [8, 24, 32], [11, 33, 128], [7, 3, 224],
];

/** y = x · wᵀ for m tokens through the engine's Q8_0 GEMM, the activations at an unaligned address. */
function gemm(e: Engine, bytes: Uint8Array, x: Float32Array, m: number, n: number, k: number): Float32Array {
  const y = placed(e, new Float32Array(m * n), 2);
  e.kernels.gemm(placed(e, x, 1), e.kernels.q8Matrix(bytes, n, k), y, m);
  return y.toArray();
}

describe.each(BACKENDS)('%s build', (backend) => {
  test.each(SHAPES)('m %i n %i k %i: the reference within (blocks+4)·U per row; any token alone, and any run of the tokens, gives the same bits', async (m, n, k) => {
    const e = await engineFor(backend);
    const bytes = encodeQ8_0(randomF32(n * k, 3 * n + k, -2, 2));
    const x = randomF32(m * k, m + k, -3, 3);
    const y = gemm(e, bytes, x, m, n, k);
    for (let t = 0; t < m; t++) {
      const { y: want, mag } = gemvQ8Ref(bytes, x.subarray(t * k, (t + 1) * k), n, k);
      expectClose(y.subarray(t * n, (t + 1) * n), want, (i) => (k / 32 + 4) * U32 * mag[i]!, `token ${t}`);
      const alone = gemm(e, bytes, x.slice(t * k, (t + 1) * k), 1, n, k);
      expect(bits(alone), `token ${t} alone`).toEqual(bits(y.subarray(t * n, (t + 1) * n)));
    }
    // the tokens from 1 on: every token lands in another place of the 4-token tiles
    if (m > 1) expect(bits(gemm(e, bytes, x.slice(k), m - 1, n, k))).toEqual(bits(y.subarray(n)));
  });
});

test('the scalar, simd and relaxed builds give the same bits', async () => {
  const [m, n, k] = [7, 13, 96];
  const bytes = encodeQ8_0(randomF32(n * k, 5, -2, 2));
  const x = randomF32(m * k, 6, -3, 3);
  const out = await Promise.all(BACKENDS.map(async (b) => bits(gemm(await engineFor(b), bytes, x, m, n, k))));
  for (const o of out.slice(1)) expect(o).toEqual(out[0]);
});

test('the layout: GGUF\'s int8 values unchanged, column pair p of 4 rows in 8 bytes, groups interleaved in twos and a lone last group on its own', async () => {
  const e = await engineFor('simd');
  const [n, k] = [9, 64]; // 3 groups: a pair, then a lone group of 1 row
  const bytes = encodeQ8_0(randomF32(n * k, 8, -2, 2));
  const w = e.kernels.q8Matrix(bytes, n, k);
  const packed = new Int8Array(e.memory.buffer, w.data.ptr, e.wasm.q8_0_gemm_packed_floats(n, k) * 4);
  const f32 = new Float32Array(e.memory.buffer, w.data.ptr, packed.length / 4);
  const blocks = k / 32;
  for (let r = 0; r < n; r++) {
    const g = r >> 2, lane = r & 3;
    const paired = g < 2;
    for (let b = 0; b < blocks; b++) {
      const block = paired ? b * 288 : 2 * blocks * 144 + b * 144;
      const scale = block + (paired ? 16 * (g & 1) : 0) + 4 * lane;
      const src = (r * blocks + b) * 34;
      expect(f32[scale / 4], `row ${r} block ${b} scale`).toBe(halfValue(bytes[src]! | (bytes[src + 1]! << 8)));
      for (let j = 0; j < 32; j++) {
        const at = paired ? block + 32 + 16 * (j >> 1) + 8 * (g & 1) + 2 * lane + (j & 1) : block + 16 + 8 * (j >> 1) + 2 * lane + (j & 1);
        expect(packed[at], `row ${r} block ${b} weight ${j}`).toBe((bytes[src + 2 + j]! << 24) >> 24);
      }
    }
  }
  // the padding rows of the lone group are zero
  for (let b = 0; b < blocks; b++) {
    for (let j = 0; j < 32; j++) for (const lane of [1, 2, 3]) expect(packed[2 * blocks * 144 + b * 144 + 16 + 8 * (j >> 1) + 2 * lane + (j & 1)]).toBe(0);
  }
});

test('a matrix packed in several chunks of its staging buffer (4 MiB) keeps its groups paired across the chunks', async () => {
  const e = await engineFor('simd');
  // 1940 rows of 2176 bytes: without whole pairs per chunk the first would hold 1924 rows, 481 groups
  const [m, n, k] = [5, 1940, 2048];
  const bytes = encodeQ8_0(randomF32(n * k, 12, -2, 2));
  const x = randomF32(m * k, 13, -3, 3);
  const y = gemm(e, bytes, x, m, n, k);
  for (const t of [0, m - 1]) {
    const { y: want, mag } = gemvQ8Ref(bytes, x.subarray(t * k, (t + 1) * k), n, k);
    expectClose(y.subarray(t * n, (t + 1) * n), want, (i) => (k / 32 + 4) * U32 * mag[i]!, `token ${t}`);
  }
});

describe.each(['simd', 'relaxed'] as const)('threads (%s)', (backend) => {
  let one: Engine;
  let two: Engine;
  afterAll(() => two?.close());

  // large enough to split: an odd number of groups (a lone last one), a partial last group, tails of tokens
  test.each([[9, 76, 1024], [6, 1030, 96], [5, 4097, 64], [4, 2052, 128]])('m %i n %i k %i: two threads give the bits of one', async (m, n, k) => {
    one ??= await createEngine({ backend });
    two ??= await createEngine({ backend, threads: 2 });
    expect(two.threads).toBe(2);
    const bytes = encodeQ8_0(randomF32(n * k, n, -2, 2));
    const x = randomF32(m * k, k, -3, 3);
    expect(bits(gemm(two, bytes, x, m, n, k))).toEqual(bits(gemm(one, bytes, x, m, n, k)));
  });
});
