// Fine-tuning: the schedule, freezing by pattern, gradient accumulation equal to one larger
// batch, checkpoints that resume bit-for-bit, refused resumes, a NaN loss stopped before any
// update, and FactorLLM fine-tuning that lowers the loss of a factorized stories260K.

import { describe, expect, test } from 'vitest';
import { FfnkitError, LlamaModel, Tokenizer, evaluate, writeGguf, readLlama2c, type LlamaWeights } from '../src/node/index.js';
import { TrainableLlama, decodeCheckpoint, encodeCheckpoint, finetune, learningRate, namedTensors, teacherText, teacherWeights, trainableNames, type Checkpoint } from '../src/entries/node/train.js';
import { factorizeModel } from '../src/entries/node/factor.js';
import { engineFor } from './helpers.js';
import { relMaxError } from '../testing/compare.js';
import { SHARED, sharedBytes, sharedPath, sharedText } from './shared.js';

describe('schedule and freezing', () => {
  test('learning rate: linear warm-up, cosine to lr x minRatio at the last step', () => {
    expect(learningRate(1, 100, 1, 10, 0.1)).toBeCloseTo(0.1, 12);
    expect(learningRate(10, 100, 1, 10, 0.1)).toBeCloseTo(1, 12);
    expect(learningRate(55, 100, 1, 10, 0.1)).toBeCloseTo(0.1 + 0.9 * 0.5, 12);
    expect(learningRate(100, 100, 1, 10, 0.1)).toBeCloseTo(0.1, 12);
    expect(learningRate(1, 1, 2, 0, 0.5)).toBeCloseTo(1, 12);
  });

  test('train and freeze patterns; a pattern matching nothing is an error naming it', () => {
    const names = ['token_embd', 'blk.0.attn_q', 'blk.0.ffn_gate_exps', 'blk.0.ffn_gate_inp', 'blk.0.ffn_gate_inp.bias', 'blk.1.ffn_up_exps'];
    expect([...trainableNames(names, ['blk.*.ffn_gate_inp*', 'blk.*.ffn_*_exps'])].sort()).toEqual(
      ['blk.0.ffn_gate_exps', 'blk.0.ffn_gate_inp', 'blk.0.ffn_gate_inp.bias', 'blk.1.ffn_up_exps'],
    );
    expect([...trainableNames(names, undefined, ['blk.*'])]).toEqual(['token_embd']);
    expect(() => trainableNames(names, ['blk.*.attn_x'])).toThrow(/pattern 'blk\.\*\.attn_x' matches no tensor/);
  });
});

const load = () => readLlama2c(sharedBytes('models', 'stories260K.bin'), 'stories260K.bin');

