// Re-parameterisation for inference (RepVGG-style structural fusion), as the official FFNet
// `fuse()` methods do it: BatchNorm folded into the convolution before (or after) it, parallel
// depthwise branches summed into one kernel, identity shortcuts added to a 1x1 kernel, layer
// scale multiplied into the branch's last convolution. All in float64, rounded once.

/** A convolution's weight [cout, cin/groups, k, k] and bias [cout]. */
export interface ConvParams {
  weight: Float32Array;
  bias: Float32Array;
  cout: number;
  k: number;
}

export interface BatchNormParams {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  eps: number;
}

/** BatchNorm as y = x * scale + shift per channel. */
export function bnAffine(bn: BatchNormParams): { scale: Float64Array; shift: Float64Array } {
  const n = bn.gamma.length;
  const scale = new Float64Array(n);
  const shift = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    scale[i] = bn.gamma[i]! / Math.sqrt(bn.variance[i]! + bn.eps);
    shift[i] = bn.beta[i]! - bn.mean[i]! * scale[i]!;
  }
  return { scale, shift };
}

/** Conv (weight, optional bias) followed by BatchNorm over its outputs, as one conv (Conv2d_BN.fuse). */
export function fuseConvBn(weight: Float32Array, bias: Float32Array | null, cout: number, k: number, bn: BatchNormParams): ConvParams {
  const { scale, shift } = bnAffine(bn);
  const per = weight.length / cout;
  const w = new Float32Array(weight.length);
  const b = new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < per; i++) w[o * per + i] = weight[o * per + i]! * scale[o]!;
    b[o] = (bias ? bias[o]! : 0) * scale[o]! + shift[o]!;
  }
  return { weight: w, bias: b, cout, k };
}

/** BatchNorm over the inputs of a bias-free 1x1 conv [cout, cin], as one conv (BN_Conv2d.fuse). */
export function fuseBnConv1x1(bn: BatchNormParams, weight: Float32Array, cout: number): ConvParams {
  const { scale, shift } = bnAffine(bn);
  const cin = weight.length / cout;
  const w = new Float32Array(weight.length);
  const b = new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    let acc = 0;
    for (let i = 0; i < cin; i++) {
      w[o * cin + i] = weight[o * cin + i]! * scale[i]!;
      acc += weight[o * cin + i]! * shift[i]!;
    }
    b[o] = acc;
  }
  return { weight: w, bias: b, cout, k: 1 };
}

/** Sum of two depthwise-shaped convolutions, the smaller kernel centred in the larger (RepVGGDW.fuse). */
export function addCentred(big: ConvParams, small: ConvParams): ConvParams {
  const { cout, k } = big;
  const per = big.weight.length / cout / (k * k); // inputs per output (1 for depthwise)
  const off = (k - small.k) / 2;
  const w = Float32Array.from(big.weight);
  for (let o = 0; o < cout * per; o++) {
    for (let y = 0; y < small.k; y++) for (let x = 0; x < small.k; x++) {
      const i = (o * k + y + off) * k + x + off;
      w[i] = w[i]! + small.weight[(o * small.k + y) * small.k + x]!;
    }
  }
  return { weight: w, bias: Float32Array.from(big.bias, (b, o) => b + small.bias[o]!), cout, k };
}

/** A 1x1 conv [c, c] plus the identity shortcut around it (Conv2d_BN_skip.fuse). */
export function addIdentity(p: ConvParams): ConvParams {
  const w = Float32Array.from(p.weight);
  for (let o = 0; o < p.cout; o++) w[o * p.cout + o] = w[o * p.cout + o]! + 1;
  return { ...p, weight: w };
}

/** Multiplies output channel o of a conv by scale[o] (layer scale folded into the branch). */
export function scaleOutputs(p: ConvParams, scale: Float32Array): ConvParams {
  const per = p.weight.length / p.cout;
  return {
    ...p,
    weight: Float32Array.from(p.weight, (v, i) => v * scale[Math.floor(i / per)]!),
    bias: Float32Array.from(p.bias, (v, o) => v * scale[o]!),
  };
}

/** BatchNorm on a map, then global average pool, then Linear [out, c]: BN folded into the Linear. */
export function fuseBnLinear(bn: BatchNormParams, weight: Float32Array, bias: Float32Array): { weight: Float32Array; bias: Float32Array } {
  const { scale, shift } = bnAffine(bn);
  const c = scale.length;
  const out = bias.length;
  const w = new Float32Array(weight.length);
  const b = new Float32Array(out);
  for (let j = 0; j < out; j++) {
    let acc = bias[j]!;
    for (let i = 0; i < c; i++) {
      w[j * c + i] = weight[j * c + i]! * scale[i]!;
      acc += weight[j * c + i]! * shift[i]!;
    }
    b[j] = acc;
  }
  return { weight: w, bias: b };
}
