// Transcendental functions for the kernels: exp, erf and tanh on four lanes for the SIMD builds,
// and their scalar counterparts for the scalar build and for row tails.
//
// exp: Cephes-style range reduction x = n*ln2 + r, |r| <= ln2/2, a degree-6 polynomial for e^r
// and 2^n built in the exponent bits; about 2 ulp. Below -87.3 the result would be subnormal and
// is flushed to 0 (so exp(-inf) = 0, as softmax masks need); above 88.3 it is +inf (the true
// value overflows at 88.72).
// erf: the rational approximation x*P(x^2)/Q(x^2) on [-4, 4] (erf(+-4) = +-1 in float32), with
// the coefficients Eigen and XNNPACK use; a few ulp.

import { madd } from './simd';

const EXP_LO: f32 = -87.3;
const EXP_HI: f32 = 88.3;
const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;

@inline
export function exp4(x_: v128): v128 {
  const x = f32x4.min(f32x4.max(x_, f32x4.splat(EXP_LO)), f32x4.splat(EXP_HI));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(LOG2E)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(P0);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P4));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P5));
  const y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1.0));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  const e = f32x4.mul(y, scale);
  const under = f32x4.lt(x_, f32x4.splat(EXP_LO));
  const over = f32x4.gt(x_, f32x4.splat(EXP_HI));
  return v128.bitselect(f32x4.splat(Infinity), v128.andnot(e, under), over);
}

// 1 / (1 + e^-x) on four lanes.
@inline
export function sigmoid4(x: v128): v128 {
  const one = f32x4.splat(1.0);
  return f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(x))));
}

// tanh(x) = sign(x) * (1 - 2 / (e^(2|x|) + 1)). Near 0 the subtraction loses relative accuracy
// but the absolute error stays below 1e-7, which is what GELU's 1 + tanh needs.
@inline
export function tanh4(x: v128): v128 {
  const one = f32x4.splat(1.0);
  const ax = f32x4.abs(x);
  const e = exp4(f32x4.add(ax, ax));
  const t = f32x4.sub(one, f32x4.div(f32x4.splat(2.0), f32x4.add(e, one)));
  // copy the sign bit of x onto t (t >= 0)
  return v128.or(t, v128.and(x, i32x4.splat(0x80000000)));
}

const ERF_A0: f32 = -2.72614225801306e-10;
const ERF_A1: f32 = 2.77068142495902e-08;
const ERF_A2: f32 = -2.10102402082508e-06;
const ERF_A3: f32 = -5.69250639462346e-05;
const ERF_A4: f32 = -7.34990630326855e-04;
const ERF_A5: f32 = -2.95459980854025e-03;
const ERF_A6: f32 = -1.60960333262415e-02;
const ERF_B0: f32 = -1.45660718464996e-05;
const ERF_B1: f32 = -2.13374055278905e-04;
const ERF_B2: f32 = -1.68282697438203e-03;
const ERF_B3: f32 = -7.37332916720468e-03;
const ERF_B4: f32 = -1.42647390514189e-02;

@inline
export function erf4(x: v128): v128 {
  x = f32x4.min(f32x4.max(x, f32x4.splat(-4.0)), f32x4.splat(4.0));
  const x2 = f32x4.mul(x, x);
  let p = f32x4.splat(ERF_A0);
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(ERF_A1));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(ERF_A2));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(ERF_A3));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(ERF_A4));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(ERF_A5));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(ERF_A6));
  let q = f32x4.splat(ERF_B0);
  q = f32x4.add(f32x4.mul(q, x2), f32x4.splat(ERF_B1));
  q = f32x4.add(f32x4.mul(q, x2), f32x4.splat(ERF_B2));
  q = f32x4.add(f32x4.mul(q, x2), f32x4.splat(ERF_B3));
  q = f32x4.add(f32x4.mul(q, x2), f32x4.splat(ERF_B4));
  return f32x4.div(f32x4.mul(x, p), q);
}

// Scalar forms, used by the scalar build and by the tails of SIMD loops.

@inline
export function exp1(x: f32): f32 {
  return Mathf.exp(x);
}

@inline
export function sigmoid1(x: f32): f32 {
  return 1.0 / (1.0 + Mathf.exp(-x));
}

@inline
export function tanh1(x: f32): f32 {
  return Mathf.tanh(x);
}

@inline
export function erf1(x: f32): f32 {
  x = min(max(x, <f32>-4.0), <f32>4.0);
  const x2 = x * x;
  let p = ERF_A0;
  p = p * x2 + ERF_A1;
  p = p * x2 + ERF_A2;
  p = p * x2 + ERF_A3;
  p = p * x2 + ERF_A4;
  p = p * x2 + ERF_A5;
  p = p * x2 + ERF_A6;
  let q = ERF_B0;
  q = q * x2 + ERF_B1;
  q = q * x2 + ERF_B2;
  q = q * x2 + ERF_B3;
  q = q * x2 + ERF_B4;
  return (x * p) / q;
}

// GELU in its exact form, x/2 * (1 + erf(x / sqrt 2)): the activation of FFNet and BERT-style
// FFNs, fused into the convolution and GEMM epilogues and used by f32_gelu.
@inline
export function gelu4(v: v128): v128 {
  const e = erf4(f32x4.mul(v, f32x4.splat(0.70710678118654752)));
  return f32x4.mul(f32x4.mul(v, f32x4.splat(0.5)), f32x4.add(f32x4.splat(1.0), e));
}

@inline
export function gelu1(v: f32): f32 {
  return <f32>0.5 * v * (<f32>1.0 + erf1(v * <f32>0.70710678118654752));
}

// GELU in its tanh form, x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))): GPT-2's activation
// and the gate of Gemma's GeGLU; used by gelu_tanh_f32 and f32_geglu_tanh.
@inline
export function gelu_tanh4(v: v128): v128 {
  const inner = f32x4.mul(f32x4.splat(0.79788456080286536), madd(f32x4.mul(f32x4.splat(0.044715), v), f32x4.mul(v, v), v));
  return f32x4.mul(f32x4.mul(v, f32x4.splat(0.5)), f32x4.add(f32x4.splat(1.0), tanh4(inner)));
}

@inline
export function gelu_tanh1(v: f32): f32 {
  return <f32>0.5 * v * (<f32>1.0 + tanh1(<f32>0.79788456080286536 * (v + <f32>0.044715 * v * v * v)));
}
