// FFNet's forward pass in float64, transcribed module by module from the official
// models/ffnet.py (Conv2d_BN, RepVGGDW, Token_Mixer, Channel_Mixer, ResidualBlock, PatchMerging,
// head) over a state_dict by name, unfused, written without ffnkit's graph builder so that it
// checks the builder's structure as well as the kernels' arithmetic.

import type { FfnetConfig } from '../../src/mixer/ffnet-config.js';
import { conv2dNchw } from './conv.js';
import { gelu as gelu1 } from './kernels.js';

type Params = Map<string, Float32Array>;

/** The shape fields of ffnkit's FfnetConfig (plain data: depths, widths, kernel sizes). */
type RefConfig = FfnetConfig;

interface Map2 {
  c: number;
  h: number;
  w: number;
  v: Float64Array;
}

export function ffnetForward(cfg: RefConfig, P: Params, image: Float32Array, h: number, w: number): Float64Array {
  const get = (n: string) => {
    const v = P.get(n);
    if (!v) throw new Error(`reference: missing ${n}`);
    return v;
  };
  const conv = (x: Map2, weight: string, bias: string | null, cout: number, k: number, s: number, pad: number, groups: number): Map2 => {
    const r = conv2dNchw(x.v, x.c, x.h, x.w, get(weight), cout, k, groups, s, pad, bias ? get(bias) : null);
    return { c: cout, h: r.ho, w: r.wo, v: r.y };
  };
  const bn = (x: Map2, p: string): Map2 => {
    const [g, b, m, v] = [get(`${p}.weight`), get(`${p}.bias`), get(`${p}.running_mean`), get(`${p}.running_var`)];
    const n = x.h * x.w;
    return { ...x, v: x.v.map((val, i) => { const c = Math.floor(i / n); return (val - m[c]!) / Math.sqrt(v[c]! + 1e-5) * g[c]! + b[c]!; }) };
  };
  const add = (a: Map2, b: Map2): Map2 => ({ ...a, v: a.v.map((x, i) => x + b.v[i]!) });
  const gelu = (x: Map2): Map2 => ({ ...x, v: x.v.map(gelu1) });
  const conv2dBn = (x: Map2, p: string, cout: number, k: number, s: number, pad: number, groups: number) => bn(conv(x, `${p}.c.weight`, null, cout, k, s, pad, groups), `${p}.bn`);
  const repvggdw = (x: Map2, p: string, cout: number, ks: number, s: number) => {
    const ks_ = Math.floor(ks / 2);
    return add(conv2dBn(x, `${p}.conv`, cout, ks, s, Math.floor(ks / 2), x.c), conv2dBn(x, `${p}.conv1`, cout, ks_, s, Math.floor(ks_ / 2), x.c));
  };
  const dwPlain = (x: Map2, p: string, k: number) => (k === 7 ? repvggdw(x, p, x.c, 7, 1) : conv(x, `${p}.weight`, `${p}.bias`, x.c, k, 1, Math.floor(k / 2), x.c));
  const residual = (x: Map2, p: string, main: (x: Map2, p: string) => Map2): Map2 => {
    let m = main(x, `${p}.main`);
    if (cfg.layerScale) {
      const ls = get(`${p}.layer_scale`);
      const n = m.h * m.w;
      m = { ...m, v: m.v.map((t, i) => t * ls[Math.floor(i / n)]!) };
    }
    return add(m, x);
  };

  let x: Map2 = { c: 3, h, w, v: Float64Array.from(image) };
  x = gelu(conv2dBn(x, 'patch_embed.0', cfg.inDim, 3, 2, 1, 1));
  x = conv2dBn(x, 'patch_embed.2', cfg.dims[0]!, 3, 2, 1, 1);
  for (let i = 0; i < cfg.dims.length; i++) {
    const dim = cfg.dims[i]!;
    let j = 0;
    if (i > 0) {
      x = repvggdw(x, `stages.${i}.0.proj.0`, dim, 7, 2);
      // Conv2d_BN_skip: BN_Conv2d (BatchNorm, then bias-free 1x1) plus the input
      x = add(conv(bn(x, `stages.${i}.0.proj.1.conv.bn`), `stages.${i}.0.proj.1.conv.c.weight`, null, dim, 1, 1, 0, 1), x);
      j = 1;
    }
    for (let d = 0; d < cfg.depths[i]!; d++, j++) {
      const blk = `stages.${i}.${j}`;
      x = residual(x, `${blk}.token_mixer.0`, (t, p) => {
        let y = conv2dBn(t, `${p}.fc`, dim, 1, 1, 0, 1);
        y = gelu(dwPlain(y, `${p}.conv1`, cfg.kernelSizes1[i]!));
        return dwPlain(y, `${p}.conv2`, cfg.kernelSizes2[i]!);
      });
      x = residual(x, `${blk}.channel_mixer`, (t, p) => {
        const ks = cfg.kernelSizes[i]!;
        let y = ks === 7 ? repvggdw(t, `${p}.conv`, dim, 7, 1) : conv2dBn(t, `${p}.conv`, dim, ks, 1, Math.floor(ks / 2), dim);
        y = gelu(conv(y, `${p}.fc1.weight`, `${p}.fc1.bias`, dim * cfg.expansion, 1, 1, 0, 1));
        return conv(y, `${p}.fc2.weight`, `${p}.fc2.bias`, dim, 1, 1, 0, 1);
      });
    }
  }
  x = bn(x, 'norm');
  const n = x.h * x.w;
  const pooled = Array.from({ length: x.c }, (_, c) => x.v.subarray(c * n, c * n + n).reduce((a, b) => a + b, 0) / n);
  const W = get('head.weight');
  const B = get('head.bias');
  return Float64Array.from({ length: cfg.classes }, (_, o) => B[o]! + pooled.reduce((a, v, c) => a + v * W[o * x.c + c]!, 0));
}
