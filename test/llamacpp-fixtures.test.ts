// Conformance with llama.cpp on files its own quantizer wrote: every
// models/fixtures/fixture-llama-TYPE.gguf (F32 and 15 quantized file types) runs in its blocks and
// is compared with golden/llamacpp-fixtures.json, llama.cpp's logits teacher-forced from an empty
// cache: the largest |difference| within 0.15 x the standard deviation of llama.cpp's logits (0.02
// x for F32), prefill and decode giving the same bits. What remains is llama.cpp's attention
// numerics (an f16 KV cache under flash attention): with them reproduced by test/ref/, many
// positions agree to float rounding (printed) and the most likely token agrees at every position
// but at most one; so it does with ffnkit's own kernels for them (kvCache 'f16-flash'), while a
// cache of halves summed in f32 (kvCache 'f16') is printed, not held to the argmax. Also: the memory estimate against what the upload allocates, the stacked matrices a
// mixed file needs, and the two traits tables against each other.

import { afterAll, describe, expect, test } from 'vitest';
import { FfnkitError, GGML_TYPES, LlamaModel, createEngine, loadModel, readGguf, weightType, type Engine } from '../src/node/index.js';
import { GGML_KERNEL_TRAITS, type GgmlBlockType } from '../src/runtime/kernels.js';
import { randomBlocks } from '../testing/ggml-reference.js';
import { randomF32 } from '../testing/random.js';
import { againstReference } from './llamacpp.js';
import { llamaCppAttention } from './ref/llamacpp-attention.js';
import { engineFor } from './helpers.js';
import { SHARED, sharedBytes, sharedJson } from './shared.js';

interface Golden {
  tokens: number[];
  vocab: number;
  logits: number[][];
}

const gold = SHARED ? sharedJson<Record<string, Golden>>('golden', 'llamacpp-fixtures.json') : {};
const FILES = Object.keys(gold).filter((f) => f.startsWith('fixture-llama-'));
const typeOf = (file: string) => file.replace(/^fixture-llama-|\.gguf$/g, '');

/** llama.cpp's rows, and ours as rows. */
const rows = (flat: Float32Array, vocab: number) => Array.from({ length: flat.length / vocab }, (_, p) => flat.subarray(p * vocab, (p + 1) * vocab));
const reference = (g: Golden) => g.logits.map((r) => Float32Array.from(r));

