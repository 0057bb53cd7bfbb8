// llama.cpp loads the files ffnkit writes in the block types people download and gives the
// logits ffnkit gives on them: the F32 fixture quantized by ffnkit (writeGguf, as `ffnkit
// quantize` does) to several file types, each run by node-llama-cpp (bench/peers) and by ffnkit
// from the same bytes. Measured as the llama.cpp fixtures are (test/llamacpp-fixtures.test.ts):
// within 0.15 x std of llama.cpp's logits, and with llama.cpp's attention numerics put in place
// (test/ref) the most likely token agrees at every position but at most one.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { createEngine, loadModel, readGguf, weightType, writeGguf, type FileType } from '../src/node/index.js';
import { LLAMA_CPP, againstReference, llamaCppLogits } from './llamacpp.js';
import { llamaCppAttention } from './ref/llamacpp-attention.js';
import { SHARED, sharedBytes } from './shared.js';

const TYPES: FileType[] = ['Q4_K_M', 'Q4_0', 'Q5_K_M', 'Q6_K', 'IQ4_XS', 'F16'];
const IDS = [1, 403, 407, 260, 92, 301, 17, 55, 430, 12, 299, 64];

describe.skipIf(!SHARED || !LLAMA_CPP)('files ffnkit writes, run by llama.cpp', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ffnkit-writes-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const source = SHARED ? readGguf(sharedBytes('models', 'fixtures', 'fixture-llama-f32.gguf'), 'fixture-llama-f32.gguf') : undefined;

  test.each(TYPES)('%s: llama.cpp loads it; ffnkit\'s logits within 0.15 x std of llama.cpp\'s, argmax at all positions but one with llama.cpp\'s attention', async (type) => {
    const { weights, tokenizer } = source!;
    const bytes = writeGguf(weights, tokenizer!.vocabulary(), type);
    const file = join(dir, `${type}.gguf`);
    writeFileSync(file, bytes);
    const theirs = await llamaCppLogits(file, IDS, 512);
    const engine = await createEngine({ backend: 'relaxed' });
    const model = await loadModel(bytes, { engine });
    expect(weightType(readGguf(bytes, file, { blocks: 'runnable' }).weights)).not.toMatch(/f32/);
    const rows = (a: Float32Array) => IDS.map((_, p) => a.subarray(p * 512, (p + 1) * 512));
    const ours = againstReference(rows(model.forward(IDS, { allLogits: true })), theirs);
    expect(ours.maxDiffOverStd).toBeLessThanOrEqual(0.15);
    engine.kernels.attention = (q, k, v, out, s) => llamaCppAttention(q.view(), k.view(), v.view(), out.view(), s);
    model.reset();
    const like = againstReference(rows(model.forward(IDS, { allLogits: true })), theirs);
    console.log(`${type}: ffnkit's file in llama.cpp: max |diff| / std ${ours.maxDiffOverStd.toFixed(4)}, argmax misses ${ours.argmaxMisses}/${IDS.length}; with llama.cpp's attention ${like.maxDiffOverStd.toFixed(4)}, ${like.argmaxMisses}`);
    expect(like.argmaxMisses).toBeLessThanOrEqual(1);
    expect(like.maxDiffOverStd).toBeLessThanOrEqual(ours.maxDiffOverStd + 0.01);
  });
});
