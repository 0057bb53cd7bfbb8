// FFN skipping: the rule's decisions on known cosine sequences, skipping that equals zeroed FFN
// weights, prefill that never skips, eval through decode steps, statistics, and bad specs.

import { describe, expect, test } from 'vitest';
import { FfnkitError, HISTOGRAM_BINS, LlamaModel, StaticSkip, ThresholdSkip, Tokenizer, evaluate, generateIds, parseSkip, readLlama2c, type LlamaWeights } from '../src/node/index.js';
import { factorizeLayer, splitNeurons } from '../src/entries/node/factor.js';
import { SHARED, sharedBytes, sharedJson, sharedText } from './shared.js';
import { maxAbsDiff } from '../testing/compare.js';

const stories = (): LlamaWeights => readLlama2c(sharedBytes('models', 'stories260K.bin'), 'stories260K.bin');

describe('the FFN-SkipLLM rule', () => {
  test('cold regions run, a saturated layer skips the next `budget`, monitoring resumes after', () => {
    const p = new ThresholdSkip(10, { threshold: 0.9, warmup: 1, coldStart: 2, coldEnd: 2, budget: 2, fullEvery: 0 });
    const step = (cos: number[]) => {
      const ran: number[] = [];
      p.beginToken(stepNo++);
      for (let l = 0; l < 10; l++) {
        if (p.runs(l)) {
          ran.push(l);
          p.observe(l, cos[l]!);
        }
      }
      return ran;
    };
    let stepNo = 0;
    const saturated = new Array(10).fill(0.99);
    expect(step(saturated)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // warm-up: everything runs
    // layer 1 (last cold-start layer) saturates: 2, 3 skipped; 4 runs, saturates: 5, 6 skipped;
    // 7 runs, saturates, but 8 and 9 are the cold end
    expect(step(saturated)).toEqual([0, 1, 4, 7, 8, 9]);
    const calm = new Array(10).fill(0.5);
    expect(step(calm)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const s = p.stats();
    expect(s.tokens).toBe(3);
    expect(s.ratio).toBeCloseTo(4 / 30, 12);
    expect(s.perLayer).toEqual([0, 0, 1 / 3, 1 / 3, 0, 1 / 3, 1 / 3, 0, 0, 0]);
    expect(s.cosineHistogram.flat().reduce((a, b) => a + b, 0)).toBe(10 + 6 + 10);
    expect(s.cosineHistogram[0]![Math.floor(((0.99 + 1) / 2) * HISTOGRAM_BINS)]).toBe(2);
  });

  test('fullEvery and budget cycles', () => {
    const p = new ThresholdSkip(8, { threshold: 0, warmup: 0, coldStart: 1, coldEnd: 1, budget: [1, 3], fullEvery: 3 });
    const ran = (s: number) => {
      p.beginToken(s);
      const r: number[] = [];
      for (let l = 0; l < 8; l++) if (p.runs(l)) { r.push(l); p.observe(l, 1); }
      return r;
    };
    expect(ran(0)).toEqual([0, 2, 4, 6, 7]); // budget 1
    expect(ran(1)).toEqual([0, 4, 7]); // budget 3
    expect(ran(2)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]); // every third step in full
  });

  test('specs parse to policies; bad specs name the key', () => {
    expect(parseSkip('threshold=0.9,warmup=4,coldStart=1,coldEnd=1,budget=2', 5)).toBeInstanceOf(ThresholdSkip);
    const st = parseSkip('static:2-3', 5) as StaticSkip;
    expect([st.first, st.last]).toEqual([2, 3]);
    expect(parseSkip('random:count=2,coldStart=1,coldEnd=1', 5).kind).toBe('random');
    const bad = (spec: string, re: RegExp) => {
      let err: unknown;
      try {
        parseSkip(spec, 5);
      } catch (e) {
        err = e;
      }
      expect(err, spec).toBeInstanceOf(FfnkitError);
      expect((err as FfnkitError).message).toMatch(re);
    };
    bad('threshold=0.9,colour=red', /unknown key colour/);
    bad('threshold=1.5', /threshold must be a number in \[-1, 1\], found '1.5'/);
    bad('threshold=-2', /threshold/);
    bad('coldStart=3,coldEnd=2', /coldStart 3 \+ coldEnd 2 cover all 5 layers/);
    bad('budget=-1', /budget must be counts in 0..3/);
    bad('warmup=-4', /warmup must be an integer/);
    bad('static:4-2', /^skip spec 'static:4-2': the range 4-2 runs backwards: the first layer comes first \(static:2-4\)/);
    bad('static:1-9', /outside 0..4/);
    bad('bogus:1', /unknown policy 'bogus'/);
    bad('random:count=9,coldStart=1,coldEnd=1', /count must be an integer in \[0, 3\]/);
  });
});

describe.skipIf(!SHARED)('skipping in stories260K', () => {
  const ids = () => sharedJson<{ ids: number[] }>('golden', 'stories260K-logits.json').ids;

  test('a static skip equals the model with those FFNs zeroed; prefill never skips', async () => {
    const w = stories();
    const zeroed: LlamaWeights = { ...w, layers: w.layers.map((l, i) => (i >= 2 && i <= 3 ? { ...l, w2: new Float32Array(l.w2.length) } : l)) };
    const skipping = await LlamaModel.create(w, { backend: 'simd' });
    const policy = new StaticSkip(5, 2, 3);
    skipping.skip = policy;
    const reference = await LlamaModel.create(zeroed, { backend: 'simd' });
    const dense = await LlamaModel.create(w, { backend: 'simd' });
    const t = ids();
    // prefill: no skipping at all
    expect(maxAbsDiff(skipping.forward(t.slice(0, 10), { allLogits: true }), dense.forward(t.slice(0, 10), { allLogits: true }))).toBe(0);
    expect(policy.stats().tokens).toBe(0);
    // decoding from position 0: every step skips layers 2-3, as if their FFNs were zero
    skipping.reset();
    for (const id of t) {
      expect(maxAbsDiff(skipping.forward([id]), reference.forward([id]))).toBeLessThan(1e-5);
    }
    expect(policy.stats().perLayer).toEqual([0, 0, 1, 1, 0]);
  });

  test('skipping works on a factorized (routed) model as on a dense one', async () => {
    const w = stories();
    const c = w.config;
    const routed: LlamaWeights = {
      ...w,
      layers: w.layers.map((l) => ({ ...l, routed: factorizeLayer(l, c.dim, c.hiddenDim, splitNeurons('contiguous', 4, { hidden: c.hiddenDim, dim: c.dim, w1: l.w1, w3: l.w3 }), { topK: 4 }) })),
    };
    const a = await LlamaModel.create(routed, { backend: 'simd' });
    const b = await LlamaModel.create(w, { backend: 'simd' });
    const policy = new StaticSkip(5, 1, 2);
    a.skip = policy;
    b.skip = new StaticSkip(5, 1, 2);
    for (const id of ids().slice(0, 12)) expect(maxAbsDiff(a.forward([id]), b.forward([id]))).toBeLessThan(1e-4);
    expect(policy.stats().perLayer).toEqual([0, 1, 1, 0, 0]);
  });

  test('a policy that never fires changes nothing: eval through decode steps equals the golden NLL', async () => {
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    const model = await LlamaModel.create(stories(), { backend: 'simd' });
    const policy = parseSkip('threshold=1,warmup=8,coldStart=1,coldEnd=1,budget=2', 5);
    const r = evaluate(model, tok, sharedText('data', 'tinystories-eval.txt'), { skip: policy });
    expect(r.tokens).toBe(4868);
    expect(Math.abs(r.nll - 1.671717)).toBeLessThan(1e-4);
    const s = policy.stats();
    expect(s.ratio).toBe(0);
    expect(s.tokens).toBe(4868 - 10 * 7); // every position after each document's 8-token prefill
    expect(model.skip).toBeUndefined(); // eval restores the model's own policy
  });

  test('skipping changes the output in proportion: more skipping, higher perplexity, less agreement', async () => {
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    const model = await LlamaModel.create(stories(), { backend: 'simd' });
    const text = sharedText('data', 'tinystories-eval.txt');
    const dense = evaluate(model, tok, text).ppl;
    const loose = evaluate(model, tok, text, { skip: parseSkip('threshold=-1,warmup=8,coldStart=1,coldEnd=1,budget=3', 5) });
    const some = parseSkip('threshold=-1,warmup=8,coldStart=1,coldEnd=1,budget=1', 5);
    const mild = evaluate(model, tok, text, { skip: some });
    // with every cosine above -1, layer 0 (the cold start) skips layer 1, layer 2 skips layer 3,
    // layer 4 is the cold end: two of five layers per decode step
    expect(some.stats().ratio).toBeCloseTo(0.4, 5);
    expect(mild.ppl).toBeGreaterThan(dense);
    expect(loose.ppl).toBeGreaterThan(mild.ppl);
    // generation with skipping diverges from the dense greedy continuation somewhere
    const prompt = tok.encode('Once upon a time');
    const greedy = [...generateIds(model, prompt, { temperature: 0, maxTokens: 100 })];
    const skipped = [...generateIds(model, prompt, { temperature: 0, maxTokens: 100, skip: parseSkip('threshold=-1,warmup=4,coldStart=1,coldEnd=1,budget=3', 5) })];
    expect(skipped).not.toEqual(greedy);
    expect(skipped.slice(0, 4)).toEqual(greedy.slice(0, 4)); // the warm-up tokens are the dense ones
    expect(model.skip).toBeUndefined();
  });
});
