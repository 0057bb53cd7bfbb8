// The scale searches of ggml's k-quant quantizers (ggml-quants.c: make_qx_quants, make_q3_quants,
// make_qkx2_quants), in float32 steps so that they choose the same scales and levels as ggml:
// every product, sum and quotient is rounded to float32 as C computes it, left to right.
//
// Each fits a group of n values x with integer levels L and a scale (and, for the asymmetric
// searches, a minimum), trying a few candidate scales and keeping the one with the smallest
// weighted error.

const f = Math.fround;

/** ggml's GROUP_MAX_EPS: a group whose largest |x| is below it quantizes to zero. */
export const GROUP_MAX_EPS = f(1e-15);

/** ggml's nearest_int: round half to even of a float32 (|v| < 2^22), by the 1.5 * 2^23 trick. */
export function nearestInt(v: number): number {
  return f(v + 12582912) - 12582912;
}

const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);

/** The value of largest magnitude among x[at .. at+n) (the first on ties), and that magnitude. */
function signedMax(x: Float32Array, at: number, n: number): [number, number] {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[at + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[at + i]!;
    }
  }
  return [max, amax];
}

/**
 * Symmetric levels -nmax .. nmax-1 weighted by x² (make_qx_quants with rmse_type 1 and no
 * importance): L[i] = level + nmax. Returns the scale.
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, at: number, L: Uint8Array, lat: number): number {
  const [max, amax] = signedMax(x, at, n);
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lat, lat + n);
    return 0;
  }
  const fit = (iscale: number, write: boolean): [number, number] => {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[at + i]!;
      const l = clamp(nearestInt(f(iscale * xi)), -nmax, nmax - 1);
      if (write) L[lat + i] = l + nmax;
      const w = f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    return [sumlx, suml2];
  };
  let [sumlx, suml2] = fit(f(-nmax / max), true);
  let scale = suml2 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    const iscale = f(f(-f(nmax + f(f(0.1) * is))) / max);
    [sumlx, suml2] = fit(iscale, false);
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      fit(iscale, true);
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/**
 * Symmetric levels -nmax .. nmax-1 refined one value at a time for the x²-weighted error
 * (make_q3_quants with do_rmse): L[i] = level + nmax. Returns the scale.
 */
export function makeQ3Quants(n: number, nmax: number, x: Float32Array, at: number, L: Uint8Array, lat: number): number {
  const [max, amax] = signedMax(x, at, n);
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lat, lat + n);
    return 0;
  }
  const iscale = f(-nmax / max);
  const lev = new Int32Array(n);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[at + i]!;
    const l = clamp(nearestInt(f(iscale * xi)), -nmax, nmax - 1);
    lev[i] = l;
    const w = f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[at + i]!;
      const w = f(xi * xi);
      let slx = f(sumlx - f(f(w * xi) * lev[i]!));
      if (slx > 0) {
        let sl2 = f(suml2 - f(f(w * lev[i]!) * lev[i]!));
        const l = clamp(nearestInt(f(f(xi * sl2) / slx)), -nmax, nmax - 1);
        if (l !== lev[i]) {
          slx = f(slx + f(f(w * xi) * l));
          sl2 = f(sl2 + f(f(w * l) * l));
          if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            lev[i] = l;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (let i = 0; i < n; i++) L[lat + i] = lev[i]! + nmax;
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}

/** The search grid of makeQkx2Quants: scales (rmin + rdelta * is + nmax) / (max - min), is = 0..nstep. */
export interface Qkx2Grid {
  rmin: number;
  rdelta: number;
  nstep: number;
  /** Absolute error (Q2_K) instead of squared. */
  useMad: boolean;
}

/**
 * Asymmetric levels 0..nmax with a minimum, x ≈ scale * L + min, fitted for the weighted error by
 * least squares at each grid scale (make_qkx2_quants). Returns [scale, -min] (the minimum as the
 * positive offset ggml stores).
 */
export function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, at: number, weights: Float32Array, L: Uint8Array, lat: number, aux: Uint8Array, grid: Qkx2Grid,
): [number, number] {
  let min = x[at]!;
  let max = x[at]!;
  let sumW = weights[0]!;
  let sumX = f(sumW * x[at]!);
  for (let i = 1; i < n; i++) {
    const xi = x[at + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i]!;
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lat, lat + n);
    return [0, -min];
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  const error = (s: number, m: number, levels: Uint8Array, lo: number) => {
    let e = 0;
    for (let i = 0; i < n; i++) {
      let diff = f(f(f(s * levels[lo + i]!) + m) - x[at + i]!);
      diff = grid.useMad ? Math.abs(diff) : f(diff * diff);
      e = f(e + f(weights[i]! * diff));
    }
    return e;
  };
  for (let i = 0; i < n; i++) L[lat + i] = clamp(nearestInt(f(iscale * f(x[at + i]! - min))), 0, nmax);
  let bestError = error(scale, min, L, lat);
  for (let is = 0; is <= grid.nstep; is++) {
    // max - min with the best minimum so far, as ggml recomputes it
    iscale = f(f(f(grid.rmin + f(grid.rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = clamp(nearestInt(f(iscale * f(x[at + i]! - min))), 0, nmax);
      aux[i] = l;
      const wl = f(weights[i]! * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[at + i]!));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      const e = error(thisScale, thisMin, aux, 0);
      if (e < bestError) {
        L.set(aux.subarray(0, n), lat);
        bestError = e;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}
