// Bad arguments never reach wasm: each is rejected with an FfnkitError whose code and message
// name the argument.

import { describe, expect, test } from 'vitest';
import { FfnkitError, createEngine, type Engine } from '../src/node/index.js';
import { ropeCosSin } from '../src/entries/node/kernels.js';

function expectError(fn: () => unknown, code: string, mentions: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an FfnkitError').toBeInstanceOf(FfnkitError);
  const err = caught as FfnkitError;
  expect(err.code).toBe(code);
  expect(err.message).toMatch(mentions);
}

describe('kernel wrappers reject bad arguments', async () => {
  const e: Engine = await createEngine({ backend: 'simd' });
  const other: Engine = await createEngine({ backend: 'simd' });
  const k = e.kernels;

  test('wrong lengths name the argument and both sizes', () => {
    const w = e.matrix(4, 3);
    expectError(() => k.gemv(w, e.alloc(2), e.alloc(4)), 'E_SHAPE', /^x: expected 3 floats, found 2/);
    expectError(() => k.gemv(w, e.alloc(3), e.alloc(5)), 'E_SHAPE', /^y: expected 4 floats, found 5/);
    expectError(() => k.gemv(w, e.alloc(3), e.alloc(4), e.alloc(3)), 'E_SHAPE', /^bias: expected 4 floats/);
    const p = k.pack(w);
    expectError(() => k.gemv(p, e.alloc(3), e.alloc(4), e.alloc(4)), 'E_ARG', /^bias: packed and block matrices take no bias/);
    expectError(() => k.gemv(p, e.alloc(4), e.alloc(4)), 'E_SHAPE', /^a: expected 3 floats, found 4/);
    expectError(() => k.gemm(e.alloc(7), p, e.alloc(8), 2), 'E_SHAPE', /^a: expected 6 floats, found 7/);
    expectError(() => k.gemm(e.alloc(6), p, e.alloc(9), 2), 'E_SHAPE', /^c: expected 8 floats, found 9/);
    expectError(() => k.add(e.alloc(3), e.alloc(4), e.alloc(3)), 'E_SHAPE', /^b: expected 3/);
    expectError(() => k.rmsnorm(e.alloc(10), e.alloc(4), e.alloc(10), 2), 'E_SHAPE', /^x: expected 8/);
    expectError(() => k.softmax(e.alloc(10), e.alloc(10), 3), 'E_SHAPE', /x: 10 floats do not split into 3/);
    expectError(() => k.rope(e.alloc(8), 2, 4, e.alloc(3), 'half'), 'E_SHAPE', /^cs: expected 4/);
    expectError(() => k.argmax(e.alloc(0)), 'E_ARG', /x.length/);
    const shape = { tokens: 2, pos0: 3, heads: 4, kvHeads: 2, headDim: 8 };
    expectError(() => k.attention(e.alloc(64), e.alloc(70), e.alloc(80), e.alloc(64), shape), 'E_SHAPE', /^k: expected at least 80 floats \(5 rows\), found 70/);
    expectError(() => k.attention(e.alloc(64), e.alloc(80), e.alloc(80), e.alloc(64), { ...shape, kvHeads: 3 }), 'E_SHAPE', /heads: 4 is not a multiple of kvHeads 3/);
    expectError(() => k.attention(e.alloc(64), e.alloc(80), e.alloc(80), e.alloc(64), { ...shape, qStride: 16 }), 'E_ARG', /^qStride: expected an integer >= 32/);
    expectError(() => e.matrix(2, 3, [1, 2, 3]), 'E_SHAPE', /expected 2x3 = 6 values, found 3/);
  });

  test('mismatched FFN weights are named', () => {
    const w1 = e.matrix(6, 4);
    expectError(() => k.denseFfn(w1, e.matrix(6, 5), e.matrix(4, 6)), 'E_SHAPE', /^w3: expected 6x4/);
    expectError(() => k.denseFfn(w1, e.matrix(6, 4), e.matrix(6, 4)), 'E_SHAPE', /^w2: expected 4x6/);
    const f = k.denseFfn(w1, e.matrix(6, 4), e.matrix(4, 6));
    expectError(() => k.ffn(f, e.alloc(8), e.alloc(4), 2), 'E_SHAPE', /^y: expected 8/);
    expectError(() => k.ffn(f, e.alloc(0), e.alloc(0), 0), 'E_ARG', /^tokens: expected an integer >= 1, found 0/);
  });

  test('negative, fractional and non-numeric sizes', () => {
    const p = k.pack(e.matrix(2, 2));
    expectError(() => k.gemm(e.alloc(0), p, e.alloc(0), -1), 'E_ARG', /^m: expected an integer >= 0, found -1/);
    expectError(() => k.gemm(e.alloc(0), p, e.alloc(0), 1.5), 'E_ARG', /^m: .* found 1.5/);
    expectError(() => k.rmsnorm(e.alloc(4), e.alloc(4), e.alloc(4), -2), 'E_ARG', /^rows: /);
    expectError(() => k.rope(e.alloc(7), 1, 7, e.alloc(7), 'half'), 'E_ARG', /^headDim: expected an even number, found 7/);
    expectError(() => k.rope(e.alloc(4), 1, 4, e.alloc(4), 'zigzag' as never), 'E_ARG', /^layout: /);
    expectError(() => k.scale(e.alloc(4), NaN, e.alloc(4)), 'E_ARG', /^s: expected a finite number, found NaN/);
    expectError(() => e.alloc(-3), 'E_ARG', /buffer length: expected an integer >= 0, found -3/);
    expectError(() => e.matrix(0, 3), 'E_ARG', /matrix rows: expected an integer >= 1, found 0/);
    expectError(() => ropeCosSin(-1, 8), 'E_ARG', /^pos: /);
    expectError(() => k.gelu(e.alloc(2), e.alloc(2), 'fast' as never), 'E_ARG', /^approximate: /);
  });

  test('overlapping outputs are rejected; exact in-place is allowed where documented', () => {
    const w = e.matrix(4, 4);
    const x = e.alloc(8);
    expectError(() => k.gemv(w, x.sub(0, 4), x.sub(2, 4)), 'E_ARG', /^y overlaps x/);
    expectError(() => k.gemv(w, x.sub(0, 4), w.data.sub(0, 4)), 'E_ARG', /^y overlaps w/);
    const p = k.pack(w);
    expectError(() => k.gemm(x.sub(0, 4), p, x.sub(3, 4), 1), 'E_ARG', /^c overlaps a/);
    expectError(() => k.gemm(x.sub(0, 4), p, p.data.sub(0, 4), 1), 'E_ARG', /^c overlaps w/);
    expectError(() => k.axpy(2, x.sub(0, 4), x.sub(0, 4)), 'E_ARG', /^y overlaps x/);
    expectError(() => k.add(x.sub(0, 4), x.sub(4, 4), x.sub(1, 4)), 'E_ARG', /^y partly overlaps a/);
    expectError(() => k.swiglu(x.sub(0, 4), x.sub(4, 4), x.sub(3, 4)), 'E_ARG', /^y partly overlaps (gate|up)/);
    expectError(() => k.rmsnorm(x.sub(0, 4), x.sub(4, 4), x.sub(4, 4)), 'E_ARG', /^y (partly )?overlaps/);
    expectError(() => k.rope(x.sub(0, 4), 1, 4, x.sub(2, 4), 'half'), 'E_ARG', /^x overlaps cs/);
    // in place is fine
    k.add(x.sub(0, 4), x.sub(4, 4), x.sub(0, 4));
    k.softmax(x, x);
    k.gelu(x, x);
  });

  test('buffers of another engine, freed buffers and foreign objects are rejected', () => {
    const w = e.matrix(2, 2);
    expectError(() => k.gemv(w, other.alloc(2), e.alloc(2)), 'E_ARG', /^x: buffer belongs to another engine/);
    const freed = e.alloc(2);
    freed.free();
    expectError(() => k.gemv(w, freed, e.alloc(2)), 'E_ARG', /^x: buffer was freed/);
    expectError(() => k.gemv(w, new Float32Array(2) as never, e.alloc(2)), 'E_ARG', /^x: expected an F32Buffer .* found Float32Array/);
    expectError(() => k.gemm(e.alloc(2), w as never, e.alloc(2), 1), 'E_ARG', /^w: expected a PackedMatrix/);
    expectError(() => k.gemv({ type: 'f32', rows: 2, cols: 2, data: other.alloc(4) }, e.alloc(2), e.alloc(2)), 'E_ARG', /^w.data: buffer belongs to another engine/);
    expectError(() => freed.view(), 'E_ARG', /freed/);
    expectError(() => freed.free(), 'E_ARG', /not a live allocation/);
    expectError(() => e.alloc(4).sub(2, 3), 'E_SHAPE', /outside a buffer of 4/);
    expectError(() => e.alloc(4).set([1, 2, 3], 2), 'E_SHAPE', /do not fit/);
  });

  test('a reset arena invalidates every buffer', () => {
    const a = other.alloc(4);
    other.arena.reset();
    expectError(() => other.kernels.scale(a, 1, a), 'E_ARG', /^x: buffer was freed/);
  });
});

