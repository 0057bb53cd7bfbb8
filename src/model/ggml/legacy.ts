// ggml's 32-value blocks: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (weights) and Q8_1 (activations), as laid
// out in ggml-common.h and rounded as ggml-quants.c's quantize_row_*_ref (which llama-quantize
// uses when it has no importance matrix). Every step runs in float32 (Math.fround), so the bytes
// equal ggml's.
//
//   Q4_0  d:f16, qs[16]             x = d * (q - 8),    q = nibble j (low) / j+16 (high)
//   Q4_1  d:f16, m:f16, qs[16]      x = d * q + m
//   Q5_0  d:f16, qh:u32, qs[16]     x = d * (q - 16),   q's 5th bit is bit j of qh
//   Q5_1  d:f16, m:f16, qh, qs[16]  x = d * q + m
//   Q8_0  d:f16, qs:i8[32]          x = d * q
//   Q8_1  d:f16, s:f16, qs:i8[32]   x = d * q,          s = d * sum(q)

import { floatToHalf, halfTableF32, readHalf, writeHalf } from '../half.js';

const f = Math.fround;
const QK = 32;

/** C's roundf: half away from zero. */
function roundAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** The value of largest magnitude (the first one on ties), as ggml's symmetric types pick it. */
function signedMax(x: Float32Array, at: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < QK; j++) {
    const v = x[at + j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

function minMax(x: Float32Array, at: number): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < QK; j++) {
    const v = x[at + j]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

export function quantizeQ4_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK) * 18);
  for (let b = 0, at = 0, o = 0; at < x.length; b++, at += QK, o += 18) {
    const d = f(signedMax(x, at) / -8);
    const id = d ? f(1 / d) : 0;
    writeHalf(out, o, floatToHalf(d));
    for (let j = 0; j < 16; j++) {
      const lo = Math.min(15, Math.trunc(f(f(x[at + j]! * id) + 8.5)));
      const hi = Math.min(15, Math.trunc(f(f(x[at + j + 16]! * id) + 8.5)));
      out[o + 2 + j] = lo | (hi << 4);
    }
  }
  return out;
}

export function dequantizeQ4_0(src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array {
  const h = halfTableF32();
  for (let at = 0, o = 0; at < n; at += QK, o += 18) {
    const d = h[readHalf(src, o)]!;
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j]!;
      out[at + j] = ((q & 15) - 8) * d;
      out[at + j + 16] = ((q >> 4) - 8) * d;
    }
  }
  return out;
}

export function quantizeQ4_1(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK) * 20);
  for (let at = 0, o = 0; at < x.length; at += QK, o += 20) {
    const [min, max] = minMax(x, at);
    const d = f(f(max - min) / 15);
    const id = d ? f(1 / d) : 0;
    writeHalf(out, o, floatToHalf(d));
    writeHalf(out, o + 2, floatToHalf(min));
    for (let j = 0; j < 16; j++) {
      const lo = Math.min(15, Math.trunc(f(f(f(x[at + j]! - min) * id) + 0.5)));
      const hi = Math.min(15, Math.trunc(f(f(f(x[at + j + 16]! - min) * id) + 0.5)));
      out[o + 4 + j] = lo | (hi << 4);
    }
  }
  return out;
}

