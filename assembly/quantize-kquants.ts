// Weight quantizers of ggml's k-quants (Q2_K .. Q6_K) and non-linear 4-bit types (IQ4_NL,
// IQ4_XS): the scale searches of ggml-quants.c (make_qx_quants, make_q3_quants, make_qkx2_quants,
// the IQ4 scale trials) and the block encoders, giving the same bytes as the host codecs of
// src/model/ggml/ (which give llama-quantize's).
//
// Float semantics: the host codecs compute in doubles rounded to float32 (Math.fround) at every
// step; for + - * / and sqrt of float32 operands that equals the float32 operation, so these
// kernels compute in f32, and `fr` marks each step where the host code rounds (it is the identity
// on an f32, kept so the two read side by side). The one step where the host code rounds a
// double product (the grid step 0.1 * is of make_qkx2_quants) is taken in f64 as there. No SIMD
// and no fused multiply-add: every build (scalar, simd, relaxed) gives identical bytes.
//
// Every export: x the f32 values (blocks * block values), out the blocks (blocks * block bytes,
// any alignment; every byte written), scratch QUANTIZE_SCRATCH_BYTES bytes (4-aligned) of this
// call's own. No allocation; globals hold only a pair of return values (per instance, so per
// thread).

import { f32_to_half, half_to_f32 } from './half';

const QK_K: i32 = 256;

// scratch layout (byte offsets)
const S_L: usize = 0; // u8[256]: the levels of one super-block
const S_AUX: usize = 256; // u8[32]: a trial's levels
const S_W: usize = 288; // f32[32]: the weights of one group
const S_SCALES: usize = 416; // f32[16]
const S_MINS: usize = 480; // f32[16]
const S_LEV: usize = 544; // i32[16]: make_q3_quants' signed levels
const SCRATCH_BYTES: i32 = 608;

/** Bytes of scratch each call of a *_quantize_f32 export of this file needs. */
export function ggml_quantize_scratch_bytes(): i32 {
  return SCRATCH_BYTES;
}

// ---- float32 steps as the host code takes them ----

// a step the host code rounds to float32 with Math.fround (already f32 here)
@inline
function fr(v: f32): f32 {
  return <f32><f32>v;
}

// nearest_int: round half to even by adding 1.5 * 2^23 in float32
@inline
function nearestInt(v: f32): f32 {
  return fr(v + 12582912.0) - 12582912.0;
}

@inline
function clampf(v: f32, lo: f32, hi: f32): f32 {
  return v < lo ? lo : v > hi ? hi : v;
}

@inline
function ldf(p: usize, i: i32): f32 {
  return <f32>load<f32>(p + (<usize>i << 2));
}

@inline
function stf(p: usize, i: i32, v: f32): void {
  store<f32>(p + (<usize>i << 2), <f32>v);
}

@inline
function ldu8(p: usize, i: i32): i32 {
  return <i32>load<u8>(p + <usize>i);
}

@inline
function stu8(p: usize, i: i32, v: i32): void {
  store<u8>(p + <usize>i, <u8>v);
}

// an integral f32 to i32 as JavaScript's ToInt32 takes it (the host code stores levels into
// typed arrays and shifts them): modulo 2^32, and 0 for NaN and the infinities, which a scale that
// overflows (a group of subnormals, or of values near the f32 limit) produces
@inline
function toInt(v: f32): i32 {
  // every f32 from 2^55 up is a multiple of 2^32
  return abs(v) < <f32>36028797018963968 ? <i32><i64>v : 0;
}

// JavaScript's truthiness of a number: neither 0 nor NaN
@inline
function truthy(v: f32): bool {
  return v == v && v != 0;
}

@inline
function readHalfF(p: usize): f32 {
  return <f32>half_to_f32(<u32>load<u16>(p));
}

@inline
function writeHalf(p: usize, v: f32): void {
  store<u16>(p, <u16>f32_to_half(<f32>v));
}

