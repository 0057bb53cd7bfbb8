// Shared test plumbing: one engine per backend, and closeness checks that name the worst element.

import { expect } from 'vitest';
import { createEngine, BACKENDS, FfnkitError, type Backend, type Engine } from '../src/node/index.js';
import { gemvQ8Ref } from '../testing/q8-reference.js';
import type { Q8PathOutputs } from '../testing/q8-paths.js';

export { BACKENDS };

const engines = new Map<Backend, Promise<Engine>>();

/** One engine per backend for a whole test file (the relaxed one needs Node's relaxed-SIMD flag, set in vitest.config.ts). */
export function engineFor(backend: Backend): Promise<Engine> {
  let e = engines.get(backend);
  if (!e) {
    e = createEngine({ backend });
    engines.set(backend, e);
  }
  return e;
}

/** Unit roundoff of float32 (half an ulp of 1). */
export const U32 = 2 ** -24;

/**
 * Asserts |got[i] - want[i]| <= tol(i) for every i, reporting the worst offender relative to
 * its tolerance when one fails.
 */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: (i: number) => number, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = -1;
  let worstRatio = 1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    const t = tol(i);
    const ratio = Number.isNaN(err) ? Infinity : err / t;
    if (ratio > worstRatio || (Number.isNaN(err) && worst < 0)) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (worst >= 0) {
    const i = worst;
    expect.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]} within ${tol(i)} (error ${Math.abs(got[i]! - want[i]!)})`);
  }
}

/** Uploads `data` at float offset `shift` inside a larger allocation, so the kernel sees an address that is not 16-byte aligned when shift % 4 != 0. */
export function placed(engine: Engine, data: ArrayLike<number>, shift: number) {
  const whole = engine.alloc(data.length + shift);
  return whole.sub(shift, data.length).set(data);
}

/** Byte offset of a tensor's ggml type field in a GGUF header (after its name, n_dims and dims). */
export function ggufTypeOffset(bytes: Uint8Array, name: string): number {
  const needle = new TextEncoder().encode(name);
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  outer: for (let i = 8; i < bytes.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    if (Number(dv.getBigUint64(i - 8, true)) !== needle.length) continue;
    const nDims = dv.getUint32(i + needle.length, true);
    return i + needle.length + 4 + 8 * nDims;
  }
  throw new Error(`tensor ${name} not found`);
}

/** Asserts that fn throws an FfnkitError of `code` whose message matches `pattern`. */
export function expectFfnkitError(fn: () => unknown, pattern: RegExp, code = 'E_FORMAT'): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FfnkitError);
  expect((err as FfnkitError).code).toBe(code);
  expect((err as FfnkitError).message).toMatch(pattern);
}

/**
 * What every run of q8PathOutputs must show, in Node or in a page: the quads' outputs (unsigned
 * path where the engine has it) within (blocks + 4)·U per row of the float64 reference, and the
 * bits of the i16 path on pairs on every path, split and token tail.
 */
export function expectQ8PathsAgree(r: Q8PathOutputs, w: Uint8Array, x: Float32Array, m: number, n: number, k: number, cut: number[]): void {
  const y = new Float32Array(Uint32Array.from(r.quads).buffer);
  for (let t = 0; t < m; t++) {
    const { y: want, mag } = gemvQ8Ref(w, x.subarray(t * k, (t + 1) * k), n, k);
    expectClose(y.subarray(t * n, (t + 1) * n), want, (i) => (k / 32 + 4) * U32 * mag[i]!, `token ${t}`);
  }
  expect(r.quads, 'the quads against the i16 path on pairs').toEqual(r.pairs);
  expect(r.quadsI16, 'the i16 path on quads').toEqual(r.pairs);
  expect(r.quadsSplit, `split at rows ${cut.join(', ')}`).toEqual(r.pairs);
  expect(r.quadsFirst, 'the first token alone').toEqual(r.pairs.slice(0, n));
  expect(r.quadsRest, 'the tokens from 1 on').toEqual(r.pairs.slice(n));
}
