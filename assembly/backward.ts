// Backward kernels for training: the gradients of the Llama forward's operations that are not
// matrix products (those reuse f32_gemm_4x8 on transposed packings, see
// f32_gemm_pack_transposed_4x8), plus the transpose that feeds a weight gradient's GEMM. Each
// gradient accumulates (+=) where a parameter or a shared input receives it from several places,
// and is written (=) otherwise; each export says which.

import { dot } from './reduce';
import { axpy } from './elementwise';
import { sigmoid1, tanh1 } from './math';
import { keys_dot, softmax_scores, transpose_head } from './attention';
import { softmax_row } from './norm';

// dst[cols, rows] = src[rows, cols]ᵀ (both row-major, apart). 8x8 tiles keep both sides'
// cache lines in use while a tile is copied.
export function f32_transpose(src: usize, rows: i32, cols: i32, dst: usize): void {
  const T: i32 = 8;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = min(cols, c0 + T);
      for (let r = r0; r < r1; r++) {
        const s = src + (<usize>r * <usize>cols) * 4;
        for (let c = c0; c < c1; c++) {
          store<f32>(dst + (<usize>c * <usize>rows + <usize>r) * 4, load<f32>(s + <usize>c * 4));
        }
      }
    }
  }
}

// Backward of y = x * r * w, r = 1 / sqrt(mean(x^2) + eps), per row of n (f32_rmsnorm):
//   dx = r * (dy * w) - x * r^3 / n * sum(dy * w * x)      (written)
//   dw += dy * x * r, summed over rows                      (accumulated; dw = 0 to skip)
// x, dy, dx: rows x n floats (dx apart from x and dy); w, dw: n floats.
export function f32_rmsnorm_backward(x: usize, w: usize, dy: usize, dx: usize, dw: usize, rows: i32, n: i32, eps: f32): void {
  const stride = <usize>n * 4;
  for (let row = 0; row < rows; row++) {
    const xr = x + <usize>row * stride;
    const gr = dy + <usize>row * stride;
    const dr = dx + <usize>row * stride;
    const r = <f32>1.0 / Mathf.sqrt(dot(xr, xr, n) / <f32>n + eps);
    let s: f32 = 0; // sum(dy * w * x)
    for (let i = 0; i < n; i++) {
      const o = <usize>i * 4;
      s += load<f32>(gr + o) * load<f32>(w + o) * load<f32>(xr + o);
    }
    const c = (r * r * r * s) / <f32>n;
    for (let i = 0; i < n; i++) {
      const o = <usize>i * 4;
      const xi = load<f32>(xr + o);
      const gi = load<f32>(gr + o);
      store<f32>(dr + o, r * gi * load<f32>(w + o) - xi * c);
      if (dw != 0) store<f32>(dw + o, load<f32>(dw + o) + gi * xi * r);
    }
  }
}

// Backward of a = silu(g) * u (f32_swiglu), for n values:
//   dg = da * u * silu'(g), silu'(g) = s * (1 + g * (1 - s)), s = sigmoid(g)   (written)
//   du = da * silu(g)                                                           (written)
// dg and du apart from each other and from the inputs.
export function f32_swiglu_backward(g: usize, u: usize, da: usize, dg: usize, du: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i * 4;
    const gi = load<f32>(g + o);
    const s = sigmoid1(gi);
    const d = load<f32>(da + o);
    store<f32>(dg + o, d * load<f32>(u + o) * s * (<f32>1.0 + gi * (<f32>1.0 - s)));
    store<f32>(du + o, d * gi * s);
  }
}

// Backward of a = GELU_tanh(g) * u (f32_geglu_tanh, Gemma's GeGLU), for n values, with
// GELU_tanh(x) = x/2 (1 + th), th = tanh(c (x + 0.044715 x^3)), c = sqrt(2/pi):
//   dg = da * u * (0.5 (1 + th) + 0.5 x (1 - th^2) c (1 + 3 * 0.044715 x^2))   (written)
//   du = da * GELU_tanh(g)                                                      (written)
// dg and du apart from each other and from the inputs.
export function f32_geglu_backward(g: usize, u: usize, da: usize, dg: usize, du: usize, n: i32): void {
  const c: f32 = 0.79788456080286536;
  const a: f32 = 0.044715;
  for (let i = 0; i < n; i++) {
    const o = <usize>i * 4;
    const x = load<f32>(g + o);
    const th = tanh1(c * (x + a * x * x * x));
    const d = load<f32>(da + o);
    const slope = <f32>0.5 * (<f32>1.0 + th) + <f32>0.5 * x * (<f32>1.0 - th * th) * c * (<f32>1.0 + <f32>3.0 * a * x * x);
    store<f32>(dg + o, d * load<f32>(u + o) * slope);
    store<f32>(du + o, d * <f32>0.5 * x * (<f32>1.0 + th));
  }
}

