// Depthwise convolutions for MetaMixer/FFNet's large-kernel token mixers, vectorised over
// channels (NHWC: a pixel's C channels are contiguous, so one v128 holds four channels of one
// pixel and every tap is a plain multiply-add with no shuffles). Eight output pixels along W are
// computed together, so each tap's weight vector is loaded once for eight multiply-adds (eight
// chains cover the latency), and a group of four channels sweeps a whole output row so its input
// rows stay in L1.

import { madd, store_lanes8 } from './simd';
import { gelu4, gelu1 } from './math';

// Depthwise conv2d on channels-last (NHWC) data, 'same' zero padding (pad = (K-1)/2), stride 1
// or 2, odd K.
//   x: H x W x C (row-major, channels fastest); w: K x K x C (tap-major, channels fastest);
//   bias: C or 0; y: Ho x Wo x C with Ho = ceil(H / stride), Wo = ceil(W / stride);
//   gelu != 0 applies GELU (erf form) to the outputs. y must not overlap x, w or bias.
export function f32_dwconv2d_nhwc(
  x: usize, h: i32, wd: i32, c: i32, w: usize, k: i32, bias: usize, stride: i32, gelu: i32, y: usize,
): void {
  const pad = (k - 1) >> 1;
  const ho = (h + stride - 1) / stride;
  const wo = (wd + stride - 1) / stride;
  const rowBytes = <usize>wd * <usize>c * 4;
  const pixBytes = <usize>c * 4;
  const step = <usize>stride * pixBytes; // input distance between neighbouring output pixels
  const c4 = ASC_FEATURE_SIMD ? c & ~3 : 0;
  for (let oy = 0; oy < ho; oy++) {
    const iy0 = oy * stride - pad;
    // taps whose rows fall inside the image
    const ky0 = max(0, -iy0);
    const ky1 = min(k, h - iy0);
    if (ASC_FEATURE_SIMD) {
      // four channels at a time across the whole output row: the K input rows of these four
      // channels (K * W * 16 bytes) stay in L1 while the row is swept
      for (let ch = 0; ch < c4; ch += 4) {
        const co = <usize>ch * 4;
        const b = bias != 0 ? v128.load(bias + co) : f32x4.splat(0);
        for (let ox = 0; ox < wo; ) {
          const ix0 = ox * stride - pad;
          const outPix = y + (<usize>oy * <usize>wo + <usize>ox) * pixBytes + co;
          if (ox + 8 <= wo && ix0 >= 0 && (ox + 7) * stride - pad + k <= wd) {
            // eight output pixels whose taps are all inside the image horizontally: eight
            // independent multiply-add chains cover the latency, one weight load feeds eight
            let a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b;
            for (let ky = ky0; ky < ky1; ky++) {
              let xi = x + <usize>(iy0 + ky) * rowBytes + <usize>ix0 * pixBytes + co;
              let wi = w + <usize>(ky * k) * pixBytes + co;
              for (let kx = 0; kx < k; kx++) {
                const wv = v128.load(wi);
                a0 = madd(v128.load(xi), wv, a0);
                a1 = madd(v128.load(xi + step), wv, a1);
                a2 = madd(v128.load(xi + 2 * step), wv, a2);
                a3 = madd(v128.load(xi + 3 * step), wv, a3);
                a4 = madd(v128.load(xi + 4 * step), wv, a4);
                a5 = madd(v128.load(xi + 5 * step), wv, a5);
                a6 = madd(v128.load(xi + 6 * step), wv, a6);
                a7 = madd(v128.load(xi + 7 * step), wv, a7);
                xi += pixBytes;
                wi += pixBytes;
              }
            }
            if (gelu != 0) {
              a0 = gelu4(a0); a1 = gelu4(a1); a2 = gelu4(a2); a3 = gelu4(a3);
              a4 = gelu4(a4); a5 = gelu4(a5); a6 = gelu4(a6); a7 = gelu4(a7);
            }
            v128.store(outPix, a0);
            v128.store(outPix + pixBytes, a1);
            v128.store(outPix + 2 * pixBytes, a2);
            v128.store(outPix + 3 * pixBytes, a3);
            v128.store(outPix + 4 * pixBytes, a4);
            v128.store(outPix + 5 * pixBytes, a5);
            v128.store(outPix + 6 * pixBytes, a6);
            v128.store(outPix + 7 * pixBytes, a7);
            ox += 8;
          } else {
            // one output pixel near an edge, taps clipped to the image
            const kx0 = max(0, -ix0);
            const kx1 = min(k, wd - ix0);
            let a = b;
            for (let ky = ky0; ky < ky1; ky++) {
              for (let kx = kx0; kx < kx1; kx++) {
                const xi = x + <usize>(iy0 + ky) * rowBytes + <usize>(ix0 + kx) * pixBytes + co;
                a = madd(v128.load(xi), v128.load(w + <usize>(ky * k + kx) * pixBytes + co), a);
              }
            }
            if (gelu != 0) a = gelu4(a);
            v128.store(outPix, a);
            ox += 1;
          }
        }
      }
    }
    if (c4 < c) {
      for (let ox = 0; ox < wo; ox++) tail_channels(x, h, wd, c, w, k, bias, stride, gelu, y, oy, ox, c4);
    }
  }
}

