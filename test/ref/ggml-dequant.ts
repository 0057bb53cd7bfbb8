// Float64 reference dequantization of ggml's block types, written from the block layouts of
// ggml-common.h alone (it imports nothing from src/): every value is (level, scale, offset) read
// bit by bit from its block, then scale * level - offset in float64. The code under test must
// agree with it exactly once both are rounded to float32.

/** Bytes and values of one block, by ggml type name. */
export const REF_BLOCKS: Record<string, { values: number; bytes: number }> = {
  F32: { values: 1, bytes: 4 }, F16: { values: 1, bytes: 2 }, BF16: { values: 1, bytes: 2 },
  Q4_0: { values: 32, bytes: 18 }, Q4_1: { values: 32, bytes: 20 }, Q5_0: { values: 32, bytes: 22 }, Q5_1: { values: 32, bytes: 24 },
  Q8_0: { values: 32, bytes: 34 }, Q8_1: { values: 32, bytes: 36 },
  Q2_K: { values: 256, bytes: 84 }, Q3_K: { values: 256, bytes: 110 }, Q4_K: { values: 256, bytes: 144 }, Q5_K: { values: 256, bytes: 176 },
  Q6_K: { values: 256, bytes: 210 }, Q8_K: { values: 256, bytes: 292 },
  IQ4_NL: { values: 32, bytes: 18 }, IQ4_XS: { values: 256, bytes: 136 },
};

const IQ4 = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/** IEEE binary16 from its bits, by the definition (sign, 5-bit exponent, 10-bit fraction). */
function f16(bits: number): number {
  const s = bits >> 15 ? -1 : 1;
  const e = (bits >> 10) & 31;
  const m = bits & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  return e === 0 ? s * m * 2 ** -24 : s * (1024 + m) * 2 ** (e - 25);
}

/** The float32 whose bits are u32 (any value, from its fields). */
function f32(u: number): number {
  const s = u >>> 31 ? -1 : 1;
  const e = (u >>> 23) & 255;
  const m = u & 0x7fffff;
  if (e === 255) return m ? NaN : s * Infinity;
  return e === 0 ? s * m * 2 ** -149 : s * (0x800000 + m) * 2 ** (e - 150);
}

/** `width` bits of b starting at bit `bit` of byte `at` (little-endian across bytes). */
function bits(b: Uint8Array, at: number, bit: number, width: number): number {
  let v = 0;
  for (let k = 0; k < width; k++) {
    const p = bit + k;
    v |= ((b[at + (p >> 3)]! >> (p & 7)) & 1) << k;
  }
  return v;
}

const u16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const i8 = (v: number) => (v > 127 ? v - 256 : v);

/** Value v (0..31) of a 32-block with nibbles at qs: byte v % 16, low half for v < 16. */
const nibble32 = (b: Uint8Array, qs: number, v: number) => bits(b, qs + (v % 16), v < 16 ? 0 : 4, 4);

/**
 * The value at index v of the block at byte `o` of type `type`, in float64 (what ggml's
 * dequantize_row computes before its float32 rounding).
 */
