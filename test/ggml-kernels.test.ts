// GEMV and GEMM on every ggml block type, in its blocks: against the float64 reference of
// testing/ggml-reference.ts (which dequantizes each type with its own code and quantizes activations as
// ggml does), at odd sizes and unaligned addresses, on every build and dot path; the integer
// types give the same bits on every build; GEMM rows are the GEMV's bits; real tensors that
// llama.cpp's quantizer wrote agree too.

import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { FfnkitError, createEngine, parseGguf, type Engine } from '../src/node/index.js';
import { GGML_KERNEL_TRAITS, ggmlMatrixBytes, ggmlRowBytes, type GgmlBlockType, type GgmlKernelExports, type GgmlMatrix } from '../src/runtime/kernels/ggml.js';
import { BACKENDS, U32, engineFor, expectClose, placed } from './helpers.js';
import { REF_LAYOUT, gemvRef, halfValue, quantizeQ8KRef, quantizeQ8_1Ref, randomBlocks, roundBf16, roundHalf, type RefType } from '../testing/ggml-reference.js';
import { randomF32 } from '../testing/random.js';
import { SHARED, sharedPath } from './shared.js';

const INTEGER_TYPES = ['q4_k', 'q6_k', 'q4_0', 'q5_k', 'q5_0', 'q4_1', 'q5_1', 'q3_k', 'q2_k', 'iq4_nl', 'iq4_xs', 'q8_0'] as const;
const TYPES = [...INTEGER_TYPES, 'f16', 'bf16'] as const;

/** (rows, cols) per block size: rows not a multiple of 4, several blocks per row. */
function shapes(type: RefType): [number, number][] {
  const b = REF_LAYOUT[type].block;
  if (b === 256) return [[1, 256], [7, 512], [33, 768], [5, 2048]];
  if (b === 32) return [[1, 32], [3, 64], [9, 96], [33, 1024], [70, 256]];
  return [[1, 1], [3, 13], [9, 96], [33, 1000], [5, 4096]];
}

/** Bound on the kernel's float32 rounding: per block one rounding of d_w * d_x, one of the product, one of each sum. */
function tolerance(type: RefType, cols: number, mag: number): number {
  const terms = REF_LAYOUT[type].block === 1 ? cols : cols / REF_LAYOUT[type].block;
  return (terms + 6) * U32 * mag;
}

const kernelsOf = (e: Engine) => e.wasm as GgmlKernelExports;

/** A type's GEMM export on GGUF's rows or on its own layout (not Q8_0's, which takes other arguments). */
type GgmlGemm = Exclude<(typeof GGML_KERNEL_TRAITS)[GgmlBlockType]['gemm'], 'q8_0_gemm_x4'>;

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** Worst |kernel - reference| seen per type, for the report line at the end. */
const worst = new Map<string, number>();

function run(e: Engine, w: GgmlMatrix, x: Float32Array, m: number, shift = 0): Float32Array {
  const y = placed(e, new Float32Array(m * w.rows), shift ^ 1);
  e.kernels.gemm(placed(e, x, shift), w, y, m);
  return y.toArray();
}