describe('engine options', () => {
  test('an unknown backend is an E_ARG naming it', async () => {
    await expect(createEngine({ backend: 'gpu' as never })).rejects.toMatchObject({ code: 'E_ARG', message: /backend: .* found 'gpu'/ });
  });

  test('FFNKIT_BACKEND picks the build, and a bad value is named', async () => {
    const saved = process.env.FFNKIT_BACKEND;
    try {
      process.env.FFNKIT_BACKEND = 'scalar';
      expect((await createEngine()).backend).toBe('scalar');
      process.env.FFNKIT_BACKEND = 'sse';
      await expect(createEngine()).rejects.toMatchObject({ code: 'E_ARG', message: /FFNKIT_BACKEND: .* found 'sse'/ });
      delete process.env.FFNKIT_BACKEND;
      // with the relaxed-SIMD flag set (vitest.config.ts) the best build is the relaxed one
      expect((await createEngine()).backend).toBe('relaxed');
    } finally {
      if (saved === undefined) delete process.env.FFNKIT_BACKEND;
      else process.env.FFNKIT_BACKEND = saved;
    }
  });

  test('more than 4 GiB is E_MEMORY before anything is allocated', async () => {
    const e = await createEngine({ backend: 'scalar' });
    expect(() => e.alloc(2 ** 30 + 1)).toThrow(/wasm32 holds at most 4294967296/);
    await expect(createEngine({ initialMiB: 8192 })).rejects.toMatchObject({ code: 'E_MEMORY' });
  });
});
