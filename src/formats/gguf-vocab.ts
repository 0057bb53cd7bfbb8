// The tokenizer in a GGUF file's metadata, read as llama.cpp's llama_vocab::load reads it:
// `tokenizer.ggml.model` llama (SentencePiece: tokens with '▁' for spaces, scores) or gpt2
// (byte-level BPE: tokens, merges "a b", and the pre-tokenizer `tokenizer.ggml.pre` names), with
// token types, BOS/EOS/EOT ids and add_bos/add_eos flags. Keys that change tokenization and are
// not implemented are refused, not ignored.

import { FfnkitError } from '../errors.js';
import { BpeTokenizer } from './bpe.js';
import type { MetaValue } from './gguf.js';
import { namedPreTokenizer } from './pretokenize.js';
import { SpmTokenizer } from './spm.js';
import type { Tokenizer } from './tokenizer.js';
import { EOT_TEXTS, TokenType, padVocabulary } from './vocab.js';

/**
 * The tokenizer of GGUF metadata; with `rows` (the model's embedding rows, at least the token
 * count) padded to that many ids as llama.cpp's converter pads one (see padVocabulary).
 */
export function tokenizerFromGguf(meta: ReadonlyMap<string, MetaValue>, source: string, rows?: number): Tokenizer {
  const fail = (key: string, why: string) => new FfnkitError('E_FORMAT', `${source}: ${key} ${why}`);
  const model = meta.get('tokenizer.ggml.model') ?? 'llama';
  if (model !== 'llama' && model !== 'gpt2') {
    throw new FfnkitError('E_UNSUPPORTED', `${source}: tokenizer.ggml.model '${String(model)}' (SentencePiece 'llama' and byte-level BPE 'gpt2' are read)`);
  }
  const tokens = meta.get('tokenizer.ggml.tokens');
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string')) throw fail('tokenizer.ggml.tokens', 'is missing or not a string array');
  const stored = tokens as string[];
  const n = stored.length;

  const rawTypes = meta.get('tokenizer.ggml.token_type');
  let storedTypes: Uint8Array | undefined;
  if (rawTypes !== undefined) {
    if (!Array.isArray(rawTypes) || rawTypes.length < n) throw fail('tokenizer.ggml.token_type', `must hold one type per token (${n})`);
    storedTypes = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const t = rawTypes[i];
      if (typeof t !== 'number' || !Number.isInteger(t) || t < TokenType.normal || t > TokenType.byte) throw fail('tokenizer.ggml.token_type', `[${i}] is ${String(t)} (1 to 6)`);
      storedTypes[i] = t;
    }
  }
  // the model's extra rows as pad tokens, which need types to say what they are
  const padding = rows !== undefined && rows > n;
  if (padding && !storedTypes) throw fail('tokenizer.ggml.token_type', `is missing: the model has ${rows} embedding rows for ${n} tokens, and the rows beyond need pad tokens typed unused`);
  const { texts, types } = padding ? padVocabulary(stored, storedTypes!, rows) : { texts: stored, types: storedTypes };
  const id = (key: string): number | undefined => {
    const v = meta.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= n) throw fail(key, `${String(v)} is not a token id below ${n}`);
    return v;
  };
  const flag = (key: string): boolean | undefined => {
    const v = meta.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw fail(key, 'is not a boolean');
    return v;
  };
  for (const key of ['tokenizer.ggml.add_sep_token', 'tokenizer.ggml.remove_extra_whitespaces']) {
    if (flag(key)) throw new FfnkitError('E_UNSUPPORTED', `${source}: ${key} is true (not implemented)`);
  }
  if (meta.has('tokenizer.ggml.precompiled_charsmap')) throw new FfnkitError('E_UNSUPPORTED', `${source}: tokenizer.ggml.precompiled_charsmap (a T5-style normalizer) is not implemented`);

  const special = (i: number) => types !== undefined && (types[i] === TokenType.control || types[i] === TokenType.userDefined || types[i] === TokenType.unknown);
  const eotText = EOT_TEXTS.find((t) => texts.some((x, i) => x === t && special(i)));
  const eotId = id('tokenizer.ggml.eot_token_id') ?? (eotText !== undefined ? texts.indexOf(eotText) : -1);
  const addEos = flag('tokenizer.ggml.add_eos_token') ?? false;

  if (model === 'llama') {
    const scores = meta.get('tokenizer.ggml.scores');
    if (!Array.isArray(scores) || scores.length !== n || !scores.every((s) => typeof s === 'number')) {
      throw fail('tokenizer.ggml.scores', `must hold one number per token (${n})`);
    }
    const enc = new TextEncoder();
    return new SpmTokenizer({
      source,
      pieces: texts.map((t) => enc.encode(t.replace(/\u2581/g, ' '))),
      // llama.cpp's converter scores its pad tokens -1000
      scores: [...(scores as number[]), ...new Array<number>(texts.length - n).fill(-1000)],
      texts,
      ...(types ? { types } : {}),
      // llama.cpp's defaults for SentencePiece, when they are inside the vocabulary
      bosId: id('tokenizer.ggml.bos_token_id') ?? (n > 1 ? 1 : -1),
      eosId: id('tokenizer.ggml.eos_token_id') ?? (n > 2 ? 2 : -1),
      eotId,
      addBos: flag('tokenizer.ggml.add_bos_token') ?? true,
      addEos,
      addSpacePrefix: flag('tokenizer.ggml.add_space_prefix') ?? true,
      ...(types ? { rstrip: phi3Rstrip(meta, texts, special) } : {}),
    });
  }

  const rawMerges = meta.get('tokenizer.ggml.merges');
  if (!Array.isArray(rawMerges) || !rawMerges.every((m) => typeof m === 'string')) throw fail('tokenizer.ggml.merges', 'is missing or not a string array');
  const merges = (rawMerges as string[]).map((m, k): [string, string] => {
    // as llama.cpp: the first space after the first character separates the two tokens
    const at = m.indexOf(' ', 1);
    if (at < 0) throw fail('tokenizer.ggml.merges', `[${k}] ${JSON.stringify(m)} is not two tokens separated by a space`);
    return [m.slice(0, at), m.slice(at + 1)];
  });
  const preName = meta.get('tokenizer.ggml.pre');
  if (typeof preName !== 'string') {
    throw new FfnkitError('E_UNSUPPORTED', `${source}: tokenizer.ggml.pre is ${preName === undefined ? 'missing' : 'not a string'}: a byte-level BPE vocabulary needs the name of its pre-tokenizer`);
  }
  const pre = namedPreTokenizer(preName, source);
  return new BpeTokenizer({
    source,
    texts,
    types: types ?? new Uint8Array(n).fill(TokenType.normal),
    bosId: id('tokenizer.ggml.bos_token_id') ?? -1,
    eosId: id('tokenizer.ggml.eos_token_id') ?? -1,
    eotId,
    addBos: flag('tokenizer.ggml.add_bos_token') ?? pre.addBos,
    addEos,
    merges,
    byteLevel: true,
    unkId: id('tokenizer.ggml.unknown_token_id') ?? -1,
    ignoreMerges: pre.ignoreMerges,
    preTokenizer: pre.split,
    preName,
  });
}

/**
 * Phi-3's special tokens swallow the whitespace after them: llama.cpp sets this by the model's
 * name (GGUF does not store it), for every special token and </s>, but not <unk>, <s>, <|endoftext|>.
 */
function phi3Rstrip(meta: ReadonlyMap<string, MetaValue>, texts: string[], special: (i: number) => boolean): Set<number> {
  const name = meta.get('general.name');
  const out = new Set<number>();
  if (typeof name !== 'string' || !/phi-?3/.test(name.toLowerCase())) return out;
  texts.forEach((t, i) => {
    if ((special(i) || t === '</s>') && t !== '<unk>' && t !== '<s>' && t !== '<|endoftext|>') out.add(i);
  });
  return out;
}
