// Per-feature additions to rows of activations: the q/k/v biases of Qwen2-style attention, added
// after a product whose weights (Q8_0 among them) carry no bias of their own.

// x[r * n + j] += bias[j] for r < rows, j < n   (x: rows x n floats, row stride n; bias: n floats,
// apart from x). Any alignment.
export function f32_add_row_bias(x: usize, bias: usize, rows: i32, n: i32): void {
  const stride = <usize>n * 4;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * stride;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= n; j += 4) {
        const o = <usize>j * 4;
        v128.store(xr + o, f32x4.add(v128.load(xr + o), v128.load(bias + o)));
      }
    }
    for (; j < n; j++) {
      const o = <usize>j * 4;
      store<f32>(xr + o, load<f32>(xr + o) + load<f32>(bias + o));
    }
  }
}
