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
import { ByteReader } from './bytes.js';
import type { GgufVocabulary } from './gguf.js';
import { BOS, EOS } from './tokenizer.js';
import { TokenType, VocabTokenizer } from './vocab.js';

/** Binary string (one char per byte) of UTF-8 bytes: an exact, cheap Map key for byte strings. */
function binary(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

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
  private readonly byteIds: Int32Array;
  private readonly addSpacePrefix: boolean;
  private readonly hasTypes: boolean;

  constructor(spec: SpmSpec) {
    const { pieces, scores, source } = spec;
    if (pieces.length !== scores.length) {
      throw new FfnkitError('E_FORMAT', `${source}: ${pieces.length} pieces but ${scores.length} scores`);
    }
    if (pieces.length < 3) throw new FfnkitError('E_FORMAT', `${source}: a vocabulary needs at least <unk>, BOS and EOS, found ${pieces.length} pieces`);
    const dec = new TextDecoder('utf-8');
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
    const dec = new TextDecoder('utf-8');
    return {
      pieces: this.pieces.map((p) => dec.decode(Uint8Array.from(p, (c) => c.charCodeAt(0)))),
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
    const utf8 = new TextEncoder().encode(text);
    const tokens: number[] = [];
    if (atStart && this.addSpacePrefix && utf8.length > 0) {
      const space = this.ids.get(' ');
      if (space === undefined) throw new FfnkitError('E_FORMAT', `${this.source}: the vocabulary has no ' ' piece for the dummy prefix`);
      tokens.push(space);
    }
    for (let i = 0; i < utf8.length; ) {
      // one UTF-8 character: a lead byte and its continuation bytes (at most 4 in all)
      let j = i + 1;
      while (j < utf8.length && (utf8[j]! & 0xc0) === 0x80 && j - i < 4) j++;
      const ch = utf8.subarray(i, j);
      const id = this.ids.get(binary(ch));
      if (id !== undefined) {
        tokens.push(id);
      } else {
        for (const b of ch) {
          const bid = this.byteIds[b]!;
          if (bid < 0) throw new FfnkitError('E_FORMAT', `${this.source}: no byte piece <0x${b.toString(16).toUpperCase()}> for byte fallback`);
          tokens.push(bid);
        }
      }
      i = j;
    }
    for (const id of this.merge(tokens)) out.push(id);
  }

  /** Applies BPE merges: repeatedly the best-scoring adjacent pair (leftmost on ties). */
  private merge(tokens: number[]): number[] {
    const n = tokens.length;
    const id = Int32Array.from(tokens);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    // heap entries: [score, left index, left id, right id, merged id]; best = highest score, then lowest index
    type Entry = [number, number, number, number, number];
    const heap: Entry[] = [];
    const better = (a: Entry, b: Entry) => a[0] > b[0] || (a[0] === b[0] && a[1] < b[1]);
    const push = (e: Entry) => {
      heap.push(e);
      let i = heap.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!better(heap[i]!, heap[p]!)) break;
        [heap[i], heap[p]] = [heap[p]!, heap[i]!];
        i = p;
      }
    };
    const pop = (): Entry => {
      const top = heap[0]!;
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && better(heap[l]!, heap[m]!)) m = l;
          if (r < heap.length && better(heap[r]!, heap[m]!)) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m]!, heap[i]!];
          i = m;
        }
      }
      return top;
    };
    const candidate = (i: number) => {
      const j = next[i]!;
      if (i < 0 || j < 0) return;
      const m = this.ids.get(this.piece(id[i]!) + this.piece(id[j]!));
      if (m !== undefined) push([this.scores[m]!, i, id[i]!, id[j]!, m]);
    };
    for (let i = 0; i < n - 1; i++) candidate(i);
    while (heap.length > 0) {
      const [, i, left, right, m] = pop();
      const j = next[i]!;
      // stale: a neighbour changed since this pair was queued
      if (!alive[i] || j < 0 || id[i] !== left || id[j] !== right) continue;
      id[i] = m;
      alive[j] = 0;
      next[i] = next[j]!;
      if (next[j]! >= 0) prev[next[j]!] = i;
      if (prev[i]! >= 0) candidate(prev[i]!);
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
