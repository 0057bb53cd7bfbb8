// Plain float64 reference implementations of every kernel: the straightforward loop, written
// from the definition, with no attempt at speed. Inputs are the same float32 values the kernels
// get; only the arithmetic differs (exact-ish float64 versus the kernels' float32).

type Vec = ArrayLike<number>;

/** C[M,N] = A[M,K] · W[N,K]^T + bias. */
export function gemm(a: Vec, w: Vec, bias: Vec | null, m: number, n: number, k: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j]! : 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * w[j * k + p]!;
      c[i * n + j] = s;
    }
  }
  return c;
}

/** For each output of gemm: sum over p of |a||w| (+|bias|), the scale of its rounding error. */
export function gemmMagnitude(a: Vec, w: Vec, bias: Vec | null, m: number, n: number, k: number): Float64Array {
  const abs = (v: Vec) => Array.from(v, Math.abs);
  return gemm(abs(a), abs(w), bias ? abs(bias) : null, m, n, k);
}

export function dot(a: Vec, b: Vec): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function cosine(a: Vec, b: Vec): number {
  const na = Math.sqrt(dot(a, a));
  const nb = Math.sqrt(dot(b, b));
  return na > 0 && nb > 0 ? dot(a, b) / (na * nb) : 0;
}

export function argmax(x: Vec): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
export const silu = (x: number): number => x * sigmoid(x);

export function swiglu(gate: Vec, up: Vec): Float64Array {
  return Float64Array.from(gate, (g, i) => silu(g) * up[i]!);
}

/**
 * erf in float64: the Maclaurin series below 2.5 (terms shrink fast enough that cancellation
 * costs < 4 digits), the continued fraction of erfc above (Lentz's method).
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 100; n++) {
      term *= (-ax * ax) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
  const tiny = 1e-300;
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    d = ax + an * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = ax + an / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

export const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));
export const geluTanh = (x: number): number =>
  0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

export function rmsnorm(x: Vec, w: Vec, rows: number, eps: number): Float64Array {
  const n = w.length;
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[r * n + i]! ** 2;
    const s = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) y[r * n + i] = x[r * n + i]! * s * w[i]!;
  }
  return y;
}

/** LayerNorm; also returns the normalised values x̂ (before gamma/beta) for error bounds. */
export function layernorm(x: Vec, gamma: Vec | null, beta: Vec | null, rows: number, n: number, eps: number) {
  const y = new Float64Array(rows * n);
  const xhat = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x[r * n + i]!;
    mean /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x[r * n + i]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / n + eps);
    for (let i = 0; i < n; i++) {
      const h = (x[r * n + i]! - mean) * rstd;
      xhat[r * n + i] = h;
      y[r * n + i] = h * (gamma ? gamma[i]! : 1) + (beta ? beta[i]! : 0);
    }
  }
  return { y, xhat };
}

export function softmax(x: Vec, rows: number, n: number): Float64Array {
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let i = 0; i < n; i++) m = Math.max(m, x[r * n + i]!);
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.exp(x[r * n + i]! - m);
    for (let i = 0; i < n; i++) y[r * n + i] = Math.exp(x[r * n + i]! - m) / s;
  }
  return y;
}

/** RoPE with a given table: cs = headDim/2 cosines then headDim/2 sines. */
export function rope(x: Vec, heads: number, d: number, cs: Vec, layout: 'interleaved' | 'half'): Float64Array {
  const y = Float64Array.from(x);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < d / 2; i++) {
      const c = cs[i]!;
      const s = cs[d / 2 + i]!;
      const i0 = h * d + (layout === 'half' ? i : 2 * i);
      const i1 = h * d + (layout === 'half' ? i + d / 2 : 2 * i + 1);
      const a = x[i0]!;
      const b = x[i1]!;
      y[i0] = a * c - b * s;
      y[i1] = a * s + b * c;
    }
  }
  return y;
}

/** The RoPE angle of pair i at position pos, in float64. */
export const ropeAngle = (pos: number, i: number, d: number, theta: number): number => pos * Math.pow(theta, (-2 * i) / d);

/** Dense SwiGLU FFN for t tokens: w2 · (silu(w1 x) * (w3 x)). */
export function ffnSwiglu(x: Vec, w1: Vec, w3: Vec, w2: Vec, t: number, d: number, h: number): Float64Array {
  const g = gemm(x, w1, null, t, h, d);
  const u = gemm(x, w3, null, t, h, d);
  const a = swiglu(g, u);
  return gemm(a, w2, null, t, d, h);
}

/** Options of Gemma-style attention: score scale (default 1/√d), tanh soft-cap, sliding window. */
export interface AttentionOptions {
  scale?: number;
  softcap?: number;
  /** A query at position p sees keys p - window + 1 .. p. */
  window?: number;
}

/**
 * Causal GQA attention for t queries at positions p0.. over cache rows 0..p0+t-1 (packed rows:
 * q and out rows of heads*d, k and v rows of kvHeads*d).
 */
export function attention(q: Vec, k: Vec, v: Vec, t: number, p0: number, heads: number, kvHeads: number, d: number, options: AttentionOptions = {}): Float64Array {
  const out = new Float64Array(t * heads * d);
  const group = heads / kvHeads;
  const { scale = 1 / Math.sqrt(d), softcap, window } = options;
  for (let i = 0; i < t; i++) {
    const last = p0 + i;
    const first = window === undefined ? 0 : Math.max(0, last - window + 1);
    const n = last - first + 1;
    for (let h = 0; h < heads; h++) {
      const kh = Math.floor(h / group);
      const scores = new Float64Array(n);
      for (let s = 0; s < n; s++) {
        let dp = 0;
        for (let j = 0; j < d; j++) dp += q[(i * heads + h) * d + j]! * k[((first + s) * kvHeads + kh) * d + j]!;
        scores[s] = softcap === undefined ? dp * scale : softcap * Math.tanh((dp * scale) / softcap);
      }
      const p = softmax(scores, 1, n);
      for (let j = 0; j < d; j++) {
        let acc = 0;
        for (let s = 0; s < n; s++) acc += p[s]! * v[((first + s) * kvHeads + kh) * d + j]!;
        out[(i * heads + h) * d + j] = acc;
      }
    }
  }
  return out;
}
