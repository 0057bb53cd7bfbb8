// The training loss of a Llama-family model in plain float64, written from the definitions and
// independent of src/train: the function whose central finite differences check the analytic
// gradients. Routed layers: top-k of the router logits (ties to the lower index), combination
// weights, and FactorLLM's PA + balance terms against a fixed teacher FFN.

import type { LlamaWeights, RoutedFfnWeights } from '../../src/model/weights.js';
import { attention, ffnSwiglu, gemm, rmsnorm, rope, ropeAngle, softmax } from './kernels.js';

type Vec = ArrayLike<number>;

export interface RefTeacher {
  w1: Vec;
  w3: Vec;
  w2: Vec;
  hidden: number;
}

export interface RefLoss {
  total: number;
  lm: number;
  pa: number;
  balance: number;
  /** Every routing decision (chosen experts and PA targets): finite differences are only valid where it does not change. */
  decisions: string;
}

/** Mean next-token cross-entropy plus `paWeight` x PA and `balanceWeight` x balance, over B sequences of S + 1 tokens. */
export function refTrainLoss(
  w: LlamaWeights, tokens: Int32Array, B: number, S: number, teachers: (RefTeacher | undefined)[], paWeight: number, balanceWeight: number,
): RefLoss {
  const c = w.config;
  const d = c.dim;
  const hd = d / c.nHeads;
  const kv = hd * c.nKvHeads;
  const T = B * S;
  const cs = (pos: number) => {
    const t = new Float64Array(hd);
    for (let i = 0; i < hd / 2; i++) {
      const a = ropeAngle(pos, i, hd, c.ropeTheta);
      t[i] = Math.cos(a);
      t[hd / 2 + i] = Math.sin(a);
    }
    return t;
  };
  let x = new Float64Array(T * d);
  for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) x.set(w.tokenEmbedding.subarray(tokens[b * (S + 1) + s]! * d, (tokens[b * (S + 1) + s]! + 1) * d), (b * S + s) * d);
  let pa = 0;
  let balance = 0;
  const decisions: number[] = [];
  w.layers.forEach((l, li) => {
    const xa = rmsnorm(x, l.attnNorm, T, c.normEps);
    const q = gemm(xa, l.wq, null, T, d, d);
    const k = gemm(xa, l.wk, null, T, kv, d);
    const v = gemm(xa, l.wv, null, T, kv, d);
    const att = new Float64Array(T * d);
    for (let b = 0; b < B; b++) {
      const qs = new Float64Array(S * d);
      const ks = new Float64Array(S * kv);
      for (let s = 0; s < S; s++) {
        const t = b * S + s;
        qs.set(rope(q.subarray(t * d, (t + 1) * d), c.nHeads, hd, cs(s), c.ropeStyle), s * d);
        ks.set(rope(k.subarray(t * kv, (t + 1) * kv), c.nKvHeads, hd, cs(s), c.ropeStyle), s * kv);
      }
      att.set(attention(qs, ks, v.subarray(b * S * kv, (b + 1) * S * kv), S, 0, c.nHeads, c.nKvHeads, hd), b * S * d);
    }
    const o = gemm(att, l.wo, null, T, d, d);
    for (let i = 0; i < x.length; i++) x[i]! += o[i]!;
    const hn = rmsnorm(x, l.ffnNorm, T, c.normEps);
    let y: Float64Array;
    if (l.routed) {
      const r = routedRef(l.routed, hn, T, d, teachers[li]!);
      y = r.y;
      pa += r.pa;
      balance += r.balance;
      decisions.push(...r.decisions);
    } else {
      y = ffnSwiglu(hn, l.w1, l.w3, l.w2, T, d, l.w1.length / d);
    }
    for (let i = 0; i < x.length; i++) x[i]! += y[i]!;
  });
  const xf = rmsnorm(x, w.finalNorm, T, c.normEps);
  const logits = gemm(xf, w.classifier, null, T, c.vocabSize, d);
  const p = softmax(logits, T, c.vocabSize);
  let nll = 0;
  for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) nll -= Math.log(p[(b * S + s) * c.vocabSize + tokens[b * (S + 1) + s + 1]!]!);
  const lm = nll / T;
  x = new Float64Array(0);
  return { total: lm + paWeight * pa + balanceWeight * balance, lm, pa, balance, decisions: decisions.join(',') };
}

