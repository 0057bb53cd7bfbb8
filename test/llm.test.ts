// The Llama engine against the llama2.c reference outputs in ../shared/golden: tokenizer ids,
// teacher-forced logits (1e-4 absolute), greedy continuations (exact), perplexity (NLL to 1e-4).

import { describe, expect, test } from 'vitest';
import { LlamaModel, Tokenizer, evaluate, generateIds, readLlama2c, type LlamaWeights } from '../src/node/index.js';
import { BACKENDS } from './helpers.js';
import { SHARED, sharedBytes, sharedJson, sharedPath, sharedText } from './shared.js';
import { maxAbsDiff } from '../testing/compare.js';

interface Greedy {
  greedy: { prompt: string; ids: number[] }[];
  encode: { text: string; ids: number[] }[];
}
interface LogitsGolden {
  ids: number[];
}
interface PplGolden {
  results: { text: string; tokens: number; nll: number; ppl: number }[];
}

describe.skipIf(!SHARED)('stories260K against the llama2.c reference', () => {
  const weights = (): LlamaWeights => readLlama2c(sharedBytes('models', 'stories260K.bin'), 'stories260K.bin');
  const goldenLogits = () => new Float32Array(sharedBytes('golden', 'stories260K-logits.f32').slice().buffer);

  test('tok512 and the 32k vocabulary encode every golden string exactly, and decode back', async () => {
    const tok512 = await Tokenizer.load(sharedPath('models', 'tok512.bin'));
    for (const e of sharedJson<Greedy>('golden', 'stories260K-greedy.json').encode) {
      expect(tok512.encode(e.text), e.text).toEqual(e.ids);
      expect(tok512.decode(e.ids)).toBe(e.text);
    }
    const tok32k = await Tokenizer.load(sharedPath('models', 'tokenizer.bin'));
    expect(tok32k.vocabSize).toBe(32000);
    for (const e of sharedJson<{ encode: { text: string; ids: number[] }[] }>('golden', 'tokenizer32k-encode.json').encode) {
      expect(tok32k.encode(e.text), e.text).toEqual(e.ids);
      expect(tok32k.decode(e.ids)).toBe(e.text);
    }
  });

  test('a character split over byte tokens streams out whole', async () => {
    const tok = await Tokenizer.load(sharedPath('models', 'tok512.bin'));
    const ids = tok.encode('café ☕', { bos: false });
    const d = tok.streamDecoder();
    const pieces = ids.map((id) => d.push(id));
    expect(pieces.join('') + d.flush()).toBe(' café ☕');
    // the three bytes of ☕ are three tokens: nothing comes out until the last one
    expect(pieces.slice(-3)).toEqual(['', '', '☕']);
  });

  test.each(BACKENDS)('%s: logits within 1e-4 of run.c, prefilled in blocks and decoded token by token', async (backend) => {
    const { ids } = sharedJson<LogitsGolden>('golden', 'stories260K-logits.json');
    const want = goldenLogits();
    expect(want.length).toBe(ids.length * 512);
    for (const blockSize of [64, 7, 1]) {
      const model = await LlamaModel.create(weights(), { backend, blockSize });
      const got = model.forward(ids, { allLogits: true });
      expect(maxAbsDiff(got, want), `block ${blockSize}`).toBeLessThan(1e-4);
    }
    // a prompt in several blocks, last logits only: the earlier blocks skip the classifier
    const blocks = await LlamaModel.create(weights(), { backend, blockSize: 7 });
    expect(maxAbsDiff(blocks.forward(ids), want.subarray((ids.length - 1) * 512))).toBeLessThan(1e-4);
    // decode: one forward call per token, the last logits each time (on a model uploaded with
    // progress reports: the classifier, then each of the 5 layers, in order)
    const reports: [number, number][] = [];
    const model = await LlamaModel.create(weights(), { backend, onProgress: (done, total) => reports.push([done, total]) });
    expect(reports).toEqual([1, 2, 3, 4, 5, 6].map((d) => [d, 6]));
    for (let p = 0; p < ids.length; p++) {
      const got = model.forward([ids[p]!]);
      expect(maxAbsDiff(got, want.subarray(p * 512, (p + 1) * 512)), `position ${p}`).toBeLessThan(1e-4);
    }
  });

  test.each(BACKENDS)('%s: greedy continuations equal run.c token for token', async (backend) => {
    const golden = sharedJson<Greedy>('golden', 'stories260K-greedy.json');
    const tok = await Tokenizer.load(sharedPath('models', 'tok512.bin'));
    const model = await LlamaModel.create(weights(), { backend });
    for (const g of golden.greedy) {
      const prompt = tok.encode(g.prompt);
      const ids = [...prompt, ...generateIds(model, prompt, { temperature: 0, maxTokens: g.ids.length - prompt.length })];
      expect(ids, g.prompt).toEqual(g.ids);
    }
  });

  test('model.generate streams the greedy story as text', async () => {
    const golden = sharedJson<Greedy>('golden', 'stories260K-greedy.json').greedy[0]!;
    const tok = await Tokenizer.load(sharedPath('models', 'tok512.bin'));
    const model = await LlamaModel.create(weights());
    let text = '';
    let pieces = 0;
    for await (const piece of model.generate(tok, golden.prompt, { temperature: 0, maxTokens: golden.ids.length - 5 })) {
      text += piece;
      pieces++;
    }
    expect(pieces).toBeGreaterThan(10);
    expect(golden.prompt + text).toBe(tok.decode(golden.ids));
  });

  test('perplexity on both texts: token counts exact, NLL within 1e-4 of run.c', async () => {
    const tok = await Tokenizer.load(sharedPath('models', 'tok512.bin'));
    const model = await LlamaModel.create(weights());
    for (const r of sharedJson<PplGolden>('golden', 'stories260K-ppl.json').results) {
      const got = evaluate(model, tok, sharedText(r.text));
      expect(got.tokens, r.text).toBe(r.tokens);
      expect(Math.abs(got.nll - r.nll), r.text).toBeLessThan(1e-4);
      expect(Math.abs(got.ppl - r.ppl) / r.ppl).toBeLessThan(1e-4);
    }
  });

  test('sampling is reproducible by seed and differs across seeds', async () => {
    const tok = await Tokenizer.load(sharedPath('models', 'tok512.bin'));
    const model = await LlamaModel.create(weights());
    const prompt = tok.encode('Once upon a time');
    const run = (seed: number, extra = {}) => [...generateIds(model, prompt, { temperature: 1, topP: 0.9, seed, maxTokens: 40, ...extra })];
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
    // top-k 1 is greedy whatever the seed
    const greedy = [...generateIds(model, prompt, { temperature: 0, maxTokens: 40 })];
    expect(run(3, { topK: 1 })).toEqual(greedy);
  });

  test('bad use is an FfnkitError naming the problem', async () => {
    const model = await LlamaModel.create(weights());
    const tok32k = await Tokenizer.load(sharedPath('models', 'tokenizer.bin'));
    const tok = await Tokenizer.load(sharedPath('models', 'tok512.bin'));
    expect(() => evaluate(model, tok32k, 'hello')).toThrow(/tokenizer: .*32000 tokens but the model's vocabulary is 512/);
    await expect(model.generate(tok32k, 'hi').next()).rejects.toMatchObject({ code: 'E_ARG' });
    const long = 'Once upon a time '.repeat(200);
    expect(() => [...generateIds(model, tok.encode(long))]).toThrow(/prompt: \d+ tokens exceed the model's context of 512/);
    model.reset();
    expect(() => model.forward(new Array(513).fill(5))).toThrow(/context: 0 cached \+ 513 new tokens exceed the model's seq_len 512/);
    expect(() => model.forward([1, 512])).toThrow(/tokens\[1\]: 512 is outside the vocabulary of 512/);
    expect(() => model.forward([])).toThrow(/at least one token/);
    expect(() => [...generateIds(model, [1], { temperature: -1 })]).toThrow(/temperature/);
    expect(() => [...generateIds(model, [1], { topP: 0 })]).toThrow(/topP/);
  });
});
