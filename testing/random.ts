// Seeded random numbers for tests and benchmarks: the same inputs on every run and machine.

import { rng } from '../src/rng.js';

export { rng };

/** n float32 values uniform in [lo, hi). */
export function randomF32(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}
