// Defensive reading of untrusted bytes: every read checks that the bytes exist before touching
// them, and every failure is an FfnkitError (E_FORMAT) naming the file, the field and the offset.

import { FfnkitError } from '../errors.js';

/** Sizes are JavaScript numbers; anything past 2^53 cannot be a real size and is rejected. */
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export class ByteReader {
  readonly bytes: Uint8Array;
  /** File name (or other label) used in error messages. */
  readonly source: string;
  private readonly view: DataView;
  /** Current offset. */
  pos = 0;

  constructor(bytes: Uint8Array, source: string) {
    this.bytes = bytes;
    this.source = source;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.byteLength;
  }

  get remaining(): number {
    return this.bytes.byteLength - this.pos;
  }

  /** An E_FORMAT error about this file. */
  fail(message: string): FfnkitError {
    return new FfnkitError('E_FORMAT', `${this.source}: ${message}`);
  }

  /** Throws unless `n` bytes are available at `at` (default: the current offset). */
  need(n: number, what: string, at = this.pos): void {
    if (!Number.isSafeInteger(n) || n < 0 || at + n > this.bytes.byteLength) {
      throw this.fail(`${what}: needs ${n} bytes at offset ${at}, but the file has ${this.bytes.byteLength}`);
    }
  }

  /** Reads a fixed-size value at the current offset and moves past it. */
  private fixed<T>(size: number, what: string, get: (view: DataView, at: number) => T): T {
    this.need(size, what);
    const v = get(this.view, this.pos);
    this.pos += size;
    return v;
  }

  u8(what: string): number {
    return this.fixed(1, what, (d, at) => d.getUint8(at));
  }

  u16(what: string): number {
    return this.fixed(2, what, (d, at) => d.getUint16(at, true));
  }

  i16(what: string): number {
    return this.fixed(2, what, (d, at) => d.getInt16(at, true));
  }

  i32(what: string): number {
    return this.fixed(4, what, (d, at) => d.getInt32(at, true));
  }

  u32(what: string): number {
    return this.fixed(4, what, (d, at) => d.getUint32(at, true));
  }

  f32(what: string): number {
    return this.fixed(4, what, (d, at) => d.getFloat32(at, true));
  }

  f64(what: string): number {
    return this.fixed(8, what, (d, at) => d.getFloat64(at, true));
  }

  /** A u64 that must fit a JavaScript number (sizes, counts, offsets). */
  u64(what: string): number {
    const v = this.fixed(8, what, (d, at) => d.getBigUint64(at, true));
    if (v > BigInt(MAX_SAFE)) throw this.fail(`${what}: ${v} is too large`);
    return Number(v);
  }

  i64(what: string): number {
    const v = this.fixed(8, what, (d, at) => d.getBigInt64(at, true));
    if (v > BigInt(MAX_SAFE) || v < BigInt(-MAX_SAFE)) throw this.fail(`${what}: ${v} is out of range`);
    return Number(v);
  }

  /** `n` raw bytes (a view, not a copy). */
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** A UTF-8 string of `n` bytes, a leading byte-order mark kept (a token may start with one). Invalid UTF-8 is an error, not replacement characters. */
  utf8(n: number, what: string): string {
    const b = this.take(n, what);
    try {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(b);
    } catch {
      throw this.fail(`${what}: not valid UTF-8`);
    }
  }

  /** `count` little-endian float32 values starting at `at` (copied; any alignment). */
  f32s(count: number, what: string, at = this.pos): Float32Array {
    const bytes = count * 4;
    this.need(bytes, what, at);
    const start = this.bytes.byteOffset + at;
    const out = new Float32Array(count);
    if (start % 4 === 0) {
      out.set(new Float32Array(this.bytes.buffer, start, count));
    } else {
      new Uint8Array(out.buffer).set(this.bytes.subarray(at, at + bytes));
    }
    return out;
  }
}

/** A growable little-endian byte writer, for the GGUF, safetensors and llama2.c writers. */
export class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.reserve(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
    return this;
  }

  i32(v: number): this {
    this.reserve(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
    return this;
  }

  u32(v: number): this {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
    return this;
  }

  u64(v: number): this {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
    return this;
  }

  f32(v: number): this {
    this.reserve(4);
    this.view.setFloat32(this.length, v, true);
    this.length += 4;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }

  f32s(a: Float32Array): this {
    return this.bytes(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }

  /** Zero bytes up to a multiple of `align`. */
  pad(align: number): this {
    const n = (align - (this.length % align)) % align;
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
    return this;
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}
