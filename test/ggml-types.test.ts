// The ggml traits table and its host codecs against llama.cpp itself: every tensor of the
// llama.cpp-quantized fixtures dequantizes exactly as a float64 reference written from the block
// layouts alone (test/ref/ggml-dequant.ts), and quantizing the f32 fixture's tensors gives
// llama-quantize's bytes. Round trips stay within ggml's own test-quantize-fns bounds.

import { describe, expect, test } from 'vitest';
import { FfnkitError } from '../src/errors.js';
import { parseGguf, type GgufFile, type GgufTensorInfo } from '../src/formats/gguf.js';
import {
  GGML_TYPES, firstBadScale, ggmlTypeById, ggmlTypeByName, ggmlTypeLabel, quantizeChecked, rowBytes, type GgmlType,
} from '../src/model/ggml-types.js';
import { REF_BLOCKS, dequantizeRef } from './ref/ggml-dequant.js';
import { rng } from '../testing/random.js';
import { SHARED, sharedBytes } from './shared.js';

const FIXTURE_TYPES = ['f32', 'f16', 'bf16', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'q2_k', 'q3_k_m', 'q4_k_s', 'q4_k_m', 'q5_k_m', 'q6_k', 'iq4_nl', 'iq4_xs'];
const ALL = Object.values(GGML_TYPES);

function tensorBytes(file: GgufFile, bytes: Uint8Array, t: GgufTensorInfo): Uint8Array {
  const n = t.dims.reduce((a, b) => a * b, 1);
  const type = ggmlTypeById(t.type)!;
  const size = (n / type.blockSize) * type.blockBytes;
  return bytes.subarray(file.dataStart + t.offset, file.dataStart + t.offset + size);
}

describe('the traits table', () => {
  test('names, GGUF ids, block sizes and bytes are ggml\'s', () => {
    const ids = Object.fromEntries(ALL.map((t) => [t.name, t.id]));
    expect(ids).toEqual({
      F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q8_1: 9, Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14, Q8_K: 15,
      IQ4_NL: 20, IQ4_XS: 23, BF16: 30,
    });
    for (const t of ALL) expect([t.blockSize, t.blockBytes], t.name).toEqual([REF_BLOCKS[t.name]!.values, REF_BLOCKS[t.name]!.bytes]);
    expect(ALL.filter((t) => !t.weight).map((t) => t.name)).toEqual(['Q8_1', 'Q8_K']);
  });

  test('lookups by id and by name in any case; ids ggml defines but ffnkit does not read are named', () => {
    expect(ggmlTypeById(12)?.name).toBe('Q4_K');
    expect(ggmlTypeById(16)).toBeUndefined();
    expect(ggmlTypeByName('q4_k')?.id).toBe(12);
    expect(ggmlTypeByName('iq4_xs')?.id).toBe(23);
    expect(ggmlTypeByName('Q4_K_M')).toBeUndefined();
    expect([ggmlTypeLabel(12), ggmlTypeLabel(16), ggmlTypeLabel(39), ggmlTypeLabel(77)]).toEqual(['Q4_K', 'IQ2_XXS', 'MXFP4', '#77']);
  });

  test('row bytes need whole blocks', () => {
    expect(rowBytes(GGML_TYPES.Q4_K, 512)).toBe(288);
    expect(rowBytes(GGML_TYPES.Q4_0, 64)).toBe(36);
    expect(rowBytes(GGML_TYPES.F16, 7)).toBe(14);
    expect(() => rowBytes(GGML_TYPES.Q4_K, 172, 'blk.0.ffn_down.weight')).toThrow(/blk\.0\.ffn_down\.weight: Q4_K needs rows of a multiple of 256 values, found 172/);
  });

  test('a NaN or infinite block scale is found, in every scale slot of every block type', () => {
    for (const t of ALL.filter((x) => x.scaleOffsets.length)) {
      const bytes = t.quantize(Float32Array.from({ length: 3 * t.blockSize }, (_, i) => Math.sin(i)));
      expect(firstBadScale(t, bytes), t.name).toBe(-1);
      for (const s of t.scaleOffsets) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          const b = bytes.slice();
          const dv = new DataView(b.buffer);
          const at = 2 * t.blockBytes + s;
          if (t.scaleFormat === 'f32') dv.setFloat32(at, bad, true);
          else dv.setUint16(at, Number.isNaN(bad) ? 0x7e01 : bad > 0 ? 0x7c00 : 0xfc00, true);
          expect(firstBadScale(t, b), `${t.name} scale at ${s} = ${bad}`).toBe(2);
        }
      }
    }
  });

  test('quantizing refuses non-finite values and partial blocks, naming the tensor', () => {
    expect(() => quantizeChecked(GGML_TYPES.Q4_K, new Float32Array(255), 'w')).toThrow(/w: Q4_K needs a multiple of 256 values, found 255/);
    const x = new Float32Array(32);
    x[5] = NaN;
    expect(() => quantizeChecked(GGML_TYPES.Q8_0, x, 'blk.1.attn_q.weight')).toThrow(FfnkitError);
    expect(() => quantizeChecked(GGML_TYPES.Q8_0, x, 'blk.1.attn_q.weight')).toThrow(/blk\.1\.attn_q\.weight: value 5 is NaN/);
  });
});

