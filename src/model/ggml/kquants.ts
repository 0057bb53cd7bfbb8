// ggml's k-quants: super-blocks of 256 values in 16 or 8 groups, each group with its own scale
// (and minimum) quantized against one or two f16 super-block scales. Layouts of ggml-common.h,
// rounding of ggml-quants.c's quantize_row_*_ref (llama-quantize without an importance matrix),
// every step in float32.
//
//   Q2_K  scales[16] (4-bit scale | 4-bit min << 4), qs[64] (2 bits), d:f16, dmin:f16     84 B
//   Q3_K  hmask[32] (3rd bit), qs[64] (2 bits), scales[12] (16 x 6 bits, -32), d:f16      110 B
//   Q4_K  d:f16, dmin:f16, scales[12] (8 x 6-bit scale + 6-bit min), qs[128] (nibbles)   144 B
//   Q5_K  d:f16, dmin:f16, scales[12], qh[32] (5th bit), qs[128]                          176 B
//   Q6_K  ql[128] (low 4 bits), qh[64] (high 2 bits), scales:i8[16], d:f16                 210 B
//   Q8_K  d:f32, qs:i8[256], bsums:i16[16] (sums of 16 qs): the activations of k-quant dots 292 B

import { floatToHalf, halfTableF32, readHalf, writeHalf } from '../half.js';
import { kernelOr } from './kernel-quantize.js';
import { GROUP_MAX_EPS, makeQ3Quants, makeQkx2Quants, makeQxQuants, nearestInt, type Qkx2Grid } from './scale-search.js';

const f = Math.fround;
const QK_K = 256;
const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);

/** Four 2-bit levels per byte: byte j/4 + l of each 128-run holds L[j+l], L[j+l+32], L[j+l+64], L[j+l+96]. */
function pack2(L: Uint8Array, out: Uint8Array, qs: number): void {
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; l++) {
      out[qs + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6);
    }
  }
}

/** The 2-bit level of value v (0..255) of a super-block whose qs start at `qs`. */
function level2(src: Uint8Array, qs: number, v: number): number {
  const run = v >> 7; // which 128 values
  const k = v & 127;
  return (src[qs + run * 32 + (k & 31)]! >> (2 * (k >> 5))) & 3;
}

// ---- Q2_K ----

const Q2_GRID: Qkx2Grid = { rmin: -0.5, rdelta: 0.1, nstep: 15, useMad: true };

export function quantizeQ2_KJs(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK_K) * 84);
  const h = halfTableF32();
  const L = new Uint8Array(QK_K);
  const aux = new Uint8Array(16);
  const weights = new Float32Array(16);
  const scales = new Float32Array(16);
  const mins = new Float32Array(16);
  for (let at = 0, o = 0; at < x.length; at += QK_K, o += 84) {
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weights[l] = Math.abs(x[at + 16 * j + l]!);
      [scales[j], mins[j]] = makeQkx2Quants(16, 3, x, at + 16 * j, weights, L, 16 * j, aux, Q2_GRID);
      if (scales[j]! > maxScale) maxScale = scales[j]!;
      if (mins[j]! > maxMin) maxMin = mins[j]!;
    }
    if (maxScale > 0) {
      const iscale = f(15 / maxScale);
      for (let j = 0; j < 16; j++) out[o + j] = nearestInt(f(iscale * scales[j]!));
      writeHalf(out, o + 80, floatToHalf(f(maxScale / 15)));
    }
    if (maxMin > 0) {
      const iscale = f(15 / maxMin);
      for (let j = 0; j < 16; j++) out[o + j] = out[o + j]! | (nearestInt(f(iscale * mins[j]!)) << 4);
      writeHalf(out, o + 82, floatToHalf(f(maxMin / 15)));
    }
    const d = h[readHalf(out, o + 80)]!;
    const dmin = h[readHalf(out, o + 82)]!;
    for (let j = 0; j < 16; j++) {
      const dl = f(d * (out[o + j]! & 15));
      if (!dl) continue;
      const ml = f(dmin * (out[o + j]! >> 4));
      for (let i = 0; i < 16; i++) L[16 * j + i] = clamp(nearestInt(f(f(x[at + 16 * j + i]! + ml) / dl)), 0, 3);
    }
    pack2(L, out, o + 16);
  }
  return out;
}

