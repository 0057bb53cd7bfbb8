// Row-wise normalisations: RMSNorm, LayerNorm and the numerically stable softmax.
// Each takes `rows` rows of n floats, row stride n; the output may be the input (in place).

import { madd, hsum } from './simd';
import { exp4, exp1 } from './math';
import { dot, max_of, sum } from './reduce';
import { scale } from './elementwise';

// y = x * (1 / sqrt(mean(x^2) + eps)) * w, per row, as llama2.c's rmsnorm.
//   x, y: rows x n floats; w: n floats
export function f32_rmsnorm(x: usize, w: usize, y: usize, rows: i32, n: i32, eps: f32): void {
  const stride = <usize>n * 4;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * stride;
    const yr = y + <usize>r * stride;
    const s = <f32>1.0 / Mathf.sqrt(dot(xr, xr, n) / <f32>n + eps);
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      const vs = f32x4.splat(s);
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i * 4;
        v128.store(yr + o, f32x4.mul(f32x4.mul(v128.load(xr + o), vs), v128.load(w + o)));
      }
    }
    for (; i < n; i++) {
      const o = <usize>i * 4;
      store<f32>(yr + o, load<f32>(xr + o) * s * load<f32>(w + o));
    }
  }
}

// y = (x - mean) / sqrt(var + eps) * gamma + beta, per row; variance over n (biased), computed
// in a second pass around the mean so that large offsets do not cancel.
//   x, y: rows x n floats; gamma, beta: n floats, or 0 for ones / zeros
export function f32_layernorm(x: usize, gamma: usize, beta: usize, y: usize, rows: i32, n: i32, eps: f32): void {
  const stride = <usize>n * 4;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * stride;
    const yr = y + <usize>r * stride;
    const mean = sum(xr, n) / <f32>n;
    let ss: f32 = 0;
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      const vm = f32x4.splat(mean);
      let v = f32x4.splat(0);
      for (; i + 4 <= n; i += 4) {
        const d = f32x4.sub(v128.load(xr + <usize>i * 4), vm);
        v = madd(d, d, v);
      }
      ss = hsum(v);
    }
    for (; i < n; i++) {
      const d = load<f32>(xr + <usize>i * 4) - mean;
      ss += d * d;
    }
    const rstd = <f32>1.0 / Mathf.sqrt(ss / <f32>n + eps);
    i = 0;
    if (ASC_FEATURE_SIMD) {
      const vm = f32x4.splat(mean);
      const vr = f32x4.splat(rstd);
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i * 4;
        let v = f32x4.mul(f32x4.sub(v128.load(xr + o), vm), vr);
        if (gamma != 0) v = f32x4.mul(v, v128.load(gamma + o));
        if (beta != 0) v = f32x4.add(v, v128.load(beta + o));
        v128.store(yr + o, v);
      }
    }
    for (; i < n; i++) {
      const o = <usize>i * 4;
      let v = (load<f32>(xr + o) - mean) * rstd;
      if (gamma != 0) v *= load<f32>(gamma + o);
      if (beta != 0) v += load<f32>(beta + o);
      store<f32>(yr + o, v);
    }
  }
}

// One row of the stable softmax: y[n] = exp(x - max(x)) / sum(exp(x - max(x))). Subtracting the
// maximum keeps every exponent <= 0, so nothing overflows; the largest entry contributes exactly 1
// to the sum. n >= 1; y may be x.
@inline
export function softmax_row(x: usize, y: usize, n: i32): void {
  const m = max_of(x, n);
  let s: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vm = f32x4.splat(m);
    let vs = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i * 4;
      const e = exp4(f32x4.sub(v128.load(x + o), vm));
      v128.store(y + o, e);
      vs = f32x4.add(vs, e);
    }
    s = hsum(vs);
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    const e = exp1(load<f32>(x + o) - m);
    store<f32>(y + o, e);
    s += e;
  }
  scale(y, <f32>1.0 / s, y, n);
}

// Softmax of each of `rows` rows of n floats (x, y: rows x n, row stride n; y may be x).
export function f32_softmax(x: usize, y: usize, rows: i32, n: i32): void {
  const stride = <usize>n * 4;
  for (let r = 0; r < rows; r++) {
    softmax_row(x + <usize>r * stride, y + <usize>r * stride, n);
  }
}
