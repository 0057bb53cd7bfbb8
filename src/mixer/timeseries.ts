// MetaMixer's 1D time-series FFNet (official time_series_forecasting/models/FFNet.py) for
// long-term forecasting, as every published script configures it (one stage, no multi-scale
// fusion, no decomposition): RevIN -> patch stem (Conv1d + BN per variable) -> blocks of
//   token mixer:   grouped 1x1 (across variables) -> GELU -> grouped 1x1 -> BN -> depthwise K
//                  -> GELU -> depthwise K, residual
//   channel mixer: RepVGGDW (K and small branches, BN each) -> BN -> grouped 1x1 (per variable)
//                  -> GELU -> grouped 1x1 (across variables), residual
// -> flatten head (one Linear shared by the variables) -> RevIN denormalisation.
//
// Layout: one planar map per series, channel m * dim + d for variable m and feature d, `patches`
// steps long. The official code regroups channels between its grouped 1x1 convolutions with
// reshapes and permutes; here each grouped 1x1 reads and writes its groups' channels where they
// lie (`Kernels.groupedPointwiseConv` with channel strides, see `mixerGroups`), and the expanded
// maps between a block's two 1x1s are kept in the order that makes the second one's groups
// contiguous, so no permute is ever copied. Every BatchNorm is folded into a convolution and
// RepVGGDW's two branches into one kernel. `causal` pads the depthwise convolutions on the
// left only, so step n of the map sees steps <= n (the small RepVGG branch aligned to the right).

import { FfnkitError } from '../errors.js';
import type { Engine } from '../runtime/engine.js';
import type { F32Buffer } from '../runtime/buffer.js';
import type { GroupedPointwise, PackedMatrix } from '../runtime/kernels.js';
import { rng } from '../rng.js';
import { parseSafetensors, safetensorsData } from '../formats/safetensors.js';
import type { ParamMap } from './ffnet-params.js';
import { bnAffine, fuseConvBn, type BatchNormParams } from './reparam.js';

export interface TimeSeriesFfnetConfig {
  /** Input steps (the look-back window) and forecast steps. */
  seqLen: number;
  predLen: number;
  /** Variables per step (the dataset's channels, `enc_in`). */
  nvars: number;
  patchSize: number;
  patchStride: number;
  /** Features per variable (`dims[0]`). */
  dim: number;
  /** Channel mixer expansion (`ffn_ratio`). */
  ffnRatio: number;
  /** Depthwise kernel sizes (odd): the large one and RepVGGDW's small branch. */
  largeSize: number;
  smallSize: number;
  blocks: number;
  revin: boolean;
  affine: boolean;
  subtractLast: boolean;
  causal: boolean;
}

/** The ETTh1 configuration of the official scripts (96 -> 96 steps, 7 variables). */
export const TIMESERIES_ETTH1: TimeSeriesFfnetConfig = {
  seqLen: 96, predLen: 96, nvars: 7, patchSize: 4, patchStride: 2, dim: 64, ffnRatio: 2, largeSize: 51, smallSize: 5, blocks: 1,
  revin: true, affine: true, subtractLast: false, causal: false,
};

const BN_EPS = 1e-5;
const REVIN_EPS = 1e-5;

/** Patches (map steps) of a configuration: the stem pads patchSize - patchStride copies of the last value. */
export const patchCount = (c: TimeSeriesFfnetConfig): number => Math.floor((c.seqLen - c.patchStride) / c.patchStride) + 1;

export function checkTimeSeriesConfig(c: TimeSeriesFfnetConfig): void {
  for (const key of ['seqLen', 'predLen', 'nvars', 'patchSize', 'patchStride', 'dim', 'ffnRatio', 'largeSize', 'smallSize', 'blocks'] as const) {
    const v = c[key];
    if (!Number.isInteger(v) || v < 1 || v > 1 << 20) throw new FfnkitError('E_ARG', `${key}: expected a positive integer, found ${String(v)}`);
  }
  if (c.largeSize % 2 === 0 || c.smallSize % 2 === 0) throw new FfnkitError('E_ARG', `kernel sizes must be odd, found large ${c.largeSize}, small ${c.smallSize}`);
  if (c.smallSize > c.largeSize) throw new FfnkitError('E_ARG', `smallSize ${c.smallSize} is larger than largeSize ${c.largeSize}`);
  if (c.patchSize < c.patchStride) throw new FfnkitError('E_ARG', `patchSize ${c.patchSize} is smaller than patchStride ${c.patchStride}`);
  if (c.seqLen % c.patchStride !== 0 || c.seqLen < c.patchSize) {
    throw new FfnkitError('E_ARG', `seqLen ${c.seqLen} must be a multiple of patchStride ${c.patchStride} and at least patchSize ${c.patchSize}`);
  }
}

