// GEMV for batch-1 decoding: y[N] = W[N,K] · x[K] + bias, W row-major as loaded (no packing).
//
// Decoding streams every weight once per token, so this kernel is bound by memory bandwidth, not
// arithmetic: it reads four rows at once (four sequential streams the prefetcher follows) with
// two accumulators per row (eight independent add chains hide the add latency), while x stays in
// L1. The four row sums are reduced together by a 4x4 transpose-add and stored as one v128.

import { madd } from './simd';
import { dot } from './reduce';

// Sums the four lanes of each of r0..r3 into the four lanes of one vector.
@inline
function hsum4(r0: v128, r1: v128, r2: v128, r3: v128): v128 {
  const t0 = f32x4.add(v128.shuffle<f32>(r0, r1, 0, 1, 4, 5), v128.shuffle<f32>(r0, r1, 2, 3, 6, 7));
  const t1 = f32x4.add(v128.shuffle<f32>(r2, r3, 0, 1, 4, 5), v128.shuffle<f32>(r2, r3, 2, 3, 6, 7));
  return f32x4.add(v128.shuffle<f32>(t0, t1, 0, 2, 4, 6), v128.shuffle<f32>(t0, t1, 1, 3, 5, 7));
}

// y[N] = W · x + bias.
//   w: N rows of K floats, row stride K (any alignment); x: K floats; bias: N floats or 0
//   y: N floats, must not overlap w, x or bias
export function gemv_f32(w: usize, x: usize, bias: usize, y: usize, n: i32, k: i32): void {
  const ldw = <usize>k * 4;
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    const k8 = k & ~7;
    for (; r + 4 <= n; r += 4) {
      const w0 = w + <usize>r * ldw;
      const w1 = w0 + ldw;
      const w2 = w1 + ldw;
      const w3 = w2 + ldw;
      let s0a = f32x4.splat(0), s0b = s0a, s1a = s0a, s1b = s0a;
      let s2a = s0a, s2b = s0a, s3a = s0a, s3b = s0a;
      for (let i = 0; i < k8; i += 8) {
        const o = <usize>i * 4;
        const xa = v128.load(x + o);
        const xb = v128.load(x + o, 16);
        s0a = madd(v128.load(w0 + o), xa, s0a);
        s0b = madd(v128.load(w0 + o, 16), xb, s0b);
        s1a = madd(v128.load(w1 + o), xa, s1a);
        s1b = madd(v128.load(w1 + o, 16), xb, s1b);
        s2a = madd(v128.load(w2 + o), xa, s2a);
        s2b = madd(v128.load(w2 + o, 16), xb, s2b);
        s3a = madd(v128.load(w3 + o), xa, s3a);
        s3b = madd(v128.load(w3 + o, 16), xb, s3b);
      }
      let sums = hsum4(f32x4.add(s0a, s0b), f32x4.add(s1a, s1b), f32x4.add(s2a, s2b), f32x4.add(s3a, s3b));
      if (k8 < k) {
        // the K tail (fewer than 8 columns), added lane by lane
        let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
        for (let i = k8; i < k; i++) {
          const o = <usize>i * 4;
          const xi = load<f32>(x + o);
          t0 += load<f32>(w0 + o) * xi;
          t1 += load<f32>(w1 + o) * xi;
          t2 += load<f32>(w2 + o) * xi;
          t3 += load<f32>(w3 + o) * xi;
        }
        sums = f32x4.add(sums, f32x4(t0, t1, t2, t3));
      }
      if (bias != 0) sums = f32x4.add(sums, v128.load(bias + <usize>r * 4));
      v128.store(y + <usize>r * 4, sums);
    }
  }
  for (; r < n; r++) {
    let s = dot(w + <usize>r * ldw, x, k);
    if (bias != 0) s += load<f32>(bias + <usize>r * 4);
    store<f32>(y + <usize>r * 4, s);
  }
}
