// FFNet as a MixerGraph, module by module as the official models/ffnet.py defines it, reading
// parameters by their state_dict names. `fused: false` keeps every BatchNorm, branch and layer
// scale as its own op (the training-time structure, what a PyTorch state_dict describes);
// `fused: true` applies the official fuse() re-parameterisations (reparam.ts) and fuses each GELU
// into the convolution before it, leaving one conv per module and a bias-only head.

import { FfnkitError } from '../errors.js';
import type { FfnetConfig } from './ffnet-config.js';
import { GraphBuilder, type MixerGraph } from './graph.js';
import {
  type BatchNormParams, type ConvParams, addCentred, addIdentity, fuseBnConv1x1, fuseBnLinear, fuseConvBn, scaleOutputs,
} from './reparam.js';

/** Supplies a parameter by state_dict name; `shape` is the PyTorch shape it must have. */
export type ParamSource = (name: string, shape: number[]) => Float32Array;

export interface FfnetGraphOptions {
  /** Re-parameterised for inference (default true). */
  fused?: boolean;
  /** Input height and width (default 256 x 256, the models' training size). */
  height?: number;
  width?: number;
}

/** A convolution module of the official code: how to emit it unfused, and its fused kernel. */
interface ConvModule {
  prefix: string;
  cout: number;
  k: number;
  stride: 1 | 2;
  groups: number;
  fused(): ConvParams;
  unfused(x: string): string;
}

