// The k-means distance table as one GEMM: |p - c|^2 = |p|^2 + |c|^2 - 2 p.c, the dot products of
// every point with every centroid in wasm (the points uploaded once, the centroids packed each
// round as a k-row weight matrix), the norms in float64 on the host. For the FFN-sized splits
// (thousands of neurons of thousands of values) where the float64 loop in split.ts is too slow;
// float32 dot products, so near-ties may order differently than exactDistances.

import type { Engine } from '../runtime/engine.js';
import type { F32Buffer } from '../runtime/buffer.js';
import type { DistanceTable } from './split.js';

const norm2 = (v: Float64Array) => {
  let s = 0;
  for (const x of v) s += x * x;
  return s;
};

/** A DistanceTable factory for splitNeurons on `engine`; `free` releases the uploaded points. */
export function gemmDistances(engine: Engine): { table: (points: Float64Array[]) => DistanceTable; free(): void } {
  const held: F32Buffer[] = [];
  const table = (points: Float64Array[]): DistanceTable => {
    const n = points.length;
    const dims = points[0]!.length;
    const flat = new Float32Array(n * dims);
    points.forEach((p, i) => flat.set(p, i * dims));
    const x = engine.upload(flat, 'k-means points');
    held.push(x);
    const pointNorms = points.map(norm2);
    return (centroids) => {
      const k = centroids.length;
      const c = new Float32Array(k * dims);
      centroids.forEach((v, i) => c.set(v, i * dims));
      const w = engine.kernels.packFrom(c, k, dims, 'k-means centroids');
      const dots = engine.alloc(n * k, 'k-means dot products');
      try {
        engine.kernels.gemm(x, w, dots, n);
        const d = dots.view();
        const centroidNorms = centroids.map(norm2);
        const out = new Float64Array(n * k);
        for (let p = 0; p < n; p++) for (let j = 0; j < k; j++) out[p * k + j] = Math.max(0, pointNorms[p]! + centroidNorms[j]! - 2 * d[p * k + j]!);
        return out;
      } finally {
        w.data.free();
        dots.free();
      }
    };
  };
  return { table, free: () => held.splice(0).forEach((b) => b.free()) };
}