/** max |ours - theirs| / std(theirs) at each position. */
function perPosition(ours: Float32Array[], theirs: Float32Array[]): number[] {
  let sum = 0;
  let sq = 0;
  let n = 0;
  for (const r of theirs) for (const v of r) (sum += v), (sq += v * v), n++;
  const std = Math.sqrt(sq / n - (sum / n) ** 2);
  return theirs.map((r, p) => r.reduce((w, v, i) => Math.max(w, Math.abs(ours[p]![i]! - v)), 0) / std);
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

const table: string[] = [];
afterAll(() => {
  if (table.length) console.log(`\nllama.cpp fixtures (max |diff| / std of llama.cpp's logits; argmax misses of ${FILES.length && gold[FILES[0]!]!.tokens.length} positions)\n${['type       weights              kv f32: ratio misses | kv f16: ratio misses | kv f16-flash: ratio misses | llama.cpp attention (test/ref): ratio misses at-rounding', ...table].join('\n')}`);
});

describe.skipIf(!SHARED)('llama.cpp fixtures, every block type in its blocks', () => {
  test.each(FILES)('%s: within 0.15 x std of llama.cpp (0.02 x for F32), decode bits = prefill bits; with llama.cpp\'s attention numerics the argmax agrees at all positions but at most one', async (file) => {
    const g = gold[file]!;
    const theirs = reference(g);
    const engine = await engineFor('relaxed');
    const model = await loadModel(sharedBytes('models', 'fixtures', file), { engine });
    const type = typeOf(file);
    // nothing widened: a quantized file's matrices are all blocks
    if (type !== 'f32') expect(model.layers.every((l) => l.wo.type !== 'f32-panel8' && l.wqkv.type !== 'f32-panel8')).toBe(true);
    const prefill = model.forward(g.tokens, { allLogits: true });
    const ours = rows(prefill, g.vocab);
    const { argmaxMisses, maxDiffOverStd } = againstReference(ours, theirs);
    expect(maxDiffOverStd, `${type}: max |diff| / std`).toBeLessThanOrEqual(type === 'f32' ? 0.02 : 0.15);
    model.reset();
    const decoded = new Float32Array(prefill.length);
    g.tokens.forEach((t, p) => decoded.set(model.forward([t]), p * g.vocab));
    // block types: each output row is one row's sum over its blocks, whatever the token count
    if (type !== 'f32') expect(bits(decoded), `${type}: decoding token by token gives the prefill's bits`).toEqual(bits(prefill));
    else expect(againstReference(rows(decoded, g.vocab), ours).maxDiffOverStd).toBeLessThan(1e-5);

    // the same model with llama.cpp's attention (f16 KV cache, flash attention) put in its place
    const own = await createEngine({ backend: 'relaxed' });
    const emulated = await loadModel(sharedBytes('models', 'fixtures', file), { engine: own });
    own.kernels.attention = (q, k, v, out, s) => llamaCppAttention(q.view(), k.view(), v.view(), out.view(), s);
    const like = rows(emulated.forward(g.tokens, { allLogits: true }), g.vocab);
    const close = againstReference(like, theirs);
    const at = perPosition(like, theirs);
    const rounding = at.filter((r) => r <= 0.002).length;
    expect(close.argmaxMisses, `${type}: argmax misses with llama.cpp's attention`).toBeLessThanOrEqual(1);
    expect(close.maxDiffOverStd).toBeLessThanOrEqual(type === 'f32' ? 0.02 : 0.15);

    // ffnkit's kernels over a cache of halves: summed in f32, and summed as llama.cpp's flash attention
    const halves = await Promise.all((['f16', 'f16-flash'] as const).map(async (kvCache) => {
      const m = await loadModel(sharedBytes('models', 'fixtures', file), { engine, kvCache });
      const logits = m.forward(g.tokens, { allLogits: true });
      m.reset();
      const stepped = new Float32Array(logits.length);
      g.tokens.forEach((t, p) => stepped.set(m.forward([t]), p * g.vocab));
      if (type !== 'f32') expect(bits(stepped), `${type} kvCache ${kvCache}: decoding token by token gives the prefill's bits`).toEqual(bits(logits));
      // f32 weights: the GEMM's and the GEMV's k and v differ in f32 rounding, which can take a
      // half's rounding (of the cache, of the f16 accumulator) the other way: decode and prefill
      // agree to what the table counts as rounding
      else expect(againstReference(rows(stepped, g.vocab), rows(logits, g.vocab)).maxDiffOverStd).toBeLessThan(0.002);
      return againstReference(rows(logits, g.vocab), theirs);
    }));
    const [f16, flash] = halves as [ReturnType<typeof againstReference>, ReturnType<typeof againstReference>];
    const cell = (r: { maxDiffOverStd: number; argmaxMisses: number }) => `${r.maxDiffOverStd.toFixed(4)} ${r.argmaxMisses}`;
    const weights = weightType(readGguf(sharedBytes('models', 'fixtures', file), file, { blocks: 'runnable' }).weights);
    table.push(`${type.padEnd(10)} ${weights.padEnd(20)} ${cell({ maxDiffOverStd, argmaxMisses })}        | ${cell(f16)}        | ${cell(flash)}              | ${cell(close)} ${rounding}/${at.length}`);
    expect(f16.maxDiffOverStd, `${type} kvCache f16: max |diff| / std`).toBeLessThanOrEqual(type === 'f32' ? 0.02 : 0.15);
    expect(flash.argmaxMisses, `${type} kvCache f16-flash: argmax misses`).toBeLessThanOrEqual(1);
    expect(flash.maxDiffOverStd, `${type} kvCache f16-flash: max |diff| / std`).toBeLessThanOrEqual(type === 'f32' ? 0.02 : 0.15);
  });

  test.each(['q4_k_m', 'q4_0', 'q8_0', 'f16', 'iq4_xs', 'q2_k', 'f32'].flatMap((t) => [[t, 'f32'], [t, 'f16-flash']]))('fixture-llama-%s, kvCache %s: the memory estimate covers what loading and a 64-token block allocate, within the staging slack', async (type, kvCache) => {
    const bytes = sharedBytes('models', 'fixtures', `fixture-llama-${type}.gguf`);
    const { weights } = readGguf(bytes, type, { blocks: 'runnable' });
    const engine = await createEngine({ backend: 'relaxed' });
    const before = engine.arena.peakBytes;
    const model = await LlamaModel.create(weights, { engine, kvCache: kvCache as 'f32' | 'f16-flash' });
    model.forward(Array.from({ length: 64 }, (_, i) => (i * 7) % 512));
    const used = engine.arena.peakBytes - before;
    const estimate = LlamaModel.memoryBytes(weights.config, 64, weights, kvCache as 'f32' | 'f16-flash');
    expect(estimate).toBeGreaterThanOrEqual(used);
    expect(estimate - used).toBeLessThan(4.5 * 2 ** 20); // the estimate's 4 MiB packing staging buffer, unused by block types
  });

  test('a cache of halves takes half the bytes: the estimate falls by a quarter of the f32 cache for each of K and V', () => {
    const { weights } = readGguf(sharedBytes('models', 'fixtures', 'fixture-llama-q4_k_m.gguf'), 'q4_k_m', { blocks: 'runnable' });
    const c = weights.config;
    const f32Cache = 2 * c.nLayers * c.seqLen * c.nKvHeads * (c.dim / c.nHeads) * 4;
    for (const halves of ['f16', 'f16-flash'] as const) {
      expect(LlamaModel.memoryBytes(c, 64, weights) - LlamaModel.memoryBytes(c, 64, weights, halves)).toBe(f32Cache / 2);
    }
    expect(() => LlamaModel.memoryBytes(c, 64, weights, 'q8' as never)).toThrow(/kvCache: expected 'f32', 'f16', 'f16-flash', found the string "q8"/);
  });

  test('a model that does not fit wasm32 is refused with the bytes it needs, before anything is allocated', async () => {
    const { weights } = readGguf(sharedBytes('models', 'fixtures', 'fixture-llama-q4_k_m.gguf'), 'q4_k_m', { blocks: 'runnable' });
    weights.config.seqLen = 1 << 22;
    const need = LlamaModel.memoryBytes(weights.config, 64, weights);
    const engine = await createEngine({ backend: 'simd' });
    const before = engine.arena.peakBytes;
    const err = await LlamaModel.create(weights, { engine }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfnkitError);
    expect(err).toMatchObject({ code: 'E_MEMORY', message: expect.stringContaining(`needs ${need.toLocaleString('en-US')} bytes`) });
    expect(engine.arena.peakBytes).toBe(before);
  });
});

test('the kernels\' traits agree with the host traits table: block, bytes and the activations ggml quantizes to', () => {
  for (const [name, k] of Object.entries(GGML_KERNEL_TRAITS)) {
    const t = GGML_TYPES[name.toUpperCase() as keyof typeof GGML_TYPES];
    // the 4-row kernels take the same quantization in an interleaved layout (q8_1_x4, q8_k_x4)
    const quantization = k.activations.replace(/_x4$/, '');
    expect([t.blockSize, t.blockBytes, t.vecDot?.toLowerCase()], name).toEqual([k.block, k.bytes, quantization]);
  }
  // every weight type ffnkit reads has a kernel
  const weights = Object.values(GGML_TYPES).filter((t) => t.weight && t.name !== 'F32').map((t) => t.name.toLowerCase());
  expect(weights.sort()).toEqual(Object.keys(GGML_KERNEL_TRAITS).sort());
});

describe('stacked matrices (wq, wk, wv in different types)', () => {
  test('a stack of f32 panels, Q4_K, Q8_0 and Q6_K gives each part\'s own product in its columns, bit for bit, for one token and for blocks', async () => {
    const e: Engine = await engineFor('relaxed');
    const k = e.kernels;
    const cols = 512;
    const parts = [
      k.packFrom(randomF32(9 * cols, 1), 9, cols, 'f32 part'),
      k.ggmlMatrix(randomBlocks('q4_k', 6, cols, 2), 'q4_k', 6, cols),
      k.ggmlMatrix(randomBlocks('q8_0', 5, cols, 3), 'q8_0', 5, cols),
      k.ggmlMatrix(randomBlocks('q6_k', 3, cols, 4), 'q6_k', 3, cols),
    ];
    const stack = k.stack(parts);
    expect(stack.rows).toBe(23);
    for (const m of [1, 5]) {
      const a = e.upload(randomF32(m * cols, 10 + m));
      const c = e.alloc(m * stack.rows);
      k.gemm(a, stack, c, m);
      let col0 = 0;
      for (const p of parts) {
        const own = e.alloc(m * p.rows);
        k.gemm(a, p, own, m);
        for (let t = 0; t < m; t++) {
          expect(bits(c.view().slice(t * stack.rows + col0, t * stack.rows + col0 + p.rows)), `m ${m} token ${t} part at ${col0}`).toEqual(bits(own.view().slice(t * p.rows, (t + 1) * p.rows)));
        }
        col0 += p.rows;
      }
    }
    expect(() => k.stack([parts[0]!, k.ggmlMatrix(randomBlocks('q4_0', 2, 64, 5), 'q4_0', 2, 64)])).toThrow(/stack.parts\[1\]: expected 512 columns like the stack, found 64/);
    expect(() => k.stack([])).toThrow(/at least one part/);
    expect(() => k.denseFfnFromPacked(stack as never, parts[1]!, parts[2]!)).toThrow(/w1: an FFN takes single matrices/);
  });
});

test.each(['q4_0', 'q6_k', 'f16'] as GgmlBlockType[])('%s: an FFN of block matrices is its three products with the SwiGLU between them', async (type) => {
  const e = await engineFor('simd');
  const k = e.kernels;
  const dim = 256, hidden = 512, tokens = 3;
  const w1 = k.ggmlMatrix(randomBlocks(type, hidden, dim, 1), type, hidden, dim);
  const w3 = k.ggmlMatrix(randomBlocks(type, hidden, dim, 2), type, hidden, dim);
  const w2 = k.ggmlMatrix(randomBlocks(type, dim, hidden, 3), type, dim, hidden);
  const x = e.upload(randomF32(tokens * dim, 4));
  const y = e.alloc(tokens * dim);
  k.ffn(k.denseFfnFromPacked(w1, w3, w2), x, y, tokens);
  const gate = e.alloc(tokens * hidden), up = e.alloc(tokens * hidden), want = e.alloc(tokens * dim);
  k.gemm(x, w1, gate, tokens);
  k.gemm(x, w3, up, tokens);
  k.swiglu(gate, up, gate);
  k.gemm(gate, w2, want, tokens);
  expect(bits(y.toArray())).toEqual(bits(want.toArray()));
});
