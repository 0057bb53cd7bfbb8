// What every tokenizer shares: a vocabulary of token texts with their kinds (GGUF's token types),
// the special and added tokens cut out of the text before the model's own algorithm sees it, BOS
// and EOS, and decoding token bytes back to text.
//
// Cutting out special tokens follows llama.cpp's tokenizer_st_partition: user-defined tokens are
// always matched in the raw text, control and unknown tokens only when asked (parse_special);
// matches are leftmost-longest, as Hugging Face's added-token matcher (llama.cpp tries the longest
// tokens first, which differs only when two special tokens overlap in the text).

import { FfnkitError } from '../errors.js';
import { WHITESPACE } from './pretokenize.js';
import type { GgufVocabulary } from './gguf.js';
import type { EncodeOptions, DecodeOptions, StreamDecoder, Tokenizer } from './tokenizer.js';

/** GGUF's token types (`tokenizer.ggml.token_type`). */
export const TokenType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** Texts that name an end-of-turn token, in the order they are preferred (those llama.cpp looks for). */
export const EOT_TEXTS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '<\uFF5Cend\u2581of\u2581sentence\uFF5C>'];

/**
 * A vocabulary's texts and types padded to `rows` ids, for a model with more embedding rows than
 * its tokenizer has tokens (Qwen2.5: 151936 rows, about 151665 tokens). llama.cpp's converter
 * pads such a vocabulary the same way, `[PAD{id}]` tokens of type unused, and llama.cpp then
 * computes logits for every row: nothing is masked, the tokenizer never produces a pad id, and
 * decoding one gives no text (llama.cpp renders unused tokens as nothing).
 */
export function padVocabulary(texts: readonly string[], types: Uint8Array, rows: number): { texts: string[]; types: Uint8Array } {
  const n = texts.length;
  if (rows <= n) return { texts: texts.slice(), types };
  const padded = new Uint8Array(rows).fill(TokenType.unused);
  padded.set(types);
  return { texts: [...texts, ...Array.from({ length: rows - n }, (_, k) => `[PAD${n + k}]`)], types: padded };
}

/** The token ids and flags that every vocabulary declares. */
export interface VocabSpec {
  /** Where the vocabulary came from, for error messages. */
  source: string;
  /** Each token's text as the file stores it. */
  texts: string[];
  /** Each token's GGUF type (1 normal when a format has none). */
  types: Uint8Array;
  bosId: number;
  eosId: number;
  /** End of turn (-1 if none). */
  eotId?: number;
  addBos: boolean;
  addEos?: boolean;
  /** Special tokens that swallow the whitespace before / after them. */
  lstrip?: ReadonlySet<number>;
  rstrip?: ReadonlySet<number>;
}

/** A piece of text to tokenize, or a special token already found in it. */
type Fragment = string | number;

const IS_SPACE = new RegExp(`[${WHITESPACE}]`, 'u');

/** A trie over UTF-16 code units of the special tokens' texts. */
class SpecialMatcher {
  private readonly children: Map<number, number>[] = [new Map()];
  private readonly ids: number[] = [-1];
  private readonly first = new Uint8Array(65536);

  add(text: string, id: number): void {
    let node = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      let next = this.children[node]!.get(c);
      if (next === undefined) {
        next = this.ids.length;
        this.children.push(new Map());
        this.ids.push(-1);
        this.children[node]!.set(c, next);
      }
      node = next;
    }
    // the first id keeps a text given twice
    if (this.ids[node] === -1) this.ids[node] = id;
    this.first[text.charCodeAt(0)] = 1;
  }

  /** The longest token starting at `at`: [id, end], or undefined. */
  match(text: string, at: number): [number, number] | undefined {
    if (!this.first[text.charCodeAt(at)]) return undefined;
    let node = 0;
    let best: [number, number] | undefined;
    for (let i = at; i < text.length; i++) {
      const next = this.children[node]!.get(text.charCodeAt(i));
      if (next === undefined) break;
      node = next;
      if (this.ids[node]! >= 0) best = [this.ids[node]!, i + 1];
    }
    return best;
  }

  get empty(): boolean {
    return this.ids.length === 1;
  }
}

export abstract class VocabTokenizer implements Tokenizer {
  abstract readonly kind: 'spm' | 'bpe';
  readonly source: string;
  readonly bosId: number;
  readonly eosId: number;
  readonly eotId: number;
  readonly addBos: boolean;
  readonly addEos: boolean;
  protected readonly texts: string[];
  protected readonly types: Uint8Array;
  private readonly lstrip: ReadonlySet<number>;
  private readonly rstrip: ReadonlySet<number>;
  private userMatcher?: SpecialMatcher;
  private allMatcher?: SpecialMatcher;
  private specials?: Map<string, number>;

  constructor(spec: VocabSpec) {
    const n = spec.texts.length;
    this.source = spec.source;
    if (spec.types.length !== n) throw new FfnkitError('E_FORMAT', `${spec.source}: ${n} tokens but ${spec.types.length} token types`);
    this.texts = spec.texts;
    this.types = spec.types;
    const id = (v: number | undefined, what: string) => {
      if (v === undefined || v === -1) return -1;
      if (!Number.isInteger(v) || v < 0 || v >= n) throw new FfnkitError('E_FORMAT', `${spec.source}: ${what} ${v} is outside the vocabulary of ${n} tokens`);
      return v;
    };
    this.bosId = id(spec.bosId, 'BOS id');
    this.eosId = id(spec.eosId, 'EOS id');
    this.eotId = id(spec.eotId, 'EOT id');
    this.addBos = spec.addBos;
    this.addEos = spec.addEos ?? false;
    if (this.addBos && this.bosId < 0) throw new FfnkitError('E_FORMAT', `${spec.source}: BOS is to be added but the vocabulary names no BOS token`);
    if (this.addEos && this.eosId < 0) throw new FfnkitError('E_FORMAT', `${spec.source}: EOS is to be added but the vocabulary names no EOS token`);
    this.lstrip = spec.lstrip ?? new Set();
    this.rstrip = spec.rstrip ?? new Set();
  }