export function dequantizeQ2_K(src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array {
  const h = halfTableF32();
  for (let at = 0, o = 0; at < n; at += QK_K, o += 84) {
    const d = h[readHalf(src, o + 80)]!;
    const dmin = h[readHalf(src, o + 82)]!;
    for (let v = 0; v < QK_K; v++) {
      const sc = src[o + (v >> 4)]!; // group of 16 values in order
      out[at + v] = d * (sc & 15) * level2(src, o + 16, v) - dmin * (sc >> 4);
    }
  }
  return out;
}

// ---- Q3_K ----

/** The 6-bit scale (0..63) of group j of a Q3_K block whose 12 scale bytes start at `sc`. */
function scale3(b: Uint8Array, sc: number, j: number): number {
  const low = j < 8 ? b[sc + j]! & 15 : b[sc + j - 8]! >> 4;
  return low | (((b[sc + 8 + (j % 4)]! >> (2 * (j >> 2))) & 3) << 4);
}

export function quantizeQ3_KJs(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK_K) * 110);
  const h = halfTableF32();
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(16);
  for (let at = 0, o = 0; at < x.length; at += QK_K, o += 110) {
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = makeQ3Quants(16, 4, x, at + 16 * j, L, 16 * j);
      if (Math.abs(scales[j]!) > amax) {
        amax = Math.abs(scales[j]!);
        maxScale = scales[j]!;
      }
    }
    const sc = o + 96;
    if (maxScale) {
      const iscale = f(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        const l = clamp(nearestInt(f(iscale * scales[j]!)), -32, 31) + 32;
        if (j < 8) out[sc + j] = l & 15;
        else out[sc + j - 8] = out[sc + j - 8]! | ((l & 15) << 4);
        out[sc + 8 + (j % 4)] = out[sc + 8 + (j % 4)]! | ((l >> 4) << (2 * (j >> 2)));
      }
      writeHalf(out, o + 108, floatToHalf(f(1 / iscale)));
    }
    const d = h[readHalf(out, o + 108)]!;
    for (let j = 0; j < 16; j++) {
      const dl = f(d * (scale3(out, sc, j) - 32));
      if (!dl) continue;
      for (let i = 0; i < 16; i++) L[16 * j + i] = clamp(nearestInt(f(x[at + 16 * j + i]! / dl)), -4, 3) + 4;
    }
    // the third bit of value j goes to hmask[j % 32], bit j / 32
    for (let j = 0; j < QK_K; j++) {
      if (L[j]! > 3) {
        out[o + (j & 31)] = out[o + (j & 31)]! | (1 << (j >> 5));
        L[j] = L[j]! - 4;
      }
    }
    pack2(L, out, o + 32);
  }
  return out;
}

export function dequantizeQ3_K(src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array {
  const h = halfTableF32();
  for (let at = 0, o = 0; at < n; at += QK_K, o += 110) {
    const d = h[readHalf(src, o + 108)]!;
    for (let j = 0; j < 16; j++) {
      const dl = d * (scale3(src, o + 96, j) - 32);
      for (let i = 0; i < 16; i++) {
        const v = 16 * j + i;
        const high = (src[o + (v & 31)]! >> (v >> 5)) & 1;
        out[at + v] = dl * (level2(src, o + 32, v) - (high ? 0 : 4));
      }
    }
  }
  return out;
}

// ---- Q4_K and Q5_K: 8 groups of 32, 6-bit scales and mins ----

/** Scale and min (6 bits each) of group j, from the 12 bytes at `sc` (ggml's get_scale_min_k4). */
function scaleMin4(b: Uint8Array, sc: number, j: number): [number, number] {
  if (j < 4) return [b[sc + j]! & 63, b[sc + j + 4]! & 63];
  return [(b[sc + j + 4]! & 15) | ((b[sc + j - 4]! >> 6) << 4), (b[sc + j + 4]! >> 4) | ((b[sc + j]! >> 6) << 4)];
}

/**
 * The scale search both 8x32 types share: per group a weighted fit, then the 6-bit scales and
 * mins against f16 d and dmin (written at o, o+2, scales at o+4), then the levels L (0..nmax)
 * requantized with the stored scales.
 */
function quantizeGroups32(x: Float32Array, at: number, out: Uint8Array, o: number, nmax: number, grid: Qkx2Grid, L: Uint8Array): void {
  const h = halfTableF32();
  const weights = new Float32Array(32);
  const aux = new Uint8Array(32);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[at + 32 * j + l]! * x[at + 32 * j + l]!));
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(x[at + 32 * j + l]!));
    [scales[j], mins[j]] = makeQkx2Quants(32, nmax, x, at + 32 * j, weights, L, 32 * j, aux, grid);
    if (scales[j]! > maxScale) maxScale = scales[j]!;
    if (mins[j]! > maxMin) maxMin = mins[j]!;
  }
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  const sc = o + 4;
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, nearestInt(f(invScale * scales[j]!)) & 0xff);
    const lm = Math.min(63, nearestInt(f(invMin * mins[j]!)) & 0xff);
    if (j < 4) {
      out[sc + j] = ls;
      out[sc + j + 4] = lm;
    } else {
      out[sc + j + 4] = (ls & 15) | ((lm & 15) << 4);
      out[sc + j - 4] = out[sc + j - 4]! | ((ls >> 4) << 6);
      out[sc + j] = out[sc + j]! | ((lm >> 4) << 6);
    }
  }
  writeHalf(out, o, floatToHalf(f(maxScale / 63)));
  writeHalf(out, o + 2, floatToHalf(f(maxMin / 63)));
  const d = h[readHalf(out, o)]!;
  const dmin = h[readHalf(out, o + 2)]!;
  for (let j = 0; j < 8; j++) {
    const [s, m] = scaleMin4(out, sc, j);
    const dl = f(d * s);
    if (!dl) continue;
    const ml = f(dmin * m);
    for (let i = 0; i < 32; i++) L[32 * j + i] = clamp(nearestInt(f(f(x[at + 32 * j + i]! + ml) / dl)), 0, nmax);
  }
}

