// What a new user's first library calls found: a bad argument is an FfnkitError naming it, never
// a silently wrong result (NaN, a file no reader takes) or a message about something else.

import { describe, expect, test } from 'vitest';
import { FfnkitError, LlamaModel, Sampler, evaluate, generate, generateIds, loadModel, readWeights } from '../src/node/index.js';
import { nanModel } from './nan-model.js';
import { SHARED, sharedBytes, sharedPath } from './shared.js';

/** The FfnkitError `fn` throws (or the promise rejects with), for its code and message. */
async function caught(fn: () => unknown): Promise<FfnkitError> {
  try {
    await fn();
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(FfnkitError);
    return e as FfnkitError;
  }
  throw new Error('expected an FfnkitError, and nothing was thrown');
}

/** The pieces of a text stream and its return value (why it ended). */
async function collect(stream: AsyncGenerator<string, unknown>): Promise<{ text: string; result: unknown }> {
  let text = '';
  for (;;) {
    const r = await stream.next();
    if (r.done) return { text, result: r.value };
    text += r.value;
  }
}

describe.skipIf(!SHARED)('library calls', async () => {
  const model = await loadModel(sharedPath('models', 'stories260K.gguf'));

  test('maxTokens 0 generates no token and ends with length, the prompt prefilled', async () => {
    const prompt = model.tokenizer!.encode('Once upon a time');
    const ids = generateIds(model, prompt, { maxTokens: 0, temperature: 0 });
    expect(ids.next()).toEqual({ done: true, value: 'length' });
    expect(model.position).toBe(prompt.length);
    expect(await collect(model.generate('Once upon a time', { maxTokens: 0, temperature: 0 }))).toEqual({ text: '', result: 'length' });
    expect(await collect(model.chat([{ role: 'user', content: 'Hi' }], { template: '{{ messages[0].content }}', maxTokens: 0 }))).toEqual({ text: '', result: 'length' });
  });

  test('logits that are not finite are E_NUMERIC naming the position, in forward, generate, generateIds, chat and evaluate', async () => {
    const bad = await loadModel(nanModel(sharedBytes('models', 'stories260K.gguf')));
    // every row: the first is named, with all logits; the last token's without
    let e = await caught(() => bad.forward([1, 403, 407], { allLogits: true }));
    expect([e.code, e.message]).toEqual(['E_NUMERIC', expect.stringMatching(/^logits: NaN at position 0 \(token 1; logit 0 of 512\): the model's weights hold a NaN/)]);
    bad.reset();
    e = await caught(() => bad.forward([1, 403, 407]));
    expect([e.code, e.message]).toEqual(['E_NUMERIC', expect.stringMatching(/^logits: NaN at position 2 \(token 407; /)]);
    for (const temperature of [0, 1]) {
      e = await caught(() => collect(bad.generate('Once', { temperature, maxTokens: 5 })));
      expect([e.code, e.message]).toEqual(['E_NUMERIC', expect.stringMatching(/^logits: NaN at position 1 \(token 403; /)]);
      e = await caught(() => [...generateIds(bad, [1, 403], { temperature, maxTokens: 5 })]);
      expect(e.code).toBe('E_NUMERIC');
    }
    e = await caught(() => collect(bad.chat([{ role: 'user', content: 'Hi' }], { template: '{{ messages[0].content }}', maxTokens: 3 })));
    expect(e.code).toBe('E_NUMERIC');
    e = await caught(() => evaluate(bad, bad.tokenizer!, 'Once upon a time.\n\nThe end.'));
    expect([e.code, e.message]).toEqual(['E_NUMERIC', expect.stringMatching(/^document 1 of 2: logits: NaN at position 0 \(token 1; /)]);
  });

  test('the sampler refuses logits it cannot sample from (NaN, +Infinity, all -Infinity), naming the index', async () => {
    for (const temperature of [0, 1]) {
      const s = new Sampler({ temperature, seed: 1 });
      let e = await caught(() => s.sample(Float32Array.of(0.5, NaN, 1)));
      expect([e.code, e.message]).toEqual(['E_NUMERIC', expect.stringMatching(/^logits\[1\]: NaN; the sampler needs finite logits/)]);
      e = await caught(() => s.sample(Float32Array.of(0.5, 1, Infinity)));
      expect(e.message).toMatch(/^logits\[2\]: Infinity/);
      e = await caught(() => s.sample(Float32Array.of(-Infinity, -Infinity)));
      expect(e.message).toMatch(/^logits: every one is -Infinity/);
      // -Infinity masks a token, as a logit bias does
      expect(s.sample(Float32Array.of(-Infinity, 2, -Infinity))).toBe(1);
    }
  });

  test('loadModel and LlamaModel.create check their option keys and kinds as generate does', async () => {
    const path = sharedPath('models', 'stories260K.gguf');
    let e = await caught(() => loadModel(path, { threds: 2 } as never));
    expect([e.code, e.message]).toEqual(['E_ARG', "loadModel: unknown option 'threds' (did you mean 'threads'?)"]);
    e = await caught(() => loadModel(path, { blockSize: '32' } as never));
    expect(e.message).toBe('loadModel: option \'blockSize\' must be an integer, found the string "32"');
    const { weights } = await readWeights(path);
    e = await caught(() => LlamaModel.create(weights, { kvcache: 'f16' } as never));
    expect(e.message).toBe("LlamaModel.create: unknown option 'kvcache' (did you mean 'kvCache'?)");
  });

  test('evaluate refuses text with nothing to predict instead of returning NaN', async () => {
    for (const text of ['', '\n\n', ' \n\n  ']) {
      const e = await caught(() => evaluate(model, model.tokenizer!, text));
      expect([e.code, e.message]).toEqual(['E_ARG', expect.stringMatching(/^text: no document of two or more tokens \(documents are separated by blank lines; /)]);
    }
    const e = await caught(() => evaluate(model, model.tokenizer!, 5 as never));
    expect(e.message).toBe('text: expected a string, found 5');
  });

  test('a prompt that is not a string is named as the prompt, in every form of generate', async () => {
    const forms: [string, () => AsyncGenerator<string, unknown>][] = [
      ['found 5', () => model.generate(5 as never)],
      ['found undefined', () => model.generate(undefined as never)],
      ['found undefined', () => model.generate(undefined as never, { maxTokens: 3 })],
      ['found null', () => model.generate(null as never, { maxTokens: 3 })],
      ['found an array', () => model.generate(model.tokenizer, [1, 2] as never)],
      ['found undefined', () => generate(model, undefined, undefined as never)],
    ];
    for (const [found, form] of forms) {
      const e = await caught(() => collect(form()));
      expect([e.code, e.message]).toEqual(['E_ARG', `prompt: expected a string (the text to continue), ${found}`]);
    }
    const e = await caught(() => collect(generate(model, 5 as never, 'Once')));
    expect(e.message).toBe("tokenizer: expected a Tokenizer (or undefined: the model's own), found 5");
    const ids = await caught(() => [...generateIds(model, 'Once' as never)]);
    expect(ids.message).toBe('prompt: expected an array of token ids, found the string "Once"');
  });
});