describe('round trips', () => {
  // ggml's tests/test-quantize-fns.cpp: data 0.1 + 2 cos(i), 4096 values, rmse = sqrt(sum d²) / n
  const bound: Partial<Record<string, number>> = { Q2_K: 0.0075, Q3_K: 0.004 };
  test.each(ALL.map((t) => [t.name, t] as const))('%s stays within test-quantize-fns\' total error bound', (_, t) => {
    const n = 32 * 128;
    const x = Float32Array.from({ length: n }, (_, i) => 0.1 + 2 * Math.cos(i));
    const y = t.dequantize(t.quantize(x), n);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += (x[i]! - y[i]!) ** 2;
    const rmse = Math.sqrt(sum) / n;
    expect(rmse).toBeLessThan(bound[t.name] ?? 0.002);
    if (t.blockSize === 1) expect(rmse).toBeLessThan(t.name === 'F32' ? 1e-12 : 1e-4);
  });

  test('the symmetric 32-blocks are within half a step (one step where the top level is cut) plus the f16 scale rounding', () => {
    const next = rng(7);
    const x = Float32Array.from({ length: 32 * 200 }, () => (next() - 0.5) * 3 * (next() < 0.05 ? 40 : 1));
    const steps: [GgmlType, number, number][] = [[GGML_TYPES.Q8_0, 127, 0.5], [GGML_TYPES.Q4_0, 8, 1], [GGML_TYPES.Q5_0, 16, 1]];
    for (const [t, levels, cut] of steps) {
      const y = t.dequantize(t.quantize(x), x.length);
      for (let b = 0; b < x.length / 32; b++) {
        const amax = Math.max(...x.subarray(32 * b, 32 * b + 32).map(Math.abs));
        const d = amax / levels;
        for (let j = 0; j < 32; j++) {
          const i = 32 * b + j;
          expect(Math.abs(y[i]! - x[i]!), `${t.name} value ${i}`).toBeLessThanOrEqual(d * (cut + levels * 2 ** -11) + 1e-12);
        }
      }
    }
  });

  test('all-zero blocks come back as zeros in every type; constant blocks of the asymmetric types come back exactly', () => {
    for (const t of ALL) {
      const zero = new Float32Array(2 * Math.max(t.blockSize, 32));
      expect(Array.from(t.dequantize(t.quantize(zero), zero.length)).every((v) => v === 0), t.name).toBe(true);
    }
    const c = new Float32Array(256).fill(0.75);
    for (const t of [GGML_TYPES.Q4_1, GGML_TYPES.Q5_1]) expect(Array.from(t.dequantize(t.quantize(c), 256)), t.name).toEqual(Array.from(c));
  });

  test('dequantizing into a given array writes only its first n values', () => {
    for (const t of ALL) {
      const x = Float32Array.from({ length: 256 }, (_, i) => Math.cos(3 * i));
      const out = new Float32Array(300).fill(7);
      t.dequantize(t.quantize(x), 256, out);
      expect(out[256], t.name).toBe(7);
      expect(Array.from(out.subarray(0, 256))).toEqual(Array.from(t.dequantize(t.quantize(x), 256)));
    }
  });
});

describe.skipIf(!SHARED)('against llama.cpp\'s quantized fixtures', () => {
  const f32Bytes = SHARED ? sharedBytes('models', 'fixtures', 'fixture-llama-f32.gguf') : new Uint8Array();
  const f32File = SHARED ? parseGguf(f32Bytes) : undefined;

  test.each(FIXTURE_TYPES)('fixture-llama-%s: every tensor dequantizes exactly as the float64 reference', (name) => {
    const bytes = sharedBytes('models', 'fixtures', `fixture-llama-${name}.gguf`);
    const file = parseGguf(bytes);
    const seen = new Set<string>();
    for (const t of file.tensors) {
      const type = ggmlTypeById(t.type)!;
      const n = t.dims.reduce((a, b) => a * b, 1);
      const data = tensorBytes(file, bytes, t);
      const got = type.dequantize(data, n);
      const want = Float32Array.from(dequantizeRef(type.name, data, n));
      let mismatch = -1;
      for (let i = 0; i < n && mismatch < 0; i++) if (!Object.is(got[i], want[i])) mismatch = i;
      expect(mismatch, `${t.name} (${type.name}): first differing value`).toBe(-1);
      expect(firstBadScale(type, data), t.name).toBe(-1);
      seen.add(type.name);
    }
    expect(seen.size).toBeGreaterThan(0);
  });

  test.each(FIXTURE_TYPES.filter((t) => t !== 'f32'))('fixture-llama-%s: quantizing the f32 fixture\'s tensors gives llama-quantize\'s bytes', (name) => {
    const bytes = sharedBytes('models', 'fixtures', `fixture-llama-${name}.gguf`);
    const file = parseGguf(bytes);
    const source = new Map(f32File!.tensors.map((t) => [t.name, t]));
    let compared = 0;
    for (const t of file.tensors) {
      const type = ggmlTypeById(t.type)!;
      if (type.name === 'F32') continue; // norms, copied as they are
      const x = ggmlTypeById(0)!.dequantize(tensorBytes(f32File!, f32Bytes, source.get(t.name)!), t.dims.reduce((a, b) => a * b, 1));
      const mine = type.quantize(x);
      const theirs = tensorBytes(file, bytes, t);
      expect(mine.length).toBe(theirs.length);
      let at = -1;
      for (let i = 0; i < mine.length && at < 0; i++) if (mine[i] !== theirs[i]) at = i;
      expect(at, `${t.name} (${type.name}): first differing byte (block ${Math.floor(at / type.blockBytes)})`).toBe(-1);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(15);
  });
});
