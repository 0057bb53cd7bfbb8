// Q8_0, GGUF's 8-bit block format, on the host: 32 weights per 34-byte block, an IEEE half scale
// d = max|x| / 127 and 32 int8 q = round(x / d) (half away from zero, as ggml). The codec is the
// traits table's (model/ggml-types.ts); these names stay for the Q8_0-specific callers.

import { GGML_TYPES, quantizeChecked } from './ggml-types.js';

export const Q8_BLOCK = 32;
export const Q8_BLOCK_BYTES = 34;

/** Q8_0 bytes of `data` (its length a multiple of 32). */
export function encodeQ8_0(data: Float32Array): Uint8Array {
  return quantizeChecked(GGML_TYPES.Q8_0, data, 'Q8_0');
}

/** The values Q8_0 bytes stand for (n of them). */
export function decodeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  return GGML_TYPES.Q8_0.dequantize(bytes, n);
}
