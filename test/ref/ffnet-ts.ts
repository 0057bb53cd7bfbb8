// The official time-series FFNet forward (time_series_forecasting/models/FFNet.py, one stage, no
// multi-scale fusion), transcribed module by module in float64 with batch 1: tensors as
// row-major arrays with their shapes, the reshapes and permutes done as PyTorch does them,
// grouped Conv1d and BatchNorm1d by their definitions. Independent of src/mixer/timeseries.ts,
// which folds the same computation into dense 1x1 matrices and fused depthwise kernels.

import { gelu as geluScalar } from './kernels.js';

type Params = Map<string, Float32Array>;

export interface RefTsConfig {
  seqLen: number; predLen: number; nvars: number; patchSize: number; patchStride: number; dim: number;
  ffnRatio: number; largeSize: number; smallSize: number; blocks: number; revin: boolean; affine: boolean; subtractLast: boolean; causal: boolean;
}

/** PyTorch Conv1d on x [cin][l]: weight [cout][cin/groups][k], padding (left, right), stride. */
function conv1d(x: Float64Array, cin: number, l: number, w: ArrayLike<number>, bias: ArrayLike<number> | null, cout: number, k: number, stride: number, padL: number, padR: number, groups: number): { y: Float64Array; lo: number } {
  const lo = Math.floor((l + padL + padR - k) / stride) + 1;
  const y = new Float64Array(cout * lo);
  const ig = cin / groups;
  const og = cout / groups;
  for (let o = 0; o < cout; o++) {
    const g = Math.floor(o / og);
    for (let t = 0; t < lo; t++) {
      let s = bias ? bias[o]! : 0;
      for (let i = 0; i < ig; i++) {
        for (let j = 0; j < k; j++) {
          const at = t * stride + j - padL;
          if (at >= 0 && at < l) s += w[(o * ig + i) * k + j]! * x[(g * ig + i) * l + at]!;
        }
      }
      y[o * lo + t] = s;
    }
  }
  return { y, lo };
}

/** BatchNorm1d (inference) on x [c][l]. */
function batchNorm(x: Float64Array, c: number, l: number, P: Params, name: string): Float64Array {
  const g = P.get(`${name}.weight`)!, b = P.get(`${name}.bias`)!, m = P.get(`${name}.running_mean`)!, v = P.get(`${name}.running_var`)!;
  return x.map((val, i) => {
    const ch = Math.floor(i / l) % c;
    return ((val - m[ch]!) / Math.sqrt(v[ch]! + 1e-5)) * g[ch]! + b[ch]!;
  });
}

/** [a][b][n] -> [b][a][n]. */
function swap01(x: Float64Array, a: number, b: number, n: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) for (let t = 0; t < n; t++) y[(j * a + i) * n + t] = x[(i * b + j) * n + t]!;
  return y;
}

const gelu = (x: Float64Array) => x.map(geluScalar);

