// Q8_0, GGUF's 8-bit block format, on the host: 32 weights per 34-byte block, an IEEE half scale
// d = max|x| / 127 and 32 int8 q = round(x / d) (half away from zero, as ggml).

import { FfnkitError } from '../errors.js';
import { floatToHalf, halfToFloat } from './half.js';

export const Q8_BLOCK = 32;
export const Q8_BLOCK_BYTES = 34;

/** Q8_0 bytes of `data` (its length a multiple of 32). */
export function encodeQ8_0(data: Float32Array): Uint8Array {
  if (data.length % Q8_BLOCK !== 0) throw new FfnkitError('E_SHAPE', `Q8_0: needs a multiple of 32 values, found ${data.length}`);
  const out = new Uint8Array((data.length / Q8_BLOCK) * Q8_BLOCK_BYTES);
  const q = new Int8Array(out.buffer);
  for (let b = 0; b < data.length / Q8_BLOCK; b++) {
    const x = b * Q8_BLOCK;
    const o = b * Q8_BLOCK_BYTES;
    let amax = 0;
    for (let j = 0; j < Q8_BLOCK; j++) amax = Math.max(amax, Math.abs(data[x + j]!));
    // float32 steps, as ggml's quantize_row_q8_0
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const h = floatToHalf(d);
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
    for (let j = 0; j < Q8_BLOCK; j++) {
      const v = Math.fround(data[x + j]! * id);
      q[o + 2 + j] = (v + (v < 0 ? -0.5 : 0.5)) | 0; // roundf: half away from zero (v ± 0.5 is exact in double)
    }
  }
  return out;
}

/** The values Q8_0 bytes stand for (n of them). */
export function decodeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / Q8_BLOCK; b++) {
    const d = halfToFloat(dv.getUint16(b * Q8_BLOCK_BYTES, true));
    for (let j = 0; j < Q8_BLOCK; j++) out[b * Q8_BLOCK + j] = d * dv.getInt8(b * Q8_BLOCK_BYTES + 2 + j);
  }
  return out;
}
