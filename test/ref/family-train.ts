// The training loss of a dense model of any family ffnkit runs, in plain float64 and written
// from the families' definitions (llama.cpp's graphs), independent of src/train and src/llm: the
// function whose central finite differences check the training engine's gradients, and whose
// logits check its forward. Per family: q/k/v biases (Qwen2), per-head q/k RMSNorm and a head
// width apart from dim / heads (Qwen3, Gemma 3), NEOX or interleaved rotation, RoPE frequency
// factors and linear scaling (Llama 3), GeGLU and the embedding scale (Gemma), post-attention and
// post-FFN norms, soft-capped attention scores and logits, sliding-window layers with their own
// RoPE base (Gemma 2/3). Routed (factorized) layers as test/ref/llama-train.ts computes them,
// their experts and teacher with the family's gate.

import type { LlamaConfig, LlamaWeights } from '../../src/model/weights.js';
import { attention, gemm, geluTanh, rmsnorm, rope, silu, softmax } from './kernels.js';
import { routedRef, type RefTeacher } from './llama-train.js';

type Vec = ArrayLike<number>;

/** True when layer i of `c` attends over its sliding window (llama.cpp's pattern: period p, layer i slides when i % p < p - 1; p 0: all). */
function slides(c: LlamaConfig, i: number): boolean {
  if (c.slidingWindow === undefined) return false;
  const p = c.slidingPeriod ?? 0;
  return p === 0 || i % p < p - 1;
}

/** cos then sin of position `pos`'s angles: pos * theta^(-2i/hd) / factor_i * scale. */
function cosSin(pos: number, hd: number, theta: number, scale: number, factors: Vec | undefined): Float64Array {
  const t = new Float64Array(hd);
  for (let i = 0; i < hd / 2; i++) {
    const a = ((pos * Math.pow(theta, (-2 * i) / hd)) / (factors ? factors[i]! : 1)) * scale;
    t[i] = Math.cos(a);
    t[hd / 2 + i] = Math.sin(a);
  }
  return t;
}

function addInto(x: Float64Array, y: Vec): void {
  for (let i = 0; i < x.length; i++) x[i]! += y[i]!;
}

/** The gated FFN of a family for t tokens: w2 · (act(w1 x) * (w3 x)), act SiLU or GELU (tanh form). */
function gatedFfn(act: (x: number) => number) {
  return (x: Vec, w1: Vec, w3: Vec, w2: Vec, t: number, d: number, h: number): Float64Array => {
    const g = gemm(x, w1, null, t, h, d);
    const u = gemm(x, w3, null, t, h, d);
    for (let i = 0; i < g.length; i++) g[i] = act(g[i]!) * u[i]!;
    return gemm(g, w2, null, t, d, h);
  };
}

/** The routed layers' teachers (undefined for dense layers) and the weights of their PA and balance terms. */
export interface RefRouting {
  teachers: (RefTeacher | undefined)[];
  paWeight: number;
  balanceWeight: number;
}

export interface RefFamilyForward {
  /** [B*S, vocab]. */
  logits: Float64Array;
  /** PA and balance terms summed over routed layers, unweighted. */
  pa: number;
  balance: number;
  /** Every routing decision: finite differences are only valid where it does not change. */
  decisions: string;
}

/** The logits [B*S, vocab] of B sequences of S + 1 tokens (inputs: the first S of each). */
export function refFamilyLogits(w: LlamaWeights, tokens: Int32Array, B: number, S: number): Float64Array {
  return refFamilyForward(w, tokens, B, S).logits;
}

