// The attention kernels over a KV cache of halves (assembly/attention-f16.ts) against float64
// references that do not import them (test/ref/llamacpp-attention.ts): 'f16' (halves, f32 sums)
// against the halves summed in float64, 'f16-flash' against llama.cpp's flash attention with its
// f16 accumulator, on every build, at odd head sizes and sequence lengths, grouped-query heads,
// Gemma's scale, soft-cap and sliding window; two threads give one thread's bits. Also the
// rounding into the cache (as ggml's f32 -> f16) and what it refuses.

import { afterAll, describe, expect, test } from 'vitest';
import { FfnkitError, LlamaModel, createEngine, type Engine } from '../src/node/index.js';
import { llamaConfig, randomLlamaWeights } from '../src/llm/random.js';
import type { AttentionShape, KvCache } from '../src/runtime/kernels.js';
import { randomF32 } from '../testing/random.js';
import { engineFor, expectClose, U32 } from './helpers.js';
import { halfCacheAttention, llamaCppAttention, toHalf } from './ref/llamacpp-attention.js';

type Case = [tokens: number, pos0: number, heads: number, kvHeads: number, headDim: number, options: Pick<AttentionShape, 'scale' | 'softcap' | 'window'>];

const CASES: Case[] = [
  [1, 0, 1, 1, 1, {}],
  [3, 4, 4, 2, 5, {}],
  [1, 38, 6, 3, 13, {}],
  [7, 0, 2, 2, 64, {}],
  [5, 9, 8, 1, 67, {}],
  [4, 5, 4, 2, 8, { window: 3 }], // sliding layers (Gemma 2/3): every query past the window
  [9, 11, 6, 2, 16, { scale: 0.0625, softcap: 50, window: 4 }], // Gemma 2's scale and cap
  [2, 30, 3, 1, 33, { softcap: 30 }],
];

/** q, k, v of a case: k and v hold every cache row 0 .. pos0 + tokens - 1; qStride wider than the heads. */
function inputs(c: Case, seed: number) {
  const [tokens, pos0, heads, kvHeads, headDim] = c;
  const qStride = heads * headDim + 3;
  const rows = pos0 + tokens;
  return {
    q: randomF32(tokens * qStride, seed, -2, 2),
    k: randomF32(rows * kvHeads * headDim, seed + 1, -2, 2),
    v: randomF32(rows * kvHeads * headDim, seed + 2, -3, 3),
    qStride,
  };
}

/** The kernel's output for a case, the cache written through toHalves (rows at odd half offsets where kvHeads x headDim is odd). */
function run(e: Engine, c: Case, cache: KvCache, seed: number): Float32Array {
  const [tokens, pos0, heads, kvHeads, headDim, options] = c;
  const { q, k, v, qStride } = inputs(c, seed);
  const store = (x: Float32Array) => {
    const buf = e.alloc(Math.ceil(x.length / 2));
    expect(e.kernels.toHalves(e.upload(x), buf, 0)).toBe(0);
    return buf;
  };
  const out = e.alloc(tokens * heads * headDim);
  e.kernels.attention(e.upload(q), store(k), store(v), out, { tokens, pos0, heads, kvHeads, headDim, qStride, cache, ...options });
  return out.toArray();
}

function reference(c: Case, cache: KvCache, seed: number): Float32Array {
  const [tokens, pos0, heads, kvHeads, headDim, options] = c;
  const { q, k, v, qStride } = inputs(c, seed);
  const out = new Float32Array(tokens * heads * headDim);
  const shape = { tokens, pos0, heads, kvHeads, headDim, qStride, ...options };
  (cache === 'f16-flash' ? llamaCppAttention : halfCacheAttention)(q, k, v, out, shape);
  return out;
}

const BACKENDS = ['scalar', 'simd', 'relaxed'] as const;