/** Every parameter the model reads, by its state_dict name (without the `model.` prefix), with its PyTorch shape. */
export function timeSeriesParameterShapes(c: TimeSeriesFfnetConfig): Map<string, number[]> {
  checkTimeSeriesConfig(c);
  const M = c.nvars;
  const D = c.dim;
  const F = D * c.ffnRatio;
  const shapes = new Map<string, number[]>();
  const bn = (name: string, n: number) => {
    for (const p of ['weight', 'bias', 'running_mean', 'running_var']) shapes.set(`${name}.${p}`, [n]);
  };
  if (c.revin && c.affine) {
    shapes.set('revin_layer.affine_weight', [M]);
    shapes.set('revin_layer.affine_bias', [M]);
  }
  shapes.set('downsample_layers.0.0.weight', [D, 1, c.patchSize]);
  shapes.set('downsample_layers.0.0.bias', [D]);
  bn('downsample_layers.0.1', D);
  for (let b = 0; b < c.blocks; b++) {
    const t = `stages.0.blocks.${b}.token_mixer`;
    shapes.set(`${t}.ffnpw1.weight`, [2 * M * D, M, 1]);
    shapes.set(`${t}.ffnpw1.bias`, [2 * M * D]);
    shapes.set(`${t}.ffnpw2.weight`, [M * D, 2 * D, 1]);
    shapes.set(`${t}.ffnpw2.bias`, [M * D]);
    bn(`${t}.norm`, D);
    for (const dw of ['dw1', 'dw2']) {
      shapes.set(`${t}.${dw}.weight`, [M * D, 1, c.largeSize]);
      shapes.set(`${t}.${dw}.bias`, [M * D]);
    }
    const ch = `stages.0.blocks.${b}.channel_mixer`;
    shapes.set(`${ch}.dw.lkb_origin.conv.weight`, [M * D, 1, c.largeSize]);
    bn(`${ch}.dw.lkb_origin.bn`, M * D);
    shapes.set(`${ch}.dw.small_conv.conv.weight`, [M * D, 1, c.smallSize]);
    bn(`${ch}.dw.small_conv.bn`, M * D);
    bn(`${ch}.norm`, D);
    shapes.set(`${ch}.ffnpw1.weight`, [M * F, D, 1]);
    shapes.set(`${ch}.ffnpw1.bias`, [M * F]);
    shapes.set(`${ch}.ffnpw2.weight`, [M * D, M * c.ffnRatio, 1]);
    shapes.set(`${ch}.ffnpw2.bias`, [M * D]);
  }
  shapes.set('head.linear.weight', [c.predLen, D * patchCount(c)]);
  shapes.set('head.linear.bias', [c.predLen]);
  return shapes;
}

/** Seeded weights: convolutions and linears uniform in ±1/sqrt(fan_in), BatchNorm statistics and RevIN near their identity. */
export function randomTimeSeriesParams(c: TimeSeriesFfnetConfig, seed = 1): ParamMap {
  const next = rng(seed);
  const params: ParamMap = new Map();
  for (const [name, shape] of timeSeriesParameterShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const u = (lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * next());
    if (name.endsWith('running_var')) params.set(name, u(0.5, 1.5));
    else if (name.endsWith('running_mean') || name.endsWith('affine_bias')) params.set(name, u(-0.1, 0.1));
    else if (/(norm|bn|downsample_layers\.0\.1)\.weight$/.test(name) || name.endsWith('affine_weight')) params.set(name, u(0.8, 1.2));
    else params.set(name, u(-1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn)));
  }
  return params;
}

