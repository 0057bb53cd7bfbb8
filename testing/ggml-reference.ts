// Float64 reference of ggml's block types, written from ggml-common.h's layouts and
// ggml-quants.c's definitions without importing ffnkit: each type's weights dequantized
// element by element, activations quantized in float32 steps as ggml quantizes them for the
// type's dot product (Q8_0/Q8_1 for the 32-blocks, Q8_K for the k-quants and IQ4_XS, the
// weights' own precision for F16/BF16), and the product of the two in float64.

import { rng } from './random.js';

export type RefType =
  | 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1' | 'q8_0' | 'iq4_nl'
  | 'q2_k' | 'q3_k' | 'q4_k' | 'q5_k' | 'q6_k' | 'iq4_xs'
  | 'f16' | 'bf16';

/** Weights per block, bytes per block, and the byte offsets of the block's f16 scales. */
export const REF_LAYOUT: Record<RefType, { block: number; bytes: number; halves: number[]; ggmlId: number }> = {
  q4_0: { block: 32, bytes: 18, halves: [0], ggmlId: 2 },
  q4_1: { block: 32, bytes: 20, halves: [0, 2], ggmlId: 3 },
  q5_0: { block: 32, bytes: 22, halves: [0], ggmlId: 6 },
  q5_1: { block: 32, bytes: 24, halves: [0, 2], ggmlId: 7 },
  q8_0: { block: 32, bytes: 34, halves: [0], ggmlId: 8 },
  iq4_nl: { block: 32, bytes: 18, halves: [0], ggmlId: 20 },
  q2_k: { block: 256, bytes: 84, halves: [80, 82], ggmlId: 10 },
  q3_k: { block: 256, bytes: 110, halves: [108], ggmlId: 11 },
  q4_k: { block: 256, bytes: 144, halves: [0, 2], ggmlId: 12 },
  q5_k: { block: 256, bytes: 176, halves: [0, 2], ggmlId: 13 },
  q6_k: { block: 256, bytes: 210, halves: [208], ggmlId: 14 },
  iq4_xs: { block: 256, bytes: 136, halves: [0], ggmlId: 23 },
  f16: { block: 1, bytes: 2, halves: [0], ggmlId: 1 },
  bf16: { block: 1, bytes: 2, halves: [], ggmlId: 30 },
};

const IQ4NL = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

const f32 = Math.fround;

/** IEEE half bits to its value. */
export function halfValue(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** x rounded to the nearest integer, ties to even. */
function rintEven(x: number): number {
  const f = Math.floor(x);
  const r = x - f;
  if (r < 0.5) return f;
  if (r > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** C's roundf: half away from zero. */
function roundAway(x: number): number {
  return Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
}

/** x rounded to `bits` significant bits (ties to even), subnormals below 2^minExp: a float format's rounding. */
function roundToPrecision(x: number, bits: number, minExp: number, overflow: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, minExp) - (bits - 1));
  const r = rintEven(a / ulp) * ulp;
  return Math.sign(x) * (r >= overflow ? Infinity : r);
}

/** x rounded to the nearest IEEE half. */
export function roundHalf(x: number): number {
  return roundToPrecision(x, 11, -14, 65536);
}

/** x rounded to the nearest bfloat16. */
export function roundBf16(x: number): number {
  return roundToPrecision(x, 8, -126, 2 ** 128);
}

/**
 * ggml's Q8_0/Q8_1 activations of x (length a multiple of 32): q, d (stored as a half), s =
 * half(sum(q) * d).
 */
export function quantizeQ8_1Ref(x: Float32Array): { q: Int8Array; d: Float64Array; s: Float64Array } {
  const nb = x.length / 32;
  const q = new Int8Array(x.length);
  const d = new Float64Array(nb);
  const s = new Float64Array(nb);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
    const db = f32(amax / 127);
    const id = db ? f32(1 / db) : 0;
    let sum = 0;
    for (let j = 0; j < 32; j++) {
      const v = roundAway(f32(x[b * 32 + j]! * id));
      q[b * 32 + j] = v;
      sum += v;
    }
    d[b] = roundHalf(db);
    s[b] = roundHalf(f32(sum * db));
  }
  return { q, d, s };
}

/** ggml's Q8_K activations of x (length a multiple of 256). */
export function quantizeQ8KRef(x: Float32Array): { q: Int8Array; d: Float64Array; bsums: Int16Array } {
  const nb = x.length / 256;
  const q = new Int8Array(x.length);
  const d = new Float64Array(nb);
  const bsums = new Int16Array(nb * 16);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    let big = 0;
    for (let j = 0; j < 256; j++) {
      const v = x[b * 256 + j]!;
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        big = v;
      }
    }
    if (amax === 0) continue;
    const iscale = f32(-127 / big);
    for (let j = 0; j < 256; j++) {
      const v = Math.min(127, rintEven(f32(iscale * x[b * 256 + j]!)));
      q[b * 256 + j] = v;
      bsums[b * 16 + (j >> 4)]! += v;
    }
    d[b] = f32(1 / iscale);
  }
  return { q, d, bsums };
}

