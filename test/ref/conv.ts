// Float64 references for the depthwise convolutions, from the definition (zero padding).

type Vec = ArrayLike<number>;

/** NHWC depthwise conv2d, 'same' padding (k-1)/2, stride s. */
export function depthwiseConv2d(x: Vec, h: number, w: number, c: number, wt: Vec, k: number, bias: Vec | null, s: number): Float64Array {
  const pad = (k - 1) / 2;
  const ho = Math.ceil(h / s);
  const wo = Math.ceil(w / s);
  const y = new Float64Array(ho * wo * c);
  for (let oy = 0; oy < ho; oy++) for (let ox = 0; ox < wo; ox++) for (let ch = 0; ch < c; ch++) {
    let a = bias ? bias[ch]! : 0;
    for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
      const iy = oy * s - pad + ky;
      const ix = ox * s - pad + kx;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      a += x[(iy * w + ix) * c + ch]! * wt[(ky * k + kx) * c + ch]!;
    }
    y[(oy * wo + ox) * c + ch] = a;
  }
  return y;
}

/** Depthwise conv1d, channels fastest; symmetric or causal padding. */
export function depthwiseConv1d(x: Vec, l: number, c: number, wt: Vec, k: number, bias: Vec | null, causal: boolean): Float64Array {
  const left = causal ? k - 1 : (k - 1) / 2;
  const y = new Float64Array(l * c);
  for (let t = 0; t < l; t++) for (let ch = 0; ch < c; ch++) {
    let a = bias ? bias[ch]! : 0;
    for (let j = 0; j < k; j++) {
      const i = t - left + j;
      if (i >= 0 && i < l) a += x[i * c + ch]! * wt[j * c + ch]!;
    }
    y[t * c + ch] = a;
  }
  return y;
}

/**
 * Planar (NCHW) convolution from the definition, as PyTorch's Conv2d computes it: `groups`
 * groups of cin/groups inputs and cout/groups outputs, zero padding `pad`, stride s.
 * x: cin planes of h x w; wt: cout x (cin/groups) x k x k; returns cout planes of ho x wo.
 */
export function conv2dNchw(x: Vec, cin: number, h: number, w: number, wt: Vec, cout: number, k: number, groups: number, s: number, pad: number, bias: Vec | null): { y: Float64Array; ho: number; wo: number } {
  const ho = Math.floor((h + 2 * pad - k) / s) + 1;
  const wo = Math.floor((w + 2 * pad - k) / s) + 1;
  const gin = cin / groups;
  const gout = cout / groups;
  const y = new Float64Array(cout * ho * wo);
  for (let o = 0; o < cout; o++) {
    const g = Math.floor(o / gout);
    for (let oy = 0; oy < ho; oy++) for (let ox = 0; ox < wo; ox++) {
      let a = bias ? bias[o]! : 0;
      for (let i = 0; i < gin; i++) {
        const ci = g * gin + i;
        for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
          const iy = oy * s - pad + ky;
          const ix = ox * s - pad + kx;
          if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
          a += x[(ci * h + iy) * w + ix]! * wt[((o * gin + i) * k + ky) * k + kx]!;
        }
      }
      y[(o * ho + oy) * wo + ox] = a;
    }
  }
  return { y, ho, wo };
}