  get vocabSize(): number {
    return this.texts.length;
  }

  /** Tokens that end generation: EOS and EOT (and BOS for SentencePiece, where run.c stops at it). */
  get eogIds(): number[] {
    return [...new Set([this.eosId, this.eotId].filter((i) => i >= 0))];
  }

  tokenText(id: number): string {
    return this.texts[this.checkId(id)]!;
  }

  /** Whether `id` is a control or unknown token (not shown when decoding unless asked). */
  isControl(id: number): boolean {
    const t = this.types[this.checkId(id)];
    return t === TokenType.control || t === TokenType.unknown;
  }

  specialId(text: string): number | undefined {
    if (!this.specials) {
      this.specials = new Map();
      this.texts.forEach((t, i) => {
        if (this.isSpecialType(i) && !this.specials!.has(t)) this.specials!.set(t, i);
      });
    }
    return this.specials.get(text);
  }

  protected isSpecialType(id: number): boolean {
    const t = this.types[id];
    return t === TokenType.control || t === TokenType.userDefined || t === TokenType.unknown;
  }

  protected checkId(id: number): number {
    if (!Number.isInteger(id) || id < 0 || id >= this.texts.length) {
      throw new FfnkitError('E_ARG', `token ${id} is outside the vocabulary of ${this.texts.length} (${this.source})`);
    }
    return id;
  }

  /** The text a special token is matched by in the input (its stored text, unless a subclass says otherwise). */
  protected specialText(id: number): string {
    return this.texts[id]!;
  }

  private matcher(parseSpecial: boolean): SpecialMatcher {
    const build = (types: number[]) => {
      const m = new SpecialMatcher();
      this.types.forEach((t, id) => {
        const text = this.specialText(id);
        if (types.includes(t) && text.length > 0) m.add(text, id);
      });
      return m;
    };
    if (parseSpecial) return (this.allMatcher ??= build([TokenType.userDefined, TokenType.control, TokenType.unknown]));
    return (this.userMatcher ??= build([TokenType.userDefined]));
  }

  /** `text` cut into plain text and special tokens. */
  private partition(text: string, parseSpecial: boolean): Fragment[] {
    const m = this.matcher(parseSpecial);
    if (m.empty) return text.length > 0 ? [text] : [];
    const out: Fragment[] = [];
    let plain = 0; // start of the text not yet given out
    for (let i = 0; i < text.length; ) {
      const found = m.match(text, i);
      if (!found) {
        i++;
        continue;
      }
      const [id, end] = found;
      let before = i;
      if (this.lstrip.has(id)) while (before > plain && IS_SPACE.test(text[before - 1]!)) before--;
      if (before > plain) out.push(text.slice(plain, before));
      out.push(id);
      i = end;
      if (this.rstrip.has(id)) while (i < text.length && IS_SPACE.test(text[i]!)) i++;
      plain = i;
    }
    if (plain < text.length) out.push(text.slice(plain));
    return out;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new FfnkitError('E_ARG', `text: expected a string, found ${typeof text}`);
    const { bos = this.addBos, eos = this.addEos, parseSpecial = false } = options;
    const ids: number[] = [];
    if (bos) {
      if (this.bosId < 0) throw new FfnkitError('E_ARG', `bos: ${this.source} has no BOS token`);
      ids.push(this.bosId);
    }
    let afterSpecial = true;
    for (const f of this.partition(text, parseSpecial)) {
      if (typeof f === 'number') {
        ids.push(f);
        afterSpecial = true;
      } else {
        this.encodeText(f, ids, afterSpecial);
        afterSpecial = false;
      }
    }
    if (eos) {
      if (this.eosId < 0) throw new FfnkitError('E_ARG', `eos: ${this.source} has no EOS token`);
      ids.push(this.eosId);
    }
    return ids;
  }

  /**
   * Appends the tokens of plain text (no special tokens in it) to `out`; `atStart` is true at the
   * start of the text and after a special token (where SentencePiece adds its dummy space).
   */
  protected abstract encodeText(text: string, out: number[], atStart: boolean): void;

  /** The bytes token `id` stands for after token `prev` (-1 at the start). */
  abstract pieceBytes(prev: number, id: number): Uint8Array;

  /** Whether decoding shows nothing for `id`: control tokens unless `special`, unused ones always (as llama.cpp's token_to_piece). */
  protected hidden(id: number, special: boolean): boolean {
    return this.types[id] === TokenType.unused || (!special && this.isControl(id));
  }

  decodeToken(id: number): Uint8Array {
    return this.pieceBytes(-1, id);
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const d = this.streamDecoder(options);
    let s = '';
    for (let i = 0; i < ids.length; i++) s += d.push(ids[i]!);
    return s + d.flush();
  }

  streamDecoder(options: DecodeOptions = {}): StreamDecoder {
    const special = options.special ?? false;
    const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
    let prev = -1;
    return {
      push: (id: number) => {
        this.checkId(id);
        const text = this.hidden(id, special) ? '' : utf8.decode(this.pieceBytes(prev, id), { stream: true });
        prev = id;
        return text;
      },
      flush: () => utf8.decode(),
    };
  }

  abstract vocabulary(): GgufVocabulary;
}