describe.each(BACKENDS)('%s build', (backend) => {
  test('the dot path follows the self-test: relaxed only where this build has relaxed SIMD and the engine proved a form', async () => {
    const e = await engineFor(backend);
    if (backend !== 'relaxed') expect(e.dot).toEqual({ form: 'absent', path: 'i16', code: 0, unsigned: 'absent' });
    else expect(['exact', 'doubled-no-accumulate', 'other']).toContain(e.dot.form);
    // the per-call check: exact (1) or doubled (2) where the path is relaxed, else the i16 path (0)
    const form = kernelsOf(e).relaxed_dot_form(e.dot.code);
    if (e.dot.path === 'relaxed') expect([1, 2]).toContain(form);
    else expect(form).toBe(0);
    if (backend === 'relaxed' && process.versions.v8.startsWith('11.3.')) {
      // Node 20's V8: the probe's first call runs baseline code, which returns twice the dot
      // product and drops the accumulator (its optimizing tier computes it as specified)
      // and it saturates on second operands past 127 in both tiers: not the unsigned form Q8_0 wants
      expect(e.dot).toEqual({ form: 'doubled-no-accumulate', path: 'relaxed', code: 1, unsigned: 'other' });
    }
  });

  test('activations: Q8_1, Q8_K, F16 and BF16 rounding give the reference\'s values exactly', async () => {
    const e = await engineFor(backend);
    const x = randomF32(512, 5, -4, 4);
    x.set([0.5, -0.5, 2.5, 1e-9, -3.999, 0, -0, 65519, 70000, 6e-8, 3e-5], 0);
    for (let j = 256; j < 288; j++) x[j] = 0; // a zero block of 32
    const xb = e.upload(x);
    const wasm = kernelsOf(e);
    const mem = () => e.memory.buffer;
    // Q8_1
    const o = e.alloc((512 / 32) * 11);
    wasm.q8_1_quantize_f32(xb.ptr, 512, o.ptr);
    const r1 = quantizeQ8_1Ref(x);
    for (let b = 0; b < 16; b++) {
      const at = o.ptr + b * 44;
      expect(Array.from(new Int8Array(mem(), at, 32))).toEqual(Array.from(r1.q.subarray(b * 32, b * 32 + 32)));
      const [d, s] = new Float32Array(mem(), at + 32, 2);
      expect([d, s]).toEqual([r1.d[b], r1.s[b]]);
      expect(new Int32Array(mem(), at + 40, 1)[0]).toBe(r1.q.subarray(b * 32, b * 32 + 32).reduce((a, v) => a + v, 0));
    }
    // Q8_K (a block of 256 with its largest value negative, one positive)
    const xk = x.slice();
    xk[300] = -1e5;
    xk[10] = 1e5;
    const xkb = e.upload(xk);
    const ok = e.alloc((2 * 292) / 4);
    wasm.q8_k_quantize_f32(xkb.ptr, 512, ok.ptr);
    const rk = quantizeQ8KRef(xk);
    for (let b = 0; b < 2; b++) {
      const at = ok.ptr + b * 292;
      expect(new Float32Array(mem(), at, 1)[0]).toBe(rk.d[b]);
      expect(Array.from(new Int8Array(mem(), at + 4, 256))).toEqual(Array.from(rk.q.subarray(b * 256, b * 256 + 256)));
      expect(Array.from(new Int16Array(mem(), at + 260, 16))).toEqual(Array.from(rk.bsums.subarray(b * 16, b * 16 + 16)));
    }
    // the largest value's q is -127 either way; d has the opposite sign of that value
    expect([rk.q[10], rk.q[300], Math.sign(rk.d[0]!), Math.sign(rk.d[1]!)]).toEqual([-127, -127, -1, 1]);
    // the 4-row kernels' layouts of the same values: int8 reordered per 8 and int16 scaled per 8
    const order = [0, 4, 1, 5, 2, 6, 3, 7];
    const scale = [256, 256, 16, 16, 1, 1, 256, 256];
    const forms = (q: Int8Array) => ({
      i8: Array.from(q, (_, j) => q[(j & ~7) + order[j & 7]!]!),
      i16: Array.from(q, (v, j) => v * scale[j & 7]!),
    });
    const o4 = e.alloc((16 * 128) / 4);
    wasm.q8_1_quantize_f32_x4(xb.ptr, 512, o4.ptr);
    for (let b = 0; b < 16; b++) {
      const at = o4.ptr + b * 128;
      const f = forms(r1.q.subarray(b * 32, b * 32 + 32));
      expect(Array.from(new Int16Array(mem(), at + 64, 32)), `q8_1 x4 block ${b} i16`).toEqual(f.i16);
      expect(Array.from(new Int8Array(mem(), at, 32)), `q8_1 x4 block ${b} i8`).toEqual(f.i8);
      expect(new Float32Array(mem(), at + 32, 1)[0]).toBe(r1.d[b]);
      expect(new Int32Array(mem(), at + 36, 1)[0]).toBe(r1.q.subarray(b * 32, b * 32 + 32).reduce((a, v) => a + v, 0));
    }
    const ok4 = e.alloc((2 * 800) / 4);
    wasm.q8_k_quantize_f32_x4(xkb.ptr, 512, ok4.ptr);
    for (let b = 0; b < 2; b++) {
      const at = ok4.ptr + b * 800;
      const f = forms(rk.q.subarray(b * 256, b * 256 + 256));
      expect(new Float32Array(mem(), at, 1)[0]).toBe(rk.d[b]);
      const sums32 = Array.from({ length: 8 }, (_, j) => rk.bsums[b * 16 + 2 * j]! + rk.bsums[b * 16 + 2 * j + 1]!);
      expect(Array.from(new Int16Array(mem(), at + 16, 8))).toEqual(sums32);
      expect(Array.from(new Int8Array(mem(), at + 32, 256))).toEqual(f.i8);
      expect(Array.from(new Int16Array(mem(), at + 288, 256))).toEqual(f.i16);
    }
    // F16 / BF16: rounded, and deinterleaved per 8 ([x0 x2 x4 x6 x1 x3 x5 x7]); k = 13 leaves a tail
    // of 5. F16's held times 2^112 (its weights are read times 2^-112)
    const k = 13;
    const xr = e.upload(x.subarray(0, 2 * k));
    const out = e.alloc(2 * k);
    for (const type of ['f16', 'bf16'] as const) {
      wasm[type === 'f16' ? 'f16_round_f32' : 'bf16_round_f32'](xr.ptr, 2, k, out.ptr);
      const got = out.toArray();
      for (let t = 0; t < 2; t++) {
        for (let j = 0; j < k; j++) {
          const at = j < 8 ? (j & 1) * 4 + (j >> 1) : j;
          const want = type === 'f16' ? roundHalf(x[t * k + j]!) * 2 ** 112 : roundBf16(x[t * k + j]!);
          expect(got[t * k + at], `${type} x[${t}][${j}]`).toBe(want);
        }
      }
    }
    expect(roundHalf(65519)).toBe(65504);
    expect(roundHalf(70000)).toBe(Infinity);
  });

  test.each(INTEGER_TYPES)('%s: block scales that are subnormal halves (a Q6_K d of small weights) against the float64 reference', async (type) => {
    const e = await engineFor(backend);
    const [rows, cols] = shapes(type)[2]!;
    const bytes = randomBlocks(type, rows, cols, 7, [-24, -14]);
    const w = e.kernels.ggmlMatrix(bytes, type as GgmlBlockType, rows, cols);
    const x = randomF32(cols, 5, -2, 2);
    const { y: want, mag } = gemvRef(type, bytes, x, rows, cols);
    expectClose(run(e, w, x, 1), want, (i) => tolerance(type, cols, mag[i]!), `${type} ${rows}x${cols}`);
    w.data.free();
  });

  test('f16: every finite half is read as its value exactly', async () => {
    const e = await engineFor(backend);
    const halves = Array.from({ length: 0x10000 }, (_, h) => h).filter((h) => (h & 0x7c00) !== 0x7c00);
    const rows = halves.length / 16;
    const w = e.kernels.ggmlMatrix(new Uint8Array(new Uint16Array(halves).buffer), 'f16', rows, 16);
    // the 16 unit vectors: token t picks column t of every row
    const x = new Float32Array(16 * 16);
    for (let t = 0; t < 16; t++) x[t * 17] = 1;
    const y = run(e, w, x, 16);
    let wrong = 0;
    for (let t = 0; t < 16; t++) for (let r = 0; r < rows; r++) if (y[t * rows + r] !== halfValue(halves[r * 16 + t]!)) wrong++;
    expect(wrong).toBe(0);
    // the largest half as the activation (held times 2^112 next to f32's largest): every product
    // exact, 11 significant bits times 11
    const big = run(e, w, x.map((v) => v * 65504), 16);
    for (let t = 0; t < 16; t++) for (let r = 0; r < rows; r++) if (big[t * rows + r] !== halfValue(halves[r * 16 + t]!) * 65504) wrong++;
    expect(wrong).toBe(0);
    w.data.free();
  });

  test.each(TYPES)('%s: GEMV and GEMM against the float64 reference at odd sizes and unaligned activations; GEMM rows are the GEMV\'s bits', async (type) => {
    const e = await engineFor(backend);
    for (const [rows, cols] of shapes(type)) {
      const bytes = randomBlocks(type, rows, cols, rows * 31 + cols);
      const w = e.kernels.ggmlMatrix(bytes, type as GgmlBlockType, rows, cols);
      const m = 3;
      const x = randomF32(m * cols, cols + 7, -2, 2);
      const y = run(e, w, x, m, 1);
      for (let t = 0; t < m; t++) {
        const xt = x.subarray(t * cols, (t + 1) * cols);
        const { y: want, mag } = gemvRef(type, bytes, xt, rows, cols);
        const got = y.subarray(t * rows, (t + 1) * rows);
        expectClose(got, want, (i) => tolerance(type, cols, mag[i]!), `${type} ${rows}x${cols} token ${t}`);
        let d = 0;
        for (let i = 0; i < rows; i++) d = Math.max(d, Math.abs(got[i]! - want[i]!));
        worst.set(`${type} ${backend}`, Math.max(worst.get(`${type} ${backend}`) ?? 0, d));
        // decoding this token alone (x 16-byte aligned) gives the same bits
        expect(bits(run(e, w, xt, 1, 0)), `${type} ${rows}x${cols} token ${t} as a GEMV`).toEqual(bits(got));
      }
      w.data.free();
    }
  });
});

