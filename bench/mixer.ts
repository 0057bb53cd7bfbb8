// `ffnkit bench mixer`: MetaMixer's large-kernel depthwise convolutions on every build, in both
// layouts, next to the build's multiply-add peak: 7x7 over 256 channels of 56x56, 31x31 over 128 channels of
// 32x32 (FFNet's token-mixer shapes) and a 51-tap conv1d over 256 channels of 512 steps
// (the time-series variant); FFNet-1's forward pass at 256x256; the time-series FFNet's ETTh1
// forecast; and FFNified attention against
// softmax self-attention of the same width over growing token counts. The peers run the same
// convolutions and FFNet-1 in `bench peers`.

import { availableEngines } from './kernels.js';
import type { Engine } from '../src/runtime/engine.js';
import { FfnetModel } from '../src/mixer/ffnet.js';
import { graphFlops } from '../src/mixer/graph.js';
import { kernelOf } from '../src/mixer/runner.js';
import { TIMESERIES_ETTH1, TimeSeriesFfnet, randomTimeSeriesParams } from '../src/mixer/timeseries.js';
import { randomF32 } from '../testing/random.js';
import { type BenchLine, type BenchOptions, collector, sig3, time } from './harness.js';
import { maddPeak } from './probes.js';

/** [name, H, W, C, K] of the 2-D cases (NHWC, stride 1, same padding). */
export const CONV2D_CASES: [string, number, number, number, number][] = [
  ['dwconv2d 7x7 c256 56x56', 56, 56, 256, 7],
  ['dwconv2d 31x31 c128 32x32', 32, 32, 128, 31],
];
/** [name, L, C, K] of the 1-D case (symmetric padding). */
export const CONV1D_CASES: [string, number, number, number][] = [['dwconv1d k51 c256 l512', 512, 256, 51]];

export async function runMixer(opts: BenchOptions): Promise<BenchLine[]> {
  const { lines, emit, say } = collector(opts);
  const engines = await availableEngines((b, why) => say(`skipping ffnkit-${b}: ${why}`));
  for (const e of engines) {
    const peak = maddPeak(e, opts.quick);
    emit({ suite: 'mixer', case: 'madd peak', impl: `ffnkit-${e.backend}`, value: sig3(peak), unit: 'GFLOP/s' });
    for (const [name, h, w, c, k] of CONV2D_CASES) {
      const x = e.upload(randomF32(h * w * c, 1));
      const wt = e.upload(randomF32(k * k * c, 2));
      const y = e.alloc(h * w * c);
      // ffnkit-<build>: planar (NCHW), the default; -nhwc: channels-last, vectorised over channels
      for (const layout of ['nchw', 'nhwc'] as const) {
        const impl = `ffnkit-${e.backend}${layout === 'nhwc' ? '-nhwc' : ''}`;
        say(`${name}: ${impl}`);
        const t = time(() => e.kernels.depthwiseConv2d(x, { h, w, c }, wt, k, y, { layout }), opts.quick);
        // GFLOP/s of the nominal 2·K²·C·H·W, as every runtime is counted; the planar kernel skips
        // tap rows that read only zero padding, so its executed share of the peak is lower
        const value = (2 * k * k * c * h * w) / t.seconds / 1e9;
        const executed = layout === 'nchw' ? tapRowsInImage(h, k) : 1;
        emit({
          suite: 'mixer', case: name, impl, value: sig3(value), unit: 'GFLOP/s', bound: sig3(peak), boundName: 'madd peak', share: sig3(value / peak),
          executedShare: sig3((value * executed) / peak), paddingSkipped: sig3(1 - executed), seconds: t.seconds, rme: sig3(t.rme), samples: t.samples,
        });
      }
    }
    for (const [name, l, c, k] of CONV1D_CASES) {
      const x = e.upload(randomF32(l * c, 1));
      const wt = e.upload(randomF32(k * c, 2));
      const y = e.alloc(l * c);
      for (const layout of ['planar', 'channels-last'] as const) {
        const impl = `ffnkit-${e.backend}${layout === 'planar' ? '' : '-nhwc'}`;
        say(`${name}: ${impl}`);
        const t = time(() => e.kernels.depthwiseConv1d(x, { length: l, c }, wt, k, y, { layout }), opts.quick);
        const value = (2 * k * c * l) / t.seconds / 1e9;
        emit({ suite: 'mixer', case: name, impl, value: sig3(value), unit: 'GFLOP/s', bound: sig3(peak), boundName: 'madd peak', share: sig3(value / peak), seconds: t.seconds, rme: sig3(t.rme), samples: t.samples });
      }
    }
    say(`ffnet-1 256x256: ffnkit-${e.backend}`);
    const model = FfnetModel.create(e, { variant: 'ffnet-1' });
    const image = randomF32(3 * 256 * 256, 5, -2, 2);
    const t = time(() => model.forward(image), opts.quick);
    const flops = graphFlops(model.graph);
    emit({
      suite: 'mixer', case: 'ffnet-1 forward 256x256', impl: `ffnkit-${e.backend}`, value: sig3(flops / t.seconds / 1e9), unit: 'GFLOP/s',
      bound: sig3(peak), boundName: 'madd peak', share: sig3(flops / t.seconds / 1e9 / peak), ms: sig3(t.seconds * 1e3), seconds: t.seconds, rme: sig3(t.rme), samples: t.samples,
    });
    // where the time goes: each kernel's share of a few forward passes
    const byKernel = new Map<string, number>();
    const passes = opts.quick ? 2 : 5;
    for (let i = 0; i < passes; i++) {
      model.forward(image, (op, ms) => {
        const kernel = kernelOf(op);
        byKernel.set(kernel, (byKernel.get(kernel) ?? 0) + ms);
      });
    }
    const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
    for (const [kernel, ms] of [...byKernel].sort((a, b) => b[1] - a[1])) {
      emit({ suite: 'mixer', case: `ffnet-1 forward 256x256: ${kernel}`, impl: `ffnkit-${e.backend}`, value: sig3(ms / passes), unit: 'ms', timeShare: sig3(ms / total) });
    }
    model.free();
    say(`time-series FFNet ETTh1: ffnkit-${e.backend}`);
    const ts = new TimeSeriesFfnet(e, TIMESERIES_ETTH1, randomTimeSeriesParams(TIMESERIES_ETTH1, 1));
    const window = randomF32(TIMESERIES_ETTH1.seqLen * TIMESERIES_ETTH1.nvars, 6, -2, 2);
    const tt = time(() => ts.forward(window), opts.quick);
    const tf = ts.flops();
    emit({
      suite: 'mixer', case: 'time-series ffnet etth1 forecast 96->96', impl: `ffnkit-${e.backend}`, value: sig3(tf / tt.seconds / 1e9), unit: 'GFLOP/s',
      bound: sig3(peak), boundName: 'madd peak', share: sig3(tf / tt.seconds / 1e9 / peak), ms: sig3(tt.seconds * 1e3),
      mflop: sig3(tf / 1e6), seconds: tt.seconds, rme: sig3(tt.rme), samples: tt.samples,
    });
    if (e.backend !== 'scalar') attentionVsFfnified(e, opts, emit, say);
    e.arena.reset();
  }
  return lines;
}