/** Forecast [predLen][nvars] from input [seqLen][nvars]. */
export function refTimeSeriesForward(c: RefTsConfig, P: Params, input: Float32Array): Float64Array {
  const M = c.nvars, D = c.dim, L = c.seqLen, K = c.largeSize;
  const pad = (k: number) => (c.causal ? [k - 1, 0] : [(k - 1) / 2, (k - 1) / 2]) as [number, number];
  // RevIN over time, per variable
  const mean = new Float64Array(M), std = new Float64Array(M), last = new Float64Array(M);
  const z = new Float64Array(M * L); // [M][L]
  for (let m = 0; m < M; m++) {
    for (let t = 0; t < L; t++) mean[m]! += input[t * M + m]! / L;
    let v = 0;
    for (let t = 0; t < L; t++) v += (input[t * M + m]! - mean[m]!) ** 2;
    std[m] = Math.sqrt(v / L + 1e-5);
    last[m] = input[(L - 1) * M + m]!;
    for (let t = 0; t < L; t++) {
      let val = input[t * M + m]!;
      if (c.revin) {
        val = (val - (c.subtractLast ? last[m]! : mean[m]!)) / std[m]!;
        if (c.affine) val = val * P.get('revin_layer.affine_weight')![m]! + P.get('revin_layer.affine_bias')![m]!;
      }
      z[m * L + t] = val;
    }
  }
  // stem: (B*M, 1, L) padded with the last value, Conv1d(1, D, P, stride S), BatchNorm1d(D)
  const padLen = c.patchSize - c.patchStride;
  let x: Float64Array = new Float64Array(0);
  let N = 0;
  for (let m = 0; m < M; m++) {
    const s = new Float64Array(L + padLen);
    s.set(z.subarray(m * L, (m + 1) * L));
    s.fill(z[m * L + L - 1]!, L);
    const { y, lo } = conv1d(s, 1, L + padLen, P.get('downsample_layers.0.0.weight')!, P.get('downsample_layers.0.0.bias')!, D, c.patchSize, c.patchStride, 0, 0, 1);
    if (m === 0) {
      N = lo;
      x = new Float64Array(M * D * N);
    }
    x.set(batchNorm(y, D, lo, P, 'downsample_layers.0.1'), m * D * N);
  }
  // x: [M][D][N]
  for (let b = 0; b < c.blocks; b++) {
    const t = `stages.0.blocks.${b}.token_mixer`;
    // permute(0, 2, 1, 3) -> [D][M][N], reshape (D*M, N)
    let h: Float64Array = swap01(x, M, D, N);
    h = conv1d(h, D * M, N, P.get(`${t}.ffnpw1.weight`)!, P.get(`${t}.ffnpw1.bias`)!, M * 2 * D, 1, 1, 0, 0, D).y;
    h = gelu(h);
    // reshape (D, 2M, N), permute -> (2M, D, N), reshape (2M*D, N)
    h = swap01(h, D, 2 * M, N);
    h = conv1d(h, 2 * M * D, N, P.get(`${t}.ffnpw2.weight`)!, P.get(`${t}.ffnpw2.bias`)!, M * D, 1, 1, 0, 0, M).y;
    // (B*M, D, N) BatchNorm over D
    h = batchNorm(h, D, N, P, `${t}.norm`);
    const [l1, r1] = pad(K);
    h = conv1d(h, M * D, N, P.get(`${t}.dw1.weight`)!, P.get(`${t}.dw1.bias`)!, M * D, K, 1, l1, r1, M * D).y;
    h = gelu(h);
    h = conv1d(h, M * D, N, P.get(`${t}.dw2.weight`)!, P.get(`${t}.dw2.bias`)!, M * D, K, 1, l1, r1, M * D).y;
    x = x.map((v, i) => v + h[i]!);

    const ch = `stages.0.blocks.${b}.channel_mixer`;
    const [ls, rs] = pad(c.smallSize);
    const big = batchNorm(conv1d(x, M * D, N, P.get(`${ch}.dw.lkb_origin.conv.weight`)!, null, M * D, K, 1, l1, r1, M * D).y, M * D, N, P, `${ch}.dw.lkb_origin.bn`);
    const small = batchNorm(conv1d(x, M * D, N, P.get(`${ch}.dw.small_conv.conv.weight`)!, null, M * D, c.smallSize, 1, ls, rs, M * D).y, M * D, N, P, `${ch}.dw.small_conv.bn`);
    let g: Float64Array = big.map((v, i) => v + small[i]!);
    g = batchNorm(g, D, N, P, `${ch}.norm`);
    const F = D * c.ffnRatio;
    g = conv1d(g, M * D, N, P.get(`${ch}.ffnpw1.weight`)!, P.get(`${ch}.ffnpw1.bias`)!, M * F, 1, 1, 0, 0, M).y;
    g = gelu(g);
    // reshape (M, F, N), permute -> (F, M, N), reshape (F*M, N)
    g = swap01(g, M, F, N);
    g = conv1d(g, F * M, N, P.get(`${ch}.ffnpw2.weight`)!, P.get(`${ch}.ffnpw2.bias`)!, M * D, 1, 1, 0, 0, D).y;
    // reshape (D, M, N), permute -> (M, D, N)
    g = swap01(g, D, M, N);
    x = x.map((v, i) => v + g[i]!);
  }
  // head: flatten (D*N) per variable, Linear shared by the variables; then RevIN denorm
  const W = P.get('head.linear.weight')!, hb = P.get('head.linear.bias')!;
  const out = new Float64Array(c.predLen * M);
  for (let m = 0; m < M; m++) {
    for (let t = 0; t < c.predLen; t++) {
      let s = hb[t]!;
      for (let i = 0; i < D * N; i++) s += W[t * D * N + i]! * x[m * D * N + i]!;
      if (c.revin) {
        if (c.affine) s = (s - P.get('revin_layer.affine_bias')![m]!) / (P.get('revin_layer.affine_weight')![m]! + 1e-10);
        s = s * std[m]! + (c.subtractLast ? last[m]! : mean[m]!);
      }
      out[t * M + m] = s;
    }
  }
  return out;
}