// Channels c0..c-1 of output pixel (oy, ox) in scalar code: the channel tail of the SIMD path,
// and every channel in the scalar build.
function tail_channels(x: usize, h: i32, wd: i32, c: i32, w: usize, k: i32, bias: usize, stride: i32, gelu: i32, y: usize, oy: i32, ox: i32, c0: i32): void {
  const pad = (k - 1) >> 1;
  const wo = (wd + stride - 1) / stride;
  const iy0 = oy * stride - pad;
  const ix0 = ox * stride - pad;
  const ky0 = max(0, -iy0);
  const ky1 = min(k, h - iy0);
  const kx0 = max(0, -ix0);
  const kx1 = min(k, wd - ix0);
  for (let ch = c0; ch < c; ch++) {
    let a: f32 = bias != 0 ? load<f32>(bias + <usize>ch * 4) : 0;
    for (let ky = ky0; ky < ky1; ky++) {
      for (let kx = kx0; kx < kx1; kx++) {
        a += load<f32>(x + ((<usize>(iy0 + ky) * <usize>wd + <usize>(ix0 + kx)) * <usize>c + <usize>ch) * 4) *
          load<f32>(w + ((<usize>(ky * k + kx)) * <usize>c + <usize>ch) * 4);
      }
    }
    if (gelu != 0) a = gelu1(a);
    store<f32>(y + ((<usize>oy * <usize>wo + <usize>ox) * <usize>c + <usize>ch) * 4, a);
  }
}

// Depthwise conv1d over a sequence, channels fastest: x: L x C, w: K x C, bias: C or 0,
// y: L x C. causal == 0: symmetric 'same' padding (K odd, pad (K-1)/2 each side); causal != 0:
// output t sees inputs t-K+1 .. t only (pad K-1 on the left). y must not overlap x, w or bias.
export function f32_dwconv1d_nlc(x: usize, l: i32, c: i32, w: usize, k: i32, bias: usize, causal: i32, y: usize): void {
  const left = causal != 0 ? k - 1 : (k - 1) >> 1;
  const pixBytes = <usize>c * 4;
  const c4 = ASC_FEATURE_SIMD ? c & ~3 : 0;
  if (ASC_FEATURE_SIMD) {
    // four channels at a time along the whole sequence, four time steps per weight load
    for (let ch = 0; ch < c4; ch += 4) {
      const co = <usize>ch * 4;
      const b = bias != 0 ? v128.load(bias + co) : f32x4.splat(0);
      for (let t = 0; t < l; ) {
        const i0 = t - left;
        const out = y + <usize>t * pixBytes + co;
        if (t + 4 <= l && i0 >= 0 && i0 + 3 + k <= l) {
          let a0 = b, a1 = b, a2 = b, a3 = b;
          let xi = x + <usize>i0 * pixBytes + co;
          let wi = w + co;
          for (let j = 0; j < k; j++) {
            const wv = v128.load(wi);
            a0 = madd(v128.load(xi), wv, a0);
            a1 = madd(v128.load(xi + pixBytes), wv, a1);
            a2 = madd(v128.load(xi + 2 * pixBytes), wv, a2);
            a3 = madd(v128.load(xi + 3 * pixBytes), wv, a3);
            xi += pixBytes;
            wi += pixBytes;
          }
          v128.store(out, a0);
          v128.store(out + pixBytes, a1);
          v128.store(out + 2 * pixBytes, a2);
          v128.store(out + 3 * pixBytes, a3);
          t += 4;
        } else {
          const k0 = max(0, -i0);
          const k1 = min(k, l - i0);
          let a = b;
          for (let j = k0; j < k1; j++) a = madd(v128.load(x + <usize>(i0 + j) * pixBytes + co), v128.load(w + <usize>j * pixBytes + co), a);
          v128.store(out, a);
          t += 1;
        }
      }
    }
  }
  for (let t = 0; t < l; t++) {
    const i0 = t - left;
    const k0 = max(0, -i0);
    const k1 = min(k, l - i0);
    for (let ch = c4; ch < c; ch++) {
      let a: f32 = bias != 0 ? load<f32>(bias + <usize>ch * 4) : 0;
      for (let j = k0; j < k1; j++) a += load<f32>(x + (<usize>(i0 + j) * <usize>c + <usize>ch) * 4) * load<f32>(w + (<usize>j * <usize>c + <usize>ch) * 4);
      store<f32>(y + (<usize>t * <usize>c + <usize>ch) * 4, a);
    }
  }
}

