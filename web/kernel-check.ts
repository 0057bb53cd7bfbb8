// One seeded computation through a few kernels: the page runs it and so does Node, and the
// browser tests compare the two, build by build.

import type { Engine } from '../src/index.js';
import { rng } from '../src/rng.js';

/** GEMM (5x37x63, bias), GELU and a 4-row softmax of seeded inputs, as one array. */
export function kernelProbe(e: Engine): number[] {
  const next = rng(42);
  const data = (n: number) => Float32Array.from({ length: n }, () => next() * 2 - 1);
  const [m, n, k] = [5, 37, 63];
  const packed = e.kernels.pack(e.matrix(n, k, data(n * k)), e.upload(data(n)));
  const c = e.alloc(m * n);
  e.kernels.gemm(e.upload(data(m * k)), packed, c, m);
  const g = e.upload(data(100));
  e.kernels.gelu(g, g);
  e.kernels.softmax(g, g, 4);
  return [...c.toArray(), ...g.toArray()];
}
