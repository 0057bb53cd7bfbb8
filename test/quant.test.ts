// Q8_0 GEMM and GEMV: GGUF block bytes in wasm memory, activations quantized per block, integer
// dot products. Checked against a float64 reference that quantizes x with the same float32 steps.

import { describe, expect, test } from 'vitest';
import { LlamaModel, Tokenizer, evaluate, loadModel, parseGguf, readGguf, readWeights, writeGguf } from '../src/node/index.js';
import { RoutedLayerFfn, factorizeLayer, splitNeurons } from '../src/entries/node/factor.js';
import { decodeQ8_0, encodeQ8_0 } from '../src/entries/node/kernels.js';
import { llamaConfig, randomLlamaWeights } from '../src/llm/random.js';
import { SHARED, sharedBytes, sharedText } from './shared.js';
import { BACKENDS, U32, engineFor, expectClose, ggufTypeOffset, placed } from './helpers.js';
import { randomF32 } from '../testing/random.js';
import { gemvQ8Ref, quantizeRef } from '../testing/q8-reference.js';

describe.each(BACKENDS)('%s build', (backend) => {
  test("activation quantization gives ggml's bytes: scales, and values rounded half away from zero", async () => {
    const e = await engineFor(backend);
    // block 0: max |x| = 127, so d = 1 and q = roundf(x): ties, the largest float below 0.5
    // (floor(x + 0.5) would give 1), signed zeros; block 1: zeros; blocks 2..: random
    const below = Math.fround(0.5 - 2 ** -25);
    const ties = [127, -126.5, 2.5, -2.5, 0.5, -0.5, 1.5, -1.5, below, -below, 0, -0, 3.4999998, -3.5000002, 63.5, -63.5];
    const x = new Float32Array(32 * 6);
    x.set([...ties, ...ties.map((v) => (v === 127 ? -127 : v))], 0);
    x.set(randomF32(32 * 4, 77, -3, 3), 64);
    const xb = e.upload(x);
    const scratch = e.alloc(x.length / 2 + x.length / 32);
    e.wasm.q8_0_quantize(xb.ptr, x.length, scratch.ptr, scratch.ptr + x.length * 2);
    const q = new Int16Array(e.memory.buffer, scratch.ptr, x.length);
    const d = new Float32Array(e.memory.buffer, scratch.ptr + x.length * 2, x.length / 32);
    const want = quantizeRef(x);
    expect(want.q[8]).toBe(0); // roundf(below) = 0
    expect(Array.from(q)).toEqual(Array.from(want.q));
    expect(Array.from(d)).toEqual(Array.from(want.d));
  });

  test.each([[1, 1, 32], [1, 3, 64], [2, 9, 96], [5, 33, 1024], [1, 64, 4096], [3, 70, 256]])('Q8_0 GEMM m=%i n=%i k=%i: the integer dot products, scaled, within (blocks+4)·U', async (m, n, k) => {
    const e = await engineFor(backend);
    const w = randomF32(n * k, n + k, -2, 2);
    const x = randomF32(m * k, k + 1, -3, 3);
    const bytes = encodeQ8_0(w);
    const y = placed(e, new Float32Array(m * n), 1);
    e.kernels.gemm(placed(e, x, 3), e.kernels.q8Matrix(bytes, n, k), y, m);
    const wd = decodeQ8_0(bytes, n * k);
    for (let t = 0; t < m; t++) {
      const { y: want, mag } = gemvQ8Ref(bytes, x.subarray(t * k, (t + 1) * k), n, k);
      const got = y.view().subarray(t * n, (t + 1) * n);
      // each block: one rounding of d_w·d_x and one of the product; the sum of k/32 blocks
      expectClose(got, want, (i) => (k / 32 + 4) * U32 * mag[i]!, `q8 gemm ${m}x${n}x${k} row ${t}`);
      // and it approximates the float product within the quantization error of both operands
      for (let r = 0; r < n; r++) {
        let exact = 0;
        let scale = 0;
        for (let j = 0; j < k; j++) {
          exact += wd[r * k + j]! * x[t * k + j]!;
          scale += Math.abs(wd[r * k + j]!) * 3;
        }
        expect(Math.abs(got[r]! - exact)).toBeLessThan(scale / 127);
      }
    }
    // one token at a time (decoding) gives the block's rows bit for bit
    const wq = e.kernels.q8Matrix(bytes, n, k);
    const xt = e.alloc(k);
    const yt = e.alloc(n);
    for (let t = 0; t < m; t++) {
      xt.set(x.subarray(t * k, (t + 1) * k));
      e.kernels.gemv(wq, xt, yt);
      expect(Array.from(yt.view())).toEqual(Array.from(y.view().subarray(t * n, (t + 1) * n)));
    }
  });
});

