// The generation API a page or a server relies on: the model's own vocabulary, AbortSignal, stop
// strings across token boundaries, one generation per model, yielding to the event loop, seeds,
// llama.cpp's penalties and min-p on hand-computed examples, checked options, inputs told apart.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { StopStrings } from '../src/text/stop-strings.js';
import { ChatSession, FfnkitError, LlamaModel, Sampler, Tokenizer, evaluate, generateIds, loadModel, readBytes, readLlama2c } from '../src/node/index.js';
import { SHARED, sharedBytes, sharedPath } from './shared.js';

const CHATML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

async function collect(stream: AsyncGenerator<string, unknown>): Promise<{ pieces: string[]; result: unknown }> {
  const pieces: string[] = [];
  for (;;) {
    const r = await stream.next();
    if (r.done) return { pieces, result: r.value };
    pieces.push(r.value);
  }
}

describe('stop strings', () => {
  test('a stop string split over pieces ends the text before it; a partial match is held back, then released', () => {
    const s = new StopStrings(['<|im_end|>', 'THE END']);
    const out = ['Hel', 'lo <|im', '_en', 'd|> more'].map((p) => s.push(p));
    expect(out).toEqual(['Hel', 'lo ', '', '']);
    expect(s.stopped).toBe(true);
    expect(s.flush()).toBe('');
    const t = new StopStrings(['<|im_end|>']);
    expect([t.push('ab<|i'), t.push('x'), t.push('<|')]).toEqual(['ab', '<|ix', '']);
    expect(t.flush()).toBe('<|');
    expect(() => new StopStrings([''])).toThrow(/stop\[0\]: expected a non-empty string/);
  });
});

describe('sampler: llama.cpp penalties and min-p', () => {
  test('penalties over the last N tokens, worked by hand', () => {
    const s = new Sampler({ temperature: 0, repeatPenalty: 2, frequencyPenalty: 0.25, presencePenalty: 0.5, penaltyLastN: 4 });
    // window [0, 1, 0, 3]: token 4 has left it
    s.restart([4, 0, 1, 0, 3]);
    const logits = Float32Array.of(2, -1, 0.5, 3, 1);
    // 0: 2 / 2 - 2 * 0.25 - 0.5 = 0;  1: -1 * 2 - 0.25 - 0.5 = -2.75;  3: 3 / 2 - 0.25 - 0.5 = 0.75
    expect(Array.from(s.penalized(logits))).toEqual([0, -2.75, 0.5, 0.75, 1]);
    expect(s.sample(logits)).toBe(4);
    // with token 4 still in the window (1 - 0.25 - 0.5 = 0.25... divided first: 1/2 - 0.75 = -0.25) token 3 wins
    const wide = new Sampler({ temperature: 0, repeatPenalty: 2, frequencyPenalty: 0.25, presencePenalty: 0.5, penaltyLastN: 5 });
    wide.restart([4, 0, 1, 0, 3]);
    expect(Array.from(wide.penalized(logits))).toEqual([0, -2.75, 0.5, 0.75, -0.25]);
    expect(wide.sample(logits)).toBe(3);
    // accept() slides the window
    wide.accept(2);
    expect(wide.penalized(logits)[2]).toBe(0.5 / 2 - 0.25 - 0.5);
    expect(wide.penalized(logits)[4]).toBe(1); // 4 fell out
    // no penalty set: the logits are used as they are
    expect(new Sampler({ temperature: 0 }).penalized(logits)).toBe(logits);
  });

  test('min-p keeps the tokens at least minP times as likely as the top one at temperature 1, whatever the temperature', () => {
    const logits = Float32Array.from([1, 0.5, 0.05, 0.2], Math.log);
    for (const temperature of [1, 2]) {
      const s = new Sampler({ temperature, topP: 1, minP: 0.25, seed: 11 });
      const counts = [0, 0, 0, 0];
      for (let i = 0; i < 4000; i++) counts[s.sample(logits)]!++;
      expect(counts[2]! + counts[3]!).toBe(0);
      // the kept pair by softmax(l / T): 2:1 at T = 1, sqrt(2):1 at T = 2
      const ratio = counts[0]! / counts[1]!;
      expect(Math.abs(ratio - 2 ** (1 / temperature))).toBeLessThan(0.15);
    }
    const off = new Sampler({ temperature: 1, topP: 1, seed: 11 });
    const seen = new Set<number>();
    for (let i = 0; i < 4000; i++) seen.add(off.sample(logits));
    expect(seen.size).toBe(4);
  });

  test('bad values name the option', () => {
    expect(() => new Sampler({ minP: 2 })).toThrow(/minP: expected a number in \[0, 1\]/);
    expect(() => new Sampler({ repeatPenalty: 0 })).toThrow(/repeatPenalty/);
    expect(() => new Sampler({ penaltyLastN: -1 })).toThrow(/penaltyLastN/);
  });
});

