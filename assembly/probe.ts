// Machine probes for the benchmarks: the bounds every speed figure is printed next to.

import { madd } from './simd';

// Sums n floats at p with eight independent v128 accumulators (the scalar build: four floats),
// so the loop is limited by how fast memory delivers bytes: the read-bandwidth bound of GEMV.
export function f32_probe_read(p: usize, n: i32): f32 {
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

// Register-only multiply-add loop in the shape of a GEMM microkernel's inner step, acc += a * b,
// on 12 independent v128 accumulators (scalar build: 10 f32): `iters` iterations (even) of 96
// flops (scalar: 20), the loop body unrolled twice so its counter and V8's interrupt check cost
// little. The products do not depend on the accumulators, so only the add (or fused
// multiply-add) chains bound the loop, and twelve of them cover its latency: this measures how
// many multiply-adds per second the engine issues, the arithmetic peak a kernel can approach.
// (A 10-chain loop without the unrolling measured lower, below what the depthwise kernels
// reach.) Returns a value so that nothing is dead code.
export function f32_probe_madd(iters: i32, seed: f32): f32 {
  if (ASC_FEATURE_SIMD) {
    const a = f32x4.splat(seed * 1e-3);
    const b = f32x4.splat(0.999999);
    const d = f32x4.splat(1.000001);
    let c0 = f32x4.splat(seed), c1 = f32x4.splat(seed + 1), c2 = f32x4.splat(seed + 2), c3 = f32x4.splat(seed + 3);
    let c4 = f32x4.splat(seed + 4), c5 = f32x4.splat(seed + 5), c6 = f32x4.splat(seed + 6), c7 = f32x4.splat(seed + 7);
    let c8 = f32x4.splat(seed + 8), c9 = f32x4.splat(seed + 9), c10 = f32x4.splat(seed + 10), c11 = f32x4.splat(seed + 11);
    for (let i = 0; i < iters; i += 2) {
      c0 = madd(a, b, c0); c1 = madd(a, d, c1); c2 = madd(a, b, c2); c3 = madd(a, d, c3); c4 = madd(a, b, c4); c5 = madd(a, d, c5);
      c6 = madd(a, b, c6); c7 = madd(a, d, c7); c8 = madd(a, b, c8); c9 = madd(a, d, c9); c10 = madd(a, b, c10); c11 = madd(a, d, c11);
      c0 = madd(a, b, c0); c1 = madd(a, d, c1); c2 = madd(a, b, c2); c3 = madd(a, d, c3); c4 = madd(a, b, c4); c5 = madd(a, d, c5);
      c6 = madd(a, b, c6); c7 = madd(a, d, c7); c8 = madd(a, b, c8); c9 = madd(a, d, c9); c10 = madd(a, b, c10); c11 = madd(a, d, c11);
    }
    const s = f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)));
    return f32x4.extract_lane(f32x4.add(s, f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11))), 0);
  } else {
    const a: f32 = seed * 1e-3;
    const b: f32 = 0.999999;
    let c0 = seed, c1 = seed + 1, c2 = seed + 2, c3 = seed + 3, c4 = seed + 4;
    let c5 = seed + 5, c6 = seed + 6, c7 = seed + 7, c8 = seed + 8, c9 = seed + 9;
    for (let i = 0; i < iters; i++) {
      c0 += a * b; c1 += a * b; c2 += a * b; c3 += a * b; c4 += a * b;
      c5 += a * b; c6 += a * b; c7 += a * b; c8 += a * b; c9 += a * b;
    }
    return c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9;
  }
}