// Backward of causal grouped-query attention over one sequence (f32_attention_seq), in the same
// key-major form: per KV head, keys and values transposed to [head_dim][t], and the gradients of
// that head's keys and values gathered the same way. Per query row i and head h the softmax row P
// is recomputed exactly as the forward computed it (the same softmax_scores), so no
// t x t matrix is stored; then, with D = dO_i · O_i,
//   dS_s = P_s (dO_i · V_s - D) / sqrt(head_dim);   dQ_i += sum_s dS_s K_s;
//   dK_s += dS_s Q_i;   dV_s += P_s dO_i                (all accumulated: zero them first)
// Layout (floats; strides in floats): q, k, v rows of stride qkv_stride (q: n_heads heads of
// head_dim; k, v: n_kv_heads heads); out, dout rows of stride o_stride; dq, dk, dv rows of stride
// d_stride, laid out like q, k, v, apart from the inputs; scratch: 4 * head_dim * t + 2 * t floats.
export function f32_attention_seq_backward(
  q: usize, k: usize, v: usize, qkv_stride: i32, out: usize, dout: usize, o_stride: i32,
  dq: usize, dk: usize, dv: usize, d_stride: i32, scratch: usize, t: i32, n_heads: i32, n_kv_heads: i32, head_dim: i32,
): void {
  const group = n_heads / n_kv_heads;
  const inv_root = <f32>1.0 / Mathf.sqrt(<f32>head_dim);
  const head_bytes = <usize>head_dim * 4;
  const row = <usize>qkv_stride * 4;
  const orow = <usize>o_stride * 4;
  const drow = <usize>d_stride * 4;
  const plane = <usize>head_dim * <usize>t * 4;
  const kT = scratch;
  const vT = kT + plane;
  const dkT = vT + plane;
  const dvT = dkT + plane;
  const p = dvT + plane;
  const ds = p + <usize>t * 4;
  for (let g = 0; g < n_kv_heads; g++) {
    const hkv = <usize>g * head_bytes;
    transpose_head(k + hkv, row, t, head_dim, kT);
    transpose_head(v + hkv, row, t, head_dim, vT);
    memory.fill(dkT, 0, 2 * plane);
    for (let h = g * group; h < (g + 1) * group; h++) {
      const hq = <usize>h * head_bytes;
      for (let i = 0; i < t; i++) {
        const n = i + 1;
        const qh = q + <usize>i * row + hq;
        const doh = dout + <usize>i * orow + hq;
        softmax_scores(qh, kT, t, head_dim, n, inv_root, p);
        keys_dot(doh, vT, t, head_dim, n, 1, ds); // dO_i · V_s
        const big_d = dot(doh, out + <usize>i * orow + hq, head_dim);
        scores_grad(p, ds, big_d, inv_root, n);
        const dqh = dq + <usize>i * drow + hq;
        for (let d = 0; d < head_dim; d++) {
          const o = <usize>d * 4;
          const at = <usize>d * <usize>t * 4;
          store<f32>(dqh + o, load<f32>(dqh + o) + dot(ds, kT + at, n));
          axpy(load<f32>(qh + o), ds, dkT + at, n);
          axpy(load<f32>(doh + o), p, dvT + at, n);
        }
      }
    }
    // add the key-major gradients back into the rows of dk and dv
    for (let s = 0; s < t; s++) {
      const dks = dk + <usize>s * drow + hkv;
      const dvs = dv + <usize>s * drow + hkv;
      for (let d = 0; d < head_dim; d++) {
        const o = <usize>d * 4;
        const at = (<usize>d * <usize>t + <usize>s) * 4;
        store<f32>(dks + o, load<f32>(dks + o) + load<f32>(dkT + at));
        store<f32>(dvs + o, load<f32>(dvs + o) + load<f32>(dvT + at));
      }
    }
  }
}