/** The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block's 12 scale bytes at s. */
function scaleMinK4(u: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [u[s + j]! & 63, u[s + j + 4]! & 63];
  return [(u[s + j + 4]! & 15) | ((u[s + j - 4]! >> 6) << 4), (u[s + j + 4]! >> 4) | ((u[s + j]! >> 6) << 4)];
}

/**
 * The weights of `rows` x `cols` in `type` as float64, one row after another; for Q4_1/Q5_1
 * also each block's min m (ggml's dot product adds m times the activations' s, not m times
 * their dequantized sum).
 */
export function dequantizeRef(type: RefType, bytes: Uint8Array, rows: number, cols: number): { w: Float64Array; mins?: Float64Array } {
  const L = REF_LAYOUT[type];
  const n = rows * cols;
  const nb = n / L.block;
  const u = bytes;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = (at: number) => halfValue(dv.getUint16(at, true));
  const w = new Float64Array(n);
  const mins = type === 'q4_1' || type === 'q5_1' ? new Float64Array(nb) : undefined;
  for (let b = 0; b < nb; b++) {
    const o = b * L.bytes;
    const y = b * L.block;
    switch (type) {
      case 'f16': w[y] = h(o); break;
      case 'bf16': {
        const f = new Float32Array(new Uint32Array([dv.getUint16(o, true) << 16]).buffer)[0]!;
        w[y] = f;
        break;
      }
      case 'q8_0':
        for (let j = 0; j < 32; j++) w[y + j] = h(o) * dv.getInt8(o + 2 + j);
        break;
      case 'q4_0': case 'q4_1': case 'iq4_nl': {
        const qs = type === 'q4_1' ? o + 4 : o + 2;
        for (let j = 0; j < 32; j++) {
          const nib = j < 16 ? u[qs + j]! & 15 : u[qs + j - 16]! >> 4;
          w[y + j] = type === 'q4_0' ? h(o) * (nib - 8) : type === 'iq4_nl' ? h(o) * IQ4NL[nib]! : h(o) * nib + h(o + 2);
        }
        if (mins) mins[b] = h(o + 2);
        break;
      }
      case 'q5_0': case 'q5_1': {
        const qh = dv.getUint32(type === 'q5_0' ? o + 2 : o + 4, true);
        const qs = type === 'q5_0' ? o + 6 : o + 8;
        for (let j = 0; j < 32; j++) {
          const nib = j < 16 ? u[qs + j]! & 15 : u[qs + j - 16]! >> 4;
          const q = nib | (((qh >>> j) & 1) << 4);
          w[y + j] = type === 'q5_0' ? h(o) * (q - 16) : h(o) * q + h(o + 2);
        }
        if (mins) mins[b] = h(o + 2);
        break;
      }
      case 'q2_k':
        for (let i = 0; i < 256; i++) {
          const half = i >> 7, shift = ((i >> 5) & 3) * 2, l = i & 31;
          const sc = u[o + (i >> 4)]!;
          const q = (u[o + 16 + half * 32 + l]! >> shift) & 3;
          w[y + i] = h(o + 80) * (sc & 15) * q - h(o + 82) * (sc >> 4);
        }
        break;
      case 'q3_k':
        for (let i = 0; i < 256; i++) {
          const half = i >> 7, j = (i >> 5) & 3, l = i & 31;
          const is = i >> 4;
          const low = is < 8 ? u[o + 96 + is]! & 15 : u[o + 96 + is - 8]! >> 4;
          const high = (u[o + 104 + (is & 3)]! >> (2 * (is >> 2))) & 3;
          const sc = (low | (high << 4)) - 32;
          const q = ((u[o + 32 + half * 32 + l]! >> (2 * j)) & 3) - (u[o + l]! & (1 << (4 * half + j)) ? 0 : 4);
          w[y + i] = h(o + 108) * sc * q;
        }
        break;
      case 'q4_k': case 'q5_k':
        for (let i = 0; i < 256; i++) {
          const sub = i >> 5, l = i & 31;
          const [sc, m] = scaleMinK4(u, o + 4, sub);
          const qs = type === 'q4_k' ? o + 16 : o + 48;
          const nib = (u[qs + (sub >> 1) * 32 + l]! >> ((sub & 1) * 4)) & 15;
          const q = type === 'q4_k' ? nib : nib | (((u[o + 16 + l]! >> sub) & 1) << 4);
          w[y + i] = h(o) * sc * q - h(o + 2) * m;
        }
        break;
      case 'q6_k':
        for (let i = 0; i < 256; i++) {
          const half = i >> 7, g = (i >> 5) & 3, l = i & 31;
          const ql = u[o + half * 64 + l + (g & 1) * 32]!;
          const lo = g < 2 ? ql & 15 : ql >> 4;
          const hi = (u[o + 128 + half * 32 + l]! >> (2 * g)) & 3;
          const sc = dv.getInt8(o + 192 + half * 8 + (l >> 4) + 2 * g);
          w[y + i] = h(o + 208) * sc * ((lo | (hi << 4)) - 32);
        }
        break;
      case 'iq4_xs':
        for (let i = 0; i < 256; i++) {
          const ib = i >> 5, j = i & 31;
          const ls = ((u[o + 4 + (ib >> 1)]! >> (4 * (ib & 1))) & 15) | (((dv.getUint16(o + 2, true) >> (2 * ib)) & 3) << 4);
          const byte = u[o + 8 + ib * 16 + (j & 15)]!;
          w[y + i] = h(o) * (ls - 32) * IQ4NL[j < 16 ? byte & 15 : byte >> 4]!;
        }
        break;
    }
  }
  return { w, mins };
}

