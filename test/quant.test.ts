// Q8_0 GEMV: GGUF block bytes in wasm memory, activations quantized per block, integer dot
// products. Checked against a float64 reference that quantizes x with the same float32 steps.

import { describe, expect, test } from 'vitest';
import { decodeQ8_0, encodeQ8_0 } from '../src/node/index.js';
import { halfToFloat } from '../src/formats/bytes.js';
import { BACKENDS, U32, engineFor, expectClose, placed } from './helpers.js';
import { randomF32 } from './ref/random.js';

/** ggml's q8_0 activation quantization in float32 steps: per block d = max|x|/127, q = round(x/d). */
function quantizeRef(x: Float32Array): { q: Int32Array; d: Float32Array } {
  const f = Math.fround;
  const q = new Int32Array(x.length);
  const d = new Float32Array(x.length / 32);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
    const db = f(amax / 127);
    const id = db ? f(1 / db) : 0;
    d[b] = db;
    for (let j = 0; j < 32; j++) {
      const v = f(x[b * 32 + j]! * id);
      q[b * 32 + j] = Math.sign(v) * Math.floor(Math.abs(v) + 0.5);
    }
  }
  return { q, d };
}

describe.each(BACKENDS)('%s build', (backend) => {
  test.each([[1, 32], [3, 64], [9, 96], [33, 1024], [64, 4096]])('Q8_0 GEMV n=%i k=%i: the integer dot products, scaled, within (blocks+4)·U', async (n, k) => {
    const e = await engineFor(backend);
    const w = randomF32(n * k, n + k, -2, 2);
    const x = randomF32(k, k + 1, -3, 3);
    const bytes = encodeQ8_0(w);
    const y = placed(e, new Float32Array(n), 1);
    e.kernels.gemvQ8(e.kernels.q8Matrix(bytes, n, k), placed(e, x, 3), y);
    const { q, d } = quantizeRef(x);
    const dv = new DataView(bytes.buffer);
    const want = new Float64Array(n);
    const mag = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      for (let b = 0; b < k / 32; b++) {
        const at = (r * (k / 32) + b) * 34;
        const dw = halfToFloat(dv.getUint16(at, true));
        let s = 0;
        for (let j = 0; j < 32; j++) s += dv.getInt8(at + 2 + j) * q[b * 32 + j]!;
        want[r]! += dw * d[b]! * s;
        mag[r]! += Math.abs(dw * d[b]! * s);
      }
    }
    // each block: one rounding of d_w·d_x and one of the product; the sum of k/32 blocks
    expectClose(y.view(), want, (i) => (k / 32 + 4) * U32 * mag[i]!, `q8 gemv ${n}x${k}`);
    // and it approximates the float GEMV within the quantization error of both operands
    const wd = decodeQ8_0(bytes, n * k);
    for (let r = 0; r < n; r++) {
      let exact = 0;
      let scale = 0;
      for (let j = 0; j < k; j++) {
        exact += wd[r * k + j]! * x[j]!;
        scale += Math.abs(wd[r * k + j]!) * 3;
      }
      expect(Math.abs(y.view()[r]! - exact)).toBeLessThan(scale / 127);
    }
  });
});

test('Q8_0 shapes are checked before wasm', async () => {
  const e = await engineFor('simd');
  expect(() => e.kernels.q8Matrix(new Uint8Array(34), 1, 31)).toThrow(/cols: expected an integer >= 32/);
  expect(() => e.kernels.q8Matrix(new Uint8Array(34), 1, 40)).toThrow(/multiples of 32, found 40/);
  expect(() => e.kernels.q8Matrix(new Uint8Array(60), 1, 32)).toThrow(/is 34 bytes, found 60/);
  const m = e.kernels.q8Matrix(new Uint8Array(68), 1, 64);
  expect(() => e.kernels.gemvQ8(m, e.alloc(32), e.alloc(1))).toThrow(/x: expected 64 floats, found 32/);
});
