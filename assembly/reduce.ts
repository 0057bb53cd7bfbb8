// Reductions over one vector: dot product, cosine similarity, argmax.
// Sums use two v128 accumulators (eight partial sums), so their rounding differs from a
// sequential float32 loop by O(n * eps) relative to the sum of magnitudes; the tests allow that.

import { madd, hsum, hmax } from './simd';

// Dot product of a[n] and b[n] (any alignment). Shared by the GEMV tails.
@inline
export function dot(a: usize, b: usize, n: i32): f32 {
  let s: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let s0 = f32x4.splat(0);
    let s1 = f32x4.splat(0);
    for (; i + 8 <= n; i += 8) {
      const o = <usize>i * 4;
      s0 = madd(v128.load(a + o), v128.load(b + o), s0);
      s1 = madd(v128.load(a + o, 16), v128.load(b + o, 16), s1);
    }
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i * 4;
      s0 = madd(v128.load(a + o), v128.load(b + o), s0);
    }
    s = hsum(f32x4.add(s0, s1));
  }
  for (; i < n; i++) s += load<f32>(a + <usize>i * 4) * load<f32>(b + <usize>i * 4);
  return s;
}

// Sum of x[n].
@inline
export function sum(x: usize, n: i32): f32 {
  let s: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let v = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) v = f32x4.add(v, v128.load(x + <usize>i * 4));
    s = hsum(v);
  }
  for (; i < n; i++) s += load<f32>(x + <usize>i * 4);
  return s;
}

// Returns a · b for a[n], b[n].
export function f32_dot(a: usize, b: usize, n: i32): f32 {
  return dot(a, b, n);
}

// Returns cos(a, b) = a·b / (|a| |b|) for a[n], b[n]; 0 when either vector is all zeros.
// One pass with three sums (a·b, a·a, b·b), as FFN skipping needs it once per layer and token.
export function f32_cosine(a: usize, b: usize, n: i32): f32 {
  return cosine(a, b, n, false);
}

// cos(a, b), or with `add` (a compile-time constant) cos(a, a + b) while storing a + b into a:
// the residual update of a block and its saturation in one pass over the vectors.
@inline
function cosine(a: usize, b: usize, n: i32, add: bool): f32 {
  let ab: f32 = 0, aa: f32 = 0, bb: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let vab = f32x4.splat(0), vaa = vab, vbb = vab;
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i * 4;
      const va = v128.load(a + o);
      let vb = v128.load(b + o);
      if (add) {
        vb = f32x4.add(va, vb);
        v128.store(a + o, vb);
      }
      vab = madd(va, vb, vab);
      vaa = madd(va, va, vaa);
      vbb = madd(vb, vb, vbb);
    }
    ab = hsum(vab);
    aa = hsum(vaa);
    bb = hsum(vbb);
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    const x = load<f32>(a + o);
    let y = load<f32>(b + o);
    if (add) {
      y = x + y;
      store<f32>(a + o, y);
    }
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  const norms = Mathf.sqrt(aa) * Mathf.sqrt(bb);
  return norms > 0 ? ab / norms : 0;
}

// Largest value of x[n], n >= 1; NaN values are ignored (-Infinity when all are NaN).
@inline
export function max_of(x: usize, n: i32): f32 {
  let m: f32 = -Infinity;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    if (n >= 4) {
      let vm = f32x4.splat(-Infinity);
      for (; i + 4 <= n; i += 4) vm = f32x4.pmax(vm, v128.load(x + <usize>i * 4));
      m = hmax(vm);
    }
  }
  for (; i < n; i++) {
    const v = load<f32>(x + <usize>i * 4);
    if (v > m) m = v;
  }
  return m;
}

// Returns the index of the first largest value of x[n], n >= 1 (NaN never wins; all NaN gives 0).
// Two passes: a SIMD maximum, then the first index holding it.
export function f32_argmax(x: usize, n: i32): i32 {
  const m = max_of(x, n);
  for (let i = 0; i < n; i++) {
    if (load<f32>(x + <usize>i * 4) == m) return i;
  }
  return 0;
}

// The residual update of a transformer block with its saturation measure, in one pass:
// x[n] += d[n], returning cos(x before, x after) (0 when either is all zeros). FFN skipping
// watches this value; fusing it into the add keeps the monitoring to one read of x and d.
export function f32_add_cosine(x: usize, d: usize, n: i32): f32 {
  return cosine(x, d, n, true);
}