// One output row of a planar depthwise convolution: wo outputs at rowOut from the zero-padded
// input rows at rowIn (row stride prow bytes), taps k wide at wc, bias b, stride 1 or 2, over
// the tap rows ky0..ky1-1 (the others read only zero padding: skipping them changes no value).
// Twenty-four outputs (six v128) per step at stride 1, then four, then one. Shared by the 2-D
// kernel (stride 2, and the last row of an odd height) and the 1-D one (tap rows 0..0).
@noinline
function planar_row(rowIn: usize, prow: usize, ky0: i32, ky1: i32, k: i32, wc: usize, b: f32, stride: i32, gelu: i32, rowOut: usize, wo: i32): void {
    let ox = 0;
    if (ASC_FEATURE_SIMD) {
      const vb = f32x4.splat(b);
      if (stride == 1) {
        // six accumulators, six inputs and the weight: 13 registers (eight accumulators spill)
        while (ox + 24 <= wo) {
          let a0 = vb, a1 = vb, a2 = vb, a3 = vb, a4 = vb, a5 = vb;
          for (let ky = ky0; ky < ky1; ky++) {
            let xi = rowIn + <usize>ky * prow + <usize>ox * 4;
            let wi = wc + <usize>(ky * k) * 4;
            for (let kx = 0; kx < k; kx++) {
              const wv = v128.load32_splat(wi);
              a0 = madd(v128.load(xi), wv, a0);
              a1 = madd(v128.load(xi, 16), wv, a1);
              a2 = madd(v128.load(xi, 32), wv, a2);
              a3 = madd(v128.load(xi, 48), wv, a3);
              a4 = madd(v128.load(xi, 64), wv, a4);
              a5 = madd(v128.load(xi, 80), wv, a5);
              xi += 4;
              wi += 4;
            }
          }
          if (gelu != 0) {
            a0 = gelu4(a0); a1 = gelu4(a1); a2 = gelu4(a2); a3 = gelu4(a3); a4 = gelu4(a4); a5 = gelu4(a5);
          }
          const o = rowOut + <usize>ox * 4;
          v128.store(o, a0); v128.store(o, a1, 16); v128.store(o, a2, 32);
          v128.store(o, a3, 48); v128.store(o, a4, 64); v128.store(o, a5, 80);
          ox += 24;
          // a last partial block is recomputed over the columns before it (same sums, same values)
          if (ox < wo && ox + 24 > wo && wo >= 24) ox = wo - 24;
        }
      }
      for (; ox + 4 <= wo; ox += 4) {
        let a = vb;
        for (let ky = ky0; ky < ky1; ky++) {
          let xi = rowIn + <usize>ky * prow + <usize>(ox * stride) * 4;
          let wi = wc + <usize>(ky * k) * 4;
          for (let kx = 0; kx < k; kx++) {
            // stride 2: the even lanes of eight consecutive inputs
            const v = stride == 1 ? v128.load(xi) : v128.shuffle<f32>(v128.load(xi), v128.load(xi, 16), 0, 2, 4, 6);
            a = madd(v, v128.load32_splat(wi), a);
            xi += 4;
            wi += 4;
          }
        }
        if (gelu != 0) a = gelu4(a);
        v128.store(rowOut + <usize>ox * 4, a);
      }
    }
    for (; ox < wo; ox++) {
      let a = b;
      for (let ky = ky0; ky < ky1; ky++) {
        const xi = rowIn + <usize>ky * prow + <usize>(ox * stride) * 4;
        for (let kx = 0; kx < k; kx++) a += load<f32>(xi + <usize>kx * 4) * load<f32>(wc + <usize>(ky * k + kx) * 4);
      }
      if (gelu != 0) a = gelu1(a);
      store<f32>(rowOut + <usize>ox * 4, a);
    }
}