const Q4_GRID: Qkx2Grid = { rmin: -1, rdelta: 0.1, nstep: 20, useMad: false };
const Q5_GRID: Qkx2Grid = { rmin: -0.5, rdelta: 0.1, nstep: 15, useMad: false };

export function quantizeQ4_KJs(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK_K) * 144);
  const L = new Uint8Array(QK_K);
  for (let at = 0, o = 0; at < x.length; at += QK_K, o += 144) {
    quantizeGroups32(x, at, out, o, 15, Q4_GRID, L);
    // 64 values per 32 bytes: group 2k in the low nibbles, group 2k+1 in the high ones
    for (let j = 0; j < QK_K; j += 64) {
      for (let l = 0; l < 32; l++) out[o + 16 + j / 2 + l] = L[j + l]! | (L[j + l + 32]! << 4);
    }
  }
  return out;
}

/**
 * The 8x32 types' values: group j's levels are the low (even j) or high (odd j) nibbles of the 32
 * bytes of pair j/2 at `qs`, plus for Q5_K 16 times bit j of qh[l] (the 32 bytes at 16).
 */
function dequantizeGroups32(src: Uint8Array, n: number, out: Float32Array, blockBytes: number, qs: number, fifthBit: boolean): Float32Array {
  const h = halfTableF32();
  for (let at = 0, o = 0; at < n; at += QK_K, o += blockBytes) {
    const d = h[readHalf(src, o)]!;
    const dmin = h[readHalf(src, o + 2)]!;
    for (let j = 0; j < 8; j++) {
      const [s, m] = scaleMin4(src, o + 4, j);
      const dl = d * s;
      const ml = dmin * m;
      const pair = o + qs + (j >> 1) * 32;
      const shift = (j & 1) * 4;
      for (let l = 0; l < 32; l++) {
        const q = ((src[pair + l]! >> shift) & 15) | (fifthBit ? ((src[o + 16 + l]! >> j) & 1) << 4 : 0);
        out[at + 32 * j + l] = dl * q - ml;
      }
    }
  }
  return out;
}

export const dequantizeQ4_K = (src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array => dequantizeGroups32(src, n, out, 144, 16, false);

export function quantizeQ5_KJs(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK_K) * 176);
  const L = new Uint8Array(QK_K);
  for (let at = 0, o = 0; at < x.length; at += QK_K, o += 176) {
    quantizeGroups32(x, at, out, o, 31, Q5_GRID, L);
    // low nibbles as Q4_K; the fifth bit of group g's value l is bit g of qh[l]
    for (let j = 0; j < QK_K; j += 64) {
      for (let l = 0; l < 32; l++) {
        const a = L[j + l]!;
        const b = L[j + l + 32]!;
        out[o + 48 + j / 2 + l] = (a & 15) | ((b & 15) << 4);
        out[o + 16 + l] = out[o + 16 + l]! | (((a >> 4) << (j / 32)) | ((b >> 4) << (j / 32 + 1)));
      }
    }
  }
  return out;
}