/** A gated FFN for t tokens: w2 · (act(w1 x) * (w3 x)), SwiGLU for Llama. */
export type RefGatedFfn = (x: Vec, w1: Vec, w3: Vec, w2: Vec, t: number, d: number, h: number) => Float64Array;

/** A routed FFN's output, its PA and balance terms (means over T tokens) and its routing decisions; experts and teacher through `ffn`. */
export function routedRef(r: RoutedFfnWeights, hn: Float64Array, T: number, d: number, teacher: RefTeacher, ffn: RefGatedFfn = ffnSwiglu) {
  const E = r.experts;
  const K = r.topK;
  const he = r.expertHidden;
  const z = gemm(hn, r.router, r.routerBias, T, E, d);
  const outs = Array.from({ length: E }, (_, e) =>
    ffn(hn, r.w1.subarray(e * he * d, (e + 1) * he * d), r.w3.subarray(e * he * d, (e + 1) * he * d), r.w2.subarray(e * d * he, (e + 1) * d * he), T, d, he),
  );
  const tOut = ffn(hn, teacher.w1, teacher.w3, teacher.w2, T, d, teacher.hidden);
  const y = new Float64Array(T * d);
  const clip = (v: number) => Math.min(Math.max(v, 1e-7), 1 - 1e-7);
  let pa = 0;
  let balance = 0;
  const decisions: number[] = [];
  for (let t = 0; t < T; t++) {
    const zt = Array.from(z.subarray(t * E, (t + 1) * E));
    const order = zt.map((_, e) => e).sort((a, b) => zt[b]! - zt[a]! || a - b);
    const chosen = order.slice(0, K);
    const wts = chosen.map(() => (r.combination === 'paper' ? E / K : 1));
    if (r.combination === 'weighted') {
      const ez = chosen.map((e) => Math.exp(zt[e]! - zt[chosen[0]!]!));
      const s = ez.reduce((a, b) => a + b, 0);
      ez.forEach((v, j) => (wts[j] = v / s));
    }
    chosen.forEach((e, j) => {
      for (let i = 0; i < d; i++) y[t * d + i]! += wts[j]! * outs[e]![t * d + i]!;
    });
    // PA target
    let target: number[];
    if (r.combination === 'sum') {
      let best = Infinity;
      target = [];
      for (const sub of subsets(E, K)) {
        let err = 0;
        for (let i = 0; i < d; i++) {
          let s = tOut[t * d + i]!;
          for (const e of sub) s -= outs[e]![t * d + i]!;
          err += s * s;
        }
        if (err < best) {
          best = err;
          target = sub;
        }
      }
    } else {
      const dist = outs.map((o) => {
        let s = 0;
        for (let i = 0; i < d; i++) s += (o[t * d + i]! - (tOut[t * d + i]! * K) / E) ** 2;
        return s;
      });
      target = dist.map((_, e) => e).sort((a, b) => dist[a]! - dist[b]! || a - b).slice(0, K);
    }
    const p = softmax(zt, 1, E);
    const yMask = new Float64Array(E);
    for (const e of target) yMask[e] = 1;
    const q = softmax(yMask, 1, E);
    for (let e = 0; e < E; e++) pa += clip(p[e]!) * Math.log(clip(p[e]!) / clip(q[e]!));
    const pOrder = Array.from(p).map((_, e) => e).sort((a, b) => p[b]! - p[a]! || a - b);
    for (let j = 0; j < K; j++) balance += p[pOrder[j]!]! / E;
    decisions.push(...chosen, ...[...target].sort(), ...pOrder.slice(0, K));
  }
  return { y, pa: pa / T, balance: balance / T, decisions };
}

function subsets(n: number, k: number): number[][] {
  if (k === 0) return [[]];
  const out: number[][] = [];
  for (let i = n - 1; i >= k - 1; i--) for (const s of subsets(i, k - 1)) out.push([...s, i]);
  return out;
}
