// BPE with ranked merges: GPT-2's byte-level BPE (GGUF `tokenizer.ggml.model = gpt2`, and
// tokenizer.json files with a ByteLevel pre-tokenizer, as Llama 3 and Qwen), and SentencePiece-
// style BPE over characters with byte fallback (tokenizer.json files as Gemma's).
//
// encode: the pre-tokenizer cuts the text into words; each word (in the vocabulary's alphabet:
// byte-level characters, one per UTF-8 byte, or the characters themselves) starts as one symbol
// per character and merges the adjacent pair of lowest rank (the leftmost on ties) until no pair
// has a merge, as Hugging Face's and llama.cpp's BPE do. With ignore_merges (Llama 3) a word that
// is itself a token is that token. Words repeat, so their tokens are cached.

import { FfnkitError } from '../errors.js';
import { binaryBytes, fromByteLevel, toByteLevel, utf8Binary } from './byte-level.js';
import type { GgufVocabulary } from './gguf.js';
import type { PreTokenizer } from './pretokenize.js';
import { TokenType, VocabTokenizer, type VocabSpec } from './vocab.js';

/** An open-addressing hash table from a pair of token ids to a merge rank. */
class PairTable {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly rank: Int32Array;
  private readonly mask: number;

  constructor(entries: number) {
    let size = 16;
    while (size < entries * 2) size *= 2;
    this.left = new Int32Array(size).fill(-1);
    this.right = new Int32Array(size);
    this.rank = new Int32Array(size);
    this.mask = size - 1;
  }

  private slot(a: number, b: number): number {
    let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b)) & this.mask;
    while (this.left[h] !== -1 && (this.left[h] !== a || this.right[h] !== b)) h = (h + 1) & this.mask;
    return h;
  }

  /** Sets the rank of (a, b) unless it has one (the first merge of a pair wins). */
  add(a: number, b: number, rank: number): void {
    const h = this.slot(a, b);
    if (this.left[h] !== -1) return;
    this.left[h] = a;
    this.right[h] = b;
    this.rank[h] = rank;
  }

  /** The rank of (a, b), or -1. */
  get(a: number, b: number): number {
    const h = this.slot(a, b);
    return this.left[h] === -1 ? -1 : this.rank[h]!;
  }
}

export interface BpeSpec extends VocabSpec {
  /** Merges in rank order, each as the texts of its two tokens. */
  merges: readonly (readonly [string, string])[];
  /** GPT-2's byte-level alphabet (else the characters themselves, '▁' for spaces). */
  byteLevel: boolean;
  /** Characters outside the vocabulary become their <0xXX> byte tokens. */
  byteFallback?: boolean;
  /** The unknown token, for characters outside the vocabulary (-1 if none). */
  unkId?: number;
  /** Consecutive unknown characters become one unknown token. */
  fuseUnk?: boolean;
  /** A word that is itself a token is not merged. */
  ignoreMerges: boolean;
  /** Cuts text into words (none: the whole text is one word). */
  preTokenizer?: PreTokenizer;
  /** Applied to each piece of plain text before the pre-tokenizer (tokenizer.json's normalizer). */
  normalize?: (text: string) => string;
  /** Decoding drops the space that starts the text (tokenizer.json's Strip decoder). */
  stripLeadingSpace?: boolean;
  /** The GGUF `tokenizer.ggml.pre` name this pre-tokenizer has, for writing GGUF (byte-level only). */
  preName?: string;
  /**
   * A SentencePiece-style vocabulary's text handling, for writing GGUF's SentencePiece model:
   * spaces as '▁' with a dummy prefix or without, nothing cut before merging; or why its
   * normalizer, pre-tokenizer or added tokens say something else.
   */
  sentencePiece?: { addSpacePrefix: boolean } | { unlike: string };
}

