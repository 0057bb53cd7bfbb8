// SentencePiece-BPE tokenization as llama2.c's run.c and llama.cpp's SPM tokenizer do it, on a
// vocabulary from a llama2.c `tokenizer.bin` or from GGUF metadata (`tokenizer.ggml.model =
// llama`).
//
// encode: a dummy-prefix " " at the start of the text and after a special token, one token per
// UTF-8 character where the vocabulary has it (else one byte token per byte, <0xXX>), then
// repeatedly merge the adjacent pair whose concatenation is in the vocabulary with the highest
// score (the leftmost on ties) until none is. run.c rescans the whole sequence for every merge
// (quadratic); this does the same merges with a heap over candidate pairs and a linked list, in
// n log n. decode: a piece after BOS drops its leading space; <0xXX> pieces are raw bytes.

import { FfnkitError } from '../errors.js';
import { utf8Binary } from './byte-level.js';
import { ByteReader } from './bytes.js';
import type { GgufVocabulary } from './gguf.js';
import { TokenType, VocabTokenizer } from './vocab.js';

/** Binary string (one char per byte) of UTF-8 bytes: an exact, cheap Map key for byte strings. */
function binary(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/** llama2.c's BOS and EOS ids (those of the Llama 2 SentencePiece vocabularies). */
export const BOS = 1;
export const EOS = 2;

/** The pair memo starts afresh past this many pairs. */
const PAIR_MEMO = 1 << 20;

export interface SpmSpec {
  source: string;
  /** UTF-8 bytes of each piece, spaces as ' ' (not SentencePiece's '▁'). */
  pieces: Uint8Array[];
  /** Merge priority of each piece. */
  scores: ArrayLike<number>;
  /** Each piece's text as stored (default: the pieces decoded). */
  texts?: string[];
  /** GGUF token types; without them every piece takes part in merges and only BOS/EOS are control. */
  types?: Uint8Array;
  bosId?: number;
  eosId?: number;
  eotId?: number;
  addBos?: boolean;
  addEos?: boolean;
  /** Prefix a space to the text (SentencePiece's add_dummy_prefix). Default true. */
  addSpacePrefix?: boolean;
  rstrip?: ReadonlySet<number>;
}

export class SpmTokenizer extends VocabTokenizer {
  readonly kind = 'spm';
  /** Each piece as a binary string (one char per byte). */
  private readonly pieces: string[];
  private readonly scores: Float32Array;
  private readonly ids = new Map<string, number>();
  /** The tokens of each character met so far. */
  private readonly charTokens = new Map<string, number[]>();
  /** The merged piece of each pair of ids met so far (-1: none). */
  private readonly pairs = new Map<number, number>();
  private readonly byteIds: Int32Array;
  private readonly addSpacePrefix: boolean;
  private readonly hasTypes: boolean;

  constructor(spec: SpmSpec) {
    const { pieces, scores, source } = spec;
    if (pieces.length !== scores.length) {
      throw new FfnkitError('E_FORMAT', `${source}: ${pieces.length} pieces but ${scores.length} scores`);
    }
    if (pieces.length < 3) throw new FfnkitError('E_FORMAT', `${source}: a vocabulary needs at least <unk>, BOS and EOS, found ${pieces.length} pieces`);
    const dec = new TextDecoder('utf-8', { ignoreBOM: true });
    super({
      source,
      texts: spec.texts ?? pieces.map((p) => dec.decode(p)),
      types: spec.types ?? new Uint8Array(pieces.length).fill(TokenType.normal),
      bosId: spec.bosId ?? BOS,
      eosId: spec.eosId ?? EOS,
      eotId: spec.eotId ?? -1,
      addBos: spec.addBos ?? true,
      addEos: spec.addEos ?? false,
      ...(spec.rstrip ? { rstrip: spec.rstrip } : {}),
    });
    this.hasTypes = spec.types !== undefined;
    this.addSpacePrefix = spec.addSpacePrefix ?? true;
    this.pieces = pieces.map(binary);
    this.scores = Float32Array.from(scores);
    // control and unknown pieces are never made from text (run.c, without types, merges into any piece)
    this.pieces.forEach((p, id) => {
      if (!(this.hasTypes && super.isControl(id)) && !this.ids.has(p)) this.ids.set(p, id);
    });
    this.byteIds = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      const hex = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      const id = this.pieces.indexOf(hex);
      this.byteIds[b] = id >= 0 ? id : b + 3 < pieces.length ? b + 3 : -1;
    }
  }

  /** Reads a llama2.c `tokenizer.bin`: i32 max_token_length, then per piece f32 score, i32 length, bytes. */
  static fromLlama2c(bytes: Uint8Array, source = 'tokenizer.bin'): SpmTokenizer {
    const r = new ByteReader(bytes, source);
    const maxLen = r.i32('max_token_length');
    if (maxLen < 1 || maxLen > 1 << 16) throw r.fail(`max_token_length ${maxLen} is not plausible`);
    const pieces: Uint8Array[] = [];
    const scores: number[] = [];
    while (r.remaining > 0) {
      const i = pieces.length;
      scores.push(r.f32(`score of piece ${i}`));
      const len = r.i32(`length of piece ${i}`);
      if (len < 0 || len > maxLen) throw r.fail(`piece ${i}: length ${len} outside 0..${maxLen}`);
      pieces.push(r.take(len, `piece ${i}`).slice());
    }
    return new SpmTokenizer({ pieces, scores, source });
  }

  override isControl(id: number): boolean {
    // a llama2.c vocabulary has no types: BOS and EOS are its control tokens
    return this.hasTypes ? super.isControl(id) : id === this.bosId || id === this.eosId;
  }

  override get eogIds(): number[] {
    // run.c stops at BOS too
    return [...new Set([this.bosId, this.eosId, this.eotId].filter((i) => i >= 0))];
  }

  vocabulary(): GgufVocabulary {
    const dec = new TextDecoder('utf-8', { ignoreBOM: true });
    return {
      // user-defined tokens as stored: the writer writes them as they are
      pieces: this.pieces.map((p, id) => (this.hasTypes && this.types[id] === TokenType.userDefined ? this.texts[id]! : dec.decode(Uint8Array.from(p, (c) => c.charCodeAt(0))))),
      scores: Array.from(this.scores),
      ...(this.hasTypes ? { types: Array.from(this.types) } : {}),
      bosId: this.bosId,
      eosId: this.eosId,
      ...(this.eotId >= 0 ? { eotId: this.eotId } : {}),
      addBos: this.addBos,
      addEos: this.addEos,
      ...(this.addSpacePrefix ? {} : { addSpacePrefix: false }),
    };
  }

  /** The bytes of piece `id` as a binary string. */
  private piece(id: number): string {
    return this.pieces[this.checkId(id)]!;
  }

  protected encodeText(text: string, out: number[], atStart: boolean): void {
    const tokens: number[] = [];
    if (atStart && this.addSpacePrefix && text.length > 0) {
      const space = this.ids.get(' ');
      if (space === undefined) throw new FfnkitError('E_FORMAT', `${this.source}: the vocabulary has no ' ' piece for the dummy prefix`);
      tokens.push(space);
    }
    for (let i = 0; i < text.length; i++) {
      // one character (a surrogate pair is one); its piece, else one byte piece per UTF-8 byte
      const c = text.charCodeAt(i);
      const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      const ch = pair ? text.slice(i, ++i + 1) : text[i]!;
      let ids = this.charTokens.get(ch);
      if (ids === undefined) {
        ids = this.charPieces(ch);
        if (this.charTokens.size >= PAIR_MEMO) this.charTokens.clear();
        this.charTokens.set(ch, ids);
      }
      for (let k = 0; k < ids.length; k++) tokens.push(ids[k]!);
    }
    for (const id of this.merge(tokens)) out.push(id);
  }

  /** The piece of one character, or its byte pieces. */
  private charPieces(ch: string): number[] {
    const bytes = utf8Binary(ch);
    const id = this.ids.get(bytes);
    if (id !== undefined) return [id];
    return Array.from(bytes, (c) => {
      const b = c.charCodeAt(0);
      const bid = this.byteIds[b]!;
      if (bid < 0) throw new FfnkitError('E_FORMAT', `${this.source}: no byte piece <0x${b.toString(16).toUpperCase()}> for byte fallback`);
      return bid;
    });
  }

  /** The piece two pieces make together (-1 if none), memoized per pair of ids. */
  private merged(a: number, b: number): number {
    const key = a * this.pieces.length + b;
    let m = this.pairs.get(key);
    if (m === undefined) {
      m = this.ids.get(this.pieces[a]! + this.pieces[b]!) ?? -1;
      if (this.pairs.size >= PAIR_MEMO) this.pairs.clear();
      this.pairs.set(key, m);
    }
    return m;
  }

  /**
   * Applies BPE merges: repeatedly the best-scoring adjacent pair (leftmost on ties), through a
   * heap of candidate pairs (score, left position, merged piece) over a linked list.
   */
  private merge(tokens: number[]): number[] {
    const n = tokens.length;
    const id = Int32Array.from(tokens);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    // the heap as three parallel arrays; best = highest score, then lowest position
    const score: number[] = [];
    const pos: number[] = [];
    const made: number[] = [];
    const better = (a: number, b: number) => score[a]! > score[b]! || (score[a] === score[b] && pos[a]! < pos[b]!);
    const swap = (a: number, b: number) => {
      const s = score[a]!;
      score[a] = score[b]!;
      score[b] = s;
      const p = pos[a]!;
      pos[a] = pos[b]!;
      pos[b] = p;
      const m = made[a]!;
      made[a] = made[b]!;
      made[b] = m;
    };
    const push = (sc: number, at: number, m: number) => {
      let i = score.length;
      score.push(sc);
      pos.push(at);
      made.push(m);
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!better(i, p)) break;
        swap(i, p);
        i = p;
      }
    };
    const pop = () => {
      const last = score.length - 1;
      swap(0, last);
      score.pop();
      pos.pop();
      made.pop();
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < score.length && better(l, m)) m = l;
        if (r < score.length && better(r, m)) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    };
    const candidate = (i: number) => {
      if (i < 0 || next[i]! < 0) return;
      const m = this.merged(id[i]!, id[next[i]!]!);
      if (m >= 0) push(this.scores[m]!, i, m);
    };
    for (let i = 0; i < n - 1; i++) candidate(i);
    while (score.length > 0) {
      const i = pos[0]!;
      const m = made[0]!;
      pop();
      const j = i >= 0 ? next[i]! : -1;
      // stale: this position was merged away, or its pair no longer makes this piece
      if (id[i]! < 0 || j < 0 || this.merged(id[i]!, id[j]!) !== m) continue;
      id[i] = m;
      id[j] = -1;
      next[i] = next[j]!;
      if (next[j]! >= 0) prev[next[j]!] = i;
      candidate(prev[i]!);
      candidate(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0 && i < n; i = next[i]!) out.push(id[i]!);
    return out;
  }

  /** The bytes that token `id` stands for after token `prev`, as run.c's decode. */
  pieceBytes(prev: number, id: number): Uint8Array {
    let p = this.piece(id);
    if (prev === this.bosId && p.charCodeAt(0) === 0x20) p = p.slice(1);
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p);
    if (m) return Uint8Array.of(parseInt(m[1]!, 16));
    return Uint8Array.from(p, (c) => c.charCodeAt(0));
  }
}