/** Modules of the official FFNet that its forward never reads (multi-scale fusion, unused stems): ignored when loading. */
const UNUSED = /^(downsample_layers\.[1-9]|te_patch|lat_layer|smooth_layer|up_sample_conv|stages\.[1-9])/;

/**
 * The parameters of a PyTorch state_dict saved with safetensors (`model.` and `module.` prefixes
 * dropped, num_batches_tracked and unused modules ignored); a missing, unexpected or misshapen
 * parameter is an FfnkitError naming it.
 */
export function readTimeSeriesSafetensors(bytes: Uint8Array, c: TimeSeriesFfnetConfig, source = 'time-series FFNet safetensors'): ParamMap {
  const file = parseSafetensors(bytes, source);
  const want = timeSeriesParameterShapes(c);
  const params: ParamMap = new Map();
  for (const [stored, entry] of file.tensors) {
    const name = stored.replace(/^module\./, '').replace(/^model\./, '');
    if (name.endsWith('num_batches_tracked') || UNUSED.test(name)) continue;
    const shape = want.get(name);
    if (!shape) throw new FfnkitError('E_FORMAT', `${source}: unexpected parameter ${stored} (not part of this configuration)`);
    if (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i])) {
      throw new FfnkitError('E_SHAPE', `${source}: parameter ${name} has shape [${entry.shape}], expected [${shape}]`);
    }
    params.set(name, safetensorsData(file, bytes, stored, source));
  }
  for (const name of want.keys()) if (!params.has(name)) throw new FfnkitError('E_FORMAT', `${source}: parameter ${name} is missing`);
  return params;
}

const BLOCK_KEYS = ['tok1', 'tok1Bias', 'tok2', 'tok2Bias', 'dw1', 'dw1Bias', 'dw2', 'dw2Bias', 'chDw', 'chDwBias', 'ch1', 'ch1Bias', 'ch2', 'ch2Bias'] as const;

/**
 * One block's fused weights: the token mixer's grouped 1x1s #1 and #2 (token BN folded into #2),
 * its depthwise kernels [MD][K]; the channel mixer's one depthwise kernel (RepVGGDW and both BNs
 * folded) and grouped 1x1s #1 and #2. Each grouped 1x1 is [groups][cout][cin] with bias
 * [groups][cout], the official weights (see `mixerGroups` for where its channels sit).
 */
export type FusedBlock<T = Float32Array> = Record<(typeof BLOCK_KEYS)[number], T>;

/** The four grouped 1x1 convolutions of a block, by their FusedBlock weight names. */
export type MixerPointwise = 'tok1' | 'tok2' | 'ch1' | 'ch2';

/**
 * Shapes of a block's grouped 1x1 convolutions and where their channels sit in the planar maps.
 * The residual map is (m, d): channel m * D + d. Token mixer #1 (groups over d, each mixing the M
 * variables into 2M) writes its expanded map as (j, d), so #2's groups (over m, each reading
 * j = 2m, 2m + 1 of every d) are contiguous runs of 2D channels; channel mixer #1 (groups over m,
 * D -> F) writes (f, m), so #2's groups (over d, reading f = d r .. d r + r - 1 of every m) are
 * contiguous runs of rM, and #2 writes back to (m, d) with a stride of D. Within each group the
 * channels are in the official order (the tensors the official reshapes and permutes feed it).
 */
export function mixerGroups(c: TimeSeriesFfnetConfig): Record<MixerPointwise, Required<GroupedPointwise>> {
  const M = c.nvars;
  const D = c.dim;
  const r = c.ffnRatio;
  return {
    tok1: { groups: D, cin: M, cout: 2 * M, input: { group: 1, channel: D }, output: { group: 1, channel: D } },
    tok2: { groups: M, cin: 2 * D, cout: D, input: { group: 2 * D, channel: 1 }, output: { group: D, channel: 1 } },
    ch1: { groups: M, cin: D, cout: r * D, input: { group: D, channel: 1 }, output: { group: 1, channel: M } },
    ch2: { groups: D, cin: r * M, cout: M, input: { group: r * M, channel: 1 }, output: { group: 1, channel: D } },
  };
}

