// Pointwise work on planar (NCHW) activations: the 1x1 convolution that carries FFNet's channel
// mixing (a GEMM), the im2col that turns its few full KxK convolutions (the stem) into that GEMM,
// and the per-channel operations around them (BatchNorm as an affine map, global average pool).

import { ukernel_4x8 } from './gemm';
import { gelu1 } from './math';
import { hsum } from './simd';

// Pixels per block: the block's Cin x PB slice of x, packed, is kept near 64 KB so it stays in
// L2 while every output channel sweeps it.
const BLOCK_BYTES: i32 = 64 * 1024;

// Pixels per packed block for Cin inputs (a multiple of 8).
@inline
function block_pixels(cin: i32): i32 {
  return max(8, (BLOCK_BYTES / (cin * 4)) & ~7);
}

// Floats of scratch f32_pwconv_nchw and f32_grouped_pwconv_nchw need for Cin inputs per group:
// one packed block of Cin x block_pixels(Cin).
export function f32_pwconv_nchw_scratch_floats(cin: i32): i32 {
  return cin * block_pixels(cin);
}

// y[Cout][P] = w[Cout][Cin] · x[Cin][P] + bias[Cout], GELU'd when gelu != 0.
//   x: Cin planes of P pixels; w: Cout rows of Cin floats (PyTorch's [Cout, Cin, 1, 1]);
//   bias: Cout floats or 0; y: Cout planes of P; scratch: f32_pwconv_nchw_scratch_floats(Cin)
//   floats. y must not overlap x, w, bias or scratch.
export function f32_pwconv_nchw(x: usize, cin: i32, p: i32, w: usize, cout: i32, bias: usize, gelu: i32, y: usize, scratch: usize): void {
  const plane = <usize>p * 4;
  pointwise_strided(x, plane, cin, p, w, cout, bias, gelu, y, plane, scratch);
}

// Grouped 1x1 convolution on planar data whose groups' channels may be interleaved: group g's
// input i is plane g * xg + i * xc of x, its output o is plane g * yg + o * yc of y (in planes of
// P pixels), so a grouped conv with the channel permutes around it (the time-series FFNet's
// mixers) runs without copying. Each group is f32_pwconv_nchw on its planes.
//   w: [groups][Cout][Cin] (PyTorch's grouped [groups * Cout, Cin, 1]); bias: [groups][Cout] or
//   0; scratch: f32_pwconv_nchw_scratch_floats(Cin) floats. Every output plane must be distinct,
//   and y must not overlap x, w, bias or scratch.
export function f32_grouped_pwconv_nchw(
  x: usize, p: i32, groups: i32, cin: i32, xg: i32, xc: i32, w: usize, cout: i32, yg: i32, yc: i32, bias: usize, gelu: i32, y: usize, scratch: usize,
): void {
  const plane = <usize>p * 4;
  for (let g = 0; g < groups; g++) {
    pointwise_strided(
      x + <usize>(g * xg) * plane, <usize>xc * plane, cin, p, w + <usize>(g * cout) * <usize>cin * 4, cout,
      bias != 0 ? bias + <usize>(g * cout) * 4 : 0, gelu, y + <usize>(g * yg) * plane, <usize>yc * plane, scratch,
    );
  }
}

// The pointwise kernel with input planes xstride bytes apart and output planes ystride apart.
// Pixels run in blocks; each block is first packed into panels of eight pixels, [k][8] like the
// GEMM's weight panels: reading the planes in place would step one plane (P * 4 bytes, often a
// multiple of 4 KB) per multiply-add and thrash one L1 set. Four output channels x eight pixels
// per step with the GEMM's 4x8 microkernel. Pixels past the last full eight, and output channels
// past the last full four, run in scalar code.
function pointwise_strided(x: usize, xstride: usize, cin: i32, p: i32, w: usize, cout: i32, bias: usize, gelu: i32, y: usize, ystride: usize, scratch: usize): void {
  const lda = <usize>cin * 4;
  const panel = <usize>cin * 32;
  let co4 = 0;
  let p8 = 0;
  if (ASC_FEATURE_SIMD) {
    co4 = cout & ~3;
    p8 = p & ~7;
    const pb = block_pixels(cin);
    const zero = f32x4.splat(0);
    for (let p0 = 0; p0 < p8; p0 += pb) {
      const p1 = min(p8, p0 + pb);
      // pack pixels p0..p1 of every input plane: panel j holds [ci][8] for pixels p0+8j..
      for (let px = p0; px < p1; px += 8) {
        let src = x + <usize>px * 4;
        let dst = scratch + <usize>((px - p0) >> 3) * panel;
        for (let ci = 0; ci < cin; ci++) {
          v128.store(dst, v128.load(src));
          v128.store(dst, v128.load(src, 16), 16);
          src += xstride;
          dst += 32;
        }
      }
      for (let co = 0; co < co4; co += 4) {
        const a = w + <usize>co * lda;
        let r0: f32 = 0, r1: f32 = 0, r2: f32 = 0, r3: f32 = 0;
        if (bias != 0) {
          const bo = bias + <usize>co * 4;
          r0 = load<f32>(bo); r1 = load<f32>(bo, 4); r2 = load<f32>(bo, 8); r3 = load<f32>(bo, 12);
        }
        const yc = y + <usize>co * ystride;
        for (let px = p0; px < p1; px += 8) {
          const b = scratch + <usize>((px - p0) >> 3) * panel;
          ukernel_4x8(a, lda, b, cin, yc + <usize>px * 4, ystride, 8, zero, zero, r0, r1, r2, r3, gelu);
        }
      }
    }
  }
  // the scalar build's whole kernel, and the tails: rows co4.., and pixels p8.. of rows 0..co4
  for (let co = 0; co < cout; co++) {
    const px0 = co < co4 ? p8 : 0;
    if (px0 >= p) continue;
    const b: f32 = bias != 0 ? load<f32>(bias + <usize>co * 4) : 0;
    const yc = y + <usize>co * ystride;
    for (let px = px0; px < p; px++) store<f32>(yc + <usize>px * 4, b);
    const wr = w + <usize>co * lda;
    for (let ci = 0; ci < cin; ci++) {
      const wv = load<f32>(wr + <usize>ci * 4);
      const xc = x + <usize>ci * xstride;
      for (let px = px0; px < p; px++) {
        const o = <usize>px * 4;
        store<f32>(yc + o, load<f32>(yc + o) + wv * load<f32>(xc + o));
      }
    }
    if (gelu != 0) {
      for (let px = px0; px < p; px++) store<f32>(yc + <usize>px * 4, gelu1(load<f32>(yc + <usize>px * 4)));
    }
  }
}