describe('every build and dot path gives the same bits on the integer types', () => {
  test.each(INTEGER_TYPES)('%s', async (type) => {
    const engines = await Promise.all(BACKENDS.map((b) => engineFor(b)));
    const [rows, cols] = REF_LAYOUT[type].block === 256 ? [13, 1024] : [13, 512];
    const bytes = randomBlocks(type, rows, cols, 99);
    const x = randomF32(2 * cols, 3, -1, 1);
    const outs = engines.map((e) => bits(run(e, e.kernels.ggmlMatrix(bytes, type, rows, cols), x, 2)));
    for (const o of outs.slice(1)) expect(o).toEqual(outs[0]);
    // the relaxed build's i16 path (dot code 0), called directly, agrees with its relaxed path
    const relaxed = engines[BACKENDS.indexOf('relaxed')]!;
    if (type !== 'q8_0' && relaxed.dot.code !== 0) {
      const w = relaxed.kernels.ggmlMatrix(bytes, type, rows, cols);
      const traits = GGML_KERNEL_TRAITS[type];
      const xq = relaxed.kernels.ggmlActivations(traits.activations, relaxed.upload(x), 2, cols).x;
      const y = relaxed.alloc(2 * rows);
      kernelsOf(relaxed)[traits.gemm as GgmlGemm](w.data.ptr, xq, y.ptr, 2, rows, cols, rows, 0);
      expect(bits(y.toArray())).toEqual(outs[0]);
    }
  });
});

