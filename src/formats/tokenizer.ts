// SentencePiece-BPE tokenization as llama2.c's run.c does it, on a vocabulary from a llama2.c
// `tokenizer.bin` or from GGUF metadata.
//
// encode: optional BOS, a dummy-prefix " " token when the text is not empty, one token per UTF-8
// character where the vocabulary has it (else one byte token per byte, <0xXX>), then repeatedly
// merge the adjacent pair whose concatenation is in the vocabulary with the highest score (the
// leftmost on ties) until none is. run.c rescans the whole sequence for every merge (quadratic);
// this does the same merges with a heap over candidate pairs and a linked list, in n log n.
// decode: a piece after BOS drops its leading space; <0xXX> pieces are raw bytes; a streaming
// decoder emits only complete UTF-8 characters.

import { FfnkitError } from '../errors.js';
import { type ByteSource, readBytes, sourceName } from '../runtime/io.js';
import { ByteReader } from './bytes.js';

export const BOS = 1;
export const EOS = 2;

/** Binary string (one char per byte) of UTF-8 bytes: an exact, cheap Map key for byte strings. */
function binary(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

export interface EncodeOptions {
  /** Prepend BOS (id 1). Default true. */
  bos?: boolean;
  /** Append EOS (id 2). Default false. */
  eos?: boolean;
}

export class Tokenizer {
  /** Each piece as a binary string (one char per byte). */
  private readonly pieces: string[];
  private readonly scores: Float32Array;
  private readonly ids = new Map<string, number>();
  private readonly byteIds: Int32Array;
  /** Where the vocabulary came from, for error messages. */
  readonly source: string;

  /**
   * @param pieces UTF-8 bytes of each piece, spaces as ' ' (not SentencePiece's '▁')
   * @param scores merge priority of each piece
   * @param mergeable false for pieces that text must never turn into (control tokens)
   */
  constructor(pieces: Uint8Array[], scores: ArrayLike<number>, source: string, mergeable?: (id: number) => boolean) {
    if (pieces.length !== scores.length) {
      throw new FfnkitError('E_FORMAT', `${source}: ${pieces.length} pieces but ${scores.length} scores`);
    }
    if (pieces.length < 3) throw new FfnkitError('E_FORMAT', `${source}: a vocabulary needs at least <unk>, BOS and EOS, found ${pieces.length} pieces`);
    this.source = source;
    this.pieces = pieces.map(binary);
    this.scores = Float32Array.from(scores);
    this.pieces.forEach((p, id) => {
      if ((mergeable?.(id) ?? true) && !this.ids.has(p)) this.ids.set(p, id);
    });
    this.byteIds = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      const hex = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      const id = this.pieces.indexOf(hex);
      this.byteIds[b] = id >= 0 ? id : b + 3 < pieces.length ? b + 3 : -1;
    }
  }

  /**
   * Loads a vocabulary from a llama2.c `tokenizer.bin` or from a GGUF file's metadata, given as a
   * path or URL, bytes, a Response or a File.
   */
  static async load(source: ByteSource): Promise<Tokenizer> {
    const bytes = await readBytes(source, 'tokenizer');
    const name = sourceName(source);
    if (String.fromCharCode(...bytes.subarray(0, 4)) === 'GGUF') {
      const { parseGguf, ggufTokenizer } = await import('./gguf.js');
      return ggufTokenizer(parseGguf(bytes, name), name);
    }
    return Tokenizer.fromLlama2c(bytes, name);
  }

  /** Reads a llama2.c `tokenizer.bin`: i32 max_token_length, then per piece f32 score, i32 length, bytes. */
  static fromLlama2c(bytes: Uint8Array, source = 'tokenizer.bin'): Tokenizer {
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
    return new Tokenizer(pieces, scores, source);
  }

  /** The pieces (as text, spaces as ' ') and scores, for writing the vocabulary elsewhere. */
  vocabulary(): { pieces: string[]; scores: number[] } {
    const dec = new TextDecoder('utf-8');
    return {
      pieces: this.pieces.map((p) => dec.decode(Uint8Array.from(p, (c) => c.charCodeAt(0)))),
      scores: Array.from(this.scores),
    };
  }

  /** Number of pieces. */
  get vocabSize(): number {
    return this.pieces.length;
  }

  /** The bytes of piece `id` as a binary string. */
  private piece(id: number): string {
    const p = this.pieces[id];
    if (p === undefined) throw new FfnkitError('E_ARG', `token ${id} is outside the vocabulary of ${this.pieces.length} (${this.source})`);
    return p;
  }

  /** Token ids of `text`, as llama2.c's encode. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const { bos = true, eos = false } = options;
    if (typeof text !== 'string') throw new FfnkitError('E_ARG', `text: expected a string, found ${typeof text}`);
    const tokens: number[] = [];
    if (bos) tokens.push(BOS);
    const utf8 = new TextEncoder().encode(text);
    if (utf8.length > 0) {
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
    const merged = this.merge(tokens);
    if (eos) merged.push(EOS);
    return merged;
  }

  /**
   * Applies BPE merges: repeatedly the best-scoring adjacent pair (leftmost on ties). BOS takes
   * part like any token, as in run.c (no vocabulary has a piece that starts with it).
   */
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
    if (prev === BOS && p.charCodeAt(0) === 0x20) p = p.slice(1);
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p);
    if (m) return Uint8Array.of(parseInt(m[1]!, 16));
    return Uint8Array.from(p, (c) => c.charCodeAt(0));
  }

  /** Text of a whole id sequence (BOS/EOS contribute nothing). */
  decode(ids: ArrayLike<number>): string {
    const d = this.streamDecoder();
    let s = '';
    for (let i = 0; i < ids.length; i++) s += d.push(ids[i]!);
    return s + d.flush();
  }

  /**
   * A decoder for tokens arriving one at a time: `push` returns the text that is complete so far
   * (a character split across byte tokens comes out whole, once its last byte arrives).
   */
  streamDecoder(): { push: (id: number) => string; flush: () => string } {
    const utf8 = new TextDecoder('utf-8');
    let prev = -1;
    return {
      push: (id: number) => {
        const text = id === BOS || id === EOS ? '' : utf8.decode(this.pieceBytes(prev, id), { stream: true });
        prev = id;
        return text;
      },
      flush: () => utf8.decode(),
    };
  }
}
