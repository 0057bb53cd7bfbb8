// The training loss of a dense model of any family ffnkit runs, in plain float64 and written
// from the families' definitions (llama.cpp's graphs), independent of src/train and src/llm: the
// function whose central finite differences check the training engine's gradients, and whose
// logits check its forward. Per family: q/k/v biases (Qwen2), per-head q/k RMSNorm and a head
// width apart from dim / heads (Qwen3, Gemma 3), NEOX or interleaved rotation, RoPE frequency
// factors and linear scaling (Llama 3), GeGLU and the embedding scale (Gemma), post-attention and
// post-FFN norms, soft-capped attention scores and logits, sliding-window layers with their own
// RoPE base (Gemma 2/3).

import type { LlamaConfig, LlamaWeights } from '../../src/model/weights.js';
import { attention, gemm, geluTanh, rmsnorm, rope, silu, softmax } from './kernels.js';

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

/** The logits [B*S, vocab] of B sequences of S + 1 tokens (inputs: the first S of each). */
export function refFamilyLogits(w: LlamaWeights, tokens: Int32Array, B: number, S: number): Float64Array {
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
  const act = c.activation === 'gelu-tanh' ? geluTanh : silu;
  w.layers.forEach((l, li) => {
    if (l.routed) throw new Error('refFamilyLogits: dense layers only');
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
    const hidden = l.w1.length / d;
    const g = gemm(hn, l.w1, null, T, hidden, d);
    const u = gemm(hn, l.w3, null, T, hidden, d);
    for (let i = 0; i < g.length; i++) g[i] = act(g[i]!) * u[i]!;
    let y = gemm(g, l.w2, null, T, d, hidden);
    if (l.postFfnNorm) y = rmsnorm(y, l.postFfnNorm, T, c.normEps);
    addInto(x, y);
  });
  const xf = rmsnorm(x, w.finalNorm, T, c.normEps);
  const logits = gemm(xf, w.classifier, null, T, c.vocabSize, d);
  if (c.finalSoftcap !== undefined) for (let i = 0; i < logits.length; i++) logits[i] = c.finalSoftcap * Math.tanh(logits[i]! / c.finalSoftcap);
  return logits;
}

/** Mean next-token cross-entropy over B sequences of S + 1 tokens. */
export function refFamilyLoss(w: LlamaWeights, tokens: Int32Array, B: number, S: number): number {
  const V = w.config.vocabSize;
  const p = softmax(refFamilyLogits(w, tokens, B, S), B * S, V);
  let nll = 0;
  for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) nll -= Math.log(p[(b * S + s) * V + tokens[b * (S + 1) + s + 1]!]!);
  return nll / (B * S);
}
