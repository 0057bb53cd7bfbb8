// The plain-JavaScript baseline: what a user gets from the obvious loops over Float32Arrays,
// with no wasm. Same layouts as the kernels (W row-major, one row per output feature).

/** c[M,N] = a[M,K] · w[N,K]^T. */
export function gemmJs(a: Float32Array, w: Float32Array, c: Float32Array, m: number, n: number, k: number): void {
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = 0; j < n; j++) {
      const wj = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ai + p]! * w[wj + p]!;
      c[i * n + j] = s;
    }
  }
}

/** y[N] = w[N,K] · x[K]. */
export function gemvJs(w: Float32Array, x: Float32Array, y: Float32Array, n: number, k: number): void {
  gemmJs(x, w, y, 1, n, k);
}
