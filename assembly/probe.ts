// Machine probes for the benchmarks: the bounds every speed figure is printed next to.

import { madd } from './simd';

// Sums n floats at p with eight independent v128 accumulators (the scalar build: four floats),
// so the loop is limited by how fast memory delivers bytes: the read-bandwidth bound of GEMV.
export function probe_read_f32(p: usize, n: i32): f32 {
  let i = 0;
  let s: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (; i + 32 <= n; i += 32) {
      const q = p + <usize>i * 4;
      a0 = f32x4.add(a0, v128.load(q));
      a1 = f32x4.add(a1, v128.load(q, 16));
      a2 = f32x4.add(a2, v128.load(q, 32));
      a3 = f32x4.add(a3, v128.load(q, 48));
      a4 = f32x4.add(a4, v128.load(q, 64));
      a5 = f32x4.add(a5, v128.load(q, 80));
      a6 = f32x4.add(a6, v128.load(q, 96));
      a7 = f32x4.add(a7, v128.load(q, 112));
    }
    const t = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
    s = f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1) + f32x4.extract_lane(t, 2) + f32x4.extract_lane(t, 3);
  } else {
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    for (; i + 4 <= n; i += 4) {
      const q = p + <usize>i * 4;
      s0 += load<f32>(q);
      s1 += load<f32>(q, 4);
      s2 += load<f32>(q, 8);
      s3 += load<f32>(q, 12);
    }
    s = s0 + s1 + s2 + s3;
  }
  for (; i < n; i++) s += load<f32>(p + <usize>i * 4);
  return s;
}

// Register-only multiply-add loop: `iters` iterations of 12 independent multiply-adds on v128
// (96 flops per iteration; the scalar build: 12 scalar multiply-adds, 24 flops). Twelve chains
// cover the latency of a fused or separate multiply-add, so this measures issue throughput:
// the arithmetic peak a GEMM microkernel can approach. Returns a value so nothing is dead code.
export function probe_madd_f32(iters: i32, seed: f32): f32 {
  if (ASC_FEATURE_SIMD) {
    const m = f32x4.splat(0.999999);
    const c = f32x4.splat(seed * 1e-7);
    let a0 = f32x4.splat(seed), a1 = f32x4.splat(seed + 1), a2 = f32x4.splat(seed + 2), a3 = f32x4.splat(seed + 3);
    let a4 = f32x4.splat(seed + 4), a5 = f32x4.splat(seed + 5), a6 = f32x4.splat(seed + 6), a7 = f32x4.splat(seed + 7);
    let a8 = f32x4.splat(seed + 8), a9 = f32x4.splat(seed + 9), a10 = f32x4.splat(seed + 10), a11 = f32x4.splat(seed + 11);
    for (let i = 0; i < iters; i++) {
      a0 = madd(a0, m, c); a1 = madd(a1, m, c); a2 = madd(a2, m, c); a3 = madd(a3, m, c);
      a4 = madd(a4, m, c); a5 = madd(a5, m, c); a6 = madd(a6, m, c); a7 = madd(a7, m, c);
      a8 = madd(a8, m, c); a9 = madd(a9, m, c); a10 = madd(a10, m, c); a11 = madd(a11, m, c);
    }
    const t = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
    const u = f32x4.add(t, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)));
    return f32x4.extract_lane(u, 0);
  } else {
    const m: f32 = 0.999999;
    const c: f32 = seed * 1e-7;
    let a0 = seed, a1 = seed + 1, a2 = seed + 2, a3 = seed + 3, a4 = seed + 4, a5 = seed + 5;
    let a6 = seed + 6, a7 = seed + 7, a8 = seed + 8, a9 = seed + 9, a10 = seed + 10, a11 = seed + 11;
    for (let i = 0; i < iters; i++) {
      a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c;
      a4 = a4 * m + c; a5 = a5 * m + c; a6 = a6 * m + c; a7 = a7 * m + c;
      a8 = a8 * m + c; a9 = a9 * m + c; a10 = a10 * m + c; a11 = a11 * m + c;
    }
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
  }
}