/** Builds the graph of an FFNet from its configuration and a parameter source. */
export function buildFfnetGraph(config: FfnetConfig, get: ParamSource, options: FfnetGraphOptions = {}): MixerGraph {
  const fused = options.fused ?? true;
  const height = options.height ?? 256;
  const width = options.width ?? 256;
  for (const [name, v] of [['height', height], ['width', width]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 8192) throw new FfnkitError('E_ARG', `${name}: expected an integer in 1..8192, found ${v}`);
  }
  const b = new GraphBuilder('input', { c: 3, h: height, w: width });
  const param = (name: string, shape: number[]) => b.param(name, shape, get(name, shape));

  const bnParams = (prefix: string, c: number): BatchNormParams => ({
    gamma: get(`${prefix}.weight`, [c]),
    beta: get(`${prefix}.bias`, [c]),
    mean: get(`${prefix}.running_mean`, [c]),
    variance: get(`${prefix}.running_var`, [c]),
    eps: 1e-5,
  });
  const batchnorm = (x: string, prefix: string, c: number): string => {
    for (const p of ['weight', 'bias', 'running_mean', 'running_var']) param(`${prefix}.${p}`, [c]);
    return b.batchnorm(x, prefix);
  };

  // Conv2d_BN: a bias-free conv and a BatchNorm over its outputs
  const convBn = (prefix: string, cin: number, cout: number, k: number, stride: 1 | 2, groups: number): ConvModule => {
    const shape = [cout, cin / groups, k, k];
    return {
      prefix, cout, k, stride, groups,
      fused: () => fuseConvBn(get(`${prefix}.c.weight`, shape), null, cout, k, bnParams(`${prefix}.bn`, cout)),
      unfused: (x) => batchnorm(b.conv(x, param(`${prefix}.c.weight`, shape), null, { cout, k, stride, groups }), `${prefix}.bn`, cout),
    };
  };
  // nn.Conv2d with bias
  const plainConv = (prefix: string, cin: number, cout: number, k: number, groups: number): ConvModule => {
    const shape = [cout, cin / groups, k, k];
    return {
      prefix, cout, k, stride: 1, groups,
      fused: () => ({ weight: get(`${prefix}.weight`, shape), bias: get(`${prefix}.bias`, [cout]), cout, k }),
      unfused: (x) => b.conv(x, param(`${prefix}.weight`, shape), param(`${prefix}.bias`, [cout]), { cout, k, groups }),
    };
  };
  // RepVGGDW: a k x k and a (k/2) x (k/2) depthwise Conv2d_BN in parallel, summed
  const repvgg = (prefix: string, cin: number, cout: number, k: number, stride: 1 | 2): ConvModule => {
    const big = convBn(`${prefix}.conv`, cin, cout, k, stride, cin);
    const small = convBn(`${prefix}.conv1`, cin, cout, k >> 1, stride, cin);
    return {
      prefix, cout, k, stride, groups: cin,
      fused: () => addCentred(big.fused(), small.fused()),
      unfused: (x) => b.add(big.unfused(x), small.unfused(x)),
    };
  };
  // a module as one op: fused (with layer scale folded in) or unfused (GELU as its own op)
  const emit = (m: ConvModule, x: string, o: { gelu?: boolean; layerScale?: Float32Array | null } = {}): string => {
    if (fused) {
      let p = m.fused();
      if (o.layerScale) p = scaleOutputs(p, o.layerScale);
      const w = b.param(`${m.prefix}.weight`, [m.cout, p.weight.length / m.cout / (m.k * m.k), m.k, m.k], p.weight);
      const bias = b.param(`${m.prefix}.bias`, [m.cout], p.bias);
      return b.conv(x, w, bias, { cout: m.cout, k: m.k, stride: m.stride, groups: m.groups, gelu: o.gelu ?? false });
    }
    const y = m.unfused(x);
    return o.gelu ? b.gelu(y) : y;
  };
  // ResidualBlock: x + main(x) (* layer_scale)
  const residual = (x: string, prefix: string, dim: number, main: (x: string, prefix: string, layerScale: Float32Array | null) => string): string => {
    const ls = config.layerScale ? get(`${prefix}.layer_scale`, [dim, 1, 1]) : null;
    if (fused) return b.add(main(x, `${prefix}.main`, ls), x);
    let m = main(x, `${prefix}.main`, null);
    if (ls) m = b.scale(m, param(`${prefix}.layer_scale`, [dim, 1, 1]));
    return b.add(m, x);
  };
  // Conv2d_BN_skip: BN_Conv2d (a BatchNorm, then a bias-free 1x1) plus the identity
  const bnConvSkip = (prefix: string, dim: number): ConvModule => {
    const shape = [dim, dim, 1, 1];
    return {
      prefix, cout: dim, k: 1, stride: 1, groups: 1,
      fused: () => addIdentity(fuseBnConv1x1(bnParams(`${prefix}.conv.bn`, dim), get(`${prefix}.conv.c.weight`, shape), dim)),
      unfused: (x) => b.add(b.conv(batchnorm(x, `${prefix}.conv.bn`, dim), param(`${prefix}.conv.c.weight`, shape), null, { cout: dim, k: 1 }), x),
    };
  };
  const depthwise = (prefix: string, dim: number, k: number, plain: boolean): ConvModule =>
    k === 7 ? repvgg(prefix, dim, dim, 7, 1) : plain ? plainConv(prefix, dim, dim, k, dim) : convBn(prefix, dim, dim, k, 1, dim);

  // Token_Mixer: 1x1 Conv2d_BN -> depthwise ks1 -> GELU -> depthwise ks2
  const tokenMixer = (dim: number, ks1: number, ks2: number) => (x: string, prefix: string, ls: Float32Array | null): string => {
    let y = emit(convBn(`${prefix}.fc`, dim, dim, 1, 1, 1), x);
    y = emit(depthwise(`${prefix}.conv1`, dim, ks1, true), y, { gelu: true });
    return emit(depthwise(`${prefix}.conv2`, dim, ks2, true), y, { layerScale: ls });
  };
  // Channel_Mixer: depthwise ks -> 1x1 expand -> GELU -> 1x1
  const channelMixer = (dim: number, ks: number) => (x: string, prefix: string, ls: Float32Array | null): string => {
    const hidden = dim * config.expansion;
    let y = emit(depthwise(`${prefix}.conv`, dim, ks, false), x);
    y = emit(plainConv(`${prefix}.fc1`, dim, hidden, 1, 1), y, { gelu: true });
    return emit(plainConv(`${prefix}.fc2`, hidden, dim, 1, 1), y, { layerScale: ls });
  };

  // patch_embed: Conv2d_BN 3x3/2 -> GELU -> Conv2d_BN 3x3/2
  let x = emit(convBn('patch_embed.0', 3, config.inDim, 3, 2, 1), b.input, { gelu: true });
  x = emit(convBn('patch_embed.2', config.inDim, config.dims[0]!, 3, 2, 1), x);

  for (let i = 0; i < config.dims.length; i++) {
    const dim = config.dims[i]!;
    let j = 0;
    if (i > 0) {
      // PatchMerging: RepVGGDW 7x7/2 with two outputs per channel, then Conv2d_BN_skip
      const prefix = `stages.${i}.0.proj`;
      x = emit(repvgg(`${prefix}.0`, config.dims[i - 1]!, dim, 7, 2), x);
      x = emit(bnConvSkip(`${prefix}.1`, dim), x);
      j = 1;
    }
    for (let d = 0; d < config.depths[i]!; d++, j++) {
      const block = `stages.${i}.${j}`;
      x = residual(x, `${block}.token_mixer.0`, dim, tokenMixer(dim, config.kernelSizes1[i]!, config.kernelSizes2[i]!));
      x = residual(x, `${block}.channel_mixer`, dim, channelMixer(dim, config.kernelSizes[i]!));
    }
  }

  // head: BatchNorm2d -> global average pool -> Linear
  const last = config.dims[config.dims.length - 1]!;
  const headShape = [config.classes, last];
  if (fused) {
    const h = fuseBnLinear(bnParams('norm', last), get('head.weight', headShape), get('head.bias', [config.classes]));
    x = b.linear(b.mean(x), b.param('head.weight', headShape, h.weight), b.param('head.bias', [config.classes], h.bias), config.classes);
  } else {
    x = b.linear(b.mean(batchnorm(x, 'norm', last)), param('head.weight', headShape), param('head.bias', [config.classes]), config.classes);
  }
  return b.finish(x);
}
