// What a new user's first library calls found: a bad argument is an FfnkitError naming it, never
// a silently wrong result (NaN, a file no reader takes) or a message about something else.

import { describe, expect, test } from 'vitest';
import { FfnkitError, Sampler, evaluate, generateIds, loadModel } from '../src/node/index.js';
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
});
