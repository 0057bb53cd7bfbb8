// IEEE half and bfloat16 <-> f32: the scales of every ggml block type and the F16/BF16 weights.

// The scalar conversions of finite halves below never put a subnormal f32 into a float
// operation: x86 cores can take a slow microcode assist for such an operand, and halves small
// enough to be subnormal are common block scales (a Q6_K super-block's d is about max |w| /
// 4096). The SIMD conversion of F16 weights and f16 cache values (f32x4_from_half_hi) does
// multiply subnormal halves as subnormal floats: such weights and values are rare, where block
// scales are not, and the five instructions it saves per four weights are most of an F16
// product's work. A half's
// exponent and mantissa bits placed under f32's and rebiased by 112 (an integer add) are its
// value for a normal half. A subnormal half (exponent field 0) is 2^-14 * m / 1024: rebiased by
// 113 instead its bits read as 2^-14 + that value, and subtracting 2^-14 (two normal f32 of one
// exponent) is exact.
const REBIAS: u32 = 112 << 23;
const TWO_MINUS_14: u32 = 0x38800000;
// 2^112: a half's exponent bias (15) against f32's (127)
export const TWO_POW_112: f32 = 5.192296858534828e33;

// IEEE half (in the low 16 bits) to f32, normals, subnormals, zero, inf and NaN.
@inline
export function half_to_f32(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp == 0) {
    // zero or subnormal: mant * 2^-24
    const v = <f32>mant * <f32>5.9604644775390625e-8;
    return sign != 0 ? -v : v;
  }
  if (exp == 31) return reinterpret<f32>(sign | 0x7f800000 | (mant << 13));
  return reinterpret<f32>(sign | ((exp + 112) << 23) | (mant << 13));
}

// A finite half (a block scale the loader checked) to f32 without branches.
@inline
export function half_finite_to_f32(h: u32): f32 {
  const subnormal = (h & 0x7c00) == 0;
  const rebiased = reinterpret<f32>(((h & 0x7fff) << 13) + REBIAS + select<u32>(1 << 23, 0, subnormal));
  const mag = rebiased - select<f32>(reinterpret<f32>(TWO_MINUS_14), 0, subnormal);
  return reinterpret<f32>(reinterpret<u32>(mag) | ((h & 0x8000) << 16));
}

// A finite half's value times 2^-112, as f32: its exponent and mantissa moved under f32's (a
// subnormal half becomes a subnormal float, which wasm keeps), its sign put back; exact. Against
// activations scaled by 2^112 (exact as well: a half's largest, 65504, times 2^112 is 3.401e38,
// below f32's largest), each product is the unscaled product, rounded the same.
@inline
export function half_finite_scaled(h: u32): f32 {
  return reinterpret<f32>(((h & 0x7fff) << 13) | ((h & 0x8000) << 16));
}

// f32 to the nearest IEEE half (ties to even, as F16C's and ggml's conversion), as half bits:
// beyond the largest half (65504, rounding from 65520 up) inf, NaN a quiet NaN.
export function f32_to_half(f: f32): u32 {
  const x = reinterpret<u32>(f);
  const sign = (x >> 16) & 0x8000;
  const a = x & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00;
  if (a >= 0x477ff000) return sign | 0x7c00;
  if (a >= 0x38800000) {
    // a normal half: rebias the exponent by 112 and round the mantissa to 10 bits, ties to even
    return sign | ((a + 0xfff + ((a >> 13) & 1) - 0x38000000) >> 13);
  }
  // a subnormal half (or zero): |f| * 2^24 is exact, and f32.nearest rounds it ties to even;
  // 1024 comes out as the smallest normal's bits
  return sign | <u32>nearest<f32>(abs(f) * <f32>16777216);
}

// f32 to bfloat16 bits as ggml rounds it: nearest, ties to even; NaN stays a (quiet) NaN.
@inline
export function f32_to_bf16(f: f32): u32 {
  const x = reinterpret<u32>(f);
  if ((x & 0x7fffffff) > 0x7f800000) return (x >> 16) | 64;
  return (x + 0x7fff + ((x >> 16) & 1)) >> 16;
}

// Four finite halves, one in the top 16 bits of each lane (the low 16 bits zero), to f32 as
// half_finite_to_f32: the shift right by 3 moves exponent and mantissa under f32's (the sign,
// landing in bit 28, cleared), which reads as the half's value times 2^-112, exactly, subnormal
// halves as subnormal floats (wasm keeps them, it never flushes to zero); one multiply by 2^112,
// exact as well, rescales, and the sign goes back in last (so -0 stays -0).
@inline
export function f32x4_from_half_hi(v: v128): v128 {
  return v128.or(f32x4.mul(half_hi_magnitude(v), f32x4.splat(TWO_POW_112)), v128.and(v, i32x4.splat(0x80000000)));
}

// f32x4_from_half_hi without the rescale: each value times 2^-112, as half_finite_scaled.
@inline
export function f32x4_from_half_hi_scaled(v: v128): v128 {
  return v128.or(half_hi_magnitude(v), v128.and(v, i32x4.splat(0x80000000)));
}

// The magnitudes of four halves in the top 16 bits of each lane, times 2^-112 (see above).
@inline
function half_hi_magnitude(v: v128): v128 {
  return v128.and(i32x4.shr_u(v, 3), i32x4.splat(0x0fffffff));
}
