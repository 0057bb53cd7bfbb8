// FactorLLM's Prior-Approximate (PA) loss for one token, with its gradient with respect to the
// router logits, in float64. As the authors implement it:
//   y = 0/1 mask of the k experts whose outputs are closest to the dense output / (E/k)
//   q = softmax(y), p = softmax(router logits), both clipped to [1e-7, 1 - 1e-7]
//   L_PA = KL(p || q) = sum_i p_i log(p_i / q_i)
// and the optional balance term mean_i(topk_mask(p)_i * p_i), topk_mask marking the router's own
// top k. Clipping passes no gradient where it bites (as torch.clamp).

import type { Combination } from '../llm/weights.js';

export const CLIP_LO = 1e-7;
export const CLIP_HI = 1 - 1e-7;

const clip = (v: number) => Math.min(Math.max(v, CLIP_LO), CLIP_HI);

/** softmax of z into out (float64). */
export function softmax64(z: ArrayLike<number>, out: Float64Array): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) m = Math.max(m, z[i]!);
  let s = 0;
  for (let i = 0; i < z.length; i++) s += out[i] = Math.exp(z[i]! - m);
  for (let i = 0; i < z.length; i++) out[i]! /= s;
  return out;
}

export interface PaTerms {
  pa: number;
  balance: number;
}

/**
 * Adds dL/dz for L = paWeight * pa + balanceWeight * balance into `grad` (length E) and returns
 * both terms. `target` holds the k target experts (the mask y); `k` is also the size of the
 * balance mask.
 */
export function paLoss(logits: ArrayLike<number>, target: ArrayLike<number>, k: number, balanceWeight: number, grad: Float64Array, paWeight = 1): PaTerms {
  const E = logits.length;
  const p = softmax64(logits, new Float64Array(E));
  const y = new Float64Array(E);
  for (let j = 0; j < target.length; j++) y[target[j]!] = 1;
  const q = softmax64(y, new Float64Array(E));
  let pa = 0;
  const g = new Float64Array(E); // dL/dp
  for (let i = 0; i < E; i++) {
    const pc = clip(p[i]!);
    const qc = clip(q[i]!);
    pa += pc * Math.log(pc / qc);
    g[i] = p[i]! > CLIP_LO && p[i]! < CLIP_HI ? paWeight * (Math.log(pc / qc) + 1) : 0;
  }
  let balance = 0;
  if (balanceWeight !== 0) {
    const order = Array.from({ length: E }, (_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
    for (let j = 0; j < k; j++) {
      const i = order[j]!;
      balance += p[i]! / E;
      g[i]! += balanceWeight / E;
    }
  }
  // through the softmax: dL/dz_j = p_j (g_j - sum_i p_i g_i)
  let pg = 0;
  for (let i = 0; i < E; i++) pg += p[i]! * g[i]!;
  for (let j = 0; j < E; j++) grad[j]! += p[j]! * (g[j]! - pg);
  return { pa, balance };
}

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
