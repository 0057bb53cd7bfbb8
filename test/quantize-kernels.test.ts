// The wasm weight quantizers (assembly/quantize-kquants.ts through runtime/kernels/quantize.ts)
// against the JavaScript codecs of model/ggml/ (which give llama-quantize's bytes, see
// ggml-types.test.ts): the same bytes, in every build, on the fixtures' tensors and on rows made
// to reach the corners of the scale searches.

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseGguf } from '../src/formats/gguf.js';
import { ggmlTypeById, GGML_TYPES } from '../src/model/ggml-types.js';
import { quantizeIQ4_NLJs, quantizeIQ4_XSJs } from '../src/model/ggml/iquants.js';
import { quantizeQ2_KJs, quantizeQ3_KJs, quantizeQ4_KJs, quantizeQ5_KJs, quantizeQ6_KJs } from '../src/model/ggml/kquants.js';
import { BlockQuantizer, KERNEL_QUANTIZED, sharedBlockQuantizer, type KernelQuantizedType } from '../src/runtime/kernels/quantize.js';
import { wasmUrl, type Backend } from '../src/runtime/wasm.js';
import { rng } from '../testing/random.js';
import { SHARED, sharedBytes } from './shared.js';

const JS: Record<KernelQuantizedType, (x: Float32Array) => Uint8Array> = {
  Q2_K: quantizeQ2_KJs, Q3_K: quantizeQ3_KJs, Q4_K: quantizeQ4_KJs, Q5_K: quantizeQ5_KJs, Q6_K: quantizeQ6_KJs,
  IQ4_NL: quantizeIQ4_NLJs, IQ4_XS: quantizeIQ4_XSJs,
};
const TYPES = Object.keys(KERNEL_QUANTIZED) as KernelQuantizedType[];
const BUILDS: Backend[] = ['scalar', 'simd', 'relaxed'];
const quantizers = new Map(BUILDS.map((b) => [b, new BlockQuantizer(new Uint8Array(readFileSync(wasmUrl(b))), b)]));

/** The first byte where a and b differ, or -1 (and -2 for different lengths). */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** 256-value rows, each reaching a different corner of the searches. */
function cornerRows(): Float32Array[] {
  const r = rng(20261201);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const row = (f: (i: number) => number) => Float32Array.from({ length: 256 }, (_, i) => f(i));
  return [
    row(() => gauss()), // weights-like
    row(() => 0.02 * gauss()),
    row(() => 0), // all zero: every scale 0
    row(() => 0.75), // constant positive: max == min in the asymmetric fits
    row(() => -3.5), // constant negative
    row((i) => (i % 2 ? 1 : -1)), // two levels
    row(() => r()), // one sign: the minimum clamps to 0
    row(() => -r()), // all negative
    row(() => 1e-20 * gauss()), // near zero: below GROUP_MAX_EPS in places, half subnormals
    row(() => 1e-7 * gauss()), // scales in the half's subnormal range
    row((i) => (i === 37 ? 1000 : 0.001 * gauss())), // one outlier
    row(() => 60000 * gauss()), // scales near the half's largest (and beyond it: inf)
    row(() => 3e38 * (r() - 0.5)), // extremes of f32 (finite)
    row((i) => (i < 128 ? 0 : gauss())), // half the block empty
    row((i) => Math.fround(Math.round(gauss() * 8) / 8)), // values on a grid: exact ties in the rounding
    row((i) => (i % 16 === 0 ? gauss() : 0)), // one value per 16-group
    row(() => (r() < 0.5 ? 5e-39 : -5e-39) * r()), // f32 subnormals
  ];
}

describe('wasm quantizers give the JavaScript codecs\' bytes', () => {
  test.each(BUILDS)('%s build: rows at the corners of the scale searches, and random rows', (build) => {
    const q = quantizers.get(build)!;
    const rows = cornerRows();
    const r = rng(7);
    for (let k = 0; k < 48; k++) {
      // magnitudes from f32 subnormals to near its largest, some groups mixing several
      const scale = 10 ** (82 * r() - 44);
      const spread = k % 3 === 0 ? 1e6 : 30;
      rows.push(Float32Array.from({ length: 256 }, () => Math.fround(Math.min(3e38, scale * (r() - 0.5) * (r() < 0.05 ? spread : 1)))));
    }
    for (const type of TYPES) {
      for (let i = 0; i < rows.length; i++) {
        expect(firstDiff(q.quantize(type, rows[i]!), JS[type](rows[i]!)), `${type}, row ${i}: first differing byte`).toBe(-1);
      }
      // all rows as one tensor (several chunks of the wrapper): the same bytes as row by row
      const all = new Float32Array(256 * 80);
      for (let i = 0; i < 80; i++) all.set(rows[i % rows.length]!, 256 * i);
      expect(firstDiff(q.quantize(type, all), JS[type](all)), `${type}, ${all.length} values`).toBe(-1);
    }
  });

  test('the traits quantize through the kernels in Node', () => {
    const q = sharedBlockQuantizer();
    expect(q).not.toBeNull();
    const x = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i) * (1 + (i % 7)));
    for (const type of TYPES) expect(firstDiff(GGML_TYPES[type].quantize(x), JS[type](x)), type).toBe(-1);
  });

  test('a length that is not whole blocks is refused, naming the type', () => {
    const q = quantizers.get('scalar')!;
    expect(() => q.quantize('Q4_K', new Float32Array(300))).toThrow(expect.objectContaining({ code: 'E_SHAPE', message: expect.stringContaining('Q4_K') }));
    expect(() => q.quantize('IQ4_NL', new Float32Array(33))).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
  });
});

describe.skipIf(!SHARED)('on the fixtures\' tensors', () => {
  test.each(BUILDS)('%s build: every matrix of the f32 fixture, in every type', (build) => {
    const bytes = sharedBytes('models', 'fixtures', 'fixture-llama-f32.gguf');
    const file = parseGguf(bytes);
    const q = quantizers.get(build)!;
    let compared = 0;
    for (const t of file.tensors) {
      const n = t.dims.reduce((a, b) => a * b, 1);
      if (t.dims.length < 2 || t.dims[0]! % 256 !== 0) continue;
      const x = ggmlTypeById(0)!.dequantize(bytes.subarray(file.dataStart + t.offset, file.dataStart + t.offset + 4 * n), n);
      for (const type of TYPES) {
        expect(firstDiff(q.quantize(type, x), JS[type](x)), `${t.name} in ${type}: first differing byte`).toBe(-1);
        compared++;
      }
    }
    expect(compared).toBeGreaterThanOrEqual(7 * 5);
  });
});
