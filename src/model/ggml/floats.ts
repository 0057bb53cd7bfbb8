// ggml's float tensor types, F32, F16 and BF16: one value per "block", converted with the scalars
// of model/half.ts.

import { floatToBf16, floatToHalf, halfTableF32, writeHalf } from '../half.js';

/** n float32 values from little-endian bytes (any alignment). */
export function dequantizeF32(src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array {
  new Uint8Array(out.buffer, out.byteOffset, 4 * n).set(src.subarray(0, 4 * n));
  return out;
}

export function quantizeF32(x: Float32Array): Uint8Array {
  return new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
}

export function dequantizeF16(src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array {
  const t = halfTableF32();
  for (let i = 0; i < n; i++) out[i] = t[src[2 * i]! | (src[2 * i + 1]! << 8)]!;
  return out;
}

export function quantizeF16(x: Float32Array): Uint8Array {
  const out = new Uint8Array(2 * x.length);
  for (let i = 0; i < x.length; i++) writeHalf(out, 2 * i, floatToHalf(x[i]!));
  return out;
}

export function dequantizeBF16(src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array {
  const bits = new Uint32Array(out.buffer, out.byteOffset, n);
  for (let i = 0; i < n; i++) bits[i] = (src[2 * i]! | (src[2 * i + 1]! << 8)) << 16;
  return out;
}

export function quantizeBF16(x: Float32Array): Uint8Array {
  const out = new Uint8Array(2 * x.length);
  for (let i = 0; i < x.length; i++) writeHalf(out, 2 * i, floatToBf16(x[i]!));
  return out;
}
