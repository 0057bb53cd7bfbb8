// Every finite half converts exactly in the SIMD kernels (assembly/half.ts f32x4_from_half_hi,
// which F16 weights and the f16 KV cache go through): all 63,488 finite bit patterns, as the
// weights of an F16 matrix of 8 columns times one-hot activations (1 is a half, so each output
// is one weight times 1, plus zeros), against the value the half's fields define.

import { expect, test } from 'vitest';
import { BACKENDS, engineFor } from './helpers.js';

/** The half with bits h, from its fields. */
function half(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31, m = h & 1023;
  return sign * (e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15));
}

test.each(BACKENDS)('%s: every finite half, as an F16 weight, is its exact value', async (backend) => {
  const e = await engineFor(backend);
  const finite = Array.from({ length: 65536 }, (_, h) => h).filter((h) => ((h >> 10) & 31) !== 31);
  const cols = 8;
  const rows = finite.length / cols;
  const bytes = new Uint8Array(finite.length * 2);
  finite.forEach((h, i) => { bytes[2 * i] = h & 255; bytes[2 * i + 1] = h >> 8; });
  const w = e.kernels.ggmlMatrix(bytes, 'f16', rows, cols);
  const x = new Float32Array(cols * cols);
  for (let t = 0; t < cols; t++) x[t * cols + t] = 1;
  const y = e.alloc(cols * rows);
  e.kernels.gemm(e.upload(x), w, y, cols);
  const got = y.toArray();
  let wrong = 0;
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < cols; t++) {
      const want = half(finite[r * cols + t]!);
      // the sum also adds +0 or -0 products, so -0 may come out as +0: compare values (and signs of non-zeros)
      if (got[t * rows + r] !== want) wrong++;
    }
  }
  expect(wrong).toBe(0);
});