test('Q8_0 shapes are checked before wasm', async () => {
  const e = await engineFor('simd');
  expect(() => e.kernels.q8Matrix(new Uint8Array(34), 1, 31)).toThrow(/cols: expected an integer >= 32/);
  expect(() => e.kernels.q8Matrix(new Uint8Array(34), 1, 40)).toThrow(/multiples of 32, found 40/);
  expect(() => e.kernels.q8Matrix(new Uint8Array(60), 1, 32)).toThrow(/is 34 bytes, found 60/);
  const m = e.kernels.q8Matrix(new Uint8Array(68), 1, 64);
  expect(() => e.kernels.gemv(m, e.alloc(32), e.alloc(1))).toThrow(/a: expected 64 floats, found 32/);
  expect(() => e.kernels.gemm(e.alloc(128), m, e.alloc(1), 2)).toThrow(/c: expected 2 floats, found 1/);
  expect(() => e.kernels.gemv(m, e.alloc(64), e.alloc(1), e.alloc(1))).toThrow(/bias: packed and block matrices take no bias/);
  // a scale of +inf (f16 0x7c00) or NaN would turn every output of its row into NaN: refused, counted
  const corrupt = encodeQ8_0(randomF32(3 * 64, 9));
  corrupt[34 * 2 + 1] = 0x7c; // row 1, block 0: +inf
  corrupt[34 * 5 + 1] = 0x7e; // row 2, block 1: NaN
  expect(() => e.kernels.q8Matrix(corrupt, 3, 64, 'blk.0.ffn_up.weight')).toThrow(/blk\.0\.ffn_up\.weight: 2 Q8_0 blocks have scales that are infinite or NaN/);
});

describe('Q8_0 models', () => {
  const config = llamaConfig({ dim: 64, hiddenDim: 160, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 96, seqLen: 32 });

  /**
   * The Q8_0 model's logits against the same values run as float32: within the int8 activations'
   * quantization error (~1/254 relative per block; through 2 layers a few percent of the logits'
   * range) but not equal; and decoding one token at a time gives the prefill's last logits up to
   * float32 summation order.
   */
  function expectNearDequantized(q8: LlamaModel, f32: LlamaModel): void {
    const tokens = [1, 17, 33, 5, 90, 41, 2, 8];
    const vocab = q8.config.vocabSize;
    const a = q8.forward(tokens, { allLogits: true });
    const b = f32.forward(tokens, { allLogits: true });
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) {
      worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      scale = Math.max(scale, Math.abs(b[i]!));
    }
    expect(worst).toBeGreaterThan(0); // it did run on quantized activations
    expect(worst / scale).toBeLessThan(0.05);
    q8.reset();
    for (const t of tokens.slice(0, -1)) q8.forward([t]);
    const last = q8.forward([tokens.at(-1)!]);
    const pre = a.subarray((tokens.length - 1) * vocab);
    for (let i = 0; i < vocab; i++) expect(Math.abs(last[i]! - pre[i]!)).toBeLessThan(1e-4 * scale);
  }

  test('a Q8_0 GGUF runs on its int8 blocks: the file round-trips byte for byte, and the logits match the dequantized model within the activations\' quantization error', async () => {
    const weights = randomLlamaWeights(config, 5, 'q8_0');
    const bytes = writeGguf(weights, undefined, 'Q8_0');
    const back = readGguf(bytes, 'q8.gguf', { keepQ8: true }).weights;
    expect(back.layers[1]!.w2).toMatchObject({ type: 'Q8_0', rows: 64, cols: 160 });
    expect(back.classifier).toMatchObject({ type: 'Q8_0', rows: 96, cols: 64 }); // shared: the embedding's blocks
    expect(Buffer.from(writeGguf(back, undefined, 'Q8_0')).equals(Buffer.from(bytes))).toBe(true);
    const engine = await engineFor('simd');
    const q8 = await loadModel(bytes, { engine });
    expect(q8.layers.map((l) => [l.wqkv.type, l.wo.type])).toEqual([['q8_0', 'q8_0'], ['q8_0', 'q8_0']]);
    const f32 = await LlamaModel.create(readGguf(bytes).weights, { engine }); // the same values as float32
    expectNearDequantized(q8, f32);
  });

  test('routed experts in Q8_0: their blocks run as int8 groups, reading about a quarter of the f32 bytes, with logits near the dequantized model\'s', async () => {
    const c = { ...config, hiddenDim: 256 };
    const dense = randomLlamaWeights(c, 8);
    const routed = {
      ...dense,
      layers: dense.layers.map((l) => ({ ...l, routed: factorizeLayer(l, c.dim, c.hiddenDim, splitNeurons('contiguous', 4, { hidden: c.hiddenDim, dim: c.dim, w1: l.w1, w3: l.w3 }), { topK: 2 }) })),
    };
    const bytes = writeGguf(routed, undefined, 'Q8_0');
    const back = readGguf(bytes, 'moe.gguf', { keepQ8: true }).weights;
    expect(back.layers[0]!.routed!.w2).toMatchObject({ type: 'Q8_0', rows: 4 * 64, cols: 64 }); // 4 experts of dim rows x 64
    const engine = await engineFor('relaxed');
    const q8 = await loadModel(bytes, { engine });
    const f32 = await LlamaModel.create(readGguf(bytes).weights, { engine });
    const [rq, rf] = [q8, f32].map((m) => m.ffns[0] as RoutedLayerFfn);
    expect(rq!.bytesPerToken()).toBeLessThan(0.4 * rf!.bytesPerToken()); // the f32 router stays
    // each chosen expert's GEMV when decoding, the grouped GEMMs in prefill
    expectNearDequantized(q8, f32);
  });

  test('memory is estimated for Q8_0 weights: a TinyLlama-1.1B shape needs about a quarter of its f32 bytes and fits wasm32', () => {
    const tl = llamaConfig({ dim: 2048, hiddenDim: 5632, nLayers: 22, nHeads: 32, nKvHeads: 4, vocabSize: 32000, seqLen: 2048, sharedClassifier: false });
    const f32 = LlamaModel.memoryBytes(tl);
    const q8 = LlamaModel.memoryBytes(tl, 64, 'q8_0');
    expect(q8 / f32).toBeLessThan(0.31); // the KV cache and activations stay f32
    expect(q8).toBeLessThan(1.6 * 2 ** 30);
    expect(q8).toBeGreaterThan(1.1e9 * (36 / 32)); // 1.1B weights at 36 bytes per 32
  });

  test('random Q8_0 weights need whole blocks', () => {
    expect(() => randomLlamaWeights({ ...config, dim: 48, nHeads: 4 }, 1, 'q8_0')).toThrow(/multiples of 32, found 48 and 160/);
  });
});

