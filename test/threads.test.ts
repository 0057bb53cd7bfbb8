// Threads: an engine with a worker pool gives bit-identical results to one thread (matrix
// products split by rows in whole 4-row tiles, GEMVs by whole panels, Q8_0 by 4-row groups),
// whole-model logits included; one thread where threads cannot run, with a warning; a closed
// pool falls back.

import { afterAll, describe, expect, test, vi } from 'vitest';
import { LlamaModel, createEngine, type Engine } from '../src/node/index.js';
import { FfnetModel } from '../src/entries/node/mixer.js';
import { encodeQ8_0 } from '../src/entries/node/kernels.js';
import { llamaConfig, randomLlamaWeights } from '../src/llm/random.js';
import { randomF32 } from '../testing/random.js';
import { setWorkerFactory, workerFactory } from '../src/runtime/threads.js';

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe.each(['simd', 'relaxed'] as const)('threads (%s)', (backend) => {
  let one: Engine;
  let two: Engine;
  const engines = async () => {
    one ??= await createEngine({ backend });
    two ??= await createEngine({ backend, threads: 2 });
    return { one, two };
  };
  afterAll(() => two?.close());

  test('two threads start', async () => {
    const { two } = await engines();
    expect(two.threads).toBe(2);
  });

  test.each([
    [1, 2048, 1024, 'f32'],
    [1, 2053, 1031, 'f32'],
    [64, 256, 256, 'f32'],
    [67, 300, 257, 'f32'],
    [5, 1024, 1024, 'f32'],
    [1, 2048, 1024, 'q8_0'],
    [1, 2054, 1056, 'q8_0'],
    [7, 1030, 512, 'q8_0'],
  ] as const)('gemm m %i n %i k %i %s: bit-identical to one thread', async (m, n, k, type) => {
    const { one, two } = await engines();
    const w = randomF32(n * k, n + k);
    const q8 = type === 'q8_0' ? encodeQ8_0(w) : undefined;
    const a = randomF32(m * k, m);
    const out = [one, two].map((e) => {
      const c = e.alloc(m * n);
      e.kernels.gemm(e.upload(a), q8 ? e.kernels.q8Matrix(q8, n, k) : e.kernels.packFrom(w, n, k), c, m);
      return c.toArray();
    });
    expect(bits(out[1]!)).toEqual(bits(out[0]!));
  });

  test.each([
    [64, 56, 56, 7, 1, 1],
    [33, 40, 37, 31, 2, 1],
    [17, 64, 64, 7, 1, 2],
  ])('depthwise conv2d c %i %ix%i k %i stride %i multiplier %i: bit-identical to one thread', async (c, h, w, k, stride, multiplier) => {
    const { one, two } = await engines();
    const x = randomF32(c * h * w, c);
    const wt = randomF32(c * multiplier * k * k, k);
    const bias = randomF32(c * multiplier, 3);
    const ho = Math.ceil(h / stride);
    const wo = Math.ceil(w / stride);
    const out = [one, two].map((e) => {
      const y = e.alloc(c * multiplier * ho * wo);
      e.kernels.depthwiseConv2d(e.upload(x), { h, w, c }, e.upload(wt), k, y, { bias: e.upload(bias), stride: stride as 1 | 2, gelu: true, multiplier: multiplier as 1 | 2 });
      return y.toArray();
    });
    expect(bits(out[1]!)).toEqual(bits(out[0]!));
  });

  test.each([1, 3, 16, 21])('dense SwiGLU FFN 1024 -> 2816 on %i tokens: bit-identical to one thread', async (tokens) => {
    const { one, two } = await engines();
    const [d, h] = [1024, 2816];
    const w1 = randomF32(h * d, 1, -0.03, 0.03);
    const w3 = randomF32(h * d, 2, -0.03, 0.03);
    const w2 = randomF32(d * h, 3, -0.03, 0.03);
    const x = randomF32(tokens * d, 4);
    const out = [one, two].map((e) => {
      const k = e.kernels;
      const f = k.denseFfnFromPacked(k.packFrom(w1, h, d), k.packFrom(w3, h, d), k.packFrom(w2, d, h));
      const y = e.alloc(tokens * d);
      k.ffn(f, e.upload(x), y, tokens);
      return y.toArray();
    });
    expect(bits(out[1]!)).toEqual(bits(out[0]!));
  });

  test.each([
    [64, 256, 56 * 56, true],
    [35, 130, 33 * 31, false],
  ])('pointwise conv cin %i cout %i pixels %i (gelu %s): bit-identical to one thread', async (c, cout, pixels, gelu) => {
    const { one, two } = await engines();
    const x = randomF32(c * pixels, 7);
    const wt = randomF32(cout * c, 8);
    const bias = randomF32(cout, 9);
    const out = [one, two].map((e) => {
      const y = e.alloc(cout * pixels);
      e.kernels.pointwiseConv(e.upload(x), { c, pixels }, e.upload(wt), cout, y, { bias: e.upload(bias), gelu });
      return y.toArray();
    });
    expect(bits(out[1]!)).toEqual(bits(out[0]!));
  });

  test('grouped pointwise conv with interleaved groups: bit-identical to one thread', async () => {
    const { one, two } = await engines();
    // 64 groups of 7 -> 14 over 2000 pixels (above the threading threshold), the time-series
    // token mixer's placement
    const layout = { groups: 64, cin: 7, cout: 14, input: { group: 1, channel: 64 }, output: { group: 1, channel: 64 } };
    const pixels = 2000;
    const x = randomF32(7 * 64 * pixels, 7);
    const wt = randomF32(64 * 14 * 7, 8);
    const bias = randomF32(64 * 14, 9);
    const out = [one, two].map((e) => {
      const y = e.alloc(64 * 14 * pixels);
      e.kernels.groupedPointwiseConv(e.upload(x), { c: 7 * 64, pixels }, e.upload(wt), layout, y, { bias: e.upload(bias), gelu: true });
      return y.toArray();
    });
    expect(bits(out[1]!)).toEqual(bits(out[0]!));
  });

  test('FFNet-1 at 64x64: logits bit-identical to one thread', async () => {
    const { one, two } = await engines();
    const image = randomF32(3 * 64 * 64, 5, -2, 2);
    const [a, b] = [one, two].map((e) => {
      const m = FfnetModel.create(e, { variant: 'ffnet-1', height: 64, width: 64 });
      const y = m.forward(image);
      m.free();
      return y;
    });
    expect(bits(b!)).toEqual(bits(a!));
  });

  test.each([
    // tokens, pos0, heads, kvHeads, headDim: decoding far into a TinyLlama context, a prefill
    // block, three KV heads on two threads, odd head size
    [1, 700, 32, 4, 64],
    [16, 100, 8, 4, 64],
    [3, 400, 12, 3, 40],
    [2, 600, 10, 5, 33],
  ])('attention %i tokens after %i, %i heads over %i KV heads of %i: split by KV heads, bit-identical', async (tokens, pos0, heads, kvHeads, headDim) => {
    const { one, two } = await engines();
    const rows = pos0 + tokens;
    const q = randomF32(tokens * heads * headDim, tokens + heads);
    const kv = [randomF32(rows * kvHeads * headDim, rows), randomF32(rows * kvHeads * headDim, rows + 1)];
    const run = (e: Engine) => {
      const out = e.alloc(tokens * heads * headDim);
      e.kernels.attention(e.upload(q), e.upload(kv[0]!), e.upload(kv[1]!), out, { tokens, pos0, heads, kvHeads, headDim });
      const got = out.toArray();
      e.arena.reset();
      return got;
    };
    const a = run(one);
    const split = vi.spyOn(two.pool!, 'run');
    const b = run(two);
    expect(split).toHaveBeenCalledTimes(1);
    split.mockRestore();
    expect(bits(b)).toEqual(bits(a));
  });

  test('a model large enough to split: prefill and decode logits bit-identical to one thread', async () => {
    const { one, two } = await engines();
    const w = randomLlamaWeights(llamaConfig({ dim: 512, hiddenDim: 1376, nLayers: 2, nHeads: 8, nKvHeads: 4, vocabSize: 4096, seqLen: 64 }), 9);
    const tokens = Array.from({ length: 20 }, (_, i) => (i * 131 + 7) % 4096);
    const run = async (e: Engine) => {
      const model = await LlamaModel.create(w, { engine: e });
      const prefill = model.forward(tokens, { allLogits: true });
      const decode = model.forward([5]);
      return [prefill, decode];
    };
    const [p1, d1] = await run(one);
    const [p2, d2] = await run(two);
    expect(bits(p2!)).toEqual(bits(p1!));
    expect(bits(d2!)).toEqual(bits(d1!));
  });

  test('threads that sleep at once (spinMs 0) give the same bits; a bad spinMs is refused', async () => {
    const { one } = await engines();
    const sleepy = await createEngine({ backend, threads: 2, spinMs: 0 });
    try {
      const [m, n, k] = [9, 2048, 512];
      const w = randomF32(n * k, 5);
      const a = randomF32(m * k, 6);
      const out = [one, sleepy].map((e) => {
        const c = e.alloc(m * n);
        for (let i = 0; i < 3; i++) e.kernels.gemm(e.upload(a), e.kernels.packFrom(w, n, k), c, m);
        return c.toArray();
      });
      expect(bits(out[1]!)).toEqual(bits(out[0]!));
    } finally {
      sleepy.close();
    }
    await expect(createEngine({ backend, threads: 2, spinMs: -1 })).rejects.toThrow(/spinMs: expected a number of milliseconds in 0..1000, found -1/);
  });
});