// Two output rows of a stride-1 planar depthwise convolution (rowOut and rowOut + orow bytes, wo
// columns each) from the k + 1 zero-padded input rows at rowIn (row stride prow bytes). Sixteen
// columns per block; a last partial block is recomputed over the columns before it (the same
// sums, so the same values), and a plane narrower than 16 computes one block and stores its first
// wo columns (the loads run up to 16 - wo floats past the last padded row, into the scratch's
// 16-float tail). Only input rows r0..r1-1 are read: the others are zero padding, whose
// products change no sum (for a large kernel on a small plane, a good share of the tap rows). Each output sums
// its taps in the same order as planar_row: identical values.
@noinline
function planar_rows2(rowIn: usize, prow: usize, r0: i32, r1: i32, k: i32, wc: usize, b: f32, gelu: i32, rowOut: usize, orow: usize, wo: i32): void {
  if (wo < 16) {
    rows2_x16(rowIn, prow, r0, r1, k, wc, b, gelu, rowOut, orow, 0, wo);
    return;
  }
  for (let ox = 0; ox < wo; ox += 16) rows2_x16(rowIn, prow, r0, r1, k, wc, b, gelu, rowOut, orow, min(ox, wo - 16), 16);
}

// Columns ox..ox+15 of planar_rows2's two rows, the first n of them stored. Input row r feeds the
// first output row through tap row r and the second through tap row r - 1, so each input vector
// loaded serves two multiply-adds; eight accumulators cover the multiply-add latency, and with
// four inputs and two weights they are 14 registers, within the 15 V8 gives wasm on x64 (a
// one-row block of 32 columns needs 17 and spills).
@inline
function rows2_x16(rowIn: usize, prow: usize, r0: i32, r1: i32, k: i32, wc: usize, b: f32, gelu: i32, rowOut: usize, orow: usize, ox: i32, n: i32): void {
  const wrow = <usize>k * 4;
  const vb = f32x4.splat(b);
  let a0 = vb, a1 = vb, a2 = vb, a3 = vb; // first output row
  let c0 = vb, c1 = vb, c2 = vb, c3 = vb; // second output row
  // input row 0: tap row 0 of the first output row
  if (r0 == 0) {
    let xi = rowIn + <usize>ox * 4;
    let wi = wc;
    for (let kx = 0; kx < k; kx++) {
      const wa = v128.load32_splat(wi);
      a0 = madd(v128.load(xi), wa, a0);
      a1 = madd(v128.load(xi, 16), wa, a1);
      a2 = madd(v128.load(xi, 32), wa, a2);
      a3 = madd(v128.load(xi, 48), wa, a3);
      xi += 4;
      wi += 4;
    }
  }
  // input rows 1..k-1: tap row r of the first output row, r - 1 of the second
  for (let r = max(1, r0); r < min(k, r1); r++) {
    let xi = rowIn + <usize>r * prow + <usize>ox * 4;
    let wi = wc + <usize>r * wrow;
    for (let kx = 0; kx < k; kx++) {
      const wa = v128.load32_splat(wi);
      const wb = v128.load32_splat(wi - wrow);
      const x0 = v128.load(xi);
      const x1 = v128.load(xi, 16);
      const x2 = v128.load(xi, 32);
      const x3 = v128.load(xi, 48);
      a0 = madd(x0, wa, a0);
      c0 = madd(x0, wb, c0);
      a1 = madd(x1, wa, a1);
      c1 = madd(x1, wb, c1);
      a2 = madd(x2, wa, a2);
      c2 = madd(x2, wb, c2);
      a3 = madd(x3, wa, a3);
      c3 = madd(x3, wb, c3);
      xi += 4;
      wi += 4;
    }
  }
  // input row k: tap row k - 1 of the second output row
  if (r1 > k) {
    let xi = rowIn + <usize>k * prow + <usize>ox * 4;
    let wi = wc + <usize>(k - 1) * wrow;
    for (let kx = 0; kx < k; kx++) {
      const wb = v128.load32_splat(wi);
      c0 = madd(v128.load(xi), wb, c0);
      c1 = madd(v128.load(xi, 16), wb, c1);
      c2 = madd(v128.load(xi, 32), wb, c2);
      c3 = madd(v128.load(xi, 48), wb, c3);
      xi += 4;
      wi += 4;
    }
  }
  if (gelu != 0) {
    a0 = gelu4(a0); a1 = gelu4(a1); a2 = gelu4(a2); a3 = gelu4(a3);
    c0 = gelu4(c0); c1 = gelu4(c1); c2 = gelu4(c2); c3 = gelu4(c3);
  }
  const o = rowOut + <usize>ox * 4;
  store_lanes8(o, a0, a1, n);
  store_lanes8(o + 32, a2, a3, n - 8);
  store_lanes8(o + orow, c0, c1, n);
  store_lanes8(o + orow + 32, c2, c3, n - 8);
}

