// ggml's non-linear 4-bit types: each nibble indexes a fixed table of 16 int8 values
// (kvalues_iq4nl), times a block scale. IQ4_NL: 32-weight blocks (d, 16 bytes of nibbles, as
// Q4_0) against Q8_1/Q8_0 activations; IQ4_XS: 256-weight super-blocks with eight 6-bit
// sub-block scales against Q8_K. The table values are signed, so these take the i16 dot path
// on every engine. In 16 bytes of nibbles, byte j holds weight j (low nibble) and 16 + j (high).

import { dot_s8x16, hsum_i32x4 } from './dot';
import { half_finite_to_f32 } from './half';

export const IQ4_NL_BYTES: usize = 18;
export const IQ4_XS_BYTES: usize = 136;

// ggml's kvalues_iq4nl.
@inline
function kvalues(): v128 {
  return i8x16(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
}

// The table value of nibble n (0..15), for the scalar build.
@inline
function kvalue(n: i32): i32 {
  return <i32>load<i8>(memory.data<i8>([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]) + <usize>n);
}

// The 32 table values of the nibbles at q dotted with the 32 int8 activations at xq.
@inline
function dot_iq4(q: usize, xq: usize): i32 {
  if (ASC_FEATURE_SIMD) {
    const v = v128.load(q);
    const lo = i8x16.swizzle(kvalues(), v128.and(v, i8x16.splat(0x0f)));
    const hi = i8x16.swizzle(kvalues(), i8x16.shr_u(v, 4));
    return hsum_i32x4(i32x4.add(dot_s8x16(lo, xq), dot_s8x16(hi, xq + 16)));
  } else {
    let s = 0;
    for (let j = 0; j < 16; j++) {
      const byte = <i32>load<u8>(q + <usize>j);
      s += kvalue(byte & 15) * <i32>load<i8>(xq + <usize>j) + kvalue(byte >> 4) * <i32>load<i8>(xq + <usize>j + 16);
    }
    return s;
  }
}

// IQ4_NL: d (f16), 16 bytes of nibbles; weight = d * kvalues[q]. x: Q8_1 blocks (44 bytes,
// d at 32); w the row's first block, nb = k / 32.
@inline
export function iq4_nl_row(w: usize, x: usize, nb: i32, form: i32): f32 {
  let acc: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * IQ4_NL_BYTES;
    const xb = x + <usize>b * 44;
    acc += <f32>dot_iq4(wb + 2, xb) * (half_finite_to_f32(load<u16>(wb)) * load<f32>(xb, 32));
  }
  return acc;
}

// IQ4_XS: d (f16), scales_h (u16: bits 2i..2i+1 are sub-block i's high scale bits), scales_l[4]
// (nibble i of the 8 is sub-block i's low 4 bits), qs[128] (16 bytes per sub-block of 32);
// weight = d * (scale - 32) * kvalues[q]. x: Q8_K blocks (292 bytes: f32 d, q at 4); nb = k / 256.
@inline
export function iq4_xs_row(w: usize, x: usize, nb: i32, form: i32): f32 {
  let acc: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * IQ4_XS_BYTES;
    const xb = x + <usize>b * 292;
    const sh = <i32>load<u16>(wb, 2);
    const sl = load<u32>(wb, 4);
    let s = 0;
    for (let i = 0; i < 8; i++) {
      const ls = (<i32>(sl >> (<u32>i * 4)) & 15) | (((sh >> (2 * i)) & 3) << 4);
      s += (ls - 32) * dot_iq4(wb + 8 + <usize>i * 16, xb + 4 + <usize>i * 32);
    }
    acc += <f32>s * (half_finite_to_f32(load<u16>(wb)) * load<f32>(xb));
  }
  return acc;
}