/**
 * A grouped 1x1 convolution as one dense [groups * cout][cin planes] matrix and bias in the maps'
 * channel order (zeros outside the groups): what runtimes without channel-strided groups run
 * (the ONNX export), and an independent statement of the placement for tests.
 */
export function groupedPointwiseDense(g: Required<GroupedPointwise>, inPlanes: number, weight: Float32Array, bias: Float32Array): { weight: Float32Array; bias: Float32Array } {
  const outPlanes = g.groups * g.cout;
  const dense = new Float32Array(outPlanes * inPlanes);
  const denseBias = new Float32Array(outPlanes);
  for (let q = 0; q < g.groups; q++) {
    for (let o = 0; o < g.cout; o++) {
      const row = q * g.output.group + o * g.output.channel;
      denseBias[row] = bias[q * g.cout + o]!;
      for (let i = 0; i < g.cin; i++) dense[row * inPlanes + q * g.input.group + i * g.input.channel] = weight[(q * g.cout + o) * g.cin + i]!;
    }
  }
  return { weight: dense, bias: denseBias };
}

/** The whole fused model on the host (what the engine runs, and what the ONNX exporter writes). */
export interface FusedTimeSeries {
  revinWeight?: Float32Array;
  revinBias?: Float32Array;
  /** Stem Conv1d [D][patchSize] with its BN folded, and bias [D]. */
  stemWeight: Float32Array;
  stemBias: Float32Array;
  blocks: FusedBlock[];
  /** Head Linear [predLen][D * patches] and bias [predLen]. */
  headWeight: Float32Array;
  headBias: Float32Array;
}

export class TimeSeriesFfnet {
  readonly config: TimeSeriesFfnetConfig;
  readonly engine: Engine;
  /** The fused weights on the host. */
  readonly fused: FusedTimeSeries;
  private readonly blocks: FusedBlock<F32Buffer>[];
  private readonly head: PackedMatrix;
  /** Where each grouped 1x1's channels sit (mixerGroups of the config). */
  private readonly groups: Record<MixerPointwise, Required<GroupedPointwise>>;
  private readonly x: F32Buffer;
  private readonly wide: F32Buffer;
  private readonly t1: F32Buffer;
  private readonly t2: F32Buffer;
  private readonly out: F32Buffer;