/** Fraction of a stride-1 'same' KxK convolution's tap rows over h image rows that read image rows, not padding. */
export function tapRowsInImage(h: number, k: number): number {
  const pad = (k - 1) / 2;
  let inside = 0;
  for (let oy = 0; oy < h; oy++) inside += Math.min(oy + pad, h - 1) - Math.max(oy - pad, 0) + 1;
  return inside / (h * k);
}

/** Token counts (square images) and width of the attention comparison: FFNet-1's stage-3 width. */
export const ATTENTION_TOKENS = [16, 64, 256, 1024, 4096];
const ATTENTION_WIDTH = 320;
const ATTENTION_HEAD = 64;

/**
 * FFNified attention (1x1 conv -> depthwise 7x7 -> GELU -> depthwise 7x7, planar) against softmax
 * self-attention of the same width (QKV projection, every query over every key in 5 heads of 64,
 * output projection; tokens as rows). Both on this build's kernels, over N tokens of a square
 * image; milliseconds per call, so the crossover reads directly.
 */
function attentionVsFfnified(e: Engine, opts: BenchOptions, emit: (l: BenchLine) => void, say: (s: string) => void): void {
  const c = ATTENTION_WIDTH;
  const k = e.kernels;
  const heads = c / ATTENTION_HEAD;
  const wqkv = k.packFrom(randomF32(3 * c * c, 31, -0.05, 0.05), 3 * c, c, 'wqkv');
  const wo = k.packFrom(randomF32(c * c, 32, -0.05, 0.05), c, c, 'wo');
  const wfc = e.upload(randomF32(c * c, 33, -0.05, 0.05));
  const w1 = e.upload(randomF32(c * 49, 34, -0.1, 0.1));
  const w2 = e.upload(randomF32(c * 49, 35, -0.1, 0.1));
  const bias = e.upload(randomF32(c, 36));
  for (const n of ATTENTION_TOKENS) {
    const side = Math.sqrt(n);
    const x = e.upload(randomF32(n * c, 37));
    const a = e.alloc(n * c);
    const b = e.alloc(n * c);
    const qkv = e.alloc(n * 3 * c);
    const ffnified = () => {
      k.pointwiseConv(x, { c, pixels: n }, wfc, c, a, { bias });
      k.depthwiseConv2d(a, { h: side, w: side, c }, w1, 7, b, { bias, gelu: true });
      k.depthwiseConv2d(b, { h: side, w: side, c }, w2, 7, a, { bias });
    };
    const q = qkv.sub(0, qkv.length);
    const softmax = () => {
      k.gemm(x, wqkv, qkv, n);
      // every query over all n keys: one query at position n-1 of a causal kernel sees them all
      for (let i = 0; i < n; i++) {
        k.attention(q.sub(i * 3 * c, 3 * c), q.sub(c, (n - 1) * 3 * c + c), q.sub(2 * c, (n - 1) * 3 * c + c), a.sub(i * c, c), {
          tokens: 1, pos0: n - 1, heads, kvHeads: heads, headDim: ATTENTION_HEAD, qStride: 3 * c, kvStride: 3 * c, outStride: c,
        });
      }
      k.gemm(a, wo, b, n);
    };
    // multiply-adds x 2: the 1x1 conv and two 7x7 depthwise; QKV and output projections, QKᵀ and AV
    const work = { ffnified: 2 * c * c * n + 2 * 2 * 49 * c * n, softmax: 2 * 4 * c * c * n + 2 * 2 * n * n * c };
    for (const [impl, fn, flops] of [['ffnified attention (dw 7x7)', ffnified, work.ffnified], ['softmax self-attention', softmax, work.softmax]] as const) {
      say(`attention n${n}: ${impl}`);
      const t = time(fn, opts.quick);
      emit({ suite: 'mixer', case: `token mixer c${c} n${n}`, impl: `ffnkit-${e.backend} ${impl}`, value: sig3(t.seconds * 1e3), unit: 'ms', gflop: sig3(flops / 1e9), seconds: t.seconds, rme: sig3(t.rme), samples: t.samples });
    }
  }
}
