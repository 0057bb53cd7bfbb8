// GEMM: C[M,N] = A[M,K] · W[N,K]^T + bias, with W packed once into panels of NR = 8 output features.
//
// Packed layout (f32_gemm_pack_4x8 writes it, f32_gemm_4x8 reads it): ceil(N/8) panels, the
// panel p holding
//   [ bias[8p .. 8p+7] | W[8p .. 8p+7][0] | W[8p .. 8p+7][1] | ... | W[8p .. 8p+7][K-1] ]
// that is (K + 1) * 8 floats, features past N zero-filled. A k-step of the microkernel then reads
// 8 consecutive weights (two v128) and one broadcast value per row of A, and the bias seeds the
// accumulators, as in XNNPACK's "goi" packing.
//
// The SIMD microkernel is 4x8: four rows of A against one panel, eight v128 accumulators, two
// weight vectors and one broadcast live at once, which fits x86-64's sixteen xmm registers without
// spills. Wider tiles (5x8, 6x8) spill under V8 and ran slower when
// tried.
// Panels run in the outer loop so a panel (K*32 bytes) stays in L1/L2 while every row block of
// A streams past it.

import { madd, store_lanes8 } from './simd';
import { gelu4 } from './math';

const NR: i32 = 8;
const MR: i32 = 4;

// Floats in a packed W of N features and K inputs.
export function f32_gemm_packed_floats(n: i32, k: i32): i32 {
  return ((n + NR - 1) / NR) * (k + 1) * NR;
}

// Packs W[N,K] (row-major, row stride K floats) and bias[N] (0 for none) into `packed`,
// which must hold f32_gemm_packed_floats(N, K) floats and not overlap W or bias.
export function f32_gemm_pack_4x8(w: usize, bias: usize, n: i32, k: i32, packed: usize): void {
  pack_panels(w, bias, n, k, <usize>k * 4, 4, packed);
}

// Packs the transpose of W[K,N] (row-major, row stride N floats), that is the N x K matrix whose
// feature j is column j of W, with no bias: what a backward pass multiplies by (dX = dY · W needs
// W's columns as features). `packed` holds f32_gemm_packed_floats(N, K) floats, apart from W.
export function f32_gemm_pack_transposed_4x8(w: usize, n: i32, k: i32, packed: usize): void {
  pack_panels(w, 0, n, k, 4, <usize>n * 4, packed);
}

// The packing loop of both: feature `row`, input `kk` is at w + row * row_step + kk * col_step.
@inline
function pack_panels(w: usize, bias: usize, n: i32, k: i32, row_step: usize, col_step: usize, packed: usize): void {
  const panels = (n + NR - 1) / NR;
  for (let p = 0; p < panels; p++) {
    const dst = packed + <usize>p * <usize>(k + 1) * <usize>(NR * 4);
    for (let j = 0; j < NR; j++) {
      const row = p * NR + j;
      const col = dst + <usize>(j * 4);
      if (row < n) {
        store<f32>(col, bias != 0 ? load<f32>(bias + <usize>row * 4) : 0);
        const src = w + <usize>row * row_step;
        for (let kk = 0; kk < k; kk++) {
          store<f32>(col + <usize>(kk + 1) * <usize>(NR * 4), load<f32>(src + <usize>kk * col_step));
        }
      } else {
        for (let kk = 0; kk <= k; kk++) store<f32>(col + <usize>kk * <usize>(NR * 4), 0);
      }
    }
  }
}

// Four rows of A (row stride lda bytes) against one panel B of eight columns (k-major, 8 floats
// per k-step):
//   C[r][j] = seedLo/Hi[j] + rowSeed[r] + sum_k A[r][k] * B[k][j], GELU'd when gelu != 0,
// written for nc (1..8) columns of four rows of C (row stride ldc bytes). Two callers:
//   f32_gemm_4x8: B is a packed weight panel past its bias row, seeded with that bias row;
//   f32_pwconv_nchw: A is the weights, B eight pixels of the activations packed the
//   same way, seeded with one bias per output channel (row).
@inline
export function ukernel_4x8(
  a: usize, lda: usize, b: usize, k: i32, c: usize, ldc: usize, nc: i32,
  seedLo: v128, seedHi: v128, r0: f32, r1: f32, r2: f32, r3: f32, gelu: i32,
): void {
  const a1 = a + lda;
  const a2 = a1 + lda;
  const a3 = a2 + lda;
  let c0l = f32x4.add(seedLo, f32x4.splat(r0));
  let c0h = f32x4.add(seedHi, f32x4.splat(r0));
  let c1l = f32x4.add(seedLo, f32x4.splat(r1));
  let c1h = f32x4.add(seedHi, f32x4.splat(r1));
  let c2l = f32x4.add(seedLo, f32x4.splat(r2));
  let c2h = f32x4.add(seedHi, f32x4.splat(r2));
  let c3l = f32x4.add(seedLo, f32x4.splat(r3));
  let c3h = f32x4.add(seedHi, f32x4.splat(r3));
  const end = <usize>k * 4;
  for (let i: usize = 0; i < end; i += 4) {
    const wl = v128.load(b);
    const wh = v128.load(b, 16);
    b += 32;
    const x0 = v128.load32_splat(a + i);
    c0l = madd(x0, wl, c0l);
    c0h = madd(x0, wh, c0h);
    const x1 = v128.load32_splat(a1 + i);
    c1l = madd(x1, wl, c1l);
    c1h = madd(x1, wh, c1h);
    const x2 = v128.load32_splat(a2 + i);
    c2l = madd(x2, wl, c2l);
    c2h = madd(x2, wh, c2h);
    const x3 = v128.load32_splat(a3 + i);
    c3l = madd(x3, wl, c3l);
    c3h = madd(x3, wh, c3h);
  }
  if (gelu != 0) {
    c0l = gelu4(c0l); c0h = gelu4(c0h); c1l = gelu4(c1l); c1h = gelu4(c1h);
    c2l = gelu4(c2l); c2h = gelu4(c2h); c3l = gelu4(c3l); c3h = gelu4(c3h);
  }
  store_lanes8(c, c0l, c0h, nc);
  store_lanes8(c + ldc, c1l, c1h, nc);
  store_lanes8(c + 2 * ldc, c2l, c2h, nc);
  store_lanes8(c + 3 * ldc, c3l, c3h, nc);
}