function value(type: string, b: Uint8Array, o: number, v: number): number {
  switch (type) {
    case 'F32': return f32((b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0);
    case 'F16': return f16(u16(b, o));
    case 'BF16': return f32(u16(b, o) * 65536);
    case 'Q4_0': return f16(u16(b, o)) * (nibble32(b, o + 2, v) - 8);
    case 'Q4_1': return f16(u16(b, o)) * nibble32(b, o + 4, v) + f16(u16(b, o + 2));
    case 'Q5_0': return f16(u16(b, o)) * (nibble32(b, o + 6, v) + 16 * bits(b, o + 2, v, 1) - 16);
    case 'Q5_1': return f16(u16(b, o)) * (nibble32(b, o + 8, v) + 16 * bits(b, o + 4, v, 1)) + f16(u16(b, o + 2));
    case 'Q8_0': return f16(u16(b, o)) * i8(b[o + 2 + v]!);
    case 'Q8_1': return f16(u16(b, o)) * i8(b[o + 4 + v]!);
    case 'IQ4_NL': return f16(u16(b, o)) * IQ4[nibble32(b, o + 2, v)]!;
    case 'Q8_K': return f32((b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0) * i8(b[o + 4 + v]!);
  }
  // the k-quants: v = 128 * half + 32 * quarter + lane
  const half = v >> 7;
  const quarter = (v >> 5) & 3;
  const lane = v & 31;
  const group16 = v >> 4;
  const group32 = v >> 5;
  switch (type) {
    case 'Q2_K': {
      // qs[64] at 16: byte 32*half + lane, bits 2*quarter; scales[16]: scale low nibble, min high
      const q = bits(b, o + 16 + 32 * half + lane, 2 * quarter, 2);
      const sc = b[o + group16]!;
      return f16(u16(b, o + 80)) * (sc & 15) * q - f16(u16(b, o + 82)) * (sc >> 4);
    }
    case 'Q3_K': {
      // hmask[32]: bit (v / 32) of byte v % 32 set means no -4; 6-bit scales: low nibbles of
      // bytes 96..103 (groups 0-7 low, 8-15 high), top two bits in bytes 104..107
      const q = bits(b, o + 32 + 32 * half + lane, 2 * quarter, 2) - (bits(b, o + (v % 32), v >> 5, 1) ? 0 : 4);
      const g = group16;
      const scale = bits(b, o + 96 + (g % 8), g < 8 ? 0 : 4, 4) + 16 * bits(b, o + 104 + (g % 4), 2 * (g >> 2), 2) - 32;
      return f16(u16(b, o + 108)) * scale * q;
    }
    case 'Q4_K':
    case 'Q5_K': {
      // 8 groups of 32: 6-bit scale and min; groups 0-3 in bytes 4..11 (low 6 bits), groups 4-7
      // as nibbles of bytes 12..15 plus the top two bits of bytes 4..11
      const g = group32;
      const sc = g < 4 ? b[o + 4 + g]! & 63 : (b[o + 8 + g]! & 15) | ((b[o + g]! >> 6) << 4);
      const mn = g < 4 ? b[o + 8 + g]! & 63 : (b[o + 8 + g]! >> 4) | ((b[o + 4 + g]! >> 6) << 4);
      const qs = type === 'Q4_K' ? o + 16 : o + 48;
      // group g's values are the low (even g) or high (odd g) nibbles of the 32 bytes of pair g/2
      let q = bits(b, qs + 32 * (g >> 1) + lane, 4 * (g & 1), 4);
      if (type === 'Q5_K') q += 16 * bits(b, o + 16 + lane, g, 1);
      return f16(u16(b, o)) * sc * q - f16(u16(b, o + 2)) * mn;
    }
    case 'Q6_K': {
      // per 128: ql bytes 64*half + lane (+32 for odd quarters), low nibble for quarters 0-1;
      // qh byte 128 + 32*half + lane, bits 2*quarter; int8 scales at 192 per 16 values
      const low = bits(b, o + 64 * half + lane + 32 * (quarter & 1), 4 * (quarter >> 1), 4);
      const high = bits(b, o + 128 + 32 * half + lane, 2 * quarter, 2);
      return f16(u16(b, o + 208)) * i8(b[o + 192 + group16]!) * (low + 16 * high - 32);
    }
    case 'IQ4_XS': {
      // 8 groups of 32, scale = (4 low bits in scales_l nibble g, 2 high bits of scales_h) - 32
      const g = group32;
      const ls = bits(b, o + 4 + (g >> 1), 4 * (g & 1), 4) + 16 * bits(b, o + 2, 2 * g, 2) - 32;
      return f16(u16(b, o)) * ls * IQ4[nibble32(b, o + 8 + 16 * g, lane)]!;
    }
  }
  throw new Error(`reference: no type ${type}`);
}

/** n values of a tensor of type `type`, in float64. */
export function dequantizeRef(type: string, bytes: Uint8Array, n: number): Float64Array {
  const blk = REF_BLOCKS[type];
  if (!blk) throw new Error(`reference: no type ${type}`);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = value(type, bytes, Math.floor(i / blk.values) * blk.bytes, i % blk.values);
  return out;
}