describe.each(BACKENDS)('%s build', (backend) => {
  test.each(CASES)('f16 cache: %i tokens after %i, %i heads over %i KV heads of %i, %o: the halves summed in float64, to f32 rounding', async (...c) => {
    const e = await engineFor(backend);
    const got = run(e, c, 'f16', 7);
    const want = reference(c, 'f16', 7);
    const headDim = c[4];
    // f32 dot products of headDim terms and sums over the keys, of values below 3 (exp within 2 ulp)
    expectClose(got, want, () => 8 * (headDim + c[1] + c[0]) * U32 * 3, `${backend} f16`);
  });

  test.each(CASES)('f16-flash: %i tokens after %i, %i heads over %i KV heads of %i, %o: llama.cpp\'s flash attention, to a half\'s rounding', async (...c) => {
    const e = await engineFor(backend);
    const got = run(e, c, 'f16-flash', 11);
    const want = reference(c, 'f16-flash', 11);
    // the accumulator is rounded to halves at every step: an f32 difference in the step before
    // (dot order, exp, a fused multiply-add) can take a rounding the other way, one half ulp of
    // the accumulator (below 2^-11 x 3 x the key count, divided back by the softmax sum >= 1)
    const half = 2 ** -11 * 3;
    expectClose(got, want, () => 2 * half, `${backend} f16-flash`);
    // and the roundings are there: most outputs agree with the reference to f32 rounding (a
    // rounding taken the other way persists through the later keys, so long rows collect some;
    // without the half roundings hardly any output would)
    const exact = got.filter((x, i) => Math.abs(x - want[i]!) <= 4 * U32 * Math.max(1, Math.abs(want[i]!))).length;
    expect(exact / got.length, 'share of outputs at f32 rounding of llama.cpp\'s').toBeGreaterThan(0.75);
  });
});

test('f16-flash differs from f16 where llama.cpp\'s half accumulator does: the two references tell them apart', async () => {
  const e = await engineFor('relaxed');
  const c: Case = [5, 40, 4, 2, 32, {}];
  const flash = run(e, c, 'f16-flash', 3);
  const wantFlash = reference(c, 'f16-flash', 3);
  const wantF16 = reference(c, 'f16', 3);
  const far = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
  expect(far(flash, wantFlash)).toBeLessThan(far(flash, wantF16) / 4);
});

describe.each(['simd', 'relaxed'] as const)('the %s build over two threads', (backend) => {
  let two: Engine | undefined;
  afterAll(() => two?.close());
  test.each(['f16', 'f16-flash'] as const)('%s: one thread\'s bits', async (cache) => {
    two ??= await createEngine({ backend, threads: 2 });
    const one = await engineFor(backend);
    // enough work that the call splits (heads x keys x head_dim past the parallel threshold)
    const c: Case = [64, 100, 8, 4, 64, { window: 80 }];
    const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer));
    expect(bits(run(two, c, cache, 5))).toEqual(bits(run(one, c, cache, 5)));
  });
});

describe('the cache of halves', () => {
  test('toHalves rounds as ggml (nearest, ties to even, subnormals in 2^-24 steps) and counts what overflows', async () => {
    const e = await engineFor('simd');
    const values = [0, -0, 1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20, 65504, 65519.99, 2 ** -14, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -26, -2.5e-6, 0.1, -1234.567, 3.14159];
    const cache = e.alloc(Math.ceil((values.length + 1) / 2));
    expect(e.kernels.toHalves(e.upload(Float32Array.from(values)), cache, 1)).toBe(0);
    const halves = new Uint16Array(e.memory.buffer, cache.ptr + 2, values.length);
    const asFloat = (h: number) => {
      const exp = (h >> 10) & 31;
      const mag = exp === 0 ? (h & 1023) * 2 ** -24 : (1 + (h & 1023) / 1024) * 2 ** (exp - 15);
      return h & 0x8000 ? -mag : mag;
    };
    expect(Array.from(halves, asFloat)).toEqual(values.map((x) => toHalf(Math.fround(x))));
    expect(e.kernels.toHalves(e.upload(Float32Array.from([65520, -1e6, Number.NaN, 1])), cache, 0)).toBe(3);
    expect(() => e.kernels.toHalves(e.upload(new Float32Array(20)), cache, 0)).toThrow(/cache: 20 halves from half 0 pass its 18/);
  });

  test('attention checks a cache of halves by its halves, and refuses an unknown cache', async () => {
    const e = await engineFor('simd');
    const q = e.alloc(8);
    const out = e.alloc(8);
    const kv = e.alloc(3); // 6 halves: 3 rows of 2 needed for 3 positions, one short of 4
    const shape = { tokens: 2, pos0: 2, heads: 1, kvHeads: 1, headDim: 2 };
    expect(() => e.kernels.attention(q, kv, kv, out, { ...shape, cache: 'f16' })).toThrow(/k: expected at least 8 halves \(4 rows\), found 6/);
    expect(() => e.kernels.attention(q, kv, kv, out, { ...shape, cache: 'q8' as never })).toThrow(FfnkitError);
    expect(() => e.kernels.attention(q, kv, kv, out, { ...shape, cache: 'q8' as never })).toThrow(/cache: expected 'f32', 'f16', 'f16-flash', found 'q8'/);
  });
});