export const dequantizeQ5_K = (src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array => dequantizeGroups32(src, n, out, 176, 48, true);

// ---- Q6_K ----

export function quantizeQ6_KJs(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK_K) * 210);
  const h = halfTableF32();
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(16);
  for (let at = 0, o = 0; at < x.length; at += QK_K, o += 210) {
    let maxScale = 0;
    let maxAbs = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = makeQxQuants(16, 32, x, at + 16 * j, L, 16 * j);
      if (Math.abs(scales[j]!) > maxAbs) {
        maxAbs = Math.abs(scales[j]!);
        maxScale = scales[j]!;
      }
    }
    if (maxAbs < GROUP_MAX_EPS) continue; // an all-zero block: every byte 0
    const iscale = f(-128 / maxScale);
    writeHalf(out, o + 208, floatToHalf(f(1 / iscale)));
    for (let j = 0; j < 16; j++) out[o + 192 + j] = Math.min(127, nearestInt(f(iscale * scales[j]!))) & 0xff;
    const d = h[readHalf(out, o + 208)]!;
    for (let j = 0; j < 16; j++) {
      const dl = f(d * ((out[o + 192 + j]! << 24) >> 24));
      if (!dl) continue;
      for (let i = 0; i < 16; i++) L[16 * j + i] = clamp(nearestInt(f(x[at + 16 * j + i]! / dl)), -32, 31) + 32;
    }
    // per 128 values: ql holds low nibbles of values l and l+64 (bytes l) and l+32, l+96 (bytes
    // l+32); qh holds the two high bits of all four
    for (let j = 0; j < QK_K; j += 128) {
      const ql = o + j / 2;
      const qh = o + 128 + j / 4;
      for (let l = 0; l < 32; l++) {
        const [a, b, c, e] = [L[j + l]!, L[j + l + 32]!, L[j + l + 64]!, L[j + l + 96]!];
        out[ql + l] = (a & 15) | ((c & 15) << 4);
        out[ql + l + 32] = (b & 15) | ((e & 15) << 4);
        out[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
      }
    }
  }
  return out;
}

export function dequantizeQ6_K(src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array {
  const h = halfTableF32();
  for (let at = 0, o = 0; at < n; at += QK_K, o += 210) {
    const d = h[readHalf(src, o + 208)]!;
    for (let v = 0; v < QK_K; v++) {
      const run = v >> 7;
      const k = v & 127;
      const quarter = k >> 5; // 0..3: values l, l+32, l+64, l+96 of the run
      const l = k & 31;
      const low = (src[o + run * 64 + l + (quarter & 1) * 32]! >> ((quarter >> 1) * 4)) & 15;
      const high = (src[o + 128 + run * 32 + l]! >> (2 * quarter)) & 3;
      const sc = (src[o + 192 + (v >> 4)]! << 24) >> 24;
      out[at + v] = d * sc * ((low | (high << 4)) - 32);
    }
  }
  return out;
}

// ---- Q8_K ----

export function quantizeQ8_K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK_K) * 292);
  const dv = new DataView(out.buffer);
  for (let at = 0, o = 0; at < x.length; at += QK_K, o += 292) {
    let max = 0;
    let amax = 0;
    for (let j = 0; j < QK_K; j++) {
      if (Math.abs(x[at + j]!) > amax) {
        amax = Math.abs(x[at + j]!);
        max = x[at + j]!;
      }
    }
    if (!amax) continue; // d = 0, every q and sum 0
    const iscale = f(-127 / max);
    for (let j = 0; j < QK_K; j++) out[o + 4 + j] = Math.min(127, nearestInt(f(iscale * x[at + j]!))) & 0xff;
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let i = 0; i < 16; i++) sum += (out[o + 4 + 16 * j + i]! << 24) >> 24;
      dv.setInt16(o + 260 + 2 * j, sum, true);
    }
    dv.setFloat32(o, f(1 / iscale), true);
  }
  return out;
}

export function dequantizeQ8_K(src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array {
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let at = 0, o = 0; at < n; at += QK_K, o += 292) {
    const d = dv.getFloat32(o, true);
    for (let j = 0; j < QK_K; j++) out[at + j] = d * ((src[o + 4 + j]! << 24) >> 24);
  }
  return out;
}

// ---- the quantizers the traits use: the wasm kernels, these functions where none loads ----

export const quantizeQ2_K = kernelOr('Q2_K', quantizeQ2_KJs);
export const quantizeQ3_K = kernelOr('Q3_K', quantizeQ3_KJs);
export const quantizeQ4_K = kernelOr('Q4_K', quantizeQ4_KJs);
export const quantizeQ5_K = kernelOr('Q5_K', quantizeQ5_KJs);
export const quantizeQ6_K = kernelOr('Q6_K', quantizeQ6_KJs);
