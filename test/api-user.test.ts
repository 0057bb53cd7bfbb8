// What a new user's first library calls found: a bad argument is an FfnkitError naming it, never
// a silently wrong result (NaN, a file no reader takes) or a message about something else.

import { describe, expect, test } from 'vitest';
import { FfnkitError, generateIds, loadModel } from '../src/node/index.js';
import { SHARED, sharedPath } from './shared.js';

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
});
