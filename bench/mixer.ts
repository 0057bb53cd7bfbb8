// `ffnkit bench mixer`: MetaMixer's large-kernel depthwise convolutions on every build, in both
// layouts, next to the build's multiply-add peak: 7x7 over 256 channels of 56x56, 31x31 over 128 channels of
// 32x32 (FFNet's token-mixer shapes) and a 51-tap conv1d over 256 channels of 512 steps
// (the time-series variant). The peers run the same cases in `bench peers`.

import { availableEngines } from './kernels.js';
import { randomF32 } from '../test/ref/random.js';
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
        const value = (2 * k * k * c * h * w) / t.seconds / 1e9;
        emit({ suite: 'mixer', case: name, impl, value: sig3(value), unit: 'GFLOP/s', bound: sig3(peak), boundName: 'madd peak', share: sig3(value / peak), seconds: t.seconds, rme: sig3(t.rme), samples: t.samples });
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
    e.arena.reset();
  }
  return lines;
}
