import { axpy } from './elementwise';

// Routing kernels for mixtures of experts: top-k selection of router logits, and the gather /
// scatter that groups a block's tokens by expert so each expert runs one GEMM over its tokens.

// For each of `rows` rows of n logits (row stride n floats), the indices of the k largest
// (descending; the lower index first on ties) into idx (rows x k i32) and their logits into val
// (rows x k f32). 1 <= k <= n. Selection by k passes over the row: k is small (experts in use).
export function f32_topk(x: usize, rows: i32, n: i32, k: i32, idx: usize, val: usize): void {
  for (let r = 0; r < rows; r++) {
    const row = x + <usize>r * <usize>n * 4;
    const out_i = idx + <usize>r * <usize>k * 4;
    const out_v = val + <usize>r * <usize>k * 4;
    for (let j = 0; j < k; j++) {
      let best = -1;
      let best_v: f32 = -Infinity;
      for (let i = 0; i < n; i++) {
        const v = load<f32>(row + <usize>i * 4);
        // skip those already chosen
        let taken = false;
        for (let t = 0; t < j; t++) {
          if (load<i32>(out_i + <usize>t * 4) == i) {
            taken = true;
            break;
          }
        }
        if (!taken && (best < 0 || v > best_v)) {
          best = i;
          best_v = v;
        }
      }
      store<i32>(out_i + <usize>j * 4, best);
      store<f32>(out_v + <usize>j * 4, best_v);
    }
  }
}

// dst row i = src row rows_idx[i], for i < count; rows of d floats. dst must not overlap src.
export function f32_gather_rows(src: usize, rows_idx: usize, count: i32, d: i32, dst: usize): void {
  const bytes = <usize>d * 4;
  for (let i = 0; i < count; i++) {
    const r = load<i32>(rows_idx + <usize>i * 4);
    memory.copy(dst + <usize>i * bytes, src + <usize>r * bytes, bytes);
  }
}

// dst row rows_idx[i] += weight[i] * src row i, for i < count; rows of d floats. src must not
// overlap dst. A row index may repeat (its contributions add up in order).
export function f32_scatter_add_rows(src: usize, rows_idx: usize, weight: usize, count: i32, d: i32, dst: usize): void {
  const bytes = <usize>d * 4;
  for (let i = 0; i < count; i++) {
    const r = load<i32>(rows_idx + <usize>i * 4);
    const w = load<f32>(weight + <usize>i * 4);
    axpy(w, src + <usize>i * bytes, dst + <usize>r * bytes, d);
  }
}
