// The families on files ffnkit writes, against llama.cpp (node-llama-cpp, native, from
// bench/peers) running the same files: other shapes than the shared fixtures (head width apart
// from dim/heads, one KV head, more layers), sequences longer than the sliding window, the
// options the fixtures do not exercise (a soft-cap small enough to bite, linear RoPE scaling and
// RoPE factors together, Gemma 3's global layers with their own base and scaling). Same measure
// as families.test.ts: argmax at every position but at most one, max |diff| <= 0.02 x std.

import { describe, expect, test } from 'vitest';
import { LlamaModel, Tokenizer, familyConfig, readGguf, writeGguf, type Family, type LlamaConfig, type LlamaWeights } from '../src/node/index.js';
import { llamaConfig, randomLlamaWeights } from '../src/llm/random.js';
import { rng } from '../src/rng.js';
import { LLAMA_CPP, againstReference, llamaCppLogits } from './llamacpp.js';
import { SHARED, sharedBytes } from './shared.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Random weights of `family`: Llama's draws plus the family's own tensors (biases, q/k norms, post-norms), norms 1 +- 0.2. */
function familyWeights(family: Family, shape: Partial<LlamaConfig>, seed: number, extras: { ropeFactors?: boolean } = {}): LlamaWeights {
  const base = llamaConfig({ dim: 128, hiddenDim: 320, nLayers: 3, nHeads: 4, nKvHeads: 2, vocabSize: 512, seqLen: 128, normEps: Math.fround(1e-5), ...shape });
  const c = familyConfig(family, base);
  const w = randomLlamaWeights(c, seed);
  const next = rng(seed + 1000);
  const around = (n: number, mid: number, spread: number) => Float32Array.from({ length: n }, () => mid + spread * (2 * next() - 1));
  const hd = c.headDim ?? c.dim / c.nHeads;
  const q = hd * c.nHeads;
  const kv = hd * c.nKvHeads;
  // Gemma's embeddings are scaled by sqrt(dim): draw them smaller so the stream keeps its size
  if (c.embeddingScale !== undefined) w.tokenEmbedding.forEach((v, i, a) => (a[i] = v / c.embeddingScale!));
  w.layers = w.layers.map((l) => ({
    ...l,
    attnNorm: around(c.dim, 1, 0.2),
    ffnNorm: around(c.dim, 1, 0.2),
    ...(family === 'qwen2' ? { bq: around(q, 0, 0.5), bk: around(kv, 0, 0.5), bv: around(kv, 0, 0.5) } : {}),
    ...(family === 'qwen3' || family === 'gemma3' ? { qNorm: around(hd, 1, 0.2), kNorm: around(hd, 1, 0.2) } : {}),
    ...(family === 'gemma2' || family === 'gemma3' ? { postAttnNorm: around(c.dim, 1, 0.2), postFfnNorm: around(c.dim, 1, 0.2) } : {}),
  }));
  w.finalNorm = around(c.dim, 1, 0.2);
  // a classifier with some spread, so the most likely token is a clear one
  if (!c.sharedClassifier) w.classifier = w.classifier.map((v) => v * 8);
  else w.tokenEmbedding.forEach((v, i, a) => (a[i] = v * 4));
  if (extras.ropeFactors) w.ropeFactors = Float32Array.from({ length: hd / 2 }, (_, i) => (i < hd / 8 ? 1 : i < hd / 4 ? 1 + (i - hd / 8) / 2 : 8));
  return w;
}

interface Case {
  name: string;
  family: Family;
  shape: Partial<LlamaConfig>;
  ropeFactors?: boolean;
}

const CASES: Case[] = [
  { name: 'llama: RoPE factors and linear scaling x4, one KV head, base 500000', family: 'llama', shape: { nKvHeads: 1, ropeTheta: 500000, ropeScale: 0.25, sharedClassifier: false }, ropeFactors: true },
  { name: 'qwen2: biases, one KV head, tied', family: 'qwen2', shape: { nKvHeads: 1, ropeTheta: 1e6 } },
  { name: 'qwen3: head width 48 apart from dim/heads (128/4)', family: 'qwen3', shape: { headDim: 48, ropeTheta: 1e6, sharedClassifier: false } },
  { name: 'phi3: fused tensors, 4 layers', family: 'phi3', shape: { nLayers: 4, sharedClassifier: false } },
  { name: 'gemma: GeGLU, 8 heads of 16', family: 'gemma', shape: { nHeads: 8, nKvHeads: 4 } },
  { name: 'gemma2: window 8 over 40 positions, attention cap 2, final cap 5', family: 'gemma2', shape: { nLayers: 4, slidingWindow: 8, attentionSoftcap: 2, finalSoftcap: 5 } },
  { name: 'gemma3: 7 layers (layer 5 global, base 1e6 scaled x8), window 8 over 40 positions', family: 'gemma3', shape: { dim: 64, hiddenDim: 160, nLayers: 7, nHeads: 2, nKvHeads: 1, headDim: 64, slidingWindow: 8, ropeTheta: 1e6, ropeScale: 0.125 } },
];

describe.skipIf(!SHARED || !LLAMA_CPP)('families written by ffnkit, run by llama.cpp', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ffnkit-families-'));
  const vocab = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'), 'tok512.bin').vocabulary();
  const ids = Array.from({ length: 40 }, (_, i) => (i === 0 ? 1 : 3 + ((i * 131 + 7) % 509)));

  CASES.forEach((c, i) => {
    test(c.name, async () => {
      const weights = familyWeights(c.family, c.shape, 11 + i, c.ropeFactors ? { ropeFactors: true } : {});
      const file = join(dir, `${c.family}-${i}.gguf`);
      const bytes = writeGguf(weights, vocab);
      writeFileSync(file, bytes);
      // the file reads back as the model that wrote it
      expect(readGguf(bytes, file).weights.config).toEqual(weights.config);
      const model = await LlamaModel.create(readGguf(bytes, file).weights, { blockSize: 16 });
      const flat = model.forward(ids, { allLogits: true });
      const ours = ids.map((_, p) => flat.subarray(p * 512, (p + 1) * 512));
      const theirs = await llamaCppLogits(file, ids, 512);
      const { argmaxMisses, maxDiffOverStd } = againstReference(ours, theirs);
      console.info(`${c.name}: max |diff| / std ${maxDiffOverStd.toFixed(5)}, argmax differs at ${argmaxMisses} of ${ids.length}`);
      expect(argmaxMisses).toBeLessThanOrEqual(1);
      expect(maxDiffOverStd).toBeLessThanOrEqual(0.02);
    }, 60_000);
  });
});
