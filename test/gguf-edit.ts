// Rewrites a GGUF file with metadata keys set or removed and tensors added or removed, so tests can
// hand the reader files it must refuse. Its own small serializer (not the library's writer):
// integers go out as u32 (i32 when negative), other numbers as f32, arrays by their first item.

import { parseGguf, type MetaValue } from '../src/node/index.js';

export interface GgufEdit {
  /** Keys to set (undefined: remove). */
  meta?: Record<string, MetaValue | undefined>;
  /** Tensors to add, float32, with ggml dims (dims[0] fastest). */
  addTensors?: { name: string; dims: number[]; data?: Float32Array }[];
  /** Tensor names to drop. */
  dropTensors?: string[];
}

const enum T { U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10 }

export function editGguf(bytes: Uint8Array, edit: GgufEdit): Uint8Array {
  const file = parseGguf(bytes, 'edited.gguf');
  const meta = new Map(file.metadata);
  for (const [k, v] of Object.entries(edit.meta ?? {})) {
    if (v === undefined) meta.delete(k);
    else meta.set(k, v);
  }
  const drop = new Set(edit.dropTensors ?? []);
  const sizeOf = (t: { type: number; dims: number[] }) => {
    const n = t.dims.reduce((a, b) => a * b, 1);
    if (t.type !== 0) throw new Error('editGguf copies F32 tensors only');
    return n * 4;
  };
  const tensors = file.tensors.filter((t) => !drop.has(t.name)).map((t) => ({
    name: t.name, dims: t.dims, data: bytes.subarray(file.dataStart + t.offset, file.dataStart + t.offset + sizeOf(t)),
  }));
  for (const t of edit.addTensors ?? []) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    const data = t.data ?? new Float32Array(n).fill(0.5);
    tensors.push({ name: t.name, dims: t.dims, data: new Uint8Array(data.buffer, data.byteOffset, n * 4) });
  }
  const out: number[] = [];
  const u32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); out.push(...b); };
  const u64 = (v: number | bigint) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(v), true); out.push(...b); };
  const str = (s: string) => { const b = new TextEncoder().encode(s); u64(b.length); out.push(...b); };
  const typeOf = (v: MetaValue): number =>
    typeof v === 'string' ? T.STRING : typeof v === 'boolean' ? T.BOOL : typeof v === 'bigint' ? T.U64 : Array.isArray(v) ? T.ARRAY
      : Number.isInteger(v) ? (v < 0 ? T.I32 : T.U32) : T.F32;
  const value = (v: MetaValue, t: number) => {
    const dv = new DataView(new ArrayBuffer(4));
    if (t === T.STRING) str(v as string);
    else if (t === T.BOOL) out.push(v ? 1 : 0);
    else if (t === T.U64) u64(v as bigint);
    else if (t === T.U32) u32(v as number);
    else if (t === T.I32) { dv.setInt32(0, v as number, true); out.push(...new Uint8Array(dv.buffer)); }
    else if (t === T.F32) { dv.setFloat32(0, v as number, true); out.push(...new Uint8Array(dv.buffer)); }
    else {
      const arr = v as MetaValue[];
      // an array's items share one type: f32 when any is fractional
      const item = arr.some((x) => typeof x === 'number' && !Number.isInteger(x)) ? T.F32 : arr.length ? typeOf(arr[0]!) : T.U32;
      u32(item);
      u64(arr.length);
      for (const x of arr) value(x, item);
    }
  };
  u32(0x46554747);
  u32(3);
  u64(tensors.length);
  u64(meta.size);
  for (const [k, v] of meta) {
    str(k);
    const t = typeOf(v);
    u32(t);
    value(v, t);
  }
  let offset = 0;
  const offsets = tensors.map((t) => {
    const at = offset;
    offset += Math.ceil(t.data.length / 32) * 32;
    return at;
  });
  tensors.forEach((t, i) => {
    str(t.name);
    u32(t.dims.length);
    for (const d of t.dims) u64(d);
    u32(0);
    u64(offsets[i]!);
  });
  const alignment = typeof meta.get('general.alignment') === 'number' ? (meta.get('general.alignment') as number) : 32;
  while (out.length % alignment !== 0) out.push(0);
  const head = out.length;
  const result = new Uint8Array(head + offset);
  result.set(out);
  tensors.forEach((t, i) => result.set(t.data, head + offsets[i]!));
  return result;
}