describe('LlamaModel with a cache of halves', () => {
  // head 10 (not a multiple of 4: SIMD tails), 4 query heads on 2 KV heads, seq_len 13
  const config = llamaConfig({ dim: 40, hiddenDim: 64, nLayers: 3, nHeads: 4, nKvHeads: 2, vocabSize: 50, seqLen: 13 });
  const tokens = [1, 7, 3, 49, 0, 12, 5, 5, 30, 2, 8];

  test.each([['f16', halfCacheAttention], ['f16-flash', llamaCppAttention]] as const)('kvCache %s: the logits of the model with the float64 reference put in the kernel\'s place, prefill and decode', async (kvCache, ref) => {
    const weights = randomLlamaWeights(config, 4);
    const model = await LlamaModel.create(weights, { backend: 'relaxed', kvCache });
    expect(model.kvCache).toBe(kvCache);
    const got = model.forward(tokens, { allLogits: true });
    model.reset();
    const stepped = new Float32Array(got.length);
    tokens.forEach((t, p) => stepped.set(model.forward([t]), p * config.vocabSize));
    const own = await createEngine({ backend: 'relaxed' });
    const emulated = await LlamaModel.create(weights, { engine: own });
    own.kernels.attention = (q, k, v, out, s) => ref(q.view(), k.view(), v.view(), out.view(), s);
    const want = emulated.forward(tokens, { allLogits: true });
    const scale = want.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    // a half's rounding taken the other way (see the kernel tests) moves logits by about 2^-11 of their size
    expectClose(got, want, () => 2 ** -9 * scale, `model kvCache ${kvCache}`);
    expectClose(stepped, want, () => 2 ** -9 * scale, `model kvCache ${kvCache}, decoded`);
  });

  test('a bad kvCache is an E_ARG naming the option; a key beyond a half\'s range is refused, naming layer and position, and the cache stays where it was', async () => {
    const weights = randomLlamaWeights(config, 4);
    await expect(LlamaModel.create(weights, { backend: 'simd', kvCache: 'bf16' as never })).rejects.toThrow(/kvCache: expected 'f32', 'f16', 'f16-flash', found the string "bf16"/);
    const big = randomLlamaWeights(config, 4);
    const wk = big.layers[1]!.wk as Float32Array;
    for (let i = 0; i < wk.length; i++) wk[i]! *= 1e7;
    const model = await LlamaModel.create(big, { backend: 'simd', kvCache: 'f16' });
    const err = await Promise.resolve().then(() => model.forward([2, 3])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfnkitError);
    expect(err).toMatchObject({ code: 'E_UNSUPPORTED', message: expect.stringMatching(/kvCache 'f16': \d+ keys of layer 1 at position 0 are beyond a half's range \(65504\) or NaN; run with kvCache 'f32'/) });
    expect(model.position).toBe(0);
    // the f32 cache holds them
    expect((await LlamaModel.create(big, { backend: 'simd' })).forward([2, 3]).every(Number.isFinite)).toBe(true);
  });
});