// ds[j] = p[j] * (ds[j] - big_d) * scale for j < n: the softmax's backward on one row.
@inline
function scores_grad(p: usize, ds: usize, big_d: f32, scale: f32, n: i32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    const vd = f32x4.splat(big_d);
    const vs = f32x4.splat(scale);
    for (; j + 4 <= n; j += 4) {
      const o = <usize>j * 4;
      v128.store(ds + o, f32x4.mul(f32x4.mul(v128.load(p + o), f32x4.sub(v128.load(ds + o), vd)), vs));
    }
  }
  for (; j < n; j++) {
    const o = <usize>j * 4;
    store<f32>(ds + o, load<f32>(p + o) * (load<f32>(ds + o) - big_d) * scale);
  }
}

// ---- attention with Gemma's options over one sequence (training) --------------------------
// The forward and backward of f32_attention_windowed's function for a whole sequence at
// positions 0 .. t-1, key-major as f32_attention_seq: score_s = q · k_s * scale, soft-capped to
// softcap * tanh(score / softcap) when softcap > 0, over the keys first .. i of query i (first =
// i - window + 1 when window > 0, else 0). Both compute each softmax row through capped_softmax,
// so the backward's P is the forward's bit for bit. The forward sits here with its backward
// because they must agree on that row; the plain Llama path keeps f32_attention_seq.

// p[j] = softmax_j(cap(x · k_{first+j} * scale)) for j < n, with the capped scores kept in c
// when c != 0 (the backward's tanh derivative needs them). kT: [hd][t] key-major keys.
@inline
function capped_softmax(x: usize, kT: usize, t: i32, hd: i32, first: i32, n: i32, scale: f32, softcap: f32, c: usize, p: usize): void {
  const cs = c != 0 ? c : p;
  keys_dot(x, kT + <usize>first * 4, t, hd, n, scale, cs);
  if (softcap > 0) {
    const inv_cap: f32 = <f32>1.0 / softcap;
    for (let j = 0; j < n; j++) {
      const o = <usize>j * 4;
      store<f32>(cs + o, softcap * tanh1(load<f32>(cs + o) * inv_cap));
    }
  }
  softmax_row(cs, p, n);
}

// Layout (floats; strides in floats): qkv rows of stride qkv_stride, each q (n_heads heads of
// head_dim), then k and v (n_kv_heads heads each), as the fused projection writes them; out rows
// of stride o_stride, apart from the inputs; scratch: 2 * head_dim * t + t floats. scale: the
// score scale (1/sqrt(head_dim) for Llama's); softcap 0: none; window 0: all keys. (The fused
// layout keeps the argument count within what a worker thread takes.)
export function f32_attention_seq_windowed(
  qkv: usize, qkv_stride: i32, out: usize, o_stride: i32, scratch: usize,
  t: i32, n_heads: i32, n_kv_heads: i32, head_dim: i32, scale: f32, softcap: f32, window: i32,
): void {
  const q = qkv;
  const k = q + <usize>(n_heads * head_dim) * 4;
  const v = k + <usize>(n_kv_heads * head_dim) * 4;
  const group = n_heads / n_kv_heads;
  const head_bytes = <usize>head_dim * 4;
  const row = <usize>qkv_stride * 4;
  const orow = <usize>o_stride * 4;
  const plane = <usize>head_dim * <usize>t * 4;
  const kT = scratch;
  const vT = scratch + plane;
  const p = vT + plane;
  for (let g = 0; g < n_kv_heads; g++) {
    transpose_head(k + <usize>g * head_bytes, row, t, head_dim, kT);
    transpose_head(v + <usize>g * head_bytes, row, t, head_dim, vT);
    for (let h = g * group; h < (g + 1) * group; h++) {
      for (let i = 0; i < t; i++) {
        const first = window > 0 && i - window + 1 > 0 ? i - window + 1 : 0;
        const n = i + 1 - first;
        capped_softmax(q + <usize>i * row + <usize>h * head_bytes, kT, t, head_dim, first, n, scale, softcap, 0, p);
        const oh = out + <usize>i * orow + <usize>h * head_bytes;
        for (let d = 0; d < head_dim; d++) {
          store<f32>(oh + <usize>d * 4, dot(p, vT + (<usize>d * <usize>t + <usize>first) * 4, n));
        }
      }
    }
  }
}

