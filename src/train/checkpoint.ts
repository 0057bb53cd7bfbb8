// Fine-tuning checkpoints: everything a run needs to continue bit-for-bit — the step reached, the
// trainable tensors, each one's AdamW moments and step count — plus the fingerprint of the model
// it started from and the options that shape the run, so a resume from another model or with
// other settings is refused instead of silently diverging.
//
// File layout: "FFNKCKPT" (8 bytes), u32 little-endian length of a UTF-8 JSON header, the header,
// zero padding to a multiple of 8, then the tensors' bytes back to back (each at a multiple of 8):
// per trainable tensor its float32 values, then its float64 m and v.

import { FfnkitError } from '../errors.js';
import type { LlamaWeights } from '../model/weights.js';
import { namedTensors } from './params.js';

const MAGIC = 'FFNKCKPT';

export interface CheckpointTensor {
  name: string;
  data: Float32Array;
  m: Float64Array;
  v: Float64Array;
  /** AdamW step count of this tensor's optimizer. */
  t: number;
}

export interface Checkpoint {
  /** Optimizer steps completed. */
  step: number;
  /** `modelFingerprint` of the weights the run started from. */
  model: string;
  /** The run's shaping options (see finetune.ts); a resume must match them. */
  options: Record<string, unknown>;
  tensors: CheckpointTensor[];
}

/**
 * A short hash of a model's shape and values (FNV-1a over the config, every tensor's name and
 * length, and up to 4096 evenly spaced values of each): tells two models apart without reading
 * gigabytes twice.
 */
export function modelFingerprint(w: LlamaWeights): string {
  const h = new Fnv();
  for (const ch of JSON.stringify(w.config)) h.mix(ch.charCodeAt(0));
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  // the RoPE factors are constants of the model, not trained, but another set is another model
  const tensors: [string, Float32Array][] = [...namedTensors(w), ...(w.ropeFactors ? [['rope_freqs', w.ropeFactors] as [string, Float32Array]] : [])];
  for (const [name, a] of tensors) {
    for (const ch of name) h.mix(ch.charCodeAt(0));
    h.mix(a.length);
    const stride = Math.max(1, Math.floor(a.length / 4096));
    for (let i = 0; i < a.length; i += stride) {
      f[0] = a[i]!;
      h.mix(bits[0]!);
    }
  }
  return h.hex();
}

/** A short hash of a token stream (FNV-1a over its length and every id): the training text a checkpoint saw. */
export function tokensFingerprint(ids: ArrayLike<number>): string {
  const h = new Fnv();
  h.mix(ids.length);
  for (let i = 0; i < ids.length; i++) h.mix(ids[i]!);
  return h.hex();
}

/** FNV-1a over 32-bit words, byte by byte. */
class Fnv {
  private h = 0x811c9dc5;

  mix(x: number): void {
    for (let shift = 0; shift < 32; shift += 8) {
      this.h ^= (x >>> shift) & 0xff;
      this.h = Math.imul(this.h, 0x01000193);
    }
  }

  hex(): string {
    return (this.h >>> 0).toString(16).padStart(8, '0');
  }
}

const pad8 = (n: number) => (n + 7) & ~7;

/** The checkpoint as file bytes. */
export function encodeCheckpoint(c: Checkpoint): Uint8Array {
  const layout: { name: string; length: number; t: number }[] = c.tensors.map((t) => ({ name: t.name, length: t.data.length, t: t.t }));
  const header = new TextEncoder().encode(JSON.stringify({ format: 'ffnkit-checkpoint', version: 1, step: c.step, model: c.model, options: c.options, tensors: layout }));
  let size = pad8(12 + header.length);
  for (const t of c.tensors) size += pad8(t.data.length * 4) + 16 * t.data.length;
  const out = new Uint8Array(size);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, header.length, true);
  out.set(header, 12);
  let at = pad8(12 + header.length);
  for (const t of c.tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += pad8(t.data.byteLength);
    out.set(new Uint8Array(t.m.buffer, t.m.byteOffset, t.m.byteLength), at);
    at += t.m.byteLength;
    out.set(new Uint8Array(t.v.buffer, t.v.byteOffset, t.v.byteLength), at);
    at += t.v.byteLength;
  }
  return out;
}

/** Parses checkpoint bytes, every size checked against the buffer; `source` names the file in errors. */
export function decodeCheckpoint(bytes: Uint8Array, source: string): Checkpoint {
  const bad = (why: string) => new FfnkitError('E_FORMAT', `${source}: not an ffnkit checkpoint (${why})`);
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) throw bad('no FFNKCKPT magic');
  const hlen = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  if (12 + hlen > bytes.length) throw bad(`header of ${hlen} bytes runs past the end`);
  let head: { version?: unknown; step?: unknown; model?: unknown; options?: unknown; tensors?: unknown };
  try {
    head = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + hlen)));
  } catch {
    throw bad('header is not JSON');
  }
  if (head.version !== 1) throw new FfnkitError('E_UNSUPPORTED', `${source}: checkpoint version ${String(head.version)} (this ffnkit reads 1)`);
  if (!Number.isInteger(head.step) || typeof head.model !== 'string' || typeof head.options !== 'object' || !Array.isArray(head.tensors)) throw bad('header fields');
  let at = pad8(12 + hlen);
  const tensors = (head.tensors as { name?: unknown; length?: unknown; t?: unknown }[]).map((t) => {
    if (typeof t.name !== 'string' || !Number.isSafeInteger(t.length) || (t.length as number) < 0 || !Number.isInteger(t.t)) throw bad('tensor entry');
    const n = t.length as number;
    if (at + pad8(n * 4) + 16 * n > bytes.length) throw bad(`tensor ${t.name} runs past the end`);
    const copy = (from: number, len: number) => bytes.slice(from, from + len).buffer;
    const data = new Float32Array(copy(at, n * 4));
    at += pad8(n * 4);
    const m = new Float64Array(copy(at, n * 8));
    at += n * 8;
    const v = new Float64Array(copy(at, n * 8));
    at += n * 8;
    return { name: t.name, data, m, v, t: t.t as number };
  });
  return { step: head.step as number, model: head.model, options: head.options as Record<string, unknown>, tensors };
}
