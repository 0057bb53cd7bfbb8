// The 1D time-series FFNet: forecasts against a float64 transcription of the official module
// (test/ref/ffnet-ts.ts) on every build, for the ETTh1 configuration and a reduced one with odd
// sizes, symmetric and causal; the exported ONNX model in onnxruntime-node; causality itself;
// safetensors loading; bad input.

import * as ort from 'onnxruntime-node';
import { describe, expect, test } from 'vitest';
import { FfnkitError, writeSafetensors } from '../src/node/index.js';
import { TIMESERIES_ETTH1, TimeSeriesFfnet, randomTimeSeriesParams, readTimeSeriesSafetensors, timeSeriesParameterShapes, type TimeSeriesFfnetConfig } from '../src/entries/node/mixer.js';
import { timeSeriesToOnnx } from '../src/entries/onnx.js';
import { BACKENDS, engineFor } from './helpers.js';
import { refTimeSeriesForward } from './ref/ffnet-ts.js';
import { randomF32 } from '../testing/random.js';
import { relMaxError } from '../testing/compare.js';

const reduced: TimeSeriesFfnetConfig = {
  seqLen: 30, predLen: 11, nvars: 3, patchSize: 5, patchStride: 3, dim: 6, ffnRatio: 3, largeSize: 7, smallSize: 3, blocks: 2,
  revin: true, affine: true, subtractLast: true, causal: false,
};


describe.each(BACKENDS)('time-series FFNet (%s)', (backend) => {
  test.each([
    ['ETTh1', TIMESERIES_ETTH1],
    ['ETTh1 causal', { ...TIMESERIES_ETTH1, causal: true }],
    ['reduced (odd sizes, 2 blocks, subtract-last RevIN)', reduced],
    ['reduced causal, no RevIN', { ...reduced, causal: true, revin: false }],
  ] as const)('%s: forecast equals the float64 official module within 1e-4', async (_name, config) => {
    const engine = await engineFor(backend);
    const params = randomTimeSeriesParams(config, 11);
    const model = new TimeSeriesFfnet(engine, config, params);
    const input = randomF32(config.seqLen * config.nvars, 5, -3, 3);
    const got = model.forward(input);
    const want = refTimeSeriesForward(config, params, input);
    expect(got.length).toBe(config.predLen * config.nvars);
    expect(relMaxError(got, want)).toBeLessThan(1e-4);
  });
});

describe('time-series FFNet in onnxruntime-node (the exported model)', () => {
  test.each([
    ['ETTh1', TIMESERIES_ETTH1],
    ['reduced causal, subtract-last RevIN', { ...reduced, causal: true }],
    ['reduced, no RevIN', { ...reduced, revin: false }],
  ] as const)('%s: onnxruntime-node agrees with ffnkit and the float64 reference within 1e-4', async (_name, config) => {
    const engine = await engineFor('simd');
    const params = randomTimeSeriesParams(config, 4);
    const model = new TimeSeriesFfnet(engine, config, params);
    const input = randomF32(config.seqLen * config.nvars, 8, -3, 3);
    const session = await ort.InferenceSession.create(timeSeriesToOnnx(model), { intraOpNumThreads: 1 });
    const theirs = (await session.run({ input: new ort.Tensor('float32', input, [1, config.seqLen, config.nvars]) })).output!.data as Float32Array;
    expect(relMaxError(theirs, model.forward(input))).toBeLessThan(1e-4);
    expect(relMaxError(theirs, refTimeSeriesForward(config, params, input))).toBeLessThan(1e-4);
  });
});

describe('time-series FFNet: causality, files, bad input', () => {
  test('causal: the map at step n does not depend on later steps (changing the last input step moves only the last patch)', async () => {
    const engine = await engineFor('simd');
    // without RevIN and with a head reading only patch 0, the forecast sees only steps of patch 0
    const config = { ...reduced, causal: true, revin: false };
    const params = randomTimeSeriesParams(config, 3);
    const N = Math.floor((config.seqLen - config.patchStride) / config.patchStride) + 1;
    const head = params.get('head.linear.weight')!;
    for (let o = 0; o < config.predLen; o++) for (let d = 0; d < config.dim; d++) for (let n = 1; n < N; n++) head[(o * config.dim + d) * N + n] = 0;
    const model = new TimeSeriesFfnet(engine, config, params);
    const input = randomF32(config.seqLen * config.nvars, 6);
    const a = model.forward(input);
    const later = input.slice();
    for (let i = config.patchSize * config.nvars; i < later.length; i++) later[i] = later[i]! + 5;
    expect(model.forward(later)).toEqual(a);
    const symmetric = new TimeSeriesFfnet(engine, { ...config, causal: false }, params);
    expect(symmetric.forward(later)).not.toEqual(symmetric.forward(input));
  });

  test('safetensors with the official names (model. prefix, unused modules) load; a misshapen or missing one is named', async () => {
    const engine = await engineFor('simd');
    const params = randomTimeSeriesParams(reduced, 2);
    const shapes = timeSeriesParameterShapes(reduced);
    const tensors = [...params].map(([n, data]) => ({ name: `model.${n}`, shape: shapes.get(n)!, data }));
    tensors.push({ name: 'model.te_patch.0.weight', shape: [4, 1, 5], data: new Float32Array(20) });
    tensors.push({ name: 'model.downsample_layers.0.1.num_batches_tracked', shape: [1], data: new Float32Array(1) });
    const loaded = readTimeSeriesSafetensors(writeSafetensors(tensors), reduced, 'ts.safetensors');
    const input = randomF32(reduced.seqLen * reduced.nvars, 9);
    expect(new TimeSeriesFfnet(engine, reduced, loaded).forward(input)).toEqual(new TimeSeriesFfnet(engine, reduced, params).forward(input));
    const others = tensors.filter((t) => t.name !== 'model.head.linear.bias');
    const misshapen = [...others, { name: 'model.head.linear.bias', shape: [12], data: new Float32Array(12) }];
    expect(() => readTimeSeriesSafetensors(writeSafetensors(misshapen), reduced, 'ts.safetensors')).toThrow(/head\.linear\.bias has shape \[12\], expected \[11\]/);
    expect(() => readTimeSeriesSafetensors(writeSafetensors(others), reduced, 'ts.safetensors')).toThrow(/head\.linear\.bias is missing/);
  });

  test('bad configurations and inputs are FfnkitErrors naming the field', async () => {
    const engine = await engineFor('simd');
    expect(() => timeSeriesParameterShapes({ ...reduced, largeSize: 8 })).toThrow(/odd/);
    expect(() => timeSeriesParameterShapes({ ...reduced, seqLen: 31 })).toThrow(/multiple of patchStride/);
    expect(() => timeSeriesParameterShapes({ ...reduced, nvars: 0 })).toThrow(/nvars/);
    const model = new TimeSeriesFfnet(engine, reduced, randomTimeSeriesParams(reduced, 1));
    expect(() => model.forward(new Float32Array(5))).toThrow(FfnkitError);
    const params = randomTimeSeriesParams(reduced, 1);
    params.delete('stages.0.blocks.1.token_mixer.dw2.bias');
    expect(() => new TimeSeriesFfnet(engine, reduced, params)).toThrow(/stages\.0\.blocks\.1\.token_mixer\.dw2\.bias is missing/);
  });
});
