// Small SIMD helpers shared by the kernel families. Everything here is @inline, so each call
// site gets the instruction sequence directly; nothing is compiled into the scalar build unless
// a SIMD path (which the scalar build never compiles) calls it.

// a * b + c on four lanes. The relaxed build lets the engine fuse it into one FMA (one rounding);
// the simd build rounds twice. Either is within the tolerances the tests state.
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

// Sum of the four lanes.
@inline
export function hsum(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.add(s, v128.shuffle<f32>(s, s, 1, 0, 3, 2)), 0);
}

// Largest of the four lanes.
@inline
export function hmax(v: v128): f32 {
  const s = f32x4.max(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.max(s, v128.shuffle<f32>(s, s, 1, 0, 3, 2)), 0);
}

// Stores the first n (0..4) lanes of v at p: the tail of a row that is not a multiple of 4.
@inline
export function store_lanes(p: usize, v: v128, n: i32): void {
  if (n >= 4) {
    v128.store(p, v);
    return;
  }
  if (n >= 1) store<f32>(p, f32x4.extract_lane(v, 0));
  if (n >= 2) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n >= 3) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

// Stores the first n lanes of the eight-lane value (lo, hi) at p: all 8 for n >= 8, none for n <= 0.
@inline
export function store_lanes8(p: usize, lo: v128, hi: v128, n: i32): void {
  if (n >= 8) {
    v128.store(p, lo);
    v128.store(p, hi, 16);
  } else if (n > 4) {
    v128.store(p, lo);
    store_lanes(p + 16, hi, n - 4);
  } else {
    store_lanes(p, lo, n);
  }
}
