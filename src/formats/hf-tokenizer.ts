// Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) as a BPE tokenizer: byte-level BPE
// with a ByteLevel pre-tokenizer and decoder (Llama 3, Qwen, GPT-2), or SentencePiece-style BPE
// over characters with byte fallback (Gemma, Llama 2). Read defensively: every field is checked,
// and any normalizer, pre-tokenizer, post-processor, decoder or model option this reader does not
// implement is refused (E_UNSUPPORTED) naming it, never ignored.

import { FfnkitError } from '../errors.js';
import { BpeTokenizer } from './bpe.js';
import { PRE_TOKENIZERS, PreTokenizer, type SplitBehavior, type SplitStep, compilePattern, escapeLiteral, preTokenizerName, splitStep } from './pretokenize.js';
import { EOT_TEXTS, TokenType, padVocabulary } from './vocab.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The GPT-2 split a ByteLevel pre-tokenizer with use_regex applies. */
const GPT2_PATTERN = PRE_TOKENIZERS['gpt-2']!.patterns[0]!;

function parseJson(input: Uint8Array | string | object | undefined, what: string): Json | undefined {
  if (input === undefined) return undefined;
  if (!(input instanceof Uint8Array) && typeof input !== 'string') {
    if (!isObject(input)) throw new FfnkitError('E_FORMAT', `${what}: expected a JSON object`);
    return input;
  }
  let text: string;
  if (input instanceof Uint8Array) {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch {
      throw new FfnkitError('E_FORMAT', `${what}: not valid UTF-8`);
    }
  } else {
    text = input;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new FfnkitError('E_FORMAT', `${what}: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(v)) throw new FfnkitError('E_FORMAT', `${what}: expected a JSON object at the top`);
  return v;
}

/** Options of `hfTokenizer`. */
export interface HfTokenizerOptions {
  /** The model's embedding rows (config.json's vocab_size): ids past the tokens become pad tokens (padVocabulary). */
  rows?: number;
}

/**
 * Builds the tokenizer a Hugging Face tokenizer.json describes, with the BOS/EOS choices of its
 * tokenizer_config.json when given (bytes, text or parsed JSON).
 */
export function hfTokenizer(tokenizerJson: Uint8Array | string | object, configJson?: Uint8Array | string | object, source = 'tokenizer.json', options: HfTokenizerOptions = {}): BpeTokenizer {
  const root = parseJson(tokenizerJson, source)!;
  const config = parseJson(configJson, `${source}: tokenizer_config.json`) ?? {};
  const fail = (path: string, why: string) => new FfnkitError('E_FORMAT', `${source}: ${path}: ${why}`);
  const refuse = (path: string, why: string) => new FfnkitError('E_UNSUPPORTED', `${source}: ${path}: ${why}`);

  // ---- model
  const model = root.model;
  if (!isObject(model)) throw fail('model', 'missing or not an object');
  if (model.type !== undefined && model.type !== 'BPE') throw refuse('model.type', `'${String(model.type)}' (only BPE is read)`);
  const vocab = model.vocab;
  if (!isObject(vocab)) throw fail('model.vocab', 'missing or not an object of token: id');
  const byId = new Map<number, string>();
  const checkId = (id: unknown, path: string): number => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= 1 << 24) throw fail(path, `id ${JSON.stringify(id)} is not an integer in 0..2^24`);
    return id;
  };
  for (const [text, id] of Object.entries(vocab)) {
    const i = checkId(id, `model.vocab[${JSON.stringify(text)}]`);
    if (byId.has(i)) throw fail(`model.vocab[${JSON.stringify(text)}]`, `id ${i} is also ${JSON.stringify(byId.get(i))}`);
    byId.set(i, text);
  }
  if (model.dropout !== undefined && model.dropout !== null && model.dropout !== 0) throw refuse('model.dropout', `${String(model.dropout)} (BPE dropout is random; ffnkit encodes deterministically)`);
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix']) {
    const v = model[key];
    if (v !== undefined && v !== null && v !== '') throw refuse(`model.${key}`, JSON.stringify(v));
  }
  const flag = (v: unknown, path: string): boolean => {
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') throw fail(path, 'expected true or false');
    return v;
  };
  const byteFallback = flag(model.byte_fallback, 'model.byte_fallback');
  const fuseUnk = flag(model.fuse_unk, 'model.fuse_unk');
  const ignoreMerges = flag(model.ignore_merges, 'model.ignore_merges');

  // ---- added tokens
  const specialTypes = new Map<number, number>();
  const lstrip = new Set<number>();
  const rstrip = new Set<number>();
  const added = root.added_tokens ?? [];
  if (!Array.isArray(added)) throw fail('added_tokens', 'expected an array');
  const normalizer = root.normalizer ?? null;
  added.forEach((t: unknown, k) => {
    const path = `added_tokens[${k}]`;
    if (!isObject(t)) throw fail(path, 'expected an object');
    const id = checkId(t.id, `${path}.id`);
    const content = t.content;
    if (typeof content !== 'string' || content.length === 0) throw fail(`${path}.content`, 'expected a non-empty string');
    const known = byId.get(id);
    if (known !== undefined && known !== content) throw fail(path, `id ${id} is ${JSON.stringify(content)} here but ${JSON.stringify(known)} in model.vocab`);
    if (flag(t.single_word, `${path}.single_word`)) throw refuse(`${path}.single_word`, 'single-word matching of added tokens is not implemented');
    if (flag(t.normalized, `${path}.normalized`) && normalizer !== null && !(isObject(normalizer) && normalizer.type === 'NFC')) {
      throw refuse(`${path}.normalized`, 'an added token matched in normalized text (with this normalizer) is not implemented');
    }
    byId.set(id, content);
    specialTypes.set(id, flag(t.special, `${path}.special`) ? TokenType.control : TokenType.userDefined);
    if (flag(t.lstrip, `${path}.lstrip`)) lstrip.add(id);
    if (flag(t.rstrip, `${path}.rstrip`)) rstrip.add(id);
  });
  let n = 0;
  for (const id of byId.keys()) n = Math.max(n, id + 1);
  if (n === 0) throw fail('model.vocab', 'no tokens');
  const stored: string[] = new Array(n);
  const storedTypes = new Uint8Array(n).fill(TokenType.normal);
  for (let i = 0; i < n; i++) {
    const t = byId.get(i);
    if (t === undefined) throw fail('model.vocab', `no token has id ${i} (ids must run from 0 to ${n - 1})`);
    stored[i] = t;
    storedTypes[i] = specialTypes.get(i) ?? TokenType.normal;
  }
  const { rows = n } = options;
  if (!Number.isInteger(rows) || rows < n) throw new FfnkitError('E_FORMAT', `${source}: ${n} tokens but the model has ${rows} embedding rows (ids ${rows} and up would have no embedding)`);
  const { texts, types } = padVocabulary(stored, storedTypes, rows);
  const ids = new Map<string, number>();
  texts.forEach((t, i) => ids.has(t) || ids.set(t, i));
  const idOfText = (text: string): number | undefined => ids.get(text);

  // ---- merges
  const rawMerges = model.merges;
  if (!Array.isArray(rawMerges)) throw fail('model.merges', 'missing or not an array');
  const merges = rawMerges.map((m: unknown, k): [string, string] => {
    if (typeof m === 'string') {
      const parts = m.split(' ');
      if (parts.length !== 2 || parts[0] === '' || parts[1] === '') throw fail(`model.merges[${k}]`, `${JSON.stringify(m)} is not two tokens separated by one space`);
      return [parts[0]!, parts[1]!];
    }
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]];
    throw fail(`model.merges[${k}]`, 'expected "a b" or ["a", "b"]');
  });

  // ---- normalizer
  const normalize = normalizerOf(normalizer, 'normalizer', fail, refuse);

  // ---- pre-tokenizer
  const steps: SplitStep[] = [];
  const patterns: string[] = [];
  let preByteLevel = false;
  let prefixSpace = false;
  const addPre = (p: unknown, path: string, top: boolean) => {
    if (p === null) return;
    if (!isObject(p)) throw fail(path, 'expected an object');
    switch (p.type) {
      case 'Sequence': {
        const list = p.pretokenizers;
        if (!Array.isArray(list)) throw fail(`${path}.pretokenizers`, 'expected an array');
        list.forEach((q, k) => addPre(q, `${path}.pretokenizers[${k}]`, false));
        return;
      }
      case 'Split': {
        if (flag(p.invert, `${path}.invert`)) throw refuse(`${path}.invert`, 'an inverted split is not implemented');
        const behavior = p.behavior;
        if (!['Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Removed'].includes(behavior as string)) throw refuse(`${path}.behavior`, JSON.stringify(behavior));
        const pat = p.pattern;
        let source: string;
        if (isObject(pat) && typeof pat.Regex === 'string') source = pat.Regex;
        else if (isObject(pat) && typeof pat.String === 'string' && pat.String !== '') source = escapeLiteral(pat.String);
        else throw fail(`${path}.pattern`, 'expected {"Regex": ...} or {"String": ...}');
        steps.push(splitStep(compilePattern(source, `${path}.pattern`), behavior as SplitBehavior));
        patterns.push(behavior === 'Isolated' ? source : `${String(behavior)}:${source}`);
        return;
      }
      case 'ByteLevel': {
        preByteLevel = true;
        if (flag(p.add_prefix_space, `${path}.add_prefix_space`)) {
          // a space before the whole text is what a leading ByteLevel step does; deeper in a sequence it would prefix every piece
          if (!top && steps.length > 0) throw refuse(`${path}.add_prefix_space`, 'a prefix space after other pre-tokenizers is not implemented');
          prefixSpace = true;
        }
        if (p.use_regex !== false) {
          steps.push(splitStep(compilePattern(GPT2_PATTERN, path)));
          patterns.push(GPT2_PATTERN);
        }
        return;
      }
      case 'Digits': {
        const one = flag(p.individual_digits, `${path}.individual_digits`);
        const source = one ? '\\p{N}' : '\\p{N}+';
        steps.push(splitStep(compilePattern(source, path)));
        patterns.push(source);
        return;
      }
      default:
        throw refuse(`${path}.type`, `pre-tokenizer '${String(p.type)}' is not implemented`);
    }
  };
  addPre(root.pre_tokenizer ?? null, 'pre_tokenizer', true);

  // ---- decoder
  const decoder = root.decoder ?? null;
  let decByteLevel = false;
  let stripLeadingSpace = false;
  const readDecoder = (d: unknown, path: string) => {
    if (d === null) return;
    if (!isObject(d)) throw fail(path, 'expected an object');
    switch (d.type) {
      case 'Sequence': {
        if (!Array.isArray(d.decoders)) throw fail(`${path}.decoders`, 'expected an array');
        d.decoders.forEach((q, k) => readDecoder(q, `${path}.decoders[${k}]`));
        return;
      }
      case 'ByteLevel':
        decByteLevel = true;
        return;
      case 'Replace': {
        const pat = d.pattern;
        if (!(isObject(pat) && pat.String === '\u2581' && d.content === ' ')) throw refuse(path, 'only Replace of "▁" by " " is implemented');
        return;
      }
      case 'ByteFallback':
      case 'Fuse':
        return;
      case 'Strip': {
        if (d.content !== ' ' || d.start !== 1 || d.stop !== 0) throw refuse(path, 'only Strip of one leading space is implemented');
        stripLeadingSpace = true;
        return;
      }
      default:
        throw refuse(`${path}.type`, `decoder '${String(d.type)}' is not implemented`);
    }
  };
  readDecoder(decoder, 'decoder');
  if (preByteLevel !== decByteLevel) {
    throw refuse(preByteLevel ? 'decoder' : 'pre_tokenizer', 'a byte-level pre-tokenizer and decoder go together; this file has only one of them');
  }
  const byteLevel = preByteLevel;
  if (!byteLevel && !(isObject(decoder) && JSON.stringify(decoder).includes('\u2581'))) {
    throw refuse('decoder', 'a SentencePiece-style vocabulary needs the decoder that turns "▁" back into spaces');
  }

  // ---- post-processor: which special tokens encoding adds
  const template = templateOf(root.post_processor ?? null, 'post_processor', fail, refuse);
  const tokenOf = (v: unknown, key: string): number | undefined => {
    if (v === undefined || v === null) return undefined;
    const text = typeof v === 'string' ? v : isObject(v) && typeof v.content === 'string' ? v.content : undefined;
    if (text === undefined) throw fail(`tokenizer_config.json ${key}`, 'expected a string or {"content": ...}');
    const id = idOfText(text);
    if (id === undefined) throw fail(`tokenizer_config.json ${key}`, `${JSON.stringify(text)} is not a token`);
    return id;
  };
  const configFlag = (key: string): boolean | undefined => {
    const v = config[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw fail(`tokenizer_config.json ${key}`, 'expected true or false');
    return v;
  };
  const bosId = tokenOf(config.bos_token, 'bos_token') ?? template.bos ?? -1;
  const eosId = tokenOf(config.eos_token, 'eos_token') ?? template.eos ?? -1;
  const addBos = configFlag('add_bos_token') ?? template.bos !== undefined;
  const addEos = configFlag('add_eos_token') ?? template.eos !== undefined;
  const eotText = EOT_TEXTS.find((t) => idOfText(t) !== undefined);
  const unkToken = model.unk_token;
  if (unkToken !== undefined && unkToken !== null && typeof unkToken !== 'string') throw fail('model.unk_token', 'expected a string');
  const unkId = typeof unkToken === 'string' ? idOfText(unkToken) : undefined;
  if (typeof unkToken === 'string' && unkId === undefined) throw fail('model.unk_token', `${JSON.stringify(unkToken)} is not a token`);

  const split = new PreTokenizer(steps);
  // GGUF has no normalizer: NFC (Qwen) is dropped there, as llama.cpp's converter drops it
  const nfcOnly = normalizer === null || (isObject(normalizer) && normalizer.type === 'NFC');
  const preName = byteLevel && !prefixSpace && nfcOnly ? preTokenizerName(patterns, ignoreMerges) : undefined;
  return new BpeTokenizer({
    source,
    texts,
    types,
    bosId,
    eosId,
    eotId: eotText !== undefined ? idOfText(eotText)! : -1,
    addBos,
    addEos,
    lstrip,
    rstrip,
    merges,
    byteLevel,
    byteFallback,
    unkId: unkId ?? -1,
    fuseUnk,
    ignoreMerges,
    ...(steps.length > 0 ? { preTokenizer: split } : {}),
    ...(normalize || prefixSpace ? { normalize: (s: string) => {
      const t = normalize ? normalize(s) : s;
      return prefixSpace && !t.startsWith(' ') ? ` ${t}` : t;
    } } : {}),
    stripLeadingSpace,
    ...(preName !== undefined ? { preName } : {}),
    ...(byteLevel ? {} : { sentencePiece: sentencePieceForm(normalizer, root.pre_tokenizer ?? null, lstrip.size + rstrip.size > 0) }),
  });
}

/**
 * Whether a SentencePiece-style tokenizer.json handles text as GGUF's SentencePiece model does:
 * spaces replaced by '▁' (Gemma), after a '▁' prefix (Llama 2's dummy prefix), and nothing cut
 * before merging (Gemma's split at ' ' finds none once they are '▁'); else why not.
 */
function sentencePieceForm(normalizer: unknown, pre: unknown, strips: boolean): { addSpacePrefix: boolean } | { unlike: string } {
  const replace = (n: unknown) => isObject(n) && n.type === 'Replace' && isObject(n.pattern) && n.pattern.String === ' ' && n.content === '\u2581';
  const prepend = (n: unknown) => isObject(n) && n.type === 'Prepend' && n.prepend === '\u2581';
  const list = isObject(normalizer) && normalizer.type === 'Sequence' && Array.isArray(normalizer.normalizers) ? normalizer.normalizers : [normalizer];
  const addSpacePrefix = list.length === 2 && prepend(list[0]) && replace(list[1]);
  if (!addSpacePrefix && !(list.length === 1 && replace(list[0]))) return { unlike: 'its normalizer is not SentencePiece\'s (" " to "\u2581", after a "\u2581" prefix or not)' };
  if (pre !== null && !(isObject(pre) && pre.type === 'Split' && isObject(pre.pattern) && pre.pattern.String === ' ' && pre.invert !== true)) {
    return { unlike: 'its pre-tokenizer cuts the text before merging, which GGUF\'s SentencePiece model does not' };
  }
  if (strips) return { unlike: 'an added token strips the whitespace beside it, which GGUF cannot say' };
  return { addSpacePrefix };
}

type Fail = (path: string, why: string) => FfnkitError;

/** The normalizer as a function of text (undefined when it changes nothing). */
function normalizerOf(n: unknown, path: string, fail: Fail, refuse: Fail): ((s: string) => string) | undefined {
  if (n === null) return undefined;
  if (!isObject(n)) throw fail(path, 'expected an object');
  switch (n.type) {
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = n.type;
      return (s) => s.normalize(form);
    }
    case 'Lowercase':
      return (s) => s.toLowerCase();
    case 'Prepend': {
      if (typeof n.prepend !== 'string') throw fail(`${path}.prepend`, 'expected a string');
      const p = n.prepend;
      return (s) => (s.length > 0 ? p + s : s);
    }
    case 'Replace': {
      const pat = n.pattern;
      if (typeof n.content !== 'string') throw fail(`${path}.content`, 'expected a string');
      const content = n.content;
      if (isObject(pat) && typeof pat.String === 'string' && pat.String !== '') {
        const from = pat.String;
        return (s) => s.replaceAll(from, content);
      }
      if (isObject(pat) && typeof pat.Regex === 'string') {
        const re = compilePattern(pat.Regex, `${path}.pattern`);
        return (s) => s.replace(re, () => content);
      }
      throw fail(`${path}.pattern`, 'expected {"String": ...} or {"Regex": ...}');
    }
    case 'Sequence': {
      const list = n.normalizers;
      if (!Array.isArray(list)) throw fail(`${path}.normalizers`, 'expected an array');
      const fs = list.map((q, k) => normalizerOf(q, `${path}.normalizers[${k}]`, fail, refuse)).filter((f) => f !== undefined);
      return fs.length === 0 ? undefined : (s) => fs.reduce((t, f) => f(t), s);
    }
    default:
      throw refuse(`${path}.type`, `normalizer '${String(n.type)}' is not implemented`);
  }
}

/** The special tokens a post-processor puts before and after a single sequence. */
function templateOf(p: unknown, path: string, fail: Fail, refuse: Fail): { bos?: number; eos?: number } {
  if (p === null) return {};
  if (!isObject(p)) throw fail(path, 'expected an object');
  if (p.type === 'ByteLevel') return {};
  if (p.type === 'Sequence') {
    if (!Array.isArray(p.processors)) throw fail(`${path}.processors`, 'expected an array');
    const parts = p.processors.map((q, k) => templateOf(q, `${path}.processors[${k}]`, fail, refuse));
    const withTokens = parts.filter((t) => t.bos !== undefined || t.eos !== undefined);
    if (withTokens.length > 1) throw refuse(path, 'more than one processor adds special tokens');
    return withTokens[0] ?? {};
  }
  if (p.type !== 'TemplateProcessing') throw refuse(`${path}.type`, `post-processor '${String(p.type)}' is not implemented`);
  const single = p.single;
  if (!Array.isArray(single)) throw fail(`${path}.single`, 'expected an array');
  const specials = isObject(p.special_tokens) ? p.special_tokens : {};
  const idOf = (item: Json, k: number): number => {
    const name = isObject(item.SpecialToken) ? item.SpecialToken.id : undefined;
    const entry = typeof name === 'string' ? specials[name] : undefined;
    const ids = isObject(entry) ? entry.ids : undefined;
    if (!Array.isArray(ids) || ids.length !== 1 || typeof ids[0] !== 'number') throw fail(`${path}.single[${k}]`, `special token ${JSON.stringify(name)} must map to one id in special_tokens`);
    return ids[0];
  };
  const at = single.findIndex((item) => isObject(item) && 'Sequence' in item);
  if (at < 0) throw fail(`${path}.single`, 'has no Sequence');
  if (at > 1 || single.length - at - 1 > 1) throw refuse(`${path}.single`, 'more than one special token before or after the text is not implemented');
  const out: { bos?: number; eos?: number } = {};
  if (at === 1) out.bos = idOf(single[0] as Json, 0);
  if (single.length === at + 2) out.eos = idOf(single[at + 1] as Json, at + 1);
  return out;
}