  /** Fuses `params` (official names, see timeSeriesParameterShapes) into the engine. */
  constructor(engine: Engine, config: TimeSeriesFfnetConfig, params: ParamMap) {
    const c = config;
    const shapes = timeSeriesParameterShapes(c);
    for (const [name, shape] of shapes) {
      const p = params.get(name);
      const n = shape.reduce((a, b) => a * b, 1);
      if (!p) throw new FfnkitError('E_FORMAT', `parameter ${name} is missing`);
      if (p.length !== n) throw new FfnkitError('E_SHAPE', `parameter ${name}: expected [${shape}] = ${n} values, found ${p.length}`);
    }
    this.config = c;
    this.engine = engine;
    this.groups = mixerGroups(c);
    const get = (name: string) => params.get(name)!;
    const bn = (name: string): BatchNormParams => ({
      gamma: get(`${name}.weight`), beta: get(`${name}.bias`), mean: get(`${name}.running_mean`), variance: get(`${name}.running_var`), eps: BN_EPS,
    });
    const M = c.nvars;
    const D = c.dim;
    const F = D * c.ffnRatio;
    const K = c.largeSize;
    const N = patchCount(c);
    const stem = fuseConvBn(get('downsample_layers.0.0.weight'), get('downsample_layers.0.0.bias'), D, c.patchSize, bn('downsample_layers.0.1'));
    const blocks = Array.from({ length: c.blocks }, (_, b): FusedBlock => {
      const t = `stages.0.blocks.${b}.token_mixer`;
      const ch = `stages.0.blocks.${b}.channel_mixer`;
      // token mixer 1x1 #2 with the BN over its D outputs folded in (output e of every group)
      const norm = bnAffine(bn(`${t}.norm`));
      const w2 = get(`${t}.ffnpw2.weight`);
      const b2 = get(`${t}.ffnpw2.bias`);
      const tok2 = Float32Array.from(w2, (v, i) => v * norm.scale[Math.floor(i / (2 * D)) % D]!);
      const tok2Bias = Float32Array.from(b2, (v, o) => v * norm.scale[o % D]! + norm.shift[o % D]!);
      // channel mixer: RepVGGDW's branches and BNs, then the BN over d, as one depthwise kernel
      const big = fuseConvBn(get(`${ch}.dw.lkb_origin.conv.weight`), null, M * D, K, bn(`${ch}.dw.lkb_origin.bn`));
      const small = fuseConvBn(get(`${ch}.dw.small_conv.conv.weight`), null, M * D, c.smallSize, bn(`${ch}.dw.small_conv.bn`));
      const chNorm = bnAffine(bn(`${ch}.norm`));
      const chDw = new Float32Array(M * D * K);
      const chDwBias = new Float32Array(M * D);
      const off = c.causal ? K - c.smallSize : (K - c.smallSize) / 2;
      for (let ch2 = 0; ch2 < M * D; ch2++) {
        const s = chNorm.scale[ch2 % D]!;
        for (let i = 0; i < K; i++) {
          const si = i - off;
          const v = big.weight[ch2 * K + i]! + (si >= 0 && si < c.smallSize ? small.weight[ch2 * c.smallSize + si]! : 0);
          chDw[ch2 * K + i] = v * s;
        }
        chDwBias[ch2] = (big.bias[ch2]! + small.bias[ch2]!) * s + chNorm.shift[ch2 % D]!;
      }
      return {
        tok1: get(`${t}.ffnpw1.weight`), tok1Bias: get(`${t}.ffnpw1.bias`), tok2, tok2Bias, dw1: get(`${t}.dw1.weight`), dw1Bias: get(`${t}.dw1.bias`),
        dw2: get(`${t}.dw2.weight`), dw2Bias: get(`${t}.dw2.bias`), chDw, chDwBias,
        ch1: get(`${ch}.ffnpw1.weight`), ch1Bias: get(`${ch}.ffnpw1.bias`), ch2: get(`${ch}.ffnpw2.weight`), ch2Bias: get(`${ch}.ffnpw2.bias`),
      };
    });
    this.fused = {
      ...(c.revin && c.affine ? { revinWeight: get('revin_layer.affine_weight'), revinBias: get('revin_layer.affine_bias') } : {}),
      stemWeight: stem.weight, stemBias: stem.bias, blocks, headWeight: get('head.linear.weight'), headBias: get('head.linear.bias'),
    };
    this.blocks = blocks.map((f, b) => Object.fromEntries(BLOCK_KEYS.map((key) => [key, engine.upload(f[key], `block ${b} ${key}`)])) as FusedBlock<F32Buffer>);
    const headBias = engine.upload(this.fused.headBias, 'head bias');
    const headW = engine.matrix(c.predLen, D * N, this.fused.headWeight, 'head.linear.weight');
    this.head = engine.kernels.pack(headW, headBias);
    headW.data.free();
    headBias.free();
    this.x = engine.alloc(M * D * N, 'series map');
    this.wide = engine.alloc(Math.max(2 * M * D, M * F) * N, 'expanded map');
    this.t1 = engine.alloc(M * D * N, 'mixer scratch');
    this.t2 = engine.alloc(M * D * N, 'mixer scratch');
    this.out = engine.alloc(M * c.predLen, 'forecast');
  }

  /** Flops of one forecast (2 per multiply-add; RevIN and the elementwise work not counted). */
  flops(): number {
    const c = this.config;
    const M = c.nvars;
    const D = c.dim;
    const N = patchCount(c);
    const stemAndHead = 2 * M * D * c.patchSize * N + 2 * M * c.predLen * D * N;
    const depthwise = 3 * 2 * M * D * c.largeSize * N;
    const pointwise = Object.values(this.groups).reduce((sum, g) => sum + 2 * g.groups * g.cout * g.cin * N, 0);
    return stemAndHead + c.blocks * (depthwise + pointwise);
  }

