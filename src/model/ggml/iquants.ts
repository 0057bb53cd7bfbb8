// ggml's non-linear 4-bit types: each nibble indexes 16 fixed levels (kvalues_iq4nl, denser near
// zero) times a scale. Quantized as ggml-quants.c's quantize_iq4_nl / quantize_iq4_xs do without
// an importance matrix (weights x², 7 scale trials either side), every step in float32.
//
//   IQ4_NL  d:f16, qs[16]                                          32 values, 18 B
//   IQ4_XS  d:f16, scales_h:u16, scales_l[4], qs[128]              256 values, 136 B
//           (8 groups of 32, each scale 6 bits - 32: low 4 in scales_l, high 2 in scales_h)
// Nibbles of a 32-value group: byte j holds values j (low) and j + 16 (high).

import { floatToHalf, halfTableF32, readHalf, writeHalf } from '../half.js';
import { kernelOr } from './kernel-quantize.js';
import { GROUP_MAX_EPS, nearestInt } from './scale-search.js';

const f = Math.fround;

export const IQ4_LEVELS = Int8Array.of(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);

/** The level nearest to x (ties go up), by binary search on the midpoints, exact in doubles. */
function nearestLevel(x: number): number {
  let idx = 0;
  for (let step = 8; step > 0; step >>= 1) {
    const j = idx + step;
    if (2 * x >= IQ4_LEVELS[j - 1]! + IQ4_LEVELS[j]!) idx = j;
  }
  return idx;
}

/**
 * The best scale of one 32-value group for the x²-weighted error: the scale through the largest
 * value, refined by least squares over 15 trial scales. Returns 0 for an all-zero group.
 */
function groupScale(x: Float32Array, at: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    if (Math.abs(x[at + j]!) > amax) {
      amax = Math.abs(x[at + j]!);
      max = x[at + j]!;
    }
  }
  if (amax < GROUP_MAX_EPS) return 0;
  const fit = (id: number): [number, number] => {
    let sumqx = 0;
    let sumq2 = 0;
    for (let j = 0; j < 32; j++) {
      const xj = x[at + j]!;
      const q = IQ4_LEVELS[nearestLevel(f(id * xj))]!;
      const wq = f(f(xj * xj) * q);
      sumqx = f(sumqx + f(wq * xj));
      sumq2 = f(sumq2 + f(wq * q));
    }
    return [sumqx, sumq2];
  };
  let [sumqx, sumq2] = fit(f(1 / f(-max / IQ4_LEVELS[0]!)));
  let d = sumq2 > 0 ? f(sumqx / sumq2) : 0;
  let best = f(d * sumqx);
  for (let itry = -7; itry <= 7; itry++) {
    [sumqx, sumq2] = fit(f((itry + IQ4_LEVELS[0]!) / max));
    if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
      d = f(sumqx / sumq2);
      best = f(d * sumqx);
    }
  }
  return d;
}

/** The nibbles of 32 values at x[at..] for scale d, into qs[16] at `o`. */
function writeNibbles(x: Float32Array, at: number, d: number, out: Uint8Array, o: number): void {
  const id = d ? f(1 / d) : 0;
  for (let j = 0; j < 16; j++) out[o + j] = nearestLevel(f(id * x[at + j]!)) | (nearestLevel(f(id * x[at + j + 16]!)) << 4);
}

export function quantizeIQ4_NLJs(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 18);
  for (let at = 0, o = 0; at < x.length; at += 32, o += 18) {
    const d = groupScale(x, at);
    writeHalf(out, o, floatToHalf(d));
    writeNibbles(x, at, d, out, o + 2);
  }
  return out;
}

export function dequantizeIQ4_NL(src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array {
  const h = halfTableF32();
  for (let at = 0, o = 0; at < n; at += 32, o += 18) {
    const d = h[readHalf(src, o)]!;
    for (let j = 0; j < 16; j++) {
      out[at + j] = d * IQ4_LEVELS[src[o + 2 + j]! & 15]!;
      out[at + j + 16] = d * IQ4_LEVELS[src[o + 2 + j]! >> 4]!;
    }
  }
  return out;
}

export function quantizeIQ4_XSJs(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 256) * 136);
  const scales = new Float32Array(8);
  for (let at = 0, o = 0; at < x.length; at += 256, o += 136) {
    let maxScale = 0;
    let amaxScale = 0;
    for (let g = 0; g < 8; g++) {
      scales[g] = groupScale(x, at + 32 * g);
      if (Math.abs(scales[g]!) > amaxScale) {
        amaxScale = Math.abs(scales[g]!);
        maxScale = scales[g]!;
      }
    }
    const d = f(-maxScale / 32);
    writeHalf(out, o, floatToHalf(d));
    const id = d ? f(1 / d) : 0;
    let high = 0;
    for (let g = 0; g < 8; g++) {
      const l = Math.max(-32, Math.min(31, nearestInt(f(id * scales[g]!))));
      writeNibbles(x, at + 32 * g, f(d * l), out, o + 8 + 16 * g);
      out[o + 4 + (g >> 1)] = out[o + 4 + (g >> 1)]! | (((l + 32) & 15) << (4 * (g & 1)));
      high |= ((l + 32) >> 4) << (2 * g);
    }
    writeHalf(out, o + 2, high);
  }
  return out;
}

export function dequantizeIQ4_XS(src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array {
  const h = halfTableF32();
  for (let at = 0, o = 0; at < n; at += 256, o += 136) {
    const d = h[readHalf(src, o)]!;
    const high = readHalf(src, o + 2);
    for (let g = 0; g < 8; g++) {
      const ls = ((src[o + 4 + (g >> 1)]! >> (4 * (g & 1))) & 15) | (((high >> (2 * g)) & 3) << 4);
      const dl = d * (ls - 32);
      const qs = o + 8 + 16 * g;
      for (let j = 0; j < 16; j++) {
        out[at + 32 * g + j] = dl * IQ4_LEVELS[src[qs + j]! & 15]!;
        out[at + 32 * g + j + 16] = dl * IQ4_LEVELS[src[qs + j]! >> 4]!;
      }
    }
  }
  return out;
}

// the quantizers the traits use: the wasm kernels, these functions where none loads
export const quantizeIQ4_NL = kernelOr('IQ4_NL', quantizeIQ4_NLJs);
export const quantizeIQ4_XS = kernelOr('IQ4_XS', quantizeIQ4_XSJs);
