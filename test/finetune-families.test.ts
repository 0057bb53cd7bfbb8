// Fine-tuning every family end to end, on llama.cpp's own fixture files (written by its gguf-py
// converter): a short run lowers the training loss, the GGUF written back holds exactly the
// fixture's tensors (Phi-3's attn_qkv and gate+up ffn_up fused again, Qwen2's biases, the q/k and
// post norms, RoPE factors) and reads back as the same architecture, and llama.cpp
// (node-llama-cpp) runs it to the logits ffnkit computes for it. The command line does the same
// for one family.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { LlamaModel, parseGguf, readGguf, writeGguf, type Family, type LlamaWeights } from '../src/node/index.js';
import { TrainableLlama, finetune, sampleBatch, textTokens, type StepReport } from '../src/entries/node/train.js';
import { factorizeModel } from '../src/entries/node/factor.js';
import { LLAMA_CPP, againstReference, llamaCppLogits } from './llamacpp.js';
import { SHARED, sharedBytes, sharedJson, sharedPath, sharedText } from './shared.js';

const FIXTURES: [string, Family][] = [
  ['fixture-qwen2-f32.gguf', 'qwen2'],
  ['fixture-llama3rope-f32.gguf', 'llama'],
  ['fixture-qwen3-f32.gguf', 'qwen3'],
  ['fixture-gemma-f32.gguf', 'gemma'],
  ['fixture-phi3-f32.gguf', 'phi3'],
  ['fixture-gemma2-f32.gguf', 'gemma2'],
  ['fixture-gemma3-f32.gguf', 'gemma3'],
];

/** A file's tensor names in order, and its general.architecture. */
function contents(bytes: Uint8Array): { names: string[]; arch: unknown } {
  const f = parseGguf(bytes);
  return { names: f.tensors.map((t) => t.name), arch: f.metadata.get('general.architecture') };
}

const rows = (flat: Float32Array, vocab: number) => Array.from({ length: flat.length / vocab }, (_, p) => flat.subarray(p * vocab, (p + 1) * vocab));

describe.skipIf(!SHARED)('fine-tuning each family on its llama.cpp fixture', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ffnkit-finetune-families-'));
  const text = () => sharedText('data', 'tinystories-calib.txt').slice(0, 20000);

  test.each(FIXTURES)('%s (%s): the loss falls, the file written back has the fixture\'s tensors and runs in llama.cpp as in ffnkit', async (name, family) => {
    const original = sharedBytes('models', 'fixtures', name);
    const { weights, tokenizer } = readGguf(original, name);
    const w = weights as LlamaWeights;
    const before = structuredClone(w);
    const opts = { steps: 8, lr: 3e-3, batch: 2, seqLen: 32, seed: 5, engine: { backend: 'simd' as const } };
    const steps: StepReport[] = [];
    const result = await finetune(w, tokenizer!, text(), { ...opts, onStep: (s) => steps.push(s) });
    // the first step's batch, before and after training (its loss at step 1 was before any update)
    const batch = sampleBatch(textTokens(tokenizer!, text()), opts.batch, opts.seqLen, opts.seed, 1, 0);
    const after = await TrainableLlama.create(result.weights, { backend: 'simd', batch: opts.batch, seqLen: opts.seqLen, trainable: new Set() });
    const lossAfter = after.step(batch, { pa: 0, balance: 0 }).lm;
    expect(lossAfter).toBeLessThan(steps[0]!.lm - 0.5);
    expect(steps.at(-1)!.lm).toBeLessThan(steps[0]!.lm);
    // every tensor trained (the default for a dense model), the family's own included
    const trained = result.weights.layers[1]!;
    const was = before.layers[1]!;
    for (const f of ['wq', 'wk', 'wv', 'wo', 'w1', 'w3', 'w2', 'attnNorm', 'ffnNorm', 'bq', 'qNorm', 'kNorm', 'postAttnNorm', 'postFfnNorm'] as const) {
      if (was[f]) expect(trained[f], f).not.toEqual(was[f]);
    }
    if (before.ropeFactors) expect(result.weights.ropeFactors).toEqual(before.ropeFactors);

    const bytes = writeGguf(result.weights, tokenizer!.vocabulary());
    const file = join(dir, `tuned-${name}`);
    writeFileSync(file, bytes);
    const ours = contents(bytes);
    const theirs = contents(original);
    expect(ours.arch).toBe(theirs.arch);
    expect([...ours.names].sort()).toEqual([...theirs.names].sort());
    const back = readGguf(bytes, file).weights;
    expect(back.config).toEqual(before.config);
    expect(back.layers[0]!.wv).toEqual(result.weights.layers[0]!.wv);

    if (!LLAMA_CPP) return;
    const golden = sharedJson<Record<string, { tokens: number[]; logits: number[][] }>>('golden', 'llamacpp-fixtures.json')[name]!;
    const ids = golden.tokens;
    const model = await LlamaModel.create(back, { backend: 'simd' });
    const ffnkit = rows(model.forward(ids, { allLogits: true }), 512);
    const llamaCpp = await llamaCppLogits(file, ids, 512);
    const vs = againstReference(ffnkit, llamaCpp);
    // the tuned model is another model than the fixture
    const moved = againstReference(llamaCpp, golden.logits.map((r) => Float32Array.from(r)));
    console.info(`${name}: loss ${steps[0]!.lm.toFixed(3)} -> ${lossAfter.toFixed(3)} on the first batch; written back, llama.cpp vs ffnkit max |diff| / std ${vs.maxDiffOverStd.toFixed(5)}, argmax misses ${vs.argmaxMisses}; the tuned logits moved ${moved.maxDiffOverStd.toFixed(2)} std from the fixture's`);
    expect(vs.argmaxMisses).toBeLessThanOrEqual(1);
    expect(vs.maxDiffOverStd).toBeLessThanOrEqual(0.02);
    expect(moved.maxDiffOverStd).toBeGreaterThan(0.1);
  }, 180_000);
});