// Depthwise conv2d on planar (NCHW) data, the layout that measured faster than NHWC
// (docs/benchmarks.md, "Convolutions"): each channel's plane is copied once into `scratch` with a zero border of (K-1)/2, then
// the output rows are computed two at a time at stride 1 (planar_rows2: each tap a broadcast
// weight and contiguous loads shared by both rows, no edge tests in the inner loop), one at a
// time at stride 2 and for an odd last row (planar_row).
// With mult = 2 it is the grouped convolution of FFNet's downsampling (groups = C, 2C outputs):
// output channel o reads input plane o / mult, whose padded copy the two outputs share.
//   x: C planes of H x W; w: C*mult x K x K; bias: C*mult or 0; y: C*mult planes of Ho x Wo
//   (Ho = ceil(H/stride), Wo = ceil(W/stride)); scratch: (H+K-1) * (W+K-1) + 16 floats.
//   Odd K, stride 1 or 2, mult >= 1, gelu != 0 applies GELU. y must not overlap x, w, bias or
//   scratch.
export function f32_dwconv2d_nchw(
  x: usize, h: i32, wd: i32, c: i32, mult: i32, w: usize, k: i32, bias: usize, stride: i32, gelu: i32, y: usize, scratch: usize,
): void {
  const pad = (k - 1) >> 1;
  const pw = wd + k - 1;
  const ph = h + k - 1;
  const ho = (h + stride - 1) / stride;
  const wo = (wd + stride - 1) / stride;
  const prow = <usize>pw * 4;
  for (let oc = 0; oc < c * mult; oc++) {
    if (oc % mult == 0) {
      memory.fill(scratch, 0, (<usize>ph * <usize>pw + 16) * 4);
      const plane = x + <usize>(oc / mult) * <usize>h * <usize>wd * 4;
      for (let r = 0; r < h; r++) {
        memory.copy(scratch + <usize>(r + pad) * prow + <usize>pad * 4, plane + <usize>r * <usize>wd * 4, <usize>wd * 4);
      }
    }
    const wc = w + <usize>oc * <usize>(k * k) * 4;
    const b: f32 = bias != 0 ? load<f32>(bias + <usize>oc * 4) : 0;
    const yc = y + <usize>oc * <usize>ho * <usize>wo * 4;
    const orow = <usize>wo * 4;
    let oy = 0;
    if (ASC_FEATURE_SIMD && stride == 1) {
      for (; oy + 2 <= ho; oy += 2) {
        // input rows r0..r1-1 of the pair's k + 1 hold image rows; the rest are zero padding
        const r0 = max(0, pad - oy);
        const r1 = min(k + 1, pad + h - oy);
        planar_rows2(scratch + <usize>oy * prow, prow, r0, r1, k, wc, b, gelu, yc + <usize>oy * orow, orow, wo);
      }
    }
    for (; oy < ho; oy++) {
      const iy = oy * stride;
      planar_row(scratch + <usize>iy * prow, prow, max(0, pad - iy), min(k, pad + h - iy), k, wc, b, stride, gelu, yc + <usize>oy * orow, wo);
    }
  }
}

// Depthwise conv1d on planar data (each channel's sequence contiguous): each channel is copied
// once into `scratch` with its zero padding (symmetric (K-1)/2 a side, or causal K-1 on the
// left), then computed as one row of the planar 2-D kernel (planar_row, kernel height 1).
//   x: C sequences of L; w: C x K; bias: C or 0; y: C sequences of L; scratch: L + K - 1 + 16
//   floats. y must not overlap x, w, bias or scratch.
export function f32_dwconv1d_ncl(x: usize, l: i32, c: i32, w: usize, k: i32, bias: usize, causal: i32, y: usize, scratch: usize): void {
  const left = causal != 0 ? k - 1 : (k - 1) >> 1;
  const len = l + k - 1;
  for (let ch = 0; ch < c; ch++) {
    memory.fill(scratch, 0, <usize>(len + 16) * 4);
    memory.copy(scratch + <usize>left * 4, x + <usize>ch * <usize>l * 4, <usize>l * 4);
    const b: f32 = bias != 0 ? load<f32>(bias + <usize>ch * 4) : 0;
    // one row of one kernel row: the 2-D planar row with kernel height 1
    planar_row(scratch, 0, 0, 1, k, w + <usize>ch * <usize>k * 4, b, 1, 0, y + <usize>ch * <usize>l * 4, l);
  }
}