/** The forward of B sequences of S + 1 tokens: logits and, for routed layers, the PA and balance terms. */
export function refFamilyForward(w: LlamaWeights, tokens: Int32Array, B: number, S: number, routing?: RefRouting): RefFamilyForward {
  const c = w.config;
  const d = c.dim;
  const hd = c.headDim ?? d / c.nHeads;
  const qd = hd * c.nHeads;
  const kv = hd * c.nKvHeads;
  const T = B * S;
  const x = new Float64Array(T * d);
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < S; s++) {
      const id = tokens[b * (S + 1) + s]!;
      for (let i = 0; i < d; i++) x[(b * S + s) * d + i] = w.tokenEmbedding[id * d + i]! * (c.embeddingScale ?? 1);
    }
  }
  const ffn = gatedFfn(c.activation === 'gelu-tanh' ? geluTanh : silu);
  let pa = 0;
  let balance = 0;
  const decisions: number[] = [];
  w.layers.forEach((l, li) => {
    const sliding = slides(c, li);
    const theta = sliding ? (c.ropeThetaSliding ?? c.ropeTheta) : c.ropeTheta;
    const scale = sliding ? (c.ropeScaleSliding ?? c.ropeScale ?? 1) : (c.ropeScale ?? 1);
    const xa = rmsnorm(x, l.attnNorm, T, c.normEps);
    let q = gemm(xa, l.wq, l.bq ?? null, T, qd, d);
    let k = gemm(xa, l.wk, l.bk ?? null, T, kv, d);
    const v = gemm(xa, l.wv, l.bv ?? null, T, kv, d);
    if (l.qNorm && l.kNorm) {
      q = rmsnorm(q, l.qNorm, T * c.nHeads, c.normEps);
      k = rmsnorm(k, l.kNorm, T * c.nKvHeads, c.normEps);
    }
    const att = new Float64Array(T * qd);
    for (let b = 0; b < B; b++) {
      const qs = new Float64Array(S * qd);
      const ks = new Float64Array(S * kv);
      for (let s = 0; s < S; s++) {
        const t = b * S + s;
        const cs = cosSin(s, hd, theta, scale, w.ropeFactors);
        qs.set(rope(q.subarray(t * qd, (t + 1) * qd), c.nHeads, hd, cs, c.ropeStyle), s * qd);
        ks.set(rope(k.subarray(t * kv, (t + 1) * kv), c.nKvHeads, hd, cs, c.ropeStyle), s * kv);
      }
      const options = {
        ...(c.attentionScale !== undefined ? { scale: c.attentionScale } : {}),
        ...(c.attentionSoftcap !== undefined ? { softcap: c.attentionSoftcap } : {}),
        ...(sliding ? { window: c.slidingWindow! } : {}),
      };
      att.set(attention(qs, ks, v.subarray(b * S * kv, (b + 1) * S * kv), S, 0, c.nHeads, c.nKvHeads, hd, options), b * S * qd);
    }
    let o = gemm(att, l.wo, null, T, d, qd);
    if (l.postAttnNorm) o = rmsnorm(o, l.postAttnNorm, T, c.normEps);
    addInto(x, o);
    const hn = rmsnorm(x, l.ffnNorm, T, c.normEps);
    let y: Float64Array;
    if (l.routed) {
      const teacher = routing?.teachers[li];
      if (!teacher) throw new Error(`refFamilyForward: routed layer ${li} needs its teacher`);
      const r = routedRef(l.routed, hn, T, d, teacher, ffn);
      y = r.y;
      pa += r.pa;
      balance += r.balance;
      decisions.push(...r.decisions);
    } else {
      y = ffn(hn, l.w1, l.w3, l.w2, T, d, l.w1.length / d);
    }
    if (l.postFfnNorm) y = rmsnorm(y, l.postFfnNorm, T, c.normEps);
    addInto(x, y);
  });
  const xf = rmsnorm(x, w.finalNorm, T, c.normEps);
  const logits = gemm(xf, w.classifier, null, T, c.vocabSize, d);
  if (c.finalSoftcap !== undefined) for (let i = 0; i < logits.length; i++) logits[i] = c.finalSoftcap * Math.tanh(logits[i]! / c.finalSoftcap);
  return { logits, pa, balance, decisions: decisions.join(',') };
}

/** Mean next-token cross-entropy over B sequences of S + 1 tokens, plus the weighted PA and balance terms of routed layers. */
export function refFamilyLoss(w: LlamaWeights, tokens: Int32Array, B: number, S: number, routing?: RefRouting): { total: number; lm: number; decisions: string } {
  const V = w.config.vocabSize;
  const f = refFamilyForward(w, tokens, B, S, routing);
  const p = softmax(f.logits, B * S, V);
  let nll = 0;
  for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) nll -= Math.log(p[(b * S + s) * V + tokens[b * (S + 1) + s + 1]!]!);
  const lm = nll / (B * S);
  return { total: lm + (routing ? routing.paWeight * f.pa + routing.balanceWeight * f.balance : 0), lm, decisions: f.decisions };
}