const GROUP_MAX_EPS: f32 = 1e-15;
const F01: f32 = 0.1;

// second return value of the searches
let retMin: f32 = 0;
let retSumA: f32 = 0;
let retSumB: f32 = 0;

// the value of largest magnitude among x[0 .. n) (the first on ties) into retSumA, its magnitude returned
@inline
function signedMax(x: usize, n: i32): f32 {
  let max: f32 = 0;
  let amax: f32 = 0;
  for (let i = 0; i < n; i++) {
    const v = ldf(x, i);
    const a = abs(v);
    if (a > amax) {
      amax = a;
      max = v;
    }
  }
  retSumA = max;
  return amax;
}

// ---- make_qx_quants (rmse_type 1, weights x²): L[i] = level + nmax ----

function qxFit(n: i32, nmax: f32, x: usize, iscale: f32, L: usize): void {
  let sumlx: f32 = 0;
  let suml2: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = ldf(x, i);
    const l = clampf(nearestInt(fr(iscale * xi)), -nmax, nmax - 1);
    if (L) stu8(L, i, toInt(l + nmax));
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  retSumA = sumlx;
  retSumB = suml2;
}

function makeQxQuants(n: i32, nmaxI: i32, x: usize, L: usize): f32 {
  const amax = signedMax(x, n);
  const max = retSumA;
  if (amax < GROUP_MAX_EPS) {
    memory.fill(L, 0, <usize>n);
    return 0;
  }
  const nmax = <f32>nmaxI;
  qxFit(n, nmax, x, fr(-nmax / max), L);
  let scale = truthy(retSumB) ? fr(retSumA / retSumB) : <f32>0;
  let best = fr(scale * retSumA);
  for (let is = -9; is <= 9; is++) {
    if (is == 0) continue;
    const iscale = fr(fr(-fr(nmax + fr(F01 * <f32>is))) / max);
    qxFit(n, nmax, x, iscale, 0);
    const sumlx = retSumA;
    const suml2 = retSumB;
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      qxFit(n, nmax, x, iscale, L);
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

// ---- make_q3_quants (do_rmse): L[i] = level + nmax; lev: i32[n] scratch ----

function makeQ3Quants(n: i32, nmaxI: i32, x: usize, L: usize, lev: usize): f32 {
  const amax = signedMax(x, n);
  const max = retSumA;
  if (amax < GROUP_MAX_EPS) {
    memory.fill(L, 0, <usize>n);
    return 0;
  }
  const nmax = <f32>nmaxI;
  const iscale = fr(-nmax / max);
  let sumlx: f32 = 0;
  let suml2: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = ldf(x, i);
    const l = clampf(nearestInt(fr(iscale * xi)), -nmax, nmax - 1);
    store<i32>(lev + (<usize>i << 2), toInt(l));
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = ldf(x, i);
      const w = fr(xi * xi);
      const li = <f32>load<i32>(lev + (<usize>i << 2));
      let slx = fr(sumlx - fr(fr(w * xi) * li));
      if (slx > 0) {
        let sl2 = fr(suml2 - fr(fr(w * li) * li));
        const l = clampf(nearestInt(fr(fr(xi * sl2) / slx)), -nmax, nmax - 1);
        if (l != li) {
          slx = fr(slx + fr(fr(w * xi) * l));
          sl2 = fr(sl2 + fr(fr(w * l) * l));
          if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
            store<i32>(lev + (<usize>i << 2), toInt(l));
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (let i = 0; i < n; i++) stu8(L, i, load<i32>(lev + (<usize>i << 2)) + nmaxI);
  return suml2 > 0 ? fr(sumlx / suml2) : <f32>0;
}

// ---- make_qkx2_quants: x ≈ scale * L + min, L in 0..nmax; returns scale, -min in retMin ----

function qkx2Error(n: i32, s: f32, m: f32, levels: usize, x: usize, w: usize, useMad: bool): f32 {
  let e: f32 = 0;
  for (let i = 0; i < n; i++) {
    let diff = fr(fr(fr(s * <f32>ldu8(levels, i)) + m) - ldf(x, i));
    diff = useMad ? abs(diff) : fr(diff * diff);
    e = fr(e + fr(ldf(w, i) * diff));
  }
  return e;
}

function makeQkx2Quants(n: i32, nmaxI: i32, x: usize, w: usize, L: usize, aux: usize, rmin: f32, rdelta: f64, nstep: i32, useMad: bool): f32 {
  const nmax = <f32>nmaxI;
  let min = ldf(x, 0);
  let max = min;
  let sumW = ldf(w, 0);
  let sumX = fr(sumW * min);
  for (let i = 1; i < n; i++) {
    const xi = ldf(x, i);
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const wi = ldf(w, i);
    sumW = fr(sumW + wi);
    sumX = fr(sumX + fr(wi * xi));
  }
  if (min > 0) min = 0;
  if (max == min) {
    memory.fill(L, 0, <usize>n);
    retMin = -min;
    return 0;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  for (let i = 0; i < n; i++) stu8(L, i, toInt(clampf(nearestInt(fr(iscale * fr(ldf(x, i) - min))), 0, nmax)));
  let bestError = qkx2Error(n, scale, min, L, x, w, useMad);
  for (let is = 0; is <= nstep; is++) {
    iscale = fr(fr(fr(rmin + <f32>(rdelta * <f64>is)) + nmax) / fr(max - min));
    let sumL: f32 = 0;
    let sumL2: f32 = 0;
    let sumXL: f32 = 0;
    for (let i = 0; i < n; i++) {
      const xi = ldf(x, i);
      const l = clampf(nearestInt(fr(iscale * fr(xi - min))), 0, nmax);
      stu8(aux, i, toInt(l));
      const wl = fr(ldf(w, i) * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * xi));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      const e = qkx2Error(n, thisScale, thisMin, aux, x, w, useMad);
      if (e < bestError) {
        memory.copy(L, aux, <usize>n);
        bestError = e;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  retMin = -min;
  return scale;
}

// Four 2-bit levels per byte: byte j/4 + l of each 128-run holds L[j+l], L[j+l+32], L[j+l+64], L[j+l+96].
function pack2(L: usize, qs: usize): void {
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; l++) {
      stu8(qs, j / 4 + l, ldu8(L, j + l) | (ldu8(L, j + l + 32) << 2) | (ldu8(L, j + l + 64) << 4) | (ldu8(L, j + l + 96) << 6));
    }
  }
}

// ---- Q2_K: 84 bytes per 256 values: scales[16], qs[64], d:f16, dmin:f16 ----

function q2kBlock(x: usize, o: usize, s: usize): void {
  const L = s + S_L;
  const w = s + S_W;
  const scales = s + S_SCALES;
  const mins = s + S_MINS;
  memory.fill(o, 0, 84);
  let maxScale: f32 = 0;
  let maxMin: f32 = 0;
  for (let j = 0; j < 16; j++) {
    const xg = x + (<usize>(16 * j) << 2);
    for (let l = 0; l < 16; l++) stf(w, l, abs(ldf(xg, l)));
    const sc = makeQkx2Quants(16, 3, xg, w, L + <usize>(16 * j), s + S_AUX, -0.5, 0.1, 15, true);
    stf(scales, j, sc);
    stf(mins, j, retMin);
    if (ldf(scales, j) > maxScale) maxScale = ldf(scales, j);
    if (ldf(mins, j) > maxMin) maxMin = ldf(mins, j);
  }
  if (maxScale > 0) {
    const iscale = fr(15 / maxScale);
    for (let j = 0; j < 16; j++) stu8(o, j, toInt(nearestInt(fr(iscale * ldf(scales, j)))));
    writeHalf(o + 80, fr(maxScale / 15));
  }
  if (maxMin > 0) {
    const iscale = fr(15 / maxMin);
    for (let j = 0; j < 16; j++) stu8(o, j, ldu8(o, j) | (toInt(nearestInt(fr(iscale * ldf(mins, j)))) << 4));
    writeHalf(o + 82, fr(maxMin / 15));
  }
  const d = readHalfF(o + 80);
  const dmin = readHalfF(o + 82);
  for (let j = 0; j < 16; j++) {
    const dl = fr(d * <f32>(ldu8(o, j) & 15));
    if (!truthy(dl)) continue;
    const ml = fr(dmin * <f32>(ldu8(o, j) >> 4));
    for (let i = 0; i < 16; i++) {
      stu8(L, 16 * j + i, toInt(clampf(nearestInt(fr(fr(ldf(x, 16 * j + i) + ml) / dl)), 0, 3)));
    }
  }
  pack2(L, o + 16);
}

// ---- Q3_K: 110 bytes: hmask[32], qs[64], scales[12] (16 x 6 bits, -32), d:f16 ----

@inline
function scale3(sc: usize, j: i32): i32 {
  const low = j < 8 ? ldu8(sc, j) & 15 : ldu8(sc, j - 8) >> 4;
  return low | (((ldu8(sc, 8 + (j % 4)) >> (2 * (j >> 2))) & 3) << 4);
}

function q3kBlock(x: usize, o: usize, s: usize): void {
  const L = s + S_L;
  const scales = s + S_SCALES;
  memory.fill(o, 0, 110);
  let maxScale: f32 = 0;
  let amax: f32 = 0;
  for (let j = 0; j < 16; j++) {
    stf(scales, j, makeQ3Quants(16, 4, x + (<usize>(16 * j) << 2), L + <usize>(16 * j), s + S_LEV));
    const v = ldf(scales, j);
    if (abs(v) > amax) {
      amax = abs(v);
      maxScale = v;
    }
  }
  const sc = o + 96;
  if (truthy(maxScale)) {
    const iscale = fr(-32 / maxScale);
    for (let j = 0; j < 16; j++) {
      const l = toInt(clampf(nearestInt(fr(iscale * ldf(scales, j))), -32, 31) + 32);
      if (j < 8) stu8(sc, j, l & 15);
      else stu8(sc, j - 8, ldu8(sc, j - 8) | ((l & 15) << 4));
      stu8(sc, 8 + (j % 4), ldu8(sc, 8 + (j % 4)) | ((l >> 4) << (2 * (j >> 2))));
    }
    writeHalf(o + 108, fr(1 / iscale));
  }
  const d = readHalfF(o + 108);
  for (let j = 0; j < 16; j++) {
    const dl = fr(d * <f32>(scale3(sc, j) - 32));
    if (!truthy(dl)) continue;
    for (let i = 0; i < 16; i++) stu8(L, 16 * j + i, toInt(clampf(nearestInt(fr(ldf(x, 16 * j + i) / dl)), -4, 3) + 4));
  }
  // the third bit of value j goes to hmask[j % 32], bit j / 32
  for (let j = 0; j < QK_K; j++) {
    const l = ldu8(L, j);
    if (l > 3) {
      stu8(o, j & 31, ldu8(o, j & 31) | (1 << (j >> 5)));
      stu8(L, j, l - 4);
    }
  }
  pack2(L, o + 32);
}

// ---- Q4_K / Q5_K: d:f16, dmin:f16, scales[12] (8 x 6-bit scale and min), then the levels ----

function groups32(x: usize, o: usize, nmaxI: i32, rmin: f32, nstep: i32, s: usize): void {
  const L = s + S_L;
  const w = s + S_W;
  const scales = s + S_SCALES;
  const mins = s + S_MINS;
  const nmax = <f32>nmaxI;
  let maxScale: f32 = 0;
  let maxMin: f32 = 0;
  for (let j = 0; j < 8; j++) {
    const xg = x + (<usize>(32 * j) << 2);
    let sumX2: f32 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(ldf(xg, l) * ldf(xg, l)));
    const avX = fr(sqrt<f32>(fr(sumX2 / 32)));
    for (let l = 0; l < 32; l++) stf(w, l, fr(avX + abs(ldf(xg, l))));
    stf(scales, j, makeQkx2Quants(32, nmaxI, xg, w, L + <usize>(32 * j), s + S_AUX, rmin, 0.1, nstep, false));
    stf(mins, j, retMin);
    if (ldf(scales, j) > maxScale) maxScale = ldf(scales, j);
    if (ldf(mins, j) > maxMin) maxMin = ldf(mins, j);
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : <f32>0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : <f32>0;
  const sc = o + 4;
  for (let j = 0; j < 8; j++) {
    const ls = min(63, toInt(nearestInt(fr(invScale * ldf(scales, j)))) & 0xff);
    const lm = min(63, toInt(nearestInt(fr(invMin * ldf(mins, j)))) & 0xff);
    if (j < 4) {
      stu8(sc, j, ls);
      stu8(sc, j + 4, lm);
    } else {
      stu8(sc, j + 4, (ls & 15) | ((lm & 15) << 4));
      stu8(sc, j - 4, ldu8(sc, j - 4) | ((ls >> 4) << 6));
      stu8(sc, j, ldu8(sc, j) | ((lm >> 4) << 6));
    }
  }
  writeHalf(o, fr(maxScale / 63));
  writeHalf(o + 2, fr(maxMin / 63));
  const d = readHalfF(o);
  const dmin = readHalfF(o + 2);
  for (let j = 0; j < 8; j++) {
    let sj: i32, mj: i32;
    if (j < 4) {
      sj = ldu8(sc, j) & 63;
      mj = ldu8(sc, j + 4) & 63;
    } else {
      sj = (ldu8(sc, j + 4) & 15) | ((ldu8(sc, j - 4) >> 6) << 4);
      mj = (ldu8(sc, j + 4) >> 4) | ((ldu8(sc, j) >> 6) << 4);
    }
    const dl = fr(d * <f32>sj);
    if (!truthy(dl)) continue;
    const ml = fr(dmin * <f32>mj);
    for (let i = 0; i < 32; i++) stu8(L, 32 * j + i, toInt(clampf(nearestInt(fr(fr(ldf(x, 32 * j + i) + ml) / dl)), 0, nmax)));
  }
}

function q4kBlock(x: usize, o: usize, s: usize): void {
  const L = s + S_L;
  memory.fill(o, 0, 144);
  groups32(x, o, 15, -1, 20, s);
  // 64 values per 32 bytes: group 2k in the low nibbles, group 2k+1 in the high ones
  for (let j = 0; j < QK_K; j += 64) {
    for (let l = 0; l < 32; l++) stu8(o, 16 + j / 2 + l, ldu8(L, j + l) | (ldu8(L, j + l + 32) << 4));
  }
}

function q5kBlock(x: usize, o: usize, s: usize): void {
  const L = s + S_L;
  memory.fill(o, 0, 176);
  groups32(x, o, 31, -0.5, 15, s);
  // low nibbles as Q4_K; the fifth bit of group g's value l is bit g of qh[l]
  for (let j = 0; j < QK_K; j += 64) {
    for (let l = 0; l < 32; l++) {
      const a = ldu8(L, j + l);
      const b = ldu8(L, j + l + 32);
      stu8(o, 48 + j / 2 + l, (a & 15) | ((b & 15) << 4));
      stu8(o, 16 + l, ldu8(o, 16 + l) | ((a >> 4) << (j / 32)) | ((b >> 4) << (j / 32 + 1)));
    }
  }
}

// ---- Q6_K: 210 bytes: ql[128], qh[64], scales:i8[16], d:f16 ----

function q6kBlock(x: usize, o: usize, s: usize): void {
  const L = s + S_L;
  const scales = s + S_SCALES;
  memory.fill(o, 0, 210);
  let maxScale: f32 = 0;
  let maxAbs: f32 = 0;
  for (let j = 0; j < 16; j++) {
    stf(scales, j, makeQxQuants(16, 32, x + (<usize>(16 * j) << 2), L + <usize>(16 * j)));
    const v = ldf(scales, j);
    if (abs(v) > maxAbs) {
      maxAbs = abs(v);
      maxScale = v;
    }
  }
  if (maxAbs < GROUP_MAX_EPS) return; // an all-zero block
  const iscale = fr(-128 / maxScale);
  writeHalf(o + 208, fr(1 / iscale));
  for (let j = 0; j < 16; j++) stu8(o, 192 + j, toInt(min<f32>(127, nearestInt(fr(iscale * ldf(scales, j))))));
  const d = readHalfF(o + 208);
  for (let j = 0; j < 16; j++) {
    const dl = fr(d * <f32>load<i8>(o + 192 + <usize>j));
    if (!truthy(dl)) continue;
    for (let i = 0; i < 16; i++) stu8(L, 16 * j + i, toInt(clampf(nearestInt(fr(ldf(x, 16 * j + i) / dl)), -32, 31) + 32));
  }
  for (let j = 0; j < QK_K; j += 128) {
    const ql = o + <usize>(j / 2);
    const qh = o + 128 + <usize>(j / 4);
    for (let l = 0; l < 32; l++) {
      const a = ldu8(L, j + l);
      const b = ldu8(L, j + l + 32);
      const c = ldu8(L, j + l + 64);
      const e = ldu8(L, j + l + 96);
      stu8(ql, l, (a & 15) | ((c & 15) << 4));
      stu8(ql, l + 32, (b & 15) | ((e & 15) << 4));
      stu8(qh, l, (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6));
    }
  }
}

// ---- IQ4_NL / IQ4_XS: nibbles index kvalues_iq4nl ----

@inline
function iq4Level(i: i32): f32 {
  return <f32>load<i8>(memory.data<i8>([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]) + <usize>i);
}

// the level nearest to v (ties go up), by binary search on the midpoints
@inline
function nearestLevel(v: f32): i32 {
  let idx = 0;
  for (let step = 8; step > 0; step >>= 1) {
    const j = idx + step;
    if (<f32>2 * v >= iq4Level(j - 1) + iq4Level(j)) idx = j;
  }
  return idx;
}

function iq4Fit(x: usize, id: f32): void {
  let sumqx: f32 = 0;
  let sumq2: f32 = 0;
  for (let j = 0; j < 32; j++) {
    const xj = ldf(x, j);
    const q = iq4Level(nearestLevel(fr(id * xj)));
    const wq = fr(fr(xj * xj) * q);
    sumqx = fr(sumqx + fr(wq * xj));
    sumq2 = fr(sumq2 + fr(wq * q));
  }
  retSumA = sumqx;
  retSumB = sumq2;
}

// the best scale of one 32-value group for the x²-weighted error (0 for an all-zero group)
function iq4GroupScale(x: usize): f32 {
  const amax = signedMax(x, 32);
  const max = retSumA;
  if (amax < GROUP_MAX_EPS) return 0;
  iq4Fit(x, fr(1 / fr(-max / iq4Level(0))));
  let d = retSumB > 0 ? fr(retSumA / retSumB) : <f32>0;
  let best = fr(d * retSumA);
  for (let itry = -7; itry <= 7; itry++) {
    iq4Fit(x, fr((<f32>itry + iq4Level(0)) / max));
    const sumqx = retSumA;
    const sumq2 = retSumB;
    if (sumq2 > 0 && fr(sumqx * sumqx) > fr(best * sumq2)) {
      d = fr(sumqx / sumq2);
      best = fr(d * sumqx);
    }
  }
  return d;
}

function iq4Nibbles(x: usize, d: f32, qs: usize): void {
  const id = truthy(d) ? fr(1 / d) : <f32>0;
  for (let j = 0; j < 16; j++) stu8(qs, j, nearestLevel(fr(id * ldf(x, j))) | (nearestLevel(fr(id * ldf(x, j + 16))) << 4));
}

function iq4xsBlock(x: usize, o: usize, s: usize): void {
  const scales = s + S_SCALES;
  memory.fill(o, 0, 136);
  let maxScale: f32 = 0;
  let amaxScale: f32 = 0;
  for (let g = 0; g < 8; g++) {
    stf(scales, g, iq4GroupScale(x + (<usize>(32 * g) << 2)));
    const v = ldf(scales, g);
    if (abs(v) > amaxScale) {
      amaxScale = abs(v);
      maxScale = v;
    }
  }
  const d = fr(-maxScale / 32);
  writeHalf(o, d);
  const id = truthy(d) ? fr(1 / d) : <f32>0;
  let high = 0;
  for (let g = 0; g < 8; g++) {
    const l = max<f32>(-32, min<f32>(31, nearestInt(fr(id * ldf(scales, g)))));
    const biased = toInt(l + 32);
    iq4Nibbles(x + (<usize>(32 * g) << 2), fr(d * l), o + 8 + <usize>(16 * g));
    stu8(o, 4 + (g >> 1), ldu8(o, 4 + (g >> 1)) | ((biased & 15) << (4 * (g & 1))));
    high |= (biased >> 4) << (2 * g);
  }
  store<u16>(o + 2, <u16>high);
}

// ---- exports: blocks of x[blocks * block values] into out[blocks * block bytes] ----

// Q2_K: 256 values -> 84 bytes per block
export function q2_k_quantize_f32(x: usize, blocks: i32, out: usize, scratch: usize): void {
  for (let b = 0; b < blocks; b++) q2kBlock(x + <usize>b * 1024, out + <usize>b * 84, scratch);
}

// Q3_K: 256 values -> 110 bytes per block
export function q3_k_quantize_f32(x: usize, blocks: i32, out: usize, scratch: usize): void {
  for (let b = 0; b < blocks; b++) q3kBlock(x + <usize>b * 1024, out + <usize>b * 110, scratch);
}

// Q4_K: 256 values -> 144 bytes per block
export function q4_k_quantize_f32(x: usize, blocks: i32, out: usize, scratch: usize): void {
  for (let b = 0; b < blocks; b++) q4kBlock(x + <usize>b * 1024, out + <usize>b * 144, scratch);
}

// Q5_K: 256 values -> 176 bytes per block
export function q5_k_quantize_f32(x: usize, blocks: i32, out: usize, scratch: usize): void {
  for (let b = 0; b < blocks; b++) q5kBlock(x + <usize>b * 1024, out + <usize>b * 176, scratch);
}

// Q6_K: 256 values -> 210 bytes per block
export function q6_k_quantize_f32(x: usize, blocks: i32, out: usize, scratch: usize): void {
  for (let b = 0; b < blocks; b++) q6kBlock(x + <usize>b * 1024, out + <usize>b * 210, scratch);
}

// IQ4_NL: 32 values -> 18 bytes per block (d:f16, qs[16]); scratch unused
export function iq4_nl_quantize_f32(x: usize, blocks: i32, out: usize, scratch: usize): void {
  for (let b = 0; b < blocks; b++) {
    const xb = x + <usize>b * 128;
    const o = out + <usize>b * 18;
    const d = iq4GroupScale(xb);
    writeHalf(o, d);
    iq4Nibbles(xb, d, o + 2);
  }
}

// IQ4_XS: 256 values -> 136 bytes per block (d:f16, scales_h:u16, scales_l[4], qs[128])
export function iq4_xs_quantize_f32(x: usize, blocks: i32, out: usize, scratch: usize): void {
  for (let b = 0; b < blocks; b++) iq4xsBlock(x + <usize>b * 1024, out + <usize>b * 136, scratch);
}
