// Elementwise kernels over n floats (any alignment). Unless a comment says otherwise the output
// may be one of the inputs (in place), since every lane is read before it is written.

import { madd } from './simd';
import { sigmoid4, sigmoid1, gelu4, gelu1, gelu_tanh4, gelu_tanh1 } from './math';

// y = s * x.
@inline
export function scale(x: usize, s: f32, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vs = f32x4.splat(s);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i * 4;
      v128.store(y + o, f32x4.mul(v128.load(x + o), vs));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(y + o, load<f32>(x + o) * s);
  }
}

// y[n] = s * x[n].
export function f32_scale(x: usize, s: f32, y: usize, n: i32): void {
  scale(x, s, y, n);
}

// y[n] = a[n] + b[n].
export function f32_add(a: usize, b: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i * 4;
      v128.store(y + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(y + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

// y += alpha * x.
@inline
export function axpy(alpha: f32, x: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f32x4.splat(alpha);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i * 4;
      v128.store(y + o, madd(va, v128.load(x + o), v128.load(y + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}

// y[n] += alpha * x[n]. x must not overlap y.
export function f32_axpy(alpha: f32, x: usize, y: usize, n: i32): void {
  axpy(alpha, x, y, n);
}

// SwiGLU: y = silu(gate) * up = gate * sigmoid(gate) * up, for gate[n], up[n].
@inline
export function swiglu(gate: usize, up: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i * 4;
      const g = v128.load(gate + o);
      v128.store(y + o, f32x4.mul(f32x4.mul(g, sigmoid4(g)), v128.load(up + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    const g = load<f32>(gate + o);
    store<f32>(y + o, g * sigmoid1(g) * load<f32>(up + o));
  }
}

// y[n] = silu(gate[n]) * up[n].
export function f32_swiglu(gate: usize, up: usize, y: usize, n: i32): void {
  swiglu(gate, up, y, n);
}

// y[n] = GELU(x[n]) = x/2 * (1 + erf(x / sqrt 2)), the exact form.
export function f32_gelu(x: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i * 4;
      v128.store(y + o, gelu4(v128.load(x + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(y + o, gelu1(load<f32>(x + o)));
  }
}

// y[n] = GELU_tanh(x[n]) = x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))), the approximation
// GPT-2 and PyTorch's approximate='tanh' use.
export function f32_gelu_tanh(x: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i * 4;
      v128.store(y + o, gelu_tanh4(v128.load(x + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(y + o, gelu_tanh1(load<f32>(x + o)));
  }
}

// Rotary position embedding, in place, on `heads` heads of head_dim floats each (x contiguous,
// head stride head_dim). cs holds the rotation for this position: head_dim/2 cosines followed by
// head_dim/2 sines, cs[i] = cos(pos * theta_i), cs[head_dim/2 + i] = sin(pos * theta_i).
//   half_split == 0: pairs (x[2i], x[2i+1]), the interleaved layout of llama2.c and GGUF
//   half_split != 0: pairs (x[i], x[i + head_dim/2]), the layout of Hugging Face checkpoints
// head_dim must be even.
export function f32_rope(x: usize, heads: i32, head_dim: i32, cs: usize, half_split: i32): void {
  const half = head_dim >> 1;
  const sin = cs + <usize>half * 4;
  for (let h = 0; h < heads; h++) {
    const xh = x + <usize>h * <usize>head_dim * 4;
    let i = 0;
    if (half_split != 0) {
      const hi = xh + <usize>half * 4;
      if (ASC_FEATURE_SIMD) {
        for (; i + 4 <= half; i += 4) {
          const o = <usize>i * 4;
          const a = v128.load(xh + o);
          const b = v128.load(hi + o);
          const c = v128.load(cs + o);
          const s = v128.load(sin + o);
          v128.store(xh + o, f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, s)));
          v128.store(hi + o, f32x4.add(f32x4.mul(a, s), f32x4.mul(b, c)));
        }
      }
      for (; i < half; i++) {
        const o = <usize>i * 4;
        const a = load<f32>(xh + o);
        const b = load<f32>(hi + o);
        const c = load<f32>(cs + o);
        const s = load<f32>(sin + o);
        store<f32>(xh + o, a * c - b * s);
        store<f32>(hi + o, a * s + b * c);
      }
    } else {
      if (ASC_FEATURE_SIMD) {
        // two pairs per v128: x = [a0 b0 a1 b1], rotated = x*[c0 c0 c1 c1] + [b0 a0 b1 a1]*[-s0 s0 -s1 s1]
        const flip = f32x4(-1.0, 1.0, -1.0, 1.0);
        for (; i + 2 <= half; i += 2) {
          const v = v128.load(xh + <usize>i * 8);
          const c2 = v128.load64_zero(cs + <usize>i * 4);
          const s2 = v128.load64_zero(sin + <usize>i * 4);
          const c = v128.shuffle<f32>(c2, c2, 0, 0, 1, 1);
          const s = f32x4.mul(v128.shuffle<f32>(s2, s2, 0, 0, 1, 1), flip);
          const sw = v128.shuffle<f32>(v, v, 1, 0, 3, 2);
          v128.store(xh + <usize>i * 8, f32x4.add(f32x4.mul(v, c), f32x4.mul(sw, s)));
        }
      }
      for (; i < half; i++) {
        const o = <usize>i * 8;
        const a = load<f32>(xh + o);
        const b = load<f32>(xh + o, 4);
        const c = load<f32>(cs + <usize>i * 4);
        const s = load<f32>(sin + <usize>i * 4);
        store<f32>(xh + o, a * c - b * s);
        store<f32>(xh + o, a * s + b * c, 4);
      }
    }
  }
}
