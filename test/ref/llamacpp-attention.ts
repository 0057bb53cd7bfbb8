// Attention as llama.cpp's CPU backend computes it by default (node-llama-cpp 3.22.1, which made
// golden/llamacpp-fixtures.json): flash attention over an f16 KV cache. K and V are stored as
// halves, the query is rounded to a half for the K dot products (accumulated in f32), the
// softmax runs online, and the V accumulator is kept in f16: rounded to a half after every
// rescale and every added position (ggml_compute_forward_flash_attn_ext_f16 with an F16 V).
// Also the same cache of halves summed in float64 (halfCacheAttention: what an f16 cache costs
// by itself). Both take Gemma's options: a score scale, tanh soft-capping, a sliding window.
// Float64 steps with the float32 and half roundings spelled out; nothing from src/.

/** The nearest IEEE half (ties to even; below 2^-14 in subnormal steps). */
export function toHalf(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, -14) - 10);
  const t = a / ulp;
  const r = Math.floor(t);
  const up = t - r > 0.5 || (t - r === 0.5 && r % 2 === 1);
  const v = (up ? r + 1 : r) * ulp;
  return Math.sign(x) * (v >= 65520 ? Infinity : v);
}

export interface AttentionShape {
  tokens: number;
  pos0: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Floats between query rows (default heads * headDim). */
  qStride?: number;
  /** Score scale (default 1/sqrt(headDim)). */
  scale?: number;
  /** Scores capped to softcap * tanh(score / softcap) when given. */
  softcap?: number;
  /** A query sees itself and the window - 1 positions before it when given. */
  window?: number;
}

/** The first cache row query position `pos` sees. */
function firstKey(pos: number, window: number | undefined): number {
  return window === undefined ? 0 : Math.max(0, pos - window + 1);
}

/** A float32 score of dot (float64) as llama.cpp forms it: scaled, then soft-capped. */
function scoreOf(dot: number, s: AttentionShape): number {
  const f = Math.fround;
  const scale = f(s.scale ?? 1 / Math.sqrt(s.headDim));
  const x = f(f(dot) * scale);
  return s.softcap === undefined ? x : f(s.softcap * f(Math.tanh(f(x / s.softcap))));
}

/**
 * Causal grouped-query attention over K and V rounded to halves, everything after in float64:
 * out is tokens rows of heads * headDim (the f16 cache's own error, without llama.cpp's sums).
 */
export function halfCacheAttention(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, s: AttentionShape): void {
  const d = s.headDim;
  const qs = s.qStride ?? s.heads * d;
  const kvs = s.kvHeads * d;
  const group = s.heads / s.kvHeads;
  for (let t = 0; t < s.tokens; t++) {
    const pos = s.pos0 + t;
    const first = firstKey(pos, s.window);
    for (let h = 0; h < s.heads; h++) {
      const kh = Math.floor(h / group);
      const scores: number[] = [];
      for (let p = first; p <= pos; p++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += q[t * qs + h * d + i]! * toHalf(k[p * kvs + kh * d + i]!);
        const scale = s.scale ?? 1 / Math.sqrt(d);
        const x = dot * scale;
        scores.push(s.softcap === undefined ? x : s.softcap * Math.tanh(x / s.softcap));
      }
      const m = Math.max(...scores);
      const w = scores.map((x) => Math.exp(x - m));
      const sum = w.reduce((a, b) => a + b, 0);
      for (let i = 0; i < d; i++) {
        let acc = 0;
        for (let p = first; p <= pos; p++) acc += w[p - first]! * toHalf(v[p * kvs + kh * d + i]!);
        out[t * s.heads * d + h * d + i] = acc / sum;
      }
    }
  }
}

/**
 * Causal grouped-query attention of `tokens` queries at positions pos0.. over cache rows
 * 0..pos0+tokens-1 (rows of kvHeads * headDim floats), as llama.cpp's f16 flash attention: out is
 * tokens rows of heads * headDim.
 */
export function llamaCppAttention(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, s: AttentionShape): void {
  const f = Math.fround;
  const d = s.headDim;
  const qs = s.qStride ?? s.heads * d;
  const kvs = s.kvHeads * d;
  const group = s.heads / s.kvHeads;
  const qh = new Float64Array(d);
  const acc = new Float64Array(d);
  for (let t = 0; t < s.tokens; t++) {
    for (let h = 0; h < s.heads; h++) {
      const kh = Math.floor(h / group);
      for (let i = 0; i < d; i++) qh[i] = toHalf(q[t * qs + h * d + i]!);
      acc.fill(0);
      let m = -Infinity;
      let sum = 0;
      for (let p = firstKey(s.pos0 + t, s.window); p <= s.pos0 + t; p++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += qh[i]! * toHalf(k[p * kvs + kh * d + i]!);
        const score = scoreOf(dot, s);
        let ms = 1;
        let vs = 1;
        if (score > m) {
          ms = f(Math.exp(m - score));
          m = score;
          for (let i = 0; i < d; i++) acc[i] = toHalf(f(acc[i]! * ms));
        } else {
          vs = f(Math.exp(score - m));
        }
        for (let i = 0; i < d; i++) acc[i] = toHalf(f(acc[i]! + f(toHalf(v[p * kvs + kh * d + i]!) * vs)));
        sum = f(f(sum * ms) + vs);
      }
      for (let i = 0; i < d; i++) out[t * s.heads * d + h * d + i] = f(acc[i]! / sum);
    }
  }
}
