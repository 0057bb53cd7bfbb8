// Q8_0 on the column-quad layout of assembly/q8u8.ts (weights w + 128, for the unsigned relaxed
// dot): on every build, whatever path a call takes there (in Node the i16 path: V8 11.3's relaxed
// dot saturates and is no VNNI instruction), the float64 reference's values and the very bits of
// the column-pair layout's kernel, for every row count (pairs, lone groups, partial groups),
// token count (whole 4-token tiles and tails) and split of the rows at even groups. The
// unsigned path itself runs in Chromium (test/browser/q8-u8.test.ts).

import { describe, expect, test } from 'vitest';
import { encodeQ8_0 } from '../src/entries/node/kernels.js';
import { randomF32 } from '../testing/random.js';
import { q8PathOutputs } from '../testing/q8-paths.js';
import { BACKENDS, engineFor, expectQ8PathsAgree } from './helpers.js';

/** (m tokens, n rows, k columns, the row counts at which a split cuts): the shapes of test/q8-tiles.test.ts, and larger splits. */
const SHAPES: [number, number, number, number[]][] = [
  [1, 1, 32, []], [2, 5, 64, []], [3, 7, 96, []], [4, 9, 32, [8]], [5, 12, 160, [8]], [6, 13, 64, [8]], [9, 17, 96, [8, 16]],
  [8, 24, 32, [16]], [11, 33, 128, [8, 24]], [7, 3, 224, []], [5, 76, 1024, [40]],
];

describe.each(BACKENDS)('%s build', (backend) => {
  test.each(SHAPES)('m %i n %i k %i: the reference within (blocks+4)·U per row, and the bits of the pairs layout on every path, tile and split', async (m, n, k, cut) => {
    const e = await engineFor(backend);
    const bytes = encodeQ8_0(randomF32(n * k, 3 * n + k, -2, 2));
    const x = randomF32(m * k, m + k, -3, 3);
    const r = q8PathOutputs(e, bytes, x, m, n, k, cut);
    expectQ8PathsAgree(r, bytes, x, m, n, k, cut);
    // in Node no call has the unsigned form (V8 11.3 builds the relaxed dot from pmaddubsw)
    expect(r.quadsPath).toBe(0);
  });
});

test('the self-test: no unsigned form without relaxed SIMD; in Node 20 the relaxed dot saturates (other), so Q8_0 keeps the pairs', async () => {
  for (const backend of BACKENDS) {
    const e = await engineFor(backend);
    expect(e.dot.unsigned, backend).toBe(backend === 'relaxed' ? 'other' : 'absent');
    expect(e.kernels.q8Layout, backend).toBe('x4');
    // and the per-call check agrees here
    expect(e.wasm.relaxed_dot_u8_form(1), backend).toBe(0);
  }
});

test('the layout: column quad u of 4 rows in 16 bytes, each byte w XOR 0x80, groups interleaved in twos and a lone last group on its own', async () => {
  const e = await engineFor('simd');
  const [n, k] = [9, 64]; // 3 groups: a pair, then a lone group of 1 row
  const bytes = encodeQ8_0(randomF32(n * k, 8, -2, 2));
  const src = e.alloc(Math.ceil(bytes.length / 4));
  new Uint8Array(e.memory.buffer, src.ptr, bytes.length).set(bytes);
  const w = e.alloc(e.wasm.q8_0_gemm_packed_floats(n, k));
  expect(e.wasm.q8_0_gemm_pack_x4_u8(src.ptr, n, k, w.ptr)).toBe(0);
  const packed = new Uint8Array(e.memory.buffer, w.ptr, w.length * 4);
  const f32 = new Float32Array(e.memory.buffer, w.ptr, w.length);
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const blocks = k / 32;
  for (let r = 0; r < n; r++) {
    const g = r >> 2, lane = r & 3;
    const paired = g < 2;
    for (let b = 0; b < blocks; b++) {
      const block = paired ? b * 288 : 2 * blocks * 144 + b * 144;
      const at = (r * blocks + b) * 34;
      // the scale: the half at the block's start, widened (its value checked against the reference's decoding in q8-tiles)
      expect(f32[(block + (paired ? 16 * (g & 1) : 0) + 4 * lane) / 4], `row ${r} block ${b} scale`).not.toBe(0);
      for (let j = 0; j < 32; j++) {
        const q = paired ? block + 32 + 32 * (j >> 2) + 16 * (g & 1) + 4 * lane + (j & 3) : block + 16 + 16 * (j >> 2) + 4 * lane + (j & 3);
        expect(packed[q], `row ${r} block ${b} weight ${j}`).toBe(dv.getInt8(at + 2 + j) + 128);
      }
    }
  }
  // the padding rows of the lone group: scale 0 and bytes 0
  for (let b = 0; b < blocks; b++) {
    for (const lane of [1, 2, 3]) {
      expect(f32[(2 * blocks * 144 + b * 144 + 4 * lane) / 4]).toBe(0);
      for (let j = 0; j < 32; j++) expect(packed[2 * blocks * 144 + b * 144 + 16 + 16 * (j >> 2) + 4 * lane + (j & 3)]).toBe(0);
    }
  }
  src.free();
  w.free();
});

test('the activations: the int16 layout\'s values and scales as int8, and -128 x each block\'s sum', async () => {
  const e = await engineFor('relaxed');
  const k = 96;
  const x = randomF32(k, 4, -3, 3);
  const xs = e.upload(x);
  const xq = e.alloc(k / 2 + k / 32);
  e.wasm.q8_0_quantize(xs.ptr, k, xq.ptr, xq.ptr + k * 2);
  const xu = e.alloc((k / 32) * 10);
  e.wasm.q8_0_quantize_f32_x4_u8(xs.ptr, k, xu.ptr);
  const i16 = new Int16Array(e.memory.buffer, xq.ptr, k);
  const d = new Float32Array(e.memory.buffer, xq.ptr + k * 2, k / 32);
  const dv = new DataView(e.memory.buffer, xu.ptr, (k / 32) * 40);
  for (let b = 0; b < k / 32; b++) {
    let sum = 0;
    for (let j = 0; j < 32; j++) {
      expect(dv.getInt8(b * 40 + j)).toBe(i16[b * 32 + j]);
      sum += i16[b * 32 + j]!;
    }
    expect(dv.getFloat32(b * 40 + 32, true)).toBe(d[b]);
    expect(dv.getInt32(b * 40 + 36, true)).toBe(-128 * sum);
  }
});