export function dequantizeQ4_1(src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array {
  const h = halfTableF32();
  for (let at = 0, o = 0; at < n; at += QK, o += 20) {
    const d = h[readHalf(src, o)]!;
    const m = h[readHalf(src, o + 2)]!;
    for (let j = 0; j < 16; j++) {
      const q = src[o + 4 + j]!;
      out[at + j] = (q & 15) * d + m;
      out[at + j + 16] = (q >> 4) * d + m;
    }
  }
  return out;
}

/** Writes 32 five-bit values: low nibbles into qs (j | j+16 << 4), fifth bits into the u32 qh. */
function pack5(out: Uint8Array, qh: number, qs: number, lo: (j: number) => number): void {
  let bits = 0;
  for (let j = 0; j < 16; j++) {
    const a = lo(j);
    const b = lo(j + 16);
    out[qs + j] = (a & 15) | ((b & 15) << 4);
    bits |= ((a >> 4) & 1) << j;
    bits |= ((b >> 4) & 1) << (j + 16);
  }
  out[qh] = bits & 0xff;
  out[qh + 1] = (bits >>> 8) & 0xff;
  out[qh + 2] = (bits >>> 16) & 0xff;
  out[qh + 3] = bits >>> 24;
}

/** The 32 five-bit values of a Q5 block (qh at `qh`, nibbles at `qs`) into `q`. */
function unpack5(src: Uint8Array, qh: number, qs: number, q: Int32Array): void {
  const bits = (src[qh]! | (src[qh + 1]! << 8) | (src[qh + 2]! << 16) | (src[qh + 3]! << 24)) >>> 0;
  for (let j = 0; j < 16; j++) {
    const b = src[qs + j]!;
    q[j] = (b & 15) | (((bits >>> j) & 1) << 4);
    q[j + 16] = (b >> 4) | (((bits >>> (j + 16)) & 1) << 4);
  }
}

export function quantizeQ5_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK) * 22);
  for (let at = 0, o = 0; at < x.length; at += QK, o += 22) {
    const d = f(signedMax(x, at) / -16);
    const id = d ? f(1 / d) : 0;
    writeHalf(out, o, floatToHalf(d));
    pack5(out, o + 2, o + 6, (j) => Math.min(31, Math.trunc(f(f(x[at + j]! * id) + 16.5))));
  }
  return out;
}

export function dequantizeQ5_0(src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array {
  const h = halfTableF32();
  const q = new Int32Array(QK);
  for (let at = 0, o = 0; at < n; at += QK, o += 22) {
    const d = h[readHalf(src, o)]!;
    unpack5(src, o + 2, o + 6, q);
    for (let j = 0; j < QK; j++) out[at + j] = (q[j]! - 16) * d;
  }
  return out;
}

export function quantizeQ5_1(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK) * 24);
  for (let at = 0, o = 0; at < x.length; at += QK, o += 24) {
    const [min, max] = minMax(x, at);
    const d = f(f(max - min) / 31);
    const id = d ? f(1 / d) : 0;
    writeHalf(out, o, floatToHalf(d));
    writeHalf(out, o + 2, floatToHalf(min));
    pack5(out, o + 4, o + 8, (j) => Math.trunc(f(f(f(x[at + j]! - min) * id) + 0.5)) & 0xff);
  }
  return out;
}

export function dequantizeQ5_1(src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array {
  const h = halfTableF32();
  const q = new Int32Array(QK);
  for (let at = 0, o = 0; at < n; at += QK, o += 24) {
    const d = h[readHalf(src, o)]!;
    const m = h[readHalf(src, o + 2)]!;
    unpack5(src, o + 4, o + 8, q);
    for (let j = 0; j < QK; j++) out[at + j] = q[j]! * d + m;
  }
  return out;
}

/** Q8_0 (`withSum` false) or Q8_1 blocks: d = max|x| / 127, q = roundf(x / d). */
function quantize8(x: Float32Array, withSum: boolean): Uint8Array {
  const bytes = withSum ? 36 : 34;
  const qs = withSum ? 4 : 2;
  const out = new Uint8Array((x.length / QK) * bytes);
  for (let at = 0, o = 0; at < x.length; at += QK, o += bytes) {
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[at + j]!));
    const d = f(amax / 127);
    const id = d ? f(1 / d) : 0;
    writeHalf(out, o, floatToHalf(d));
    let sum = 0;
    for (let j = 0; j < QK; j++) {
      const q = roundAway(f(x[at + j]! * id));
      out[o + qs + j] = q & 0xff;
      sum += q;
    }
    if (withSum) writeHalf(out, o + 2, floatToHalf(f(sum * d)));
  }
  return out;
}

function dequantize8(src: Uint8Array, n: number, out: Float32Array, bytes: number): Float32Array {
  const h = halfTableF32();
  const qs = bytes - QK;
  for (let at = 0, o = 0; at < n; at += QK, o += bytes) {
    const d = h[readHalf(src, o)]!;
    for (let j = 0; j < QK; j++) out[at + j] = ((src[o + qs + j]! << 24) >> 24) * d;
  }
  return out;
}

export const quantizeQ8_0 = (x: Float32Array): Uint8Array => quantize8(x, false);
export const dequantizeQ8_0 = (src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array => dequantize8(src, n, out, 34);
export const quantizeQ8_1 = (x: Float32Array): Uint8Array => quantize8(x, true);
export const dequantizeQ8_1 = (src: Uint8Array, n: number, out = new Float32Array(n)): Float32Array => dequantize8(src, n, out, 36);