describe.skipIf(!SHARED)('generation on stories260K', () => {
  const gguf = () => loadModel(sharedPath('models', 'stories260K.gguf'));

  test('model.generate(prompt) uses the vocabulary in the file; a model without one says so', async () => {
    const model = await gguf();
    const text = (await collect(model.generate('Once upon a time', { temperature: 0, maxTokens: 20 }))).pieces.join('');
    expect(text).toMatch(/^, there was a little girl named Lily\./);
    // the tokenizer can still be given first
    const tok = await Tokenizer.load(sharedPath('models', 'tok512.bin'));
    expect((await collect(model.generate(tok, 'Once upon a time', { temperature: 0, maxTokens: 20 }))).pieces.join('')).toBe(text);
    expect((await collect(model.generate(model.tokenizer, 'Once upon a time', { temperature: 0, maxTokens: 20 }))).pieces.join('')).toBe(text);
    const bare = await LlamaModel.create(readLlama2c(sharedBytes('models', 'stories260K.bin')));
    await expect(bare.generate('Once').next()).rejects.toThrow(/stores no vocabulary: pass a tokenizer/);
  });

  test('without a seed every call draws a fresh one; with one the text repeats', async () => {
    const model = await gguf();
    const run = async (seed?: number) => (await collect(model.generate('Once upon a time', { temperature: 1, maxTokens: 40, ...(seed !== undefined ? { seed } : {}) }))).pieces.join('');
    expect(await run(5)).toBe(await run(5));
    const a = await run();
    const b = await run();
    const c = await run();
    expect(new Set([a, b, c]).size).toBeGreaterThan(1);
  });

  test('an AbortSignal ends the stream at the next token and leaves the KV cache consistent', async () => {
    const model = await gguf();
    const controller = new AbortController();
    const ids: number[] = [];
    const stream = model.generate('Once upon a time', { temperature: 0, maxTokens: 100, signal: controller.signal, onToken: (id) => ids.push(id) });
    const pieces: string[] = [];
    let result: unknown;
    for (;;) {
      const r = await stream.next();
      if (r.done) {
        result = r.value;
        break;
      }
      pieces.push(r.value);
      if (pieces.length === 5) controller.abort();
    }
    expect(result).toBe('abort');
    // the tokens up to the abort, and no more, are in the cache: all but the last one produced
    // (a token enters the cache when the next is computed)
    const generated = ids.length - model.tokenizer!.encode('Once upon a time').length;
    expect(generated).toBeGreaterThanOrEqual(5);
    expect(generated).toBeLessThan(10);
    const cached = Array.from(model.cachedTokens());
    expect(cached).toEqual(ids.slice(0, -1));
    // consistent: continuing from the cache gives what a fresh run over the same tokens gives
    const fresh = await LlamaModel.create(readLlama2c(sharedBytes('models', 'stories260K.bin')));
    const next = ids[ids.length - 1]!;
    const want = fresh.forward([...cached, next]);
    const got = model.forward([next]);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i]! - got[i]!));
    expect(worst).toBeLessThan(1e-4);
    // an already aborted signal gives no text at all
    expect((await collect(model.generate('Once', { signal: AbortSignal.abort() }))).pieces).toEqual([]);
  });

  test('stop strings spanning token boundaries end the text before them', async () => {
    const model = await gguf();
    const tok = model.tokenizer!;
    const full = (await collect(model.generate('Once upon a time', { temperature: 0, maxTokens: 30 }))).pieces.join('');
    // 'rl nam' starts inside the token of 'girl' and ends inside the one of ' named'
    const ids = tok.encode(`Once upon a time${full}`);
    const pieces = ids.map((id, i) => tok.decode(ids.slice(0, i + 1)).length);
    const at = full.indexOf('rl nam') + 'Once upon a time'.length;
    expect(pieces.some((end) => end > at && end < at + 'rl nam'.length)).toBe(true);
    const { pieces: got, result } = await collect(model.generate('Once upon a time', { temperature: 0, maxTokens: 30, stop: ['rl nam', 'never'] }));
    expect(got.join('')).toBe(full.slice(0, full.indexOf('rl nam')));
    expect(got.some((p) => p.includes('rl'))).toBe(false);
    expect(result).toBe('stop');
  });

  test('one generation at a time: a second one (generate, chat, eval) is refused with E_BUSY, never interleaved', async () => {
    const model = await gguf();
    const first = model.generate('Once upon a time', { temperature: 0, maxTokens: 20 });
    await first.next();
    await expect(model.generate('A dog', { maxTokens: 5 }).next()).rejects.toMatchObject({ code: 'E_BUSY' });
    await expect(new ChatSession(model, { template: CHATML }).send('Hi').next()).rejects.toMatchObject({ code: 'E_BUSY' });
    expect(() => evaluate(model, model.tokenizer!, 'Once upon a time.')).toThrow(FfnkitError);
    expect(() => [...generateIds(model, [1])]).toThrow(/busy with generate/);
    const rest = (await collect(first)).pieces;
    expect(rest.length).toBeGreaterThan(0);
    // free again once the first has ended
    expect((await collect(model.generate('A dog', { temperature: 0, maxTokens: 5 }))).pieces.length).toBeGreaterThan(0);
    // and when a consumer leaves the loop early
    for await (const piece of model.generate('A cat', { maxTokens: 50 })) if (piece) break;
    expect(model.busy).toBe(false);
  });

  test('streaming yields to the event loop: a setTimeout(0) set during a 200-token generation fires before it ends', async () => {
    const model = await gguf();
    const run = async (yieldToLoop: boolean) => {
      let tokens = 0;
      let firedAt = -1;
      let armed = false;
      for await (const piece of model.generate('Once upon a time', { temperature: 1, seed: 3, maxTokens: 200, stopTokens: [], yield: yieldToLoop, onToken: () => tokens++ })) {
        void piece;
        if (!armed) {
          armed = true;
          setTimeout(() => (firedAt = tokens), 0);
        }
      }
      const total = tokens;
      await new Promise((r) => setTimeout(r, 5));
      return { firedAt, total };
    };
    const yielding = await run(true);
    const prompt = model.tokenizer!.encode('Once upon a time').length;
    expect(yielding.total).toBe(prompt + 200);
    expect(yielding.firedAt).toBeGreaterThan(0);
    expect(yielding.firedAt).toBeLessThan(yielding.total);
    // yield: false runs the whole stream in microtasks: the timer waits for the end
    const blocking = await run(false);
    expect(blocking.firedAt).toBe(blocking.total);
  });

  test('unknown option keys and wrong types are FfnkitErrors naming the key', async () => {
    const model = await gguf();
    await expect(model.generate('Once', { maxToken: 5 } as never).next()).rejects.toThrow(/generate: unknown option 'maxToken' \(did you mean 'maxTokens'\?\)/);
    await expect(model.generate('Once', { temperature: '0.5' } as never).next()).rejects.toThrow(/option 'temperature' must be a number, found the string "0.5"/);
    await expect(model.chat([{ role: 'user', content: 'hi' }], { template: CHATML, contextshift: true } as never).next()).rejects.toThrow(/chat: unknown option 'contextshift' \(did you mean 'contextShift'\?\)/);
    expect(() => new ChatSession(model, { sytem: 'x' } as never)).toThrow(/ChatSession: unknown option 'sytem' \(did you mean 'system'\?\)/);
    expect(() => [...generateIds(model, [1], { signal: AbortSignal.abort() })]).toThrow(/generateIds: option 'signal' needs the streaming generate\(\)/);
    expect(() => evaluate(model, model.tokenizer!, 'x', { skp: undefined } as never)).toThrow(/evaluate: unknown option 'skp'/);
    await expect(model.generate('Once', { yield: -1 }).next()).rejects.toThrow(/yield: expected true, false or a slice in milliseconds >= 0/);
  });
});

describe('inputs are recognised by their bytes', () => {
  test('a text file given as a model says what it is not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffnkit-notmodel-'));
    try {
      const path = join(dir, 'notes.txt');
      writeFileSync(path, 'Once upon a time there was a text file.\n');
      await expect(loadModel(path)).rejects.toThrow(/notes\.txt: not a GGUF, llama2\.c or safetensors file \(it starts with "Once upon a time"\)/);
      writeFileSync(path, new Uint8Array(0));
      await expect(loadModel(path)).rejects.toThrow(/not a GGUF, llama2\.c or safetensors file \(it starts with nothing: it is empty\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a Response that is not ok is an error with its status; a failed fetch names the URL', async () => {
    await expect(readBytes(new Response('missing', { status: 404, statusText: 'Not Found' }), 'model')).rejects.toThrow(/model: the response for .* is HTTP 404 Not Found/);
    // a port on this machine that was just closed: the connection is refused at once
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    await new Promise((r) => server.close(r));
    const url = `http://127.0.0.1:${port}/model.gguf`;
    await expect(readBytes(url, 'model')).rejects.toThrow(`model: cannot fetch ${url} (ECONNREFUSED)`);
  });
});