/** Words longer than this are not cached (a SentencePiece-style text is one long word). */
const CACHED_WORD = 256;
/** The cache starts afresh past this many words. */
const CACHE_WORDS = 1 << 16;
/** Words with more symbols than this merge through a heap; shorter ones by rescanning. */
const HEAP_SYMBOLS = 48;

export class BpeTokenizer extends VocabTokenizer {
  readonly kind = 'bpe';
  private readonly idOf = new Map<string, number>();
  private readonly pairs: PairTable;
  /** The merged token of each rank. */
  private readonly mergeResult: Int32Array;
  /** Each token's bytes as a binary string (one char per byte). */
  private readonly bytesOf: string[];
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly cache = new Map<string, number[]>();
  private readonly spec: BpeSpec;

  constructor(spec: BpeSpec) {
    super(spec);
    this.spec = spec;
    const { texts, source } = spec;
    const special = (id: number) => this.isSpecialType(id);
    texts.forEach((t, id) => {
      const other = this.idOf.get(t);
      if (other !== undefined) throw new FfnkitError('E_FORMAT', `${source}: token ${JSON.stringify(t)} is both id ${other} and id ${id}`);
      this.idOf.set(t, id);
    });
    this.bytesOf = texts.map((t, id) => {
      // added tokens are their own text (llama.cpp), '▁' read as a space in a SentencePiece-style vocabulary (Hugging Face's decoder)
      if (special(id)) return utf8Binary(spec.byteLevel ? t : t.replaceAll('\u2581', ' '));
      if (spec.byteLevel) {
        const b = fromByteLevel(t);
        if (b === undefined) throw new FfnkitError('E_FORMAT', `${source}: token ${id} ${JSON.stringify(t)} has a character outside the byte-level alphabet`);
        return b;
      }
      const hex = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
      if (hex && (spec.types[id] === TokenType.byte || spec.byteFallback)) return String.fromCharCode(parseInt(hex[1]!, 16));
      return utf8Binary(t.replaceAll('\u2581', ' '));
    });
    // byte fallback's <0xXX> tokens (a byte-level vocabulary's bytes are its characters)
    if (!spec.byteLevel) for (let b = 0; b < 256; b++) this.byteIds[b] = this.idOf.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`) ?? -1;
    this.pairs = new PairTable(spec.merges.length);
    this.mergeResult = new Int32Array(spec.merges.length);
    spec.merges.forEach(([a, b], rank) => {
      const left = this.idOf.get(a);
      const right = this.idOf.get(b);
      const merged = this.idOf.get(a + b);
      const missing = left === undefined ? a : right === undefined ? b : merged === undefined ? a + b : undefined;
      if (missing !== undefined) {
        throw new FfnkitError('E_FORMAT', `${source}: merge ${rank} (${JSON.stringify(a)} ${JSON.stringify(b)}) names ${JSON.stringify(missing)}, which is not in the vocabulary`);
      }
      this.pairs.add(left!, right!, rank);
      this.mergeResult[rank] = merged!;
    });
  }

  vocabulary(): GgufVocabulary {
    const { byteLevel, preName, merges } = this.spec;
    if (!byteLevel) return this.sentencePieceVocabulary();
    if (preName === undefined) {
      throw new FfnkitError('E_UNSUPPORTED', `${this.source}: this BPE vocabulary (a pre-tokenizer GGUF has no name for) cannot be written as GGUF`);
    }
    return {
      model: 'gpt2',
      pre: preName,
      pieces: this.texts.slice(),
      types: Array.from(this.types),
      merges: merges.map(([a, b]) => `${a} ${b}`),
      bosId: this.bosId,
      eosId: this.eosId,
      ...(this.eotId >= 0 ? { eotId: this.eotId } : {}),
      addBos: this.addBos,
      addEos: this.addEos,
    };
  }

  /**
   * A SentencePiece-style vocabulary (Gemma's) as GGUF's SentencePiece model ('llama'), as
   * llama.cpp's converter writes Gemma: each token scored by its first merge (-rank, so the
   * highest-score-first merging of llama.cpp's SentencePiece tokenizer joins pairs in BPE's rank
   * order), byte tokens typed byte, the unknown token unknown, other tokens scored 0 (they are
   * never a merge's result). Refused where that tokenizer would cut differently: text split
   * before merging, no byte fallback, or a token that two tokens spell but no merge joins (llama.cpp
   * joins any pair whose text is a token).
   */
  private sentencePieceVocabulary(): GgufVocabulary {
    const { sentencePiece, byteFallback, ignoreMerges, unkId = -1 } = this.spec;
    const refuse = (why: string) => new FfnkitError('E_UNSUPPORTED', `${this.source}: this SentencePiece-style vocabulary cannot be written as GGUF: ${why}`);
    if (!sentencePiece || 'unlike' in sentencePiece) throw refuse(sentencePiece?.unlike ?? 'it says nothing of its text handling');
    if (!byteFallback) throw refuse('it has no byte fallback (llama.cpp\'s SentencePiece tokenizer falls back to byte tokens)');
    if (ignoreMerges) throw refuse('ignore_merges is set');
    const n = this.texts.length;
    const types = Uint8Array.from(this.types);
    this.texts.forEach((t, id) => {
      if (types[id] === TokenType.normal && /^<0x[0-9A-F]{2}>$/.test(t)) types[id] = TokenType.byte;
    });
    if (unkId >= 0) types[unkId] = TokenType.unknown;
    const scores = new Array<number>(n).fill(0);
    const made = new Uint8Array(n);
    this.mergeResult.forEach((id, rank) => {
      if (made[id]) return;
      made[id] = 1;
      scores[id] = -rank;
    });
    this.texts.forEach((t, id) => {
      if (t.includes(' ')) throw refuse(`token ${id} ${JSON.stringify(t)} holds a space, which GGUF's SentencePiece model writes as '\u2581'`);
      if (types[id] !== TokenType.normal) return;
      for (let i = 1; i < t.length; i++) {
        const a = this.idOf.get(t.slice(0, i));
        const b = a === undefined ? undefined : this.idOf.get(t.slice(i));
        if (b !== undefined && this.pairs.get(a!, b) < 0) {
          throw refuse(`token ${id} ${JSON.stringify(t)} is ${JSON.stringify(t.slice(0, i))} + ${JSON.stringify(t.slice(i))}, which no merge joins`);
        }
      }
    });
    return {
      model: 'llama',
      pieces: this.texts.map((t) => t.replaceAll('\u2581', ' ')),
      scores,
      types: Array.from(types),
      bosId: this.bosId,
      eosId: this.eosId,
      ...(this.eotId >= 0 ? { eotId: this.eotId } : {}),
      ...(unkId >= 0 ? { unkId } : {}),
      addBos: this.addBos,
      addEos: this.addEos,
      addSpacePrefix: sentencePiece.addSpacePrefix,
    };
  }

  protected encodeText(text: string, out: number[]): void {
    const { normalize, preTokenizer } = this.spec;
    const normal = normalize ? normalize(text) : text;
    const words = preTokenizer ? preTokenizer.split(normal) : [normal];
    for (const w of words) {
      let ids = this.cache.get(w);
      if (ids === undefined) {
        ids = this.encodeWord(w);
        if (w.length <= CACHED_WORD) {
          if (this.cache.size >= CACHE_WORDS) this.cache.clear();
          this.cache.set(w, ids);
        }
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
    }
  }

  /** The tokens of one word. */
  private encodeWord(word: string): number[] {
    const key = this.spec.byteLevel ? toByteLevel(utf8Binary(word)) : word;
    if (this.spec.ignoreMerges) {
      const id = this.idOf.get(key);
      if (id !== undefined) return [id];
    }
    const symbols = this.symbols(key);
    if (symbols.length < 2) return symbols;
    return symbols.length > HEAP_SYMBOLS ? this.mergeHeap(symbols) : this.mergeScan(symbols);
  }

  /** One token per character of `key` (byte tokens or the unknown token for characters outside the vocabulary). */
  private symbols(key: string): number[] {
    const { byteFallback, unkId = -1, fuseUnk } = this.spec;
    const out: number[] = [];
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      const wide = c >= 0xd800 && c <= 0xdbff && i + 1 < key.length;
      const ch = wide ? key.slice(i, i + 2) : key[i]!;
      if (wide) i++;
      const id = this.idOf.get(ch);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      if (byteFallback) {
        const bytes = utf8Binary(ch);
        const ids = Array.from(bytes, (b) => this.byteIds[b.charCodeAt(0)]!);
        if (ids.every((b) => b >= 0)) {
          out.push(...ids);
          continue;
        }
      }
      if (unkId < 0) {
        throw new FfnkitError('E_UNSUPPORTED', `${this.source}: the character ${JSON.stringify(ch)} is not in the vocabulary, which has no unknown token`);
      }
      if (!(fuseUnk && out[out.length - 1] === unkId)) out.push(unkId);
    }
    return out;
  }

  /** Merges by rescanning for the lowest-ranked pair: fastest for the short words most text has. */
  private mergeScan(s: number[]): number[] {
    for (;;) {
      let best = 0x7fffffff;
      let at = -1;
      for (let i = 0; i + 1 < s.length; i++) {
        const r = this.pairs.get(s[i]!, s[i + 1]!);
        if (r >= 0 && r < best) {
          best = r;
          at = i;
        }
      }
      if (at < 0) return s;
      s[at] = this.mergeResult[best]!;
      s.splice(at + 1, 1);
    }
  }

  /** Merges through a heap of candidate pairs over a linked list, in n log n for long words. */
  private mergeHeap(symbols: number[]): number[] {
    const n = symbols.length;
    const id = Int32Array.from(symbols);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    // a min-heap of (rank, left position), packed into one float64: rank * n + position
    const heap: number[] = [];
    const push = (v: number) => {
      let i = heap.length;
      heap.push(v);
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (heap[p]! <= v) break;
        heap[i] = heap[p]!;
        i = p;
      }
      heap[i] = v;
    };
    const pop = (): number => {
      const top = heap[0]!;
      const last = heap.pop()!;
      if (heap.length > 0) {
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= heap.length) break;
          const c = l + 1 < heap.length && heap[l + 1]! < heap[l]! ? l + 1 : l;
          if (heap[c]! >= last) break;
          heap[i] = heap[c]!;
          i = c;
        }
        heap[i] = last;
      }
      return top;
    };
    const candidate = (i: number) => {
      if (i < 0 || next[i]! < 0) return;
      const r = this.pairs.get(id[i]!, id[next[i]!]!);
      if (r >= 0) push(r * n + i);
    };
    for (let i = 0; i + 1 < n; i++) candidate(i);
    while (heap.length > 0) {
      const v = pop();
      const i = v % n;
      const r = (v - i) / n;
      const j = next[i]!;
      // stale: this symbol was merged away, or a neighbour changed since the pair was queued
      if (id[i]! < 0 || j < 0 || this.pairs.get(id[i]!, id[j]!) !== r) continue;
      id[i] = this.mergeResult[r]!;
      id[j] = -1;
      next[i] = next[j]!;
      if (next[j]! >= 0) prev[next[j]!] = i;
      candidate(prev[i]!);
      candidate(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(id[i]!);
    return out;
  }

  pieceBytes(prev: number, id: number): Uint8Array {
    let b = this.bytesOf[this.checkId(id)]!;
    if (this.spec.stripLeadingSpace && (prev < 0 || prev === this.bosId) && b.charCodeAt(0) === 0x20) b = b.slice(1);
    return binaryBytes(b);
  }
}