/** The activations the type's kernel multiplies by, dequantized to float64 (and Q8_1's s per block). */
export function activationsRef(type: RefType, x: Float32Array): { xd: Float64Array; s?: Float64Array } {
  const k = x.length;
  const xd = new Float64Array(k);
  if (type === 'f16' || type === 'bf16') {
    for (let j = 0; j < k; j++) xd[j] = type === 'f16' ? roundHalf(x[j]!) : roundBf16(x[j]!);
    return { xd };
  }
  if (REF_LAYOUT[type].block === 256) {
    const { q, d } = quantizeQ8KRef(x);
    for (let j = 0; j < k; j++) xd[j] = d[j >> 8]! * q[j]!;
    return { xd };
  }
  // Q8_0 and Q8_1 activations share q and d (a half); Q8_1 adds s
  const { q, d, s } = quantizeQ8_1Ref(x);
  for (let j = 0; j < k; j++) xd[j] = d[j >> 5]! * q[j]!;
  return { xd, s };
}

/**
 * y = W · x as ggml computes it for `type` (W given as its GGUF bytes, rows x cols), in float64
 * over the quantized values; `mag` is the sum of |terms| per row, for rounding bounds.
 */
export function gemvRef(type: RefType, bytes: Uint8Array, x: Float32Array, rows: number, cols: number): { y: Float64Array; mag: Float64Array } {
  const { w, mins } = dequantizeRef(type, bytes, rows, cols);
  const { xd, s } = activationsRef(type, x);
  const y = new Float64Array(rows);
  const mag = new Float64Array(rows);
  const bpr = cols / 32;
  for (let r = 0; r < rows; r++) {
    let acc = 0;
    let m = 0;
    for (let j = 0; j < cols; j++) {
      const t = w[r * cols + j]! * xd[j]!;
      acc += t;
      m += Math.abs(t);
    }
    if (mins && s) {
      // the min's term uses the activations' s (a half) in place of d_x * sum(q_x)
      for (let b = 0; b < bpr; b++) {
        let dsum = 0;
        for (let j = 0; j < 32; j++) dsum += xd[b * 32 + j]!;
        const mb = mins[r * bpr + b]!;
        acc += mb * (s[b]! - dsum);
        m += Math.abs(mb * s[b]!);
      }
    }
    y[r] = acc;
    mag[r] = m;
  }
  return { y, mag };
}

/** Finite random half bits with magnitudes in [2^lo, 2^hi). */
function randomHalf(r: () => number, lo: number, hi: number): number {
  const v = (r() < 0.5 ? -1 : 1) * 2 ** (lo + (hi - lo) * r());
  return halfBits(roundHalf(v));
}

/** The half bits of a value that is exactly a finite half. */
function halfBits(v: number): number {
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === 0) return sign;
  if (a < 2 ** -14) return sign | Math.round(a * 2 ** 24);
  const e = Math.floor(Math.log2(a));
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}

/**
 * `rows` x `cols` of `type` in random blocks: random quant bits and finite block scales (half
 * scales 2^lo .. 2^hi of `scales`, by default around 2^-6 as trained weights have them; 2^-24 ..
 * 2^-14 gives subnormal halves); F16 weights any finite half; BF16 any finite bfloat16 of
 * moderate size.
 */
export function randomBlocks(type: RefType, rows: number, cols: number, seed: number, scales: readonly [lo: number, hi: number] = [-9, -4]): Uint8Array {
  const L = REF_LAYOUT[type];
  const nb = (rows * cols) / L.block;
  const out = new Uint8Array(nb * L.bytes);
  const r = rng(seed);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(r() * 256);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const o = b * L.bytes;
    if (type === 'f16') dv.setUint16(o, randomHalf(r, -20, 4), true);
    else if (type === 'bf16') dv.setUint16(o, (dv.getUint16(o, true) & 0x807f) | ((100 + Math.floor(r() * 40)) << 7), true);
    else for (const at of L.halves) dv.setUint16(o + at, randomHalf(r, scales[0], scales[1]), true);
  }
  return out;
}