// One row of A against one packed panel: the M tail of the SIMD path, and the whole of a GEMV on
// packed weights (M = 1), where the panels are one contiguous stream of weights. Four k-steps per
// iteration feed four accumulators through mul + madd + add, so each add chain advances once per
// two k-steps and the loop runs at load speed rather than at the latency of one add chain.
@inline
function ukernel_1x8(a: usize, w: usize, k: i32, c: usize, nc: i32): void {
  let lo0 = v128.load(w);
  let hi0 = v128.load(w, 16);
  let lo1 = f32x4.splat(0);
  let hi1 = lo1;
  w += 32;
  const end4 = <usize>(k & ~3) * 4;
  for (let i: usize = 0; i < end4; i += 16) {
    const x0 = v128.load32_splat(a + i);
    const x1 = v128.load32_splat(a + i, 4);
    const x2 = v128.load32_splat(a + i, 8);
    const x3 = v128.load32_splat(a + i, 12);
    lo0 = f32x4.add(lo0, madd(v128.load(w, 32), x1, f32x4.mul(v128.load(w), x0)));
    hi0 = f32x4.add(hi0, madd(v128.load(w, 48), x1, f32x4.mul(v128.load(w, 16), x0)));
    lo1 = f32x4.add(lo1, madd(v128.load(w, 96), x3, f32x4.mul(v128.load(w, 64), x2)));
    hi1 = f32x4.add(hi1, madd(v128.load(w, 112), x3, f32x4.mul(v128.load(w, 80), x2)));
    w += 128;
  }
  const end = <usize>k * 4;
  for (let i = end4; i < end; i += 4) {
    const x = v128.load32_splat(a + i);
    lo0 = madd(x, v128.load(w), lo0);
    hi0 = madd(x, v128.load(w, 16), hi0);
    w += 32;
  }
  store_lanes8(c, f32x4.add(lo0, lo1), f32x4.add(hi0, hi1), nc);
}

// One row of A against one packed panel in scalar code: the scalar build's whole GEMM.
function ukernel_1x8_scalar(a: usize, w: usize, k: i32, c: usize, nc: i32): void {
  let s0 = load<f32>(w), s1 = load<f32>(w, 4), s2 = load<f32>(w, 8), s3 = load<f32>(w, 12);
  let s4 = load<f32>(w, 16), s5 = load<f32>(w, 20), s6 = load<f32>(w, 24), s7 = load<f32>(w, 28);
  w += 32;
  for (let i = 0; i < k; i++) {
    const x = load<f32>(a + <usize>i * 4);
    s0 += x * load<f32>(w);
    s1 += x * load<f32>(w, 4);
    s2 += x * load<f32>(w, 8);
    s3 += x * load<f32>(w, 12);
    s4 += x * load<f32>(w, 16);
    s5 += x * load<f32>(w, 20);
    s6 += x * load<f32>(w, 24);
    s7 += x * load<f32>(w, 28);
    w += 32;
  }
  store<f32>(c, s0);
  if (nc > 1) store<f32>(c, s1, 4);
  if (nc > 2) store<f32>(c, s2, 8);
  if (nc > 3) store<f32>(c, s3, 12);
  if (nc > 4) store<f32>(c, s4, 16);
  if (nc > 5) store<f32>(c, s5, 20);
  if (nc > 6) store<f32>(c, s6, 24);
  if (nc > 7) store<f32>(c, s7, 28);
}

// C[M,N] = A[M,K] · W^T + bias. With M = 1 this is the GEMV of decoding on packed weights.
//   a: M rows of K floats, row stride K (any alignment)
//   packed: W and bias as f32_gemm_pack_4x8 wrote them for these N and K
//   c: M rows of N floats, row stride N; must not overlap a or packed
export function f32_gemm_4x8(a: usize, packed: usize, c: usize, m: i32, n: i32, k: i32): void {
  const lda = <usize>k * 4;
  const ldc = <usize>n * 4;
  const panel = <usize>(k + 1) * <usize>(NR * 4);
  for (let n0 = 0; n0 < n; n0 += NR) {
    const w = packed + <usize>(n0 / NR) * panel;
    const nc = min(NR, n - n0);
    const cn = c + <usize>n0 * 4;
    if (ASC_FEATURE_SIMD) {
      const bl = v128.load(w); // the panel's bias row
      const bh = v128.load(w, 16);
      let m0 = 0;
      for (; m0 + MR <= m; m0 += MR) {
        ukernel_4x8(a + <usize>m0 * lda, lda, w + 32, k, cn + <usize>m0 * ldc, ldc, nc, bl, bh, 0, 0, 0, 0, 0);
      }
      for (; m0 < m; m0++) {
        ukernel_1x8(a + <usize>m0 * lda, w, k, cn + <usize>m0 * ldc, nc);
      }
    } else {
      for (let m0 = 0; m0 < m; m0++) {
        ukernel_1x8_scalar(a + <usize>m0 * lda, w, k, cn + <usize>m0 * ldc, nc);
      }
    }
  }
}