describe.skipIf(!SHARED)('stories260K in Q8_0', () => {
  test('eval PPL within 1% of f32; rows that are not whole blocks fall back to F16 (llama.cpp\'s last resort); the reader refuses Q8_0 rows of other lengths', async () => {
    const { weights } = await readWeights(sharedBytes('models', 'stories260K.bin'));
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    const text = sharedText('data', 'tinystories-eval.txt');
    const bytes = writeGguf(weights, tok.vocabulary(), 'Q8_0');
    const file = parseGguf(bytes);
    const typeOf = (name: string) => file.tensors.find((t) => t.name === name)!.type;
    expect(typeOf('blk.0.ffn_gate.weight')).toBe(8); // rows of 64: Q8_0
    expect(typeOf('blk.0.ffn_down.weight')).toBe(1); // rows of 172: F16
    const engine = await engineFor('simd');
    const f32 = evaluate(await loadModel(sharedBytes('models', 'stories260K.bin'), { engine }), tok, text).ppl;
    const q8 = evaluate(await loadModel(bytes, { engine }), tok, text).ppl;
    expect(Math.abs(q8 / f32 - 1)).toBeLessThan(0.01);
    // a Q8_0 tensor whose rows are 172 values is not what ggml writes: refused, named
    const bad = writeGguf({ ...weights, layers: weights.layers.map((l) => ({ ...l })) }, undefined, 'Q8_0');
    const t = parseGguf(bad).tensors.find((x) => x.name === 'blk.0.ffn_down.weight')!;
    const at = ggufTypeOffset(bad, 'blk.0.ffn_down.weight');
    new DataView(bad.buffer, bad.byteOffset).setUint32(at, 8, true); // claim Q8_0 for the F16 rows of 172
    expect(t.dims[0]).toBe(172);
    expect(() => readGguf(bad)).toThrow(/blk\.0\.ffn_down\.weight: Q8_0 needs rows of a multiple of 32 values, found 172/);
  });
});