describe.skipIf(!SHARED)('fine-tuning a family on threads', () => {
  test('gemma2 (windowed, soft-capped attention on the sequence kernels): two threads train to the same bits as one', async () => {
    const name = 'fixture-gemma2-f32.gguf';
    const { weights, tokenizer } = readGguf(sharedBytes('models', 'fixtures', name), name);
    const text = sharedText('data', 'tinystories-calib.txt').slice(0, 20000);
    const run = async (threads: number) => {
      const losses: number[] = [];
      const r = await finetune(structuredClone(weights as LlamaWeights), tokenizer!, text, { steps: 2, batch: 4, seqLen: 32, seed: 3, engine: { backend: 'simd', threads }, onStep: (s) => losses.push(s.total) });
      return { losses, wq: r.weights.layers[0]!.wq, norm: r.weights.layers[1]!.postAttnNorm! };
    };
    const one = await run(1);
    const two = await run(2);
    expect(two.losses).toEqual(one.losses);
    expect(Buffer.from(two.wq.buffer).equals(Buffer.from(one.wq.buffer))).toBe(true);
    expect(Buffer.from(two.norm.buffer).equals(Buffer.from(one.norm.buffer))).toBe(true);
  }, 120_000);
});

describe.skipIf(!SHARED)('FactorLLM fine-tuning of a factorized family model', () => {
  test.each([
    ['fixture-gemma2-f32.gguf', 'gemma2'],
    ['fixture-phi3-f32.gguf', 'phi3'],
  ] as const)('%s (%s): experts and routers train (GeGLU experts for Gemma), the rest stays; written back as the family with its experts, it runs as trained', async (name, family) => {
    const { weights, tokenizer } = readGguf(sharedBytes('models', 'fixtures', name), name);
    const text = sharedText('data', 'tinystories-calib.txt').slice(0, 20000);
    const w = await factorizeModel(weights as LlamaWeights, tokenizer!, '', { experts: 4, topK: 2, split: 'contiguous', steps: 0 });
    const before = structuredClone(w);
    const opts = { steps: 8, lr: 3e-3, batch: 2, seqLen: 32, seed: 3, engine: { backend: 'simd' as const } };
    const steps: StepReport[] = [];
    const result = await finetune(w, tokenizer!, text, { ...opts, onStep: (s) => steps.push(s) });
    expect(result.weights.layers[0]!.wq).toEqual(before.layers[0]!.wq);
    expect(result.weights.layers[1]!.attnNorm).toEqual(before.layers[1]!.attnNorm);
    expect(result.weights.tokenEmbedding).toEqual(before.tokenEmbedding);
    expect(result.weights.layers[1]!.routed!.w1).not.toEqual(before.layers[1]!.routed!.w1);
    expect(result.weights.layers[1]!.routed!.router).not.toEqual(before.layers[1]!.routed!.router);
    const batch = sampleBatch(textTokens(tokenizer!, text), opts.batch, opts.seqLen, opts.seed, 1, 0);
    const tuned = await TrainableLlama.create(result.weights, { backend: 'simd', batch: opts.batch, seqLen: opts.seqLen, trainable: new Set() });
    const lossAfter = tuned.step(batch, { pa: 0, balance: 0 }).lm;
    console.info(`${name} factorized (4 experts, top-2): FactorLLM fine-tuning, LM loss ${steps[0]!.lm.toFixed(3)} -> ${lossAfter.toFixed(3)} on the first batch`);
    expect(lossAfter).toBeLessThan(steps[0]!.lm);
    const bytes = writeGguf(result.weights, tokenizer!.vocabulary());
    const { names, arch } = contents(bytes);
    expect(arch).toBe(family === 'phi3' ? 'phimoe' : family); // llama.cpp's MoE architecture for phi3
    expect(names).toContain('blk.1.ffn_gate_exps.weight');
    expect(names).toContain(family === 'phi3' ? 'blk.1.attn_qkv.weight' : 'blk.1.post_ffw_norm.weight');
    const back = readGguf(bytes, name).weights;
    expect(back.config).toEqual(before.config);
    const model = await LlamaModel.create(back, { backend: 'simd' });
    const ids = Array.from(batch.subarray(0, opts.seqLen));
    const want = tuned.logitsOf(batch).subarray(0, opts.seqLen * 512);
    const got = model.forward(ids, { allLogits: true });
    const vs = againstReference(rows(got, 512), rows(Float32Array.from(want), 512));
    expect(vs.argmaxMisses).toBe(0);
    expect(vs.maxDiffOverStd).toBeLessThan(1e-4);
  }, 180_000);
});

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [join(root, 'bin', 'ffnkit.js'), ...args], { timeout: 120_000, env: { ...process.env, FFNKIT_FROM_SOURCES: '1' } }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe.skipIf(!SHARED)('ffnkit finetune on a family', () => {
  test('gemma2 (post-norms, soft-caps, sliding window): phi3-style freezing by file names, written back as gemma2 with the frozen tensors unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffnkit-cli-finetune-family-'));
    const model = sharedPath('models', 'fixtures', 'fixture-gemma2-f32.gguf');
    const out = join(dir, 'g2.gguf');
    const r = await run([
      'finetune', '--model', model, '--tokenizer', model, '--text', sharedPath('data', 'tinystories-calib.txt'),
      '--steps', '3', '--batch', '2', '--seq-len', '24', '--freeze', 'token_embd,blk.0.*', '--out', out,
    ]);
    expect(r.stderr).toMatch(/wrote .*g2\.gguf: 3 steps/);
    expect(r.code).toBe(0);
    const tuned = readGguf(new Uint8Array(readFileSync(out)), out).weights;
    const start = readGguf(sharedBytes('models', 'fixtures', 'fixture-gemma2-f32.gguf'), 'fixture').weights;
    expect(tuned.config).toEqual(start.config);
    expect(tuned.tokenEmbedding).toEqual(start.tokenEmbedding);
    expect(tuned.layers[0]!.postAttnNorm).toEqual(start.layers[0]!.postAttnNorm);
    expect(tuned.layers[1]!.postAttnNorm).not.toEqual(start.layers[1]!.postAttnNorm);
    expect(tuned.layers[1]!.wq).not.toEqual(start.layers[1]!.wq);
    const phi3 = sharedPath('models', 'fixtures', 'fixture-phi3-f32.gguf');
    const bad = await run(['finetune', '--model', phi3, '--tokenizer', phi3, '--text', sharedPath('data', 'tinystories-calib.txt'), '--steps', '1', '--train', 'blk.*.attn_q', '--out', join(dir, 'p.gguf')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/pattern 'blk\.\*\.attn_q' matches no tensor \(names look like token_embd, blk\.0\.attn_norm, blk\.0\.attn_qkv/);
  }, 180_000);
});