// Register-only loop of the quantized kernels' integer step, acc += dot(acc, b), on 12
// independent accumulators (scalar build: 10 i32): `iters` iterations (even) of 12 dots, the
// body unrolled twice as in f32_probe_madd. Each dot reads its own accumulator, so no engine can
// hoist it out of the loop or merge two chains, and twelve chains cover its latency: this is how
// many integer multiply-adds per second the engine issues, the peak a prefill GEMM can approach.
// dot = 1 (relaxed build): i16x8.relaxed_dot_i8x16_i7x16_s, 16 multiply-adds summed in pairs into
// 16-bit lanes (the 4-bit and 6-bit kernels' step; pmaddubsw on x86), then i16x8.add; dot = 0:
// the i16 path's i32x4.dot_i16x8_s, 8 multiply-adds, then i32x4.add; the scalar build: one i32
// multiply-add per dot. The multiply-adds per dot are i8_probe_dot_width's. Returns a value so
// that nothing is dead code.
export function i8_probe_dot(iters: i32, seed: i32, dot: i32): i32 {
  if (ASC_FEATURE_SIMD) {
    if (ASC_FEATURE_RELAXED_SIMD) {
      if (dot == 1) return dot_chains<i16>(iters, seed);
    }
    return dot_chains<i32>(iters, seed);
  } else {
    const b = (seed & 63) + 1;
    let c0 = seed, c1 = seed + 1, c2 = seed + 2, c3 = seed + 3, c4 = seed + 4;
    let c5 = seed + 5, c6 = seed + 6, c7 = seed + 7, c8 = seed + 8, c9 = seed + 9;
    for (let i = 0; i < iters; i++) {
      c0 += <i32><i8>c0 * b; c1 += <i32><i8>c1 * b; c2 += <i32><i8>c2 * b; c3 += <i32><i8>c3 * b; c4 += <i32><i8>c4 * b;
      c5 += <i32><i8>c5 * b; c6 += <i32><i8>c6 * b; c7 += <i32><i8>c7 * b; c8 += <i32><i8>c8 * b; c9 += <i32><i8>c9 * b;
    }
    return c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9;
  }
}

// The 12 chains of i8_probe_dot on the SIMD builds; Lane, the accumulators' lane type, picks the
// instruction at compile time: i16 the relaxed dot, i32 the i16 path's.
@inline
function dot_chains<Lane>(iters: i32, seed: i32): i32 {
  const b = i8x16.splat(<i8>((seed & 63) + 1)); // in 0..127, as the relaxed dot's second operand must be
  let c0 = i8x16.splat(<i8>seed), c1 = i8x16.splat(<i8>(seed + 1)), c2 = i8x16.splat(<i8>(seed + 2)), c3 = i8x16.splat(<i8>(seed + 3));
  let c4 = i8x16.splat(<i8>(seed + 4)), c5 = i8x16.splat(<i8>(seed + 5)), c6 = i8x16.splat(<i8>(seed + 6)), c7 = i8x16.splat(<i8>(seed + 7));
  let c8 = i8x16.splat(<i8>(seed + 8)), c9 = i8x16.splat(<i8>(seed + 9)), c10 = i8x16.splat(<i8>(seed + 10)), c11 = i8x16.splat(<i8>(seed + 11));
  for (let i = 0; i < iters; i += 2) {
    c0 = dot_step<Lane>(c0, b); c1 = dot_step<Lane>(c1, b); c2 = dot_step<Lane>(c2, b); c3 = dot_step<Lane>(c3, b);
    c4 = dot_step<Lane>(c4, b); c5 = dot_step<Lane>(c5, b); c6 = dot_step<Lane>(c6, b); c7 = dot_step<Lane>(c7, b);
    c8 = dot_step<Lane>(c8, b); c9 = dot_step<Lane>(c9, b); c10 = dot_step<Lane>(c10, b); c11 = dot_step<Lane>(c11, b);
    c0 = dot_step<Lane>(c0, b); c1 = dot_step<Lane>(c1, b); c2 = dot_step<Lane>(c2, b); c3 = dot_step<Lane>(c3, b);
    c4 = dot_step<Lane>(c4, b); c5 = dot_step<Lane>(c5, b); c6 = dot_step<Lane>(c6, b); c7 = dot_step<Lane>(c7, b);
    c8 = dot_step<Lane>(c8, b); c9 = dot_step<Lane>(c9, b); c10 = dot_step<Lane>(c10, b); c11 = dot_step<Lane>(c11, b);
  }
  const s = i32x4.add(i32x4.add(i32x4.add(c0, c1), i32x4.add(c2, c3)), i32x4.add(i32x4.add(c4, c5), i32x4.add(c6, c7)));
  return i32x4.extract_lane(i32x4.add(s, i32x4.add(i32x4.add(c8, c9), i32x4.add(c10, c11))), 0);
}

// c + dot(c, b): 16-bit lanes of relaxed pair sums (Lane = i16), or the i16 path's 32-bit ones.
@inline
function dot_step<Lane>(c: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (sizeof<Lane>() == 2) return i16x8.add(c, i16x8.relaxed_dot_i8x16_i7x16_s(c, b));
  }
  return i32x4.add(c, i32x4.dot_i16x8_s(c, b));
}

// Multiply-adds in one dot of i8_probe_dot: 16 (relaxed), 8 (i16 path) or 1 (scalar build).
// (On the scalar build each iteration holds 10 dots, not 12.)
export function i8_probe_dot_width(dot: i32): i32 {
  if (!ASC_FEATURE_SIMD) return 1;
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (dot == 1) return 16;
  }
  return 8;
}