describe.skipIf(!SHARED)('fine-tuning stories260K', () => {
  const factorized = async (): Promise<{ w: LlamaWeights; tok: Tokenizer }> => {
    const tok = await Tokenizer.load(sharedPath('models', 'tok512.bin'));
    const w = await factorizeModel(load(), tok, '', { experts: 4, topK: 2, split: 'contiguous', steps: 0 });
    return { w, tok };
  };
  const text = () => sharedText('data', 'tinystories-calib.txt').slice(0, 20000);

  test('two micro-batches of scale 1/2 give the gradient of one batch of both', async () => {
    const engine = await engineFor('simd');
    const { w } = await factorized();
    const trainable = new Set([...namedTensors(w).keys()]);
    const S = 16;
    const tokens = Int32Array.from({ length: 4 * (S + 1) }, (_, i) => (i * 37 + 11) % 512);
    const aux = { pa: 0.05, balance: 0.01 };
    const big = await TrainableLlama.create(structuredClone(w), { engine, batch: 4, seqLen: S, trainable });
    big.step(tokens, aux);
    const small = await TrainableLlama.create(structuredClone(w), { engine, batch: 2, seqLen: S, trainable });
    small.step(tokens.subarray(0, 2 * (S + 1)), aux, 0.5);
    small.step(tokens.subarray(2 * (S + 1)), aux, 0.5);
    const a = big.params.all();
    const b = small.params.all();
    for (let i = 0; i < a.length; i++) {
      const ga = a[i]!.grad!.toArray();
      const gb = b[i]!.grad!.toArray();
      let num = 0;
      let den = 0;
      for (let j = 0; j < ga.length; j++) {
        num += (ga[j]! - gb[j]!) ** 2;
        den += ga[j]! ** 2;
      }
      expect(Math.sqrt(num / den), a[i]!.name).toBeLessThan(1e-5);
    }
  });

  test('FactorLLM defaults train only experts and routers, lower the loss, and resume bit-for-bit from a checkpoint', async () => {
    const { w, tok } = await factorized();
    const opts = { steps: 4, lr: 3e-3, batch: 2, seqLen: 32, checkpointEvery: 2, seed: 7, engine: { backend: 'simd' as const } };
    const attnBefore = w.layers[2]!.wq.slice();
    const routerBefore = w.layers[2]!.routed!.router.slice();
    const checkpoints: Checkpoint[] = [];
    const losses: number[] = [];
    const full = await finetune(structuredClone(w), tok, text(), {
      ...opts, onCheckpoint: (c) => void checkpoints.push(decodeCheckpoint(encodeCheckpoint(c), 'memory')), onStep: (s) => losses.push(s.lm),
    });
    expect(checkpoints.map((c) => c.step)).toEqual([2, 4]);
    expect(full.weights.layers[2]!.wq).toEqual(attnBefore);
    expect(full.weights.layers[2]!.routed!.router).not.toEqual(routerBefore);
    expect(losses.every(Number.isFinite)).toBe(true);

    const resumed = await finetune(structuredClone(w), tok, text(), { ...opts, resume: checkpoints[0]! });
    for (let l = 0; l < w.layers.length; l++) {
      const a = full.weights.layers[l]!.routed!;
      const b = resumed.weights.layers[l]!.routed!;
      for (const key of ['w1', 'w2', 'w3', 'router', 'routerBias'] as const) {
        expect(Buffer.from(b[key].buffer, b[key].byteOffset, b[key].byteLength).equals(Buffer.from(a[key].buffer, a[key].byteOffset, a[key].byteLength)), `layer ${l} ${key}`).toBe(true);
      }
    }
  }, 60_000);

  test('two threads (sequences of attention, matrix products) train to the same bits as one', async () => {
    const { w, tok } = await factorized();
    const run = async (threads: number) => {
      const losses: number[] = [];
      const r = await finetune(structuredClone(w), tok, text(), { steps: 2, batch: 4, seqLen: 64, seed: 3, engine: { backend: 'simd', threads }, onStep: (s) => losses.push(s.total) });
      return { losses, w1: r.weights.layers[1]!.routed!.w1 };
    };
    const one = await run(1);
    const two = await run(2);
    expect(two.losses).toEqual(one.losses);
    expect(Buffer.from(two.w1.buffer).equals(Buffer.from(one.w1.buffer))).toBe(true);
  }, 60_000);

  test('a resume from another model or with other options is refused', async () => {
    const { w, tok } = await factorized();
    const opts = { steps: 2, batch: 1, seqLen: 16, engine: { backend: 'simd' as const } };
    let ckpt: Checkpoint | undefined;
    await finetune(structuredClone(w), tok, text(), { ...opts, onCheckpoint: (c) => void (ckpt = c) });
    const other = structuredClone(w);
    other.layers[0]!.wq[0]! += 1;
    await expect(finetune(other, tok, text(), { ...opts, resume: ckpt! })).rejects.toThrow(/made from another model/);
    await expect(finetune(structuredClone(w), tok, text(), { ...opts, lr: 0.5, resume: ckpt! })).rejects.toThrow(/ran with lr = 0.001, this run asks 0.5/);
    await expect(finetune(structuredClone(w), tok, `${text()} and more`, { ...opts, resume: ckpt! })).rejects.toThrow(/ran with text = "[0-9a-f]{8}", this run asks "[0-9a-f]{8}"/);
    expect(() => decodeCheckpoint(new Uint8Array(40), 'junk.ckpt')).toThrow(FfnkitError);
  }, 60_000);

  test("a model routed with the 'softmax' combination (Qwen2-MoE's gating) is refused before training, naming the layer and what to do", async () => {
    const { w, tok } = await factorized();
    const softmax = structuredClone(w);
    softmax.layers[1]!.routed!.combination = 'softmax';
    const run = finetune(softmax, tok, text(), { steps: 1, batch: 1, seqLen: 16, engine: { backend: 'simd' as const } });
    await expect(run).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
    await expect(finetune(softmax, tok, text(), { steps: 1, batch: 1, seqLen: 16, engine: { backend: 'simd' as const } })).rejects.toThrow(/blk\.1's routed FFN uses the 'softmax' combination .*fine-tune the factorized model before writing it with --llamacpp/);
  }, 60_000);

  test("the teacher of a factorized model is its dense model, and the teacher's text is a pure function of the seed", async () => {
    const { w, tok } = await factorized();
    const prompt = tok.encode('Once upon a time', { bos: true });
    const dense = await LlamaModel.create(load(), { backend: 'simd' });
    const teacher = await LlamaModel.create(teacherWeights(w), { backend: 'simd' });
    // the experts' sum is the dense FFN, to float rounding
    expect(relMaxError(teacher.forward(prompt), dense.forward(prompt))).toBeLessThan(1e-5);
    expect(w.layers[0]!.routed!.topK).toBe(2); // teacherWeights copies, it does not edit
    dense.engine.close();
    teacher.engine.close();
    const opts = { tokens: 600, seed: 3, engine: { backend: 'simd' as const } };
    const t1 = await teacherText(w, tok, opts);
    expect(await teacherText(w, tok, opts)).toBe(t1);
    expect(await teacherText(w, tok, { ...opts, seed: 4 })).not.toBe(t1);
    const stories = t1.trim().split(/\n\s*\n/);
    expect(stories.length).toBeGreaterThan(1);
    const ids = stories.reduce((n, s) => n + tok.encode(s).length, 0);
    expect(ids).toBeGreaterThan(500); // about the 600 sampled (decoding and encoding again may merge a few)
    await expect(teacherText(w, tok, { ...opts, tokens: 0 })).rejects.toThrow(/tokens: expected an integer >= 1, found 0/);
  }, 60_000);

  test('experts padded to equal sizes (172 neurons in 8 experts of 22) fine-tune; the padding stays zero and the result runs and writes', async () => {
    const tok = await Tokenizer.load(sharedPath('models', 'tok512.bin'));
    const w = await factorizeModel(load(), tok, '', { experts: 8, topK: 2, split: 'contiguous', steps: 0 });
    const r = await finetune(w, tok, text(), { steps: 2, batch: 1, seqLen: 16, engine: { backend: 'simd' } });
    const routed = r.weights.layers[0]!.routed!;
    expect(routed.expertHidden).toBe(22);
    // experts 4..7 hold 21 neurons: row 21 of each gate, up and down block is padding, still zero
    for (let e = 4; e < 8; e++) {
      expect(routed.w1.subarray((e * 22 + 21) * 64, (e + 1) * 22 * 64).every((v) => v === 0)).toBe(true);
      expect(routed.w3.subarray((e * 22 + 21) * 64, (e + 1) * 22 * 64).every((v) => v === 0)).toBe(true);
      for (let row = 0; row < 64; row++) expect(routed.w2[(e * 64 + row) * 22 + 21]).toBe(0);
    }
    const model = await LlamaModel.create(r.weights);
    expect(Number.isFinite(evaluate(model, tok, text().slice(0, 2000)).ppl)).toBe(true);
    expect(writeGguf(r.weights, tok.vocabulary()).length).toBeGreaterThan(0);
  }, 60_000);

  test('a NaN loss stops the run before any update, naming the step', async () => {
    const { w, tok } = await factorized();
    w.finalNorm[3] = Number.NaN;
    const expert = w.layers[0]!.routed!.w1.slice();
    await expect(finetune(w, tok, text(), { steps: 3, batch: 1, seqLen: 16 })).rejects.toMatchObject({
      code: 'E_NUMERIC', message: expect.stringMatching(/^step 1: the loss is NaN; stopped before updating/),
    });
    expect(w.layers[0]!.routed!.w1).toEqual(expert);
  }, 60_000);
});
