// GEMV on row-major weights as loaded (no packing): y[N] = W[N,K] · x[K] + bias.
//
// Four rows at once, one accumulator each, eight columns per iteration through mul + madd + add,
// so each add chain advances once per two products. V8 schedules this form without spills;
// versions with eight accumulators spilled and ran slower. Reading four rows means four memory
// streams, which DRAM serves more slowly than one, so decoding should prefer
// f32_gemm_4x8 with M = 1 on packed weights: the panels are one contiguous stream (see gemm.ts).

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
export function f32_gemv(w: usize, x: usize, bias: usize, y: usize, n: i32, k: i32): void {
  const ldw = <usize>k * 4;
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    const k8 = k & ~7;
    for (; r + 4 <= n; r += 4) {
      const w0 = w + <usize>r * ldw;
      const w1 = w0 + ldw;
      const w2 = w1 + ldw;
      const w3 = w2 + ldw;
      let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
      const end8 = <usize>k8 * 4;
      for (let o: usize = 0; o < end8; o += 32) {
        const xa = v128.load(x + o);
        const xb = v128.load(x + o, 16);
        s0 = f32x4.add(s0, madd(v128.load(w0 + o, 16), xb, f32x4.mul(v128.load(w0 + o), xa)));
        s1 = f32x4.add(s1, madd(v128.load(w1 + o, 16), xb, f32x4.mul(v128.load(w1 + o), xa)));
        s2 = f32x4.add(s2, madd(v128.load(w2 + o, 16), xb, f32x4.mul(v128.load(w2 + o), xa)));
        s3 = f32x4.add(s3, madd(v128.load(w3 + o, 16), xb, f32x4.mul(v128.load(w3 + o), xa)));
      }
      let sums = hsum4(s0, s1, s2, s3);
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