// Unfolds the KxK patches of a full convolution into columns, so the convolution becomes
// f32_pwconv_nchw with Cin * K * K inputs and the weights as stored ([Cout, Cin, K, K]):
//   col[(ci * K + ky) * K + kx][oy * Wo + ox] = x[ci][oy * stride - pad + ky][ox * stride - pad + kx]
// (zero outside the image). x: C planes of H x W; col: C*K*K planes of Ho x Wo with
// Ho = (H + 2 pad - K) / stride + 1, Wo likewise. col must not overlap x.
export function f32_im2col_nchw(x: usize, c: i32, h: i32, wd: i32, k: i32, stride: i32, pad: i32, col: usize): void {
  const ho = (h + 2 * pad - k) / stride + 1;
  const wo = (wd + 2 * pad - k) / stride + 1;
  let out = col;
  for (let ci = 0; ci < c; ci++) {
    const xc = x + <usize>ci * <usize>h * <usize>wd * 4;
    for (let ky = 0; ky < k; ky++) {
      for (let kx = 0; kx < k; kx++) {
        // output columns ox0..ox1-1 read inside the row (ix = ox * stride - pad + kx in 0..wd-1)
        const last = wd - 1 + pad - kx; // ox * stride <= last
        const ox0 = min(wo, max(0, (pad - kx + stride - 1) / stride));
        const ox1 = last < 0 ? ox0 : max(ox0, min(wo, last / stride + 1));
        for (let oy = 0; oy < ho; oy++) {
          const iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= h) {
            memory.fill(out, 0, <usize>wo * 4);
            out += <usize>wo * 4;
            continue;
          }
          const xr = xc + <usize>iy * <usize>wd * 4;
          let ox = 0;
          for (; ox < ox0; ox++) store<f32>(out + <usize>ox * 4, 0);
          if (ASC_FEATURE_SIMD) {
            // four columns per step while their loads stay inside the row (stride 2: eight
            // consecutive inputs, the even ones kept)
            const span = stride == 1 ? 4 : 8;
            for (; ox + 4 <= ox1 && (ox * stride - pad + kx) + span <= wd; ox += 4) {
              const src = xr + <usize>(ox * stride - pad + kx) * 4;
              const v = stride == 1 ? v128.load(src) : v128.shuffle<f32>(v128.load(src), v128.load(src, 16), 0, 2, 4, 6);
              v128.store(out + <usize>ox * 4, v);
            }
          }
          for (; ox < ox1; ox++) store<f32>(out + <usize>ox * 4, load<f32>(xr + <usize>(ox * stride - pad + kx) * 4));
          for (; ox < wo; ox++) store<f32>(out + <usize>ox * 4, 0);
          out += <usize>wo * 4;
        }
      }
    }
  }
}

// y[c][i] = x[c][i] * scale[c] + shift[c] over C planes of P (shift 0: none). BatchNorm at
// inference (scale = gamma / sqrt(var + eps), shift = beta - mean * scale) and layer scale.
// y may be x.
export function f32_channel_affine_nchw(x: usize, c: i32, p: i32, scale: usize, shift: usize, y: usize): void {
  for (let ch = 0; ch < c; ch++) {
    const s = load<f32>(scale + <usize>ch * 4);
    const t: f32 = shift != 0 ? load<f32>(shift + <usize>ch * 4) : 0;
    const xc = x + <usize>ch * <usize>p * 4;
    const yc = y + <usize>ch * <usize>p * 4;
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      const vs = f32x4.splat(s);
      const vt = f32x4.splat(t);
      for (; i + 4 <= p; i += 4) v128.store(yc + <usize>i * 4, f32x4.add(f32x4.mul(v128.load(xc + <usize>i * 4), vs), vt));
    }
    for (; i < p; i++) store<f32>(yc + <usize>i * 4, load<f32>(xc + <usize>i * 4) * s + t);
  }
}

// y[c] = mean of x[c][0..P): global average pooling of C planes of P pixels.
export function f32_channel_mean_nchw(x: usize, c: i32, p: i32, y: usize): void {
  for (let ch = 0; ch < c; ch++) {
    const xc = x + <usize>ch * <usize>p * 4;
    let i = 0;
    let s: f32 = 0;
    if (ASC_FEATURE_SIMD) {
      let a0 = f32x4.splat(0), a1 = a0;
      for (; i + 8 <= p; i += 8) {
        a0 = f32x4.add(a0, v128.load(xc + <usize>i * 4));
        a1 = f32x4.add(a1, v128.load(xc + <usize>i * 4, 16));
      }
      s = hsum(f32x4.add(a0, a1));
    }
    for (; i < p; i++) s += load<f32>(xc + <usize>i * 4);
    store<f32>(y + <usize>ch * 4, s / <f32>p);
  }
}