// Backward of f32_attention_seq_windowed, as f32_attention_seq_backward: with P the recomputed
// softmax row, C the capped scores and D = dO_i · O_i,
//   dS_s = P_s (dO_i · V_s - D) * (1 - (C_s / softcap)^2 when capped) * scale;
//   dQ_i += sum_s dS_s K_s;   dK_s += dS_s Q_i;   dV_s += P_s dO_i     (accumulated)
// over the keys each query saw. Layout: qkv as f32_attention_seq_windowed, out and dout rows of
// stride o_stride, dqkv laid out like qkv with rows of stride d_stride, apart from the inputs;
// scratch: 4 * head_dim * t + 3 * t floats.
export function f32_attention_seq_windowed_backward(
  qkv: usize, qkv_stride: i32, out: usize, dout: usize, o_stride: i32, dqkv: usize, d_stride: i32, scratch: usize,
  t: i32, n_heads: i32, n_kv_heads: i32, head_dim: i32, scale: f32, softcap: f32, window: i32,
): void {
  const qd = <usize>(n_heads * head_dim) * 4;
  const kvd = <usize>(n_kv_heads * head_dim) * 4;
  const q = qkv;
  const k = q + qd;
  const v = k + kvd;
  const dq = dqkv;
  const dk = dq + qd;
  const dv = dk + kvd;
  const group = n_heads / n_kv_heads;
  const head_bytes = <usize>head_dim * 4;
  const row = <usize>qkv_stride * 4;
  const orow = <usize>o_stride * 4;
  const drow = <usize>d_stride * 4;
  const plane = <usize>head_dim * <usize>t * 4;
  const kT = scratch;
  const vT = kT + plane;
  const dkT = vT + plane;
  const dvT = dkT + plane;
  const p = dvT + plane;
  const ds = p + <usize>t * 4;
  const c = ds + <usize>t * 4;
  const inv_cap: f32 = softcap > 0 ? <f32>1.0 / softcap : 0;
  for (let g = 0; g < n_kv_heads; g++) {
    const hkv = <usize>g * head_bytes;
    transpose_head(k + hkv, row, t, head_dim, kT);
    transpose_head(v + hkv, row, t, head_dim, vT);
    memory.fill(dkT, 0, 2 * plane);
    for (let h = g * group; h < (g + 1) * group; h++) {
      const hq = <usize>h * head_bytes;
      for (let i = 0; i < t; i++) {
        const first = window > 0 && i - window + 1 > 0 ? i - window + 1 : 0;
        const n = i + 1 - first;
        const col = <usize>first * 4;
        const qh = q + <usize>i * row + hq;
        const doh = dout + <usize>i * orow + hq;
        capped_softmax(qh, kT, t, head_dim, first, n, scale, softcap, c, p);
        keys_dot(doh, vT + col, t, head_dim, n, 1, ds); // dO_i · V_s
        const big_d = dot(doh, out + <usize>i * orow + hq, head_dim);
        scores_grad(p, ds, big_d, scale, n);
        if (softcap > 0) {
          for (let j = 0; j < n; j++) {
            const o = <usize>j * 4;
            const r = load<f32>(c + o) * inv_cap;
            store<f32>(ds + o, load<f32>(ds + o) * (<f32>1.0 - r * r));
          }
        }
        const dqh = dq + <usize>i * drow + hq;
        for (let d = 0; d < head_dim; d++) {
          const o = <usize>d * 4;
          const at = <usize>d * <usize>t * 4 + col;
          store<f32>(dqh + o, load<f32>(dqh + o) + dot(ds, kT + at, n));
          axpy(load<f32>(qh + o), ds, dkT + at, n);
          axpy(load<f32>(doh + o), p, dvT + at, n);
        }
      }
    }
    for (let s = 0; s < t; s++) {
      const dks = dk + <usize>s * drow + hkv;
      const dvs = dv + <usize>s * drow + hkv;
      for (let d = 0; d < head_dim; d++) {
        const o = <usize>d * 4;
        const at = (<usize>d * <usize>t + <usize>s) * 4;
        store<f32>(dks + o, load<f32>(dks + o) + load<f32>(dkT + at));
        store<f32>(dvs + o, load<f32>(dvs + o) + load<f32>(dvT + at));
      }
    }
  }
}