  /** Forecast: `input` holds seqLen steps of nvars values ([seqLen][nvars], time-major); returns [predLen][nvars]. */
  forward(input: Float32Array): Float32Array {
    const c = this.config;
    const k = this.engine.kernels;
    const M = c.nvars;
    const D = c.dim;
    const F = D * c.ffnRatio;
    const L = c.seqLen;
    const N = patchCount(c);
    if (!(input instanceof Float32Array) || input.length !== L * M) {
      throw new FfnkitError('E_SHAPE', `input: expected ${L} steps x ${M} variables = ${L * M} float32 values, found ${input?.length}`);
    }
    // RevIN and the patch stem, per variable, on the host (a few thousand multiply-adds)
    const f = this.fused;
    const center = new Float64Array(M);
    const stdev = new Float64Array(M);
    const xv = this.x.view();
    const series = new Float64Array(L + c.patchSize - c.patchStride);
    for (let m = 0; m < M; m++) {
      let mean = 0;
      for (let t = 0; t < L; t++) mean += input[t * M + m]!;
      mean /= L;
      let v = 0;
      for (let t = 0; t < L; t++) v += (input[t * M + m]! - mean) ** 2;
      stdev[m] = Math.sqrt(v / L + REVIN_EPS);
      center[m] = c.subtractLast ? input[(L - 1) * M + m]! : mean;
      for (let t = 0; t < L; t++) {
        let z = input[t * M + m]!;
        if (c.revin) {
          z = (z - center[m]!) / stdev[m]!;
          if (f.revinWeight) z = z * f.revinWeight[m]! + f.revinBias![m]!;
        }
        series[t] = z;
      }
      series.fill(series[L - 1]!, L);
      for (let d = 0; d < D; d++) {
        for (let n = 0; n < N; n++) {
          let s: number = f.stemBias[d]!;
          for (let p = 0; p < c.patchSize; p++) s += f.stemWeight[d * c.patchSize + p]! * series[n * c.patchStride + p]!;
          xv[(m * D + d) * N + n] = s;
        }
      }
    }
    const shape = { c: M * D, pixels: N };
    const conv1d = { length: N, c: M * D };
    const causal = c.causal;
    const g = this.groups;
    for (const b of this.blocks) {
      // token mixer
      const wide = this.wide.sub(0, 2 * M * D * N);
      k.groupedPointwiseConv(this.x, shape, b.tok1, g.tok1, wide, { bias: b.tok1Bias, gelu: true });
      k.groupedPointwiseConv(wide, { c: 2 * M * D, pixels: N }, b.tok2, g.tok2, this.t1, { bias: b.tok2Bias });
      k.depthwiseConv1d(this.t1, conv1d, b.dw1, c.largeSize, this.t2, { bias: b.dw1Bias, causal, layout: 'planar' });
      k.gelu(this.t2, this.t2);
      k.depthwiseConv1d(this.t2, conv1d, b.dw2, c.largeSize, this.t1, { bias: b.dw2Bias, causal, layout: 'planar' });
      k.add(this.x, this.t1, this.x);
      // channel mixer
      const wideF = this.wide.sub(0, M * F * N);
      k.depthwiseConv1d(this.x, conv1d, b.chDw, c.largeSize, this.t1, { bias: b.chDwBias, causal, layout: 'planar' });
      k.groupedPointwiseConv(this.t1, shape, b.ch1, g.ch1, wideF, { bias: b.ch1Bias, gelu: true });
      k.groupedPointwiseConv(wideF, { c: M * F, pixels: N }, b.ch2, g.ch2, this.t2, { bias: b.ch2Bias });
      k.add(this.x, this.t2, this.x);
    }
    // head: each variable's D x N map, flattened d-major, through one Linear
    k.gemm(this.x, this.head, this.out, M);
    const y = this.out.view();
    const out = new Float32Array(c.predLen * M);
    for (let m = 0; m < M; m++) {
      for (let t = 0; t < c.predLen; t++) {
        let z = y[m * c.predLen + t]!;
        if (c.revin) {
          if (f.revinWeight) z = (z - f.revinBias![m]!) / (f.revinWeight[m]! + REVIN_EPS * REVIN_EPS);
          z = z * stdev[m]! + center[m]!;
        }
        out[t * M + m] = z;
      }
    }
    return out;
  }
}