describe('threads fallback', () => {
  /** A GEMV on `e`, the work both fallbacks must still do as a plain one-thread engine does it. */
  const gemvOn = (e: Engine) => {
    const c = e.alloc(2048);
    e.kernels.gemm(e.upload(randomF32(1024, 1)), e.kernels.packFrom(randomF32(2048 * 1024, 2), 2048, 1024), c, 1);
    return bits(c.toArray());
  };
  let plain: number[] | undefined;
  const onePlainThread = async () => (plain ??= gemvOn(await createEngine({ backend: 'simd' })));

  test('the scalar build runs one thread, with a warning; a closed pool leaves one thread', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const scalar = await createEngine({ backend: 'scalar', threads: 2 });
    expect(scalar.threads).toBe(1);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/running one thread instead of 2: the scalar build has no shared-memory variant/));
    warn.mockRestore();
    const e = await createEngine({ backend: 'simd', threads: 2 });
    e.close();
    expect(e.threads).toBe(1);
    expect(gemvOn(e)).toEqual(await onePlainThread());
    await expect(createEngine({ threads: 0 })).rejects.toThrow(/threads: expected an integer >= 1/);
  });

  test('a worker that fails to start: one thread, with a warning naming the failure', async () => {
    const node = workerFactory()!;
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    setWorkerFactory(() => Promise.reject(new Error('no threads today')));
    try {
      const e = await createEngine({ backend: 'simd', threads: 2 });
      expect(e.threads).toBe(1);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/running one thread instead of 2: worker 1 of 1 did not start \(no threads today\)/));
      expect(gemvOn(e)).toEqual(await onePlainThread());
    } finally {
      setWorkerFactory(node);
      warn.mockRestore();
    }
  });
});