describe('the 4-row kernels\' relaxed path, once the engine runs it exactly', () => {
  test.each(['q4_0', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k'] as const)('%s: gives the i16 path\'s bits', async (type) => {
    const e = await engineFor('relaxed');
    if (e.dot.code === 0) return; // this engine keeps the i16 path
    const traits = GGML_KERNEL_TRAITS[type];
    const gemm = kernelsOf(e)[traits.gemm as GgmlGemm] as unknown as (...a: number[]) => number;
    const [rows, cols] = [13, 1024];
    const w = e.kernels.ggmlMatrix(randomBlocks(type, rows, cols, 21), type, rows, cols);
    const xq = e.kernels.ggmlActivations(traits.activations, e.upload(randomF32(2 * cols, 4, -1, 1)), 2, cols).x;
    const [y0, y1] = [e.alloc(2 * rows), e.alloc(2 * rows)];
    expect(gemm(w.data.ptr, xq, y0.ptr, 2, rows, cols, rows, 0)).toBe(0);
    // the kernels use the 16-bit relaxed dot, which Node 20's baseline code (whose 32-bit form is
    // doubled) computes exactly too: the first call already takes the relaxed path there
    let path = gemm(w.data.ptr, xq, y1.ptr, 2, rows, cols, rows, 1);
    if (process.versions.v8.startsWith('11.3.')) expect(path, 'the first call took the relaxed path').toBe(1);
    for (const t0 = Date.now(); path !== 1 && Date.now() - t0 < 20_000;) path = gemm(w.data.ptr, xq, y1.ptr, 2, rows, cols, rows, 1);
    expect(bits(y1.toArray())).toEqual(bits(y0.toArray()));
  });
});

test.each(TYPES.filter((t) => t !== 'q8_0'))('%s: rows at any byte address give the same bits (repacked types: the same layout)', async (type) => {
  const e = await engineFor('relaxed');
  const wasm = kernelsOf(e);
  const traits = GGML_KERNEL_TRAITS[type];
  const [rows, cols] = traits.block === 256 ? [5, 512] : traits.block === 32 ? [5, 64] : [5, 24];
  const bytes = randomBlocks(type, rows, cols, 7);
  const x = randomF32(cols, 8);
  const w = e.kernels.ggmlMatrix(bytes, type, rows, cols);
  const want = bits(run(e, w, x, 1, 1));
  const xs = e.kernels.ggmlActivations(traits.activations, e.upload(x), 1, cols).x;
  // the same bytes one to three bytes past a 64-byte boundary, the kernel (or the packing) called on them directly
  for (const off of [1, 2, 3]) {
    const raw = e.alloc(Math.ceil((bytes.length + off) / 4));
    new Uint8Array(e.memory.buffer, raw.ptr + off, bytes.length).set(bytes);
    let data = raw.ptr + off;
    if (traits.pack) {
      const packed = e.alloc(Math.ceil(ggmlMatrixBytes(type, rows, cols) / 4));
      wasm[traits.pack](raw.ptr + off, rows, cols, packed.ptr);
      expect(packed.toArray(), `offset ${off}: packed`).toEqual(w.data.toArray().subarray(0, packed.length));
      data = packed.ptr;
    }
    const y = e.alloc(rows);
    wasm[traits.gemm as GgmlGemm](data, xs, y.ptr, 1, rows, cols, rows, e.dot.code);
    expect(bits(y.toArray()), `offset ${off}`).toEqual(want);
  }
});

test.each(TYPES)('%s: the host\'s size of a matrix is what the wasm lays out', async (type) => {
  const e = await engineFor('simd');
  const wasm = kernelsOf(e);
  const block = GGML_KERNEL_TRAITS[type].block;
  for (const [rows, cols] of [[1, block], [5, 4 * block], [8, 3 * block], [13, 256]] as const) {
    const want = type === 'q4_0' ? wasm.q4_0_gemm_packed_bytes(rows, cols)
      : type === 'q4_k' ? wasm.q4_k_gemm_packed_bytes(rows, cols)
        : type === 'q5_k' ? wasm.q5_k_gemm_packed_bytes(rows, cols)
        : type === 'q6_k' ? wasm.q6_k_gemm_packed_bytes(rows, cols)
        : type === 'q3_k' ? wasm.q3_k_gemm_packed_bytes(rows, cols)
        : type === 'q2_k' ? wasm.q2_k_gemm_packed_bytes(rows, cols)
        : type === 'q8_0' ? wasm.q8_0_gemm_packed_floats(rows, cols) * 4
          : rows * ggmlRowBytes(type, cols);
    expect(ggmlMatrixBytes(type, rows, cols), `${rows}x${cols}`).toBe(want);
    const w = e.kernels.ggmlMatrix(randomBlocks(type, rows, cols, rows), type, rows, cols);
    expect(w.data.length).toBe(Math.ceil(want / 4));
    w.data.free();
  }
});

test('bad matrices are refused before wasm: shapes, byte counts, infinite or NaN scales', async () => {
  const e = await engineFor('simd');
  expect(() => e.kernels.ggmlMatrix(new Uint8Array(144), 'q4_k', 1, 128)).toThrow(/cols: expected an integer >= 256/);
  expect(() => e.kernels.ggmlMatrix(new Uint8Array(288), 'q4_k', 1, 300)).toThrow(/Q4_K needs columns in multiples of 256, found 300/);
  expect(() => e.kernels.ggmlMatrix(new Uint8Array(100), 'q6_k', 1, 256)).toThrow(/1x256 in Q6_K is 210 bytes, found 100/);
  expect(() => e.kernels.ggmlMatrix(new Uint8Array(2), 'q9_9' as GgmlBlockType, 1, 1)).toThrow(FfnkitError);
  const bytes = randomBlocks('q4_k', 3, 512, 1);
  bytes[144 * 2 + 3] = 0x7c; // row 1, block 0: dmin = +inf (bytes 2..3)
  bytes[144 * 5 + 1] = 0xfe; // row 2, block 1: d = NaN
  expect(() => e.kernels.ggmlMatrix(bytes, 'q4_k', 3, 512, 'blk.0.ffn_up.weight')).toThrow(/blk\.0\.ffn_up\.weight: 2 Q4_K block scales are infinite or NaN/);
  const f16 = randomBlocks('f16', 2, 8, 1);
  f16[5] = 0x7c;
  expect(() => e.kernels.ggmlMatrix(f16, 'f16', 2, 8, 'w')).toThrow(/w: 1 F16 weight is infinite or NaN/);
  const w = e.kernels.ggmlMatrix(randomBlocks('q4_0', 2, 64, 3), 'q4_0', 2, 64);
  expect(() => e.kernels.gemv(w, e.alloc(32), e.alloc(2))).toThrow(/a: expected 64 floats, found 32/);
  expect(() => e.kernels.gemm(e.alloc(128), w, e.alloc(3), 2)).toThrow(/c: expected 4 floats, found 3/);
  expect(() => e.kernels.gemv({ ...w, cols: 96 }, e.alloc(96), e.alloc(2))).toThrow(/w: 96 columns do not fit Q4_0's blocks|w.data: expected/);
});

// ---- real tensors quantized by llama.cpp -----------------------------------------------------

/** Each fixture and the block types its weight matrices hold (llama.cpp's mixes keep some tensors in other types). */
const FIXTURES: [string, RefType[]][] = [
  ['f16', ['f16']], ['bf16', ['bf16']], ['q4_0', ['q4_0']], ['q4_1', ['q4_1']], ['q5_0', ['q5_0']], ['q5_1', ['q5_1']],
  ['q8_0', ['q8_0']], ['q2_k', ['q2_k']], ['q3_k_m', ['q3_k']], ['q4_k_s', ['q4_k']], ['q4_k_m', ['q4_k', 'q6_k']], ['q5_k_m', ['q5_k']],
  ['q6_k', ['q6_k']], ['iq4_nl', ['iq4_nl']], ['iq4_xs', ['iq4_xs']],
];

describe('tensors from llama.cpp\'s quantizer', () => {
  test.each(FIXTURES)('fixture-llama-%s.gguf: every weight matrix of the types listed, on the relaxed build', async (name, types) => {
    if (!SHARED) return; // shared.ts has said it is skipping
    const path = sharedPath('models', 'fixtures', `fixture-llama-${name}.gguf`);
    const bytes = new Uint8Array(readFileSync(path));
    const file = parseGguf(bytes, path);
    const e = await engineFor('relaxed');
    const seen = new Set<RefType>();
    for (const t of file.tensors) {
      if (t.dims.length !== 2) continue;
      const type = (Object.keys(REF_LAYOUT) as RefType[]).find((k) => REF_LAYOUT[k].ggmlId === t.type);
      if (!type) continue;
      seen.add(type);
      const [cols, rows] = t.dims as [number, number];
      const start = file.dataStart + t.offset;
      const raw = bytes.subarray(start, start + (rows * cols / REF_LAYOUT[type].block) * REF_LAYOUT[type].bytes);
      const w = e.kernels.ggmlMatrix(raw, type as GgmlBlockType, rows, cols, t.name);
      const x = randomF32(cols, rows + cols, -1, 1);
      const got = run(e, w, x, 1, 1);
      const { y: want, mag } = gemvRef(type, raw, x, rows, cols);
      expectClose(got, want, (i) => tolerance(type, cols, mag[i]!), `${name} ${t.name}`);
      let d = 0;
      for (let i = 0; i < rows; i++) d = Math.max(d, Math.abs(got[i]! - want[i]!));
      worst.set(`${type} fixtures`, Math.max(worst.get(`${type} fixtures`) ?? 0, d));
      w.data.free();
    }
    for (const t of types) expect(seen.has(t), `${name} holds ${t} matrices`).toBe(true);
  });
});

test('max |kernel - reference| per type and build (printed for the report)', () => {
  const lines = [...worst.entries()].sort().map(([k, v]) => `${k}: ${v.toExponential(2)}`);
  console.log(lines.join('\n'));
  expect(worst.size).toBeGreaterThan(0);
});

describe.each(['simd', 'relaxed'] as const)('threads (%s)', (backend) => {
  let one: Engine;
  let two: Engine;
  afterAll(() => two?.close());

  test.each(TYPES)('%s: two threads give one thread\'s bits, GEMV and GEMM, the rows split over both', async (type) => {
    one ??= await createEngine({ backend });
    two ??= await createEngine({ backend, threads: 2 });
    expect(two.threads).toBe(2);
    const [rows, cols] = REF_LAYOUT[type].block === 1 ? [601, 1000] : [601, 1024];
    const bytes = randomBlocks(type, rows, cols, 5);
    for (const m of [1, 3, 9]) {
      const x = randomF32(m * cols, m);
      const split = vi.spyOn(two.pool!, 'run');
      const [a, b] = [one, two].map((e) => bits(run(e, e.kernels.ggmlMatrix(bytes, type, rows, cols), x, m)));
      expect(split).toHaveBeenCalledTimes(1);
      expect(split.mock.calls[0]![0]).toHaveLength(2);
      split.mockRestore();
      expect(b).toEqual(a);
    }
  });
});

describe('the 4-row kernels at the extremes: the largest weights against the largest activations', () => {
  // every weight value at its largest (nibbles 15, Q5_K 31, Q6_K 63 with scale -128, Q4_K and
  // Q5_K scales and mins 63, Q3_K 7 with scale 31, Q2_K 3 with scale and min 15) and every activation quantized to -127 (token 0; ggml's Q8_K gives
  // its largest value -127, never -128) or 127 (token 1: its first value of each block at -1.5
  // sets the scale's sign, the others at +1.5): the 16-bit partial sums of the relaxed path at
  // their bound (30480 for the Q4 types, 31496 for Q5_K's four pair sums, 32004 for Q6_K; Q2_K's
  // and Q3_K's far below, their unpacking at every bit set),
  // which neither wrap nor saturate
  type Extreme = 'q4_0' | 'q2_k' | 'q3_k' | 'q4_k' | 'q5_k' | 'q6_k';
  function extremeBlocks(type: Extreme, rows: number, cols: number): Uint8Array {
    const L = REF_LAYOUT[type];
    const out = new Uint8Array(((rows * cols) / L.block) * L.bytes).fill(0xff);
    const dv = new DataView(out.buffer);
    for (let o = 0; o < out.length; o += L.bytes) {
      for (const at of L.halves) dv.setUint16(o + at, 0x2000, true); // 2^-7
      if (type === 'q6_k') out.fill(0x80, o + 192, o + 208); // scales -128
    }
    return out;
  }
  test.each(['q4_0', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k'] as const)('%s: every build and path against the float64 reference', async (type) => {
    const [rows, cols] = [6, 512];
    const bytes = extremeBlocks(type, rows, cols);
    // 9 tokens, so every token tile (4, 2 and 1 tokens) runs at the bound: even tokens quantize
    // to -127 everywhere, odd ones to 127 but for one value per block
    const m = 9;
    const x = new Float32Array(m * cols).fill(-1.5);
    for (let t = 1; t < m; t += 2) for (let j = 0; j < cols; j++) if (j % 256 !== 0) x[t * cols + j] = 1.5;
    const wants = [0, 1].map((t) => gemvRef(type, bytes, x.subarray(t * cols, (t + 1) * cols), rows, cols));
    const q = quantizeQ8KRef(x.subarray(cols, 2 * cols)).q;
    expect([q[0], q[1], q[255], quantizeQ8KRef(x.subarray(0, 256)).q[7]]).toEqual([-127, 127, 127, -127]);
    const outs: number[][] = [];
    for (const backend of BACKENDS) {
      const e = await engineFor(backend);
      const y = run(e, e.kernels.ggmlMatrix(bytes, type, rows, cols), x, m);
      for (let t = 0; t < m; t++) {
        const want = wants[t % 2]!;
        expectClose(y.subarray(t * rows, (t + 1) * rows), want.y, (i) => tolerance(type, cols, want.mag[i]!), `${type} ${backend} token ${t}`);
      }
      outs.push(bits(y));
    }
    for (const o of outs.slice(1)) expect(o).toEqual(outs[0]);
  });
});
