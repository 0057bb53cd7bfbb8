// The families on files ffnkit writes, against llama.cpp (node-llama-cpp, native, from
// bench/peers) running the same files: other shapes than the shared fixtures (head width apart
// from dim/heads, one KV head, more layers), sequences longer than the sliding window, the
// options the fixtures do not exercise (a soft-cap small enough to bite, linear RoPE scaling and
// RoPE factors together, Gemma 3's global layers with their own base and scaling). Same measure
// as families.test.ts: argmax at every position but at most one, max |diff| <= 0.02 x std.

import { describe, expect, test } from 'vitest';
import { LlamaModel, Tokenizer, readGguf, writeGguf, type Family, type LlamaConfig } from '../src/node/index.js';
import { familyWeights } from './family-weights.js';
import { LLAMA_CPP, againstReference, llamaCppLogits } from './llamacpp.js';
import { SHARED, sharedBytes } from './shared.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
