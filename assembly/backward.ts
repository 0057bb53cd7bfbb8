// Backward kernels for training: the gradients of the Llama forward's operations that are not
// matrix products (those reuse f32_gemm_4x8 on transposed packings, see
// f32_gemm_pack_transposed_4x8), plus the transpose that feeds a weight gradient's GEMM. Each
// gradient accumulates (+=) where a parameter or a shared input receives it from several places,
// and is written (=) otherwise; each export says which.

import { dot } from './reduce';
import { axpy } from './elementwise';
import { sigmoid1 } from './math';
import { keys_dot, softmax_scores, transpose_head } from './attention';

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
