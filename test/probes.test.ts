// The integer-dot probe (assembly/probe.ts), the bound `bench peers` prints prefill next to: it
// must run the instruction it claims, lane for lane. Each build's result after a few iterations
// is compared with a lane-by-lane emulation of the recurrence acc += dot(acc, b) written here, so
// a probe that an engine folded away, or that ran another instruction, would disagree.

import { describe, expect, test } from 'vitest';
import { BACKENDS, engineFor } from './helpers.js';

interface ProbeExports {
  i8_probe_dot(iters: number, seed: number, dot: number): number;
  i8_probe_dot_width(dot: number): number;
}

const i8 = (v: number) => (v << 24) >> 24;
const i16 = (v: number) => (v << 16) >> 16;

/** 16 bytes of a vector as its i16 lanes (little-endian), and back. */
const toI16 = (b: number[]) => Array.from({ length: 8 }, (_, j) => i16((b[2 * j]! & 255) | ((b[2 * j + 1]! & 255) << 8)));
const fromI16 = (h: number[]) => h.flatMap((v) => [i8(v & 255), i8((v >> 8) & 255)]);
const toI32 = (b: number[]) => Array.from({ length: 4 }, (_, k) => (b[4 * k]! & 255) | ((b[4 * k + 1]! & 255) << 8) | ((b[4 * k + 2]! & 255) << 16) | (b[4 * k + 3]! << 24));
const fromI32 = (w: number[]) => w.flatMap((v) => [0, 8, 16, 24].map((s) => i8((v >> s) & 255)));

/** One step on the relaxed path: i16 lanes of c plus the pair sums of c's signed bytes times b (0..127). */
function relaxedStep(c: number[], b: number): number[] {
  const h = toI16(c);
  return fromI16(h.map((v, j) => i16(v + i8(c[2 * j]!) * b + i8(c[2 * j + 1]!) * b)));
}

/** One step on the i16 path: i32 lanes of c plus i32x4.dot_i16x8_s(c, b's i16 lanes). */
function i16Step(c: number[], b: number): number[] {
  const h = toI16(c);
  const bh = i16((b & 255) | ((b & 255) << 8));
  return fromI32(toI32(c).map((v, k) => (v + h[2 * k]! * bh + h[2 * k + 1]! * bh) | 0));
}

function expected(backend: string, iters: number, seed: number, dot: number): number {
  const b = (seed & 63) + 1;
  if (backend === 'scalar') {
    let s = 0;
    for (let k = 0; k < 10; k++) {
      let c = seed + k;
      for (let i = 0; i < iters; i++) c = (c + i8(c) * b) | 0;
      s = (s + c) | 0;
    }
    return s;
  }
  const step = backend === 'relaxed' && dot === 1 ? relaxedStep : i16Step;
  let lane0 = 0;
  for (let k = 0; k < 12; k++) {
    let c: number[] = new Array(16).fill(i8(seed + k));
    for (let i = 0; i < iters; i++) c = step(c, b);
    lane0 = (lane0 + toI32(c)[0]!) | 0;
  }
  return lane0;
}

describe('i8_probe_dot', () => {
  for (const backend of BACKENDS) {
    test(`${backend}: the recurrence it claims to run, and the multiply-adds per dot`, async () => {
      const e = await engineFor(backend);
      const w = e.wasm as unknown as ProbeExports;
      for (const dot of [0, 1]) {
        for (const [iters, seed] of [[2, 5], [6, -77], [10, 100]] as const) {
          expect(w.i8_probe_dot(iters, seed, dot), `${backend} dot ${dot} iters ${iters} seed ${seed}`).toBe(expected(backend, iters, seed, dot));
        }
      }
      expect([0, 1].map((d) => w.i8_probe_dot_width(d))).toEqual(backend === 'scalar' ? [1, 1] : backend === 'relaxed' ? [8, 16] : [8, 8]);
    });
  }
});
