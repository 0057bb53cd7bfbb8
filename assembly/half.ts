// IEEE half and bfloat16 <-> f32: the scales of every ggml block type and the F16/BF16 weights.

// The f32 2^112: an IEEE half's exponent and mantissa bits placed under f32's exponent bias
// (127 instead of 15) read as the half's value times 2^-112 exactly, subnormal halves included.
const TWO_112: u32 = 0x77800000;

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
  const mag = reinterpret<f32>((h & 0x7fff) << 13) * reinterpret<f32>(TWO_112);
  return reinterpret<f32>(reinterpret<u32>(mag) | ((h & 0x8000) << 16));
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

// Four finite halves, one in the top 16 bits of each lane (the low 16 bits zero), to f32: the
// arithmetic shift right by 3 keeps the sign in bit 31 and moves exponent and mantissa under
// f32's (copies of the sign land in bits 28..30, cleared), then TWO_112 rescales.
@inline
export function f32x4_from_half_hi(v: v128): v128 {
  const bits = v128.and(i32x4.shr_s(v, 3), i32x4.splat(0x8fffffff));
  return f32x4.mul(bits, f32x4.splat(reinterpret<f32>(TWO_112)));
}
