// Static structured pruning (FactorLLM's equal-compute baseline): the neurons kept are those of
// largest mean |activation|, keeping all of them is the dense model again, and a pruned model is
// a dense GGUF with a narrower FFN; fine-tuning distills from a given teacher.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { FfnkitError, LlamaModel, Tokenizer, readGguf, readLlama2c, writeGguf, type LlamaWeights } from '../src/node/index.js';
import { pruneModel } from '../src/entries/node/factor.js';
import { finetune } from '../src/entries/node/train.js';
import { keepNeurons, strongestNeurons } from '../src/factor/prune.js';
import { SHARED, sharedBytes, sharedPath, sharedText } from './shared.js';
import { maxAbsDiff } from '../testing/compare.js';

const stories = (): LlamaWeights => readLlama2c(sharedBytes('models', 'stories260K.bin'), 'stories260K.bin');

describe('neuron ranking', () => {
  test('keeps the neurons of largest mean |activation|, in their original order, ties to the lower index', () => {
    // 2 tokens x 5 neurons: mean |a| = 1, 3, 0.5, 3, 2
    const act = Float32Array.from([1, -2, 0.5, 3, 2, -1, 4, -0.5, 3, 2]);
    expect(strongestNeurons(act, 2, 5, 3)).toEqual([1, 3, 4]);
    expect(strongestNeurons(act, 2, 5, 1)).toEqual([1]);
    expect(strongestNeurons(act, 2, 5, 5)).toEqual([0, 1, 2, 3, 4]);
  });

  test('keepNeurons takes rows of w1/w3 and columns of w2', () => {
    const dim = 2;
    const hidden = 3;
    const layer = stories().layers[0]!;
    const small = { ...layer, w1: Float32Array.from([1, 2, 3, 4, 5, 6]), w3: Float32Array.from([7, 8, 9, 10, 11, 12]), w2: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    const cut = keepNeurons(small, [0, 2], dim, hidden);
    expect(Array.from(cut.w1)).toEqual([1, 2, 5, 6]);
    expect(Array.from(cut.w3)).toEqual([7, 8, 11, 12]);
    expect(Array.from(cut.w2)).toEqual([1, 3, 4, 6]);
  });
});

describe.skipIf(!SHARED)('pruning stories260K', () => {
  const calib = () => sharedText('data', 'tinystories-calib.txt');

  test('keeping every neuron is the dense model; keeping half is a dense GGUF with FFN 86 that reloads', async () => {
    const w = stories();
    const tok = await Tokenizer.load(sharedPath('models', 'tok512.bin'));
    const ids = tok.encode('Once upon a time, there was a little girl named Lily.', { bos: true });
    const dense = await LlamaModel.create(w);
    const all = await LlamaModel.create(await pruneModel(w, tok, calib(), { keep: 172, calibTokens: 512 }));
    expect(maxAbsDiff(all.forward(ids, { allLogits: true }), dense.forward(ids, { allLogits: true }))).toBe(0);
    const half = await pruneModel(w, tok, calib(), { keep: 86, calibTokens: 1024 });
    expect(half.config.hiddenDim).toBe(86);
    const back = readGguf(writeGguf(half, tok.vocabulary())).weights;
    expect(back.config.hiddenDim).toBe(86);
    const a = await LlamaModel.create(half);
    const b = await LlamaModel.create(back);
    const la = a.forward(ids, { allLogits: true });
    expect(maxAbsDiff(la, b.forward(ids, { allLogits: true }))).toBe(0);
    // dropping half of every FFN changes the model, but not beyond recognition
    const d = maxAbsDiff(la, dense.forward(ids, { allLogits: true }));
    expect(d).toBeGreaterThan(0.01);
    expect(Number.isFinite(d)).toBe(true);
  });

  test('bad arguments are FfnkitErrors naming them', async () => {
    const w = stories();
    const tok = await Tokenizer.load(sharedPath('models', 'tok512.bin'));
    await expect(pruneModel(w, tok, calib(), { keep: 0 })).rejects.toThrow(/keep: expected an integer in 1..172/);
    await expect(pruneModel(w, tok, calib(), { keep: 173 })).rejects.toThrow(FfnkitError);
    await expect(pruneModel(w, tok, calib(), { keep: 1.5 })).rejects.toThrow(/keep/);
  });

  test('finetune distills from a given teacher, and refuses one that does not fit', async () => {
    const w = stories();
    const tok = await Tokenizer.load(sharedPath('models', 'tok512.bin'));
    const half = await pruneModel(w, tok, calib(), { keep: 86, calibTokens: 1024 });
    const text = calib().slice(0, 20000);
    const base = { steps: 2, seqLen: 32, batch: 2, lr: 1e-3 };
    const own = await finetune(half, tok, text, { ...base, distill: 1 });
    const taught = await finetune(half, tok, text, { ...base, distill: 1, teacher: w });
    // the targets differ, so the first step's loss does
    expect(taught.last!.lm).not.toBe(own.last!.lm);
    await expect(finetune(half, tok, text, { ...base, teacher: w })).rejects.toThrow(/teacher: given without distill/);
    const other = { ...w, config: { ...w.config, vocabSize: 256 } };
    await expect(finetune(half, tok, text, { ...base, distill: 1, teacher: other })).rejects.toThrow(/teacher: vocabulary 256/);
  });
});

describe.skipIf(!SHARED)('the prune command and eval --routing', () => {
  const bin = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'bin', 'ffnkit.js');
const FROM_SOURCES = { ...process.env, FFNKIT_FROM_SOURCES: '1' }; // the sources under test, not dist/
  const run = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(process.execPath, [bin, ...args], { timeout: 120_000, env: FROM_SOURCES }, (e, stdout, stderr) => done({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr })),
    );
  const model = ['--model', sharedPath('models', 'stories260K.bin'), '--tokenizer', sharedPath('models', 'tok512.bin')];

  test('prune writes nothing when --keep is too large, and a model eval runs when it succeeds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffnkit-prune-'));
    const out = join(dir, 'p.gguf');
    const calib = ['--calib', sharedPath('data', 'tinystories-calib.txt'), '--calib-tokens', '512', '--out', out];
    const bad = await run(['prune', ...model, '--keep', '500', ...calib]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--keep: 500 is more than the hidden size 172/);
    expect(existsSync(out)).toBe(false);
    expect((await run(['prune', ...model, '--keep', '86', ...calib])).code).toBe(0);
    const r = await run(['eval', '--model', out, '--text', sharedPath('data', 'tinystories-eval.txt'), '--json']);
    expect(r.code).toBe(0);
    const ppl = (JSON.parse(r.stdout) as { ppl: number }).ppl;
    expect(ppl).toBeGreaterThan(5.3213); // worse than dense, which is the best this model does
  });

  test('eval --routing on a dense model is an error naming the option', async () => {
    const r = await run(['eval', ...model, '--text', sharedPath('data', 'tinystories-eval.txt'), '--routing', 'oracle']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--routing: the model is dense/);
  });
});
