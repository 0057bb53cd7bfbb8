// The oracle of FactorLLM: for each token, the k experts whose outputs come closest to the dense
// FFN's. Routed layers run it in 'oracle' mode, and the PA loss trains routers toward its choice.

import type { Combination } from '../model/weights.js';

/**
 * PA targets, the oracle's choice of k experts, for `tokens` tokens: `outs` holds every expert's
 * output, [E][tokens][d], and the teacher's output (the dense FFN) is [tokens][d] at
 * `outs[teacherAt..]`, or, with teacherAt < 0, the sum of the experts' outputs (the dense FFN
 * they were cut from). `sum`: the k-subset whose summed outputs are closest to the teacher (every
 * C(E, k) subset, through the outputs' Gram matrix: |T - sum_S o_s|^2 = |T|^2 - 2 sum_S <T, o_s> +
 * sum_{s, s' in S} <o_s, o_s'>); `paper` / `weighted`: the k experts closest to teacher / (E/k)
 * (the authors' d_i), ties to the lower index. Writes out[t * k + j], float64 sums throughout.
 */
export function paTargets(outs: Float32Array, teacherAt: number, experts: number, k: number, d: number, tokens: number, combination: Combination, out: Int32Array): void {
  const E = experts;
  const teacher = new Float64Array(d);
  const subsets = combination === 'sum' ? combinations(E, k) : [];
  const b = new Float64Array(E);
  const gram = new Float64Array(E * E);
  const dist = new Float64Array(E);
  const order = Array.from({ length: E }, (_, e) => e);
  for (let t = 0; t < tokens; t++) {
    if (teacherAt >= 0) {
      for (let i = 0; i < d; i++) teacher[i] = outs[teacherAt + t * d + i]!;
    } else {
      teacher.fill(0);
      for (let e = 0; e < E; e++) for (let i = 0; i < d; i++) teacher[i]! += outs[(e * tokens + t) * d + i]!;
    }
    if (combination === 'sum') {
      for (let e = 0; e < E; e++) {
        const oe = (e * tokens + t) * d;
        let s = 0;
        for (let i = 0; i < d; i++) s += teacher[i]! * outs[oe + i]!;
        b[e] = s;
        for (let f = 0; f <= e; f++) {
          const of = (f * tokens + t) * d;
          let g = 0;
          for (let i = 0; i < d; i++) g += outs[oe + i]! * outs[of + i]!;
          gram[e * E + f] = gram[f * E + e] = g;
        }
      }
      let best = Infinity;
      for (const sub of subsets) {
        let err = 0;
        for (const s1 of sub) {
          err -= 2 * b[s1]!;
          for (const s2 of sub) err += gram[s1 * E + s2]!;
        }
        if (err < best) {
          best = err;
          out.set(sub, t * k);
        }
      }
    } else {
      const r = k / E;
      for (let e = 0; e < E; e++) {
        const oe = (e * tokens + t) * d;
        let s = 0;
        for (let i = 0; i < d; i++) s += (outs[oe + i]! - teacher[i]! * r) ** 2;
        dist[e] = s;
      }
      order.sort((x, y) => dist[x]! - dist[y]! || x - y);
      for (let j = 0; j < k; j++) out[t * k + j] = order[j]!;
    }
  }
}

/** All k-element subsets of 0..n-1, in lexicographic order. */
export function combinations(n: number, k: number): number[][] {
  const out: number[][] = [];
  const cur: number[] = [];
  const rec = (start: number) => {
    if (cur.length === k) {
      out.push(cur.slice());
      return;
    }
    for (let i = start; i < n; i++) {
      cur.push(i);
      rec(i + 1);
      cur.pop();
    }
  };
  rec(0);
  return out;
}
