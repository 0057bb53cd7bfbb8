// Splitting an FFN's intermediate neurons into E equal groups (sizes differ by at most one when E
// does not divide the hidden size). Each group becomes an expert: its rows of w1 and w3 and the
// matching columns of w2, so the experts' outputs sum to the dense FFN's exactly.
//
// - contiguous: neurons 0..h/E-1, then the next run, ... (the FactorLLM release)
// - random: a seeded permutation, then contiguous runs of it
// - kmeans: balanced k-means on each neuron's L2-normalised [w1 row, w3 row] (one assignment for
//   all three matrices)
// - coactivation: balanced k-means on each neuron's normalised activation magnitudes over
//   calibration tokens, so neurons that fire together share an expert

import { FfnkitError } from '../errors.js';
import { rng } from '../rng.js';

export type SplitMethod = 'contiguous' | 'random' | 'kmeans' | 'coactivation';
export const SPLIT_METHODS: readonly SplitMethod[] = ['contiguous', 'random', 'kmeans', 'coactivation'];

/** Group sizes for h neurons in E groups: the first h mod E groups get one more. */
export function groupSizes(h: number, e: number): number[] {
  return Array.from({ length: e }, (_, i) => Math.floor(h / e) + (i < h % e ? 1 : 0));
}

export interface SplitInput {
  hidden: number;
  dim: number;
  w1: Float32Array;
  w3: Float32Array;
  /** SwiGLU activations silu(w1 x)·(w3 x) over calibration tokens, [tokens, hidden] (coactivation only). */
  activations?: Float32Array;
}

/** The neuron indices of each of E experts. */
export function splitNeurons(method: SplitMethod, experts: number, input: SplitInput, seed = 1, distances: (points: Float64Array[]) => DistanceTable = exactDistances): number[][] {
  const h = input.hidden;
  if (!Number.isInteger(experts) || experts < 2) throw new FfnkitError('E_ARG', `experts: expected an integer >= 2, found ${experts}`);
  if (experts > h) throw new FfnkitError('E_ARG', `experts: ${experts} is more than the ${h} hidden neurons`);
  const sizes = groupSizes(h, experts);
  const runs = (order: number[]) => {
    let at = 0;
    return sizes.map((n) => order.slice(at, (at += n)));
  };
  switch (method) {
    case 'contiguous':
      return runs(Array.from({ length: h }, (_, i) => i));
    case 'random': {
      const next = rng(seed);
      const order = Array.from({ length: h }, (_, i) => i);
      for (let i = h - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      return runs(order);
    }
    case 'kmeans': {
      const d = input.dim;
      const points = Array.from({ length: h }, (_, i) => {
        const v = new Float64Array(2 * d);
        for (let j = 0; j < d; j++) {
          v[j] = input.w1[i * d + j]!;
          v[d + j] = input.w3[i * d + j]!;
        }
        return normalise(v);
      });
      return balancedKmeans(points, sizes, seed, distances(points));
    }
    case 'coactivation': {
      const a = input.activations;
      if (!a || a.length === 0 || a.length % h !== 0) {
        throw new FfnkitError('E_ARG', 'coactivation split: needs calibration activations [tokens, hidden]');
      }
      const tokens = a.length / h;
      const points = Array.from({ length: h }, (_, i) => {
        const v = new Float64Array(tokens);
        for (let t = 0; t < tokens; t++) v[t] = Math.abs(a[t * h + i]!);
        return normalise(v);
      });
      return balancedKmeans(points, sizes, seed, distances(points));
    }
    default:
      throw new FfnkitError('E_ARG', `split: expected one of ${SPLIT_METHODS.join(', ')}, found '${String(method)}'`);
  }
}

function normalise(v: Float64Array): Float64Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}

/** Squared distances of every point to every centroid, [point][centroid]. */
export type DistanceTable = (centroids: Float64Array[]) => Float64Array;

/** The distances summed point by point in float64 (the reference; fine for small models). */
export function exactDistances(points: Float64Array[]): DistanceTable {
  return (centroids) => {
    const k = centroids.length;
    const dims = points[0]!.length;
    const out = new Float64Array(points.length * k);
    points.forEach((a, p) => {
      centroids.forEach((b, c) => {
        let s = 0;
        for (let i = 0; i < dims; i++) s += (a[i]! - b[i]!) ** 2;
        out[p * k + c] = s;
      });
    });
    return out;
  };
}

/**
 * k-means with exact cluster sizes: each assignment step hands points to centroids in order of
 * increasing distance over all (point, centroid) pairs, skipping full clusters (a greedy
 * transport); centroids are the means. Seeded k-means++ start; at most 30 rounds. `distances`
 * computes the point-centroid table (default: exactDistances).
 */
export function balancedKmeans(points: Float64Array[], sizes: number[], seed: number, distances: DistanceTable = exactDistances(points)): number[][] {
  const n = points.length;
  const k = sizes.length;
  const dims = points[0]!.length;
  const next = rng(seed);
  // k-means++ seeding
  const centroids: Float64Array[] = [Float64Array.from(points[Math.floor(next() * n)]!)];
  while (centroids.length < k) {
    const table = distances(centroids);
    const m = centroids.length;
    const d = Array.from({ length: n }, (_, p) => Math.min(...table.subarray(p * m, (p + 1) * m)));
    const total = d.reduce((a, b) => a + b, 0);
    let r = next() * total;
    let pick = 0;
    while (pick < n - 1 && r >= d[pick]!) r -= d[pick++]!;
    centroids.push(Float64Array.from(points[pick]!));
  }
  let assign = new Int32Array(n).fill(-1);
  for (let round = 0; round < 30; round++) {
    const table = distances(centroids);
    const pairs: [number, number, number][] = [];
    for (let p = 0; p < n; p++) for (let c = 0; c < k; c++) pairs.push([table[p * k + c]!, p, c]);
    pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
    const next_ = new Int32Array(n).fill(-1);
    const room = sizes.slice();
    for (const [, p, c] of pairs) {
      if (next_[p] === -1 && room[c]! > 0) {
        next_[p] = c;
        room[c]!--;
      }
    }
    const changed = next_.some((c, p) => c !== assign[p]);
    assign = next_;
    for (let c = 0; c < k; c++) {
      const m = new Float64Array(dims);
      let count = 0;
      for (let p = 0; p < n; p++) {
        if (assign[p] !== c) continue;
        count++;
        for (let i = 0; i < dims; i++) m[i]! += points[p]![i]!;
      }
      if (count > 0) for (let i = 0; i < dims; i++) m[i]! /= count;
      centroids[c] = m;
    }
    if (!changed) break;
  }
  return sizes.map((_, c) => {
    const members: number[] = [];
    assign.forEach((a, p) => {
      if (a === c) members.push(p);
    });
    return members;
  });
}
