// FFNet (MetaMixer) models: the structure and arithmetic of the fused and unfused networks on
// every build against a float64 transcription of the official PyTorch modules (test/ref/ffnet.ts),
// the exported ONNX model in onnxruntime-node (an independent implementation), the fused
// parameter count of FFNet-1, and bad weights and inputs.
// Agreement is stated as max |ours - theirs| / max |theirs| over the logits (target 1e-4).

import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, test } from 'vitest';
import { FfnkitError, writeSafetensors } from '../src/node/index.js';
import { FfnetModel, ffnetConfig, ffnetParameterShapes, randomFfnetParams, type FfnetConfig } from '../src/entries/node/mixer.js';
import { toOnnx } from '../src/entries/onnx.js';
import { BACKENDS, engineFor } from './helpers.js';
import { ffnetForward } from './ref/ffnet.js';
import { randomF32 } from '../testing/random.js';
import { relMaxError } from '../testing/compare.js';
import { kernelOf } from '../src/mixer/runner.js';

const TOL = 1e-4;

// FFNet-1 itself, and a reduced FFNet with everything FFNet-1 leaves out: layer scale, RepVGGDW
// (7x7 + 3x3) channel mixers, plain 5x5 token-mixer convolutions, few classes
const SMALL: Partial<FfnetConfig> = { depths: [1, 1, 2, 1], dims: [16, 32, 64, 128], inDim: 8, kernelSizes: [7, 3, 7, 7], kernelSizes1: [5, 3, 7, 7], kernelSizes2: [3, 5, 7, 7], layerScale: true, classes: 10 };
const CASES = [
  { name: 'FFNet-1 at 32x32', variant: 'ffnet-1' as const, config: {}, size: 32 },
  { name: 'reduced FFNet at 40x36', variant: 'ffnet-3' as const, config: SMALL, size: 0 },
];
const sizeOf = (c: (typeof CASES)[number]) => (c.size ? [c.size, c.size] : [40, 36]) as [number, number];

describe.each(CASES)('$name', (c) => {
  const config = ffnetConfig(c.variant, c.config);
  const params = randomFfnetParams(config, 7);
  const [h, w] = sizeOf(c);
  const image = randomF32(3 * h * w, 11, -2, 2);
  let want: Float64Array;
  beforeAll(() => {
    want = ffnetForward(config, params, image, h, w);
  });

  test.each(BACKENDS.flatMap((b) => [[b, true], [b, false]] as const))('%s build, fused=%s, against the float64 reference', async (backend, fused) => {
    const e = await engineFor(backend);
    const m = FfnetModel.create(e, { variant: c.variant, config: c.config, weights: params, fused, height: h, width: w });
    const err = relMaxError(m.forward(image), want);
    m.free();
    expect(err).toBeLessThan(TOL);
  });

  test.each([true, false])('onnxruntime-node on the exported model (fused=%s) agrees with ffnkit', async (fused) => {
    const e = await engineFor('simd');
    const m = FfnetModel.create(e, { variant: c.variant, config: c.config, weights: params, fused, height: h, width: w });
    const ours = m.forward(image);
    const session = await ort.InferenceSession.create(toOnnx(m.graph), { intraOpNumThreads: 1 });
    const theirs = (await session.run({ input: new ort.Tensor('float32', image, [1, 3, h, w]) })).output!.data as Float32Array;
    m.free();
    expect(relMaxError(ours, theirs)).toBeLessThan(TOL);
    expect(relMaxError(theirs, want)).toBeLessThan(TOL); // and the reference agrees with onnxruntime
  });
});

test('FFNet-1 has 13.66M parameters once fused (the paper: 13.7M)', async () => {
  const e = await engineFor('simd');
  const m = FfnetModel.create(e, { variant: 'ffnet-1', height: 32, width: 32 });
  expect(m.parameterCount).toBe(13_658_872);
  const unfused = [...ffnetParameterShapes(ffnetConfig('ffnet-1')).values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
  expect(unfused).toBeGreaterThan(m.parameterCount); // BatchNorms and 3x3 branches folded away
  m.free();
});

test('a profiled forward pass hears every op once and gives the same logits', async () => {
  const e = await engineFor('simd');
  const m = FfnetModel.create(e, { variant: 'ffnet-1', seed: 2, height: 32, width: 32 });
  const image = randomF32(3 * 32 * 32, 4, -2, 2);
  const plain = m.forward(image);
  const heard: string[] = [];
  const times: number[] = [];
  const start = performance.now();
  const profiled = m.forward(image, (op, ms) => {
    heard.push(op.y);
    times.push(ms);
  });
  const elapsed = performance.now() - start;
  // each op's own milliseconds: none negative, together some time, and within the whole pass
  expect(Math.min(...times)).toBeGreaterThanOrEqual(0);
  const total = times.reduce((a, b) => a + b, 0);
  expect(total).toBeGreaterThan(0);
  expect(total).toBeLessThanOrEqual(elapsed);
  expect(Array.from(profiled)).toEqual(Array.from(plain));
  expect(heard).toEqual(m.graph.ops.map((op) => op.y));
  expect(new Set(m.graph.ops.map(kernelOf))).toEqual(new Set(['full conv', 'pointwise', 'depthwise', 'add', 'mean', 'linear']));
  m.free();
});

describe('bad weights and inputs are named', () => {
  const config = ffnetConfig('ffnet-3', SMALL);
  const params = randomFfnetParams(config, 3);
  const file = (edit: (t: { name: string; shape: number[]; data: Float32Array }[]) => void) => {
    const t = [...ffnetParameterShapes(config)].map(([name, shape]) => ({ name, shape, data: params.get(name)! }));
    edit(t);
    return writeSafetensors(t);
  };
  const create = async (weights: Uint8Array) => FfnetModel.create(await engineFor('simd'), { variant: 'ffnet-3', config: SMALL, weights, height: 16, width: 16 });

  test('a state_dict in safetensors loads (num_batches_tracked and module. prefixes accepted)', async () => {
    const bytes = file((t) => {
      for (const x of t) x.name = `module.${x.name}`;
    });
    const m = await create(bytes);
    const ref = FfnetModel.create(await engineFor('simd'), { variant: 'ffnet-3', config: SMALL, weights: params, height: 16, width: 16 });
    const img = randomF32(3 * 16 * 16, 1);
    expect(Array.from(m.forward(img))).toEqual(Array.from(ref.forward(img)));
    m.free();
    ref.free();
  });
  test('missing, unexpected and misshapen parameters', async () => {
    await expect(create(file((t) => t.splice(t.findIndex((x) => x.name === 'stages.2.1.token_mixer.0.layer_scale'), 1)))).rejects.toThrow(/parameter stages\.2\.1\.token_mixer\.0\.layer_scale is missing/);
    await expect(create(file((t) => t.push({ name: 'stages.9.head.weight', shape: [2], data: new Float32Array(2) })))).rejects.toThrow(/unexpected parameter stages\.9\.head\.weight/);
    await expect(create(file((t) => {
      const x = t.find((p) => p.name === 'stages.1.0.proj.0.conv.c.weight')!;
      x.shape = [x.shape[0]! / 2, 2, 7, 7];
    }))).rejects.toThrow(/parameter stages\.1\.0\.proj\.0\.conv\.c\.weight has shape \[16,2,7,7\], expected \[32,1,7,7\]/);
  });
  test('bad configurations and inputs', async () => {
    const e = await engineFor('simd');
    expect(() => FfnetModel.create(e, { variant: 'ffnet-1', config: { kernelSizes1: [3, 4, 7, 7] } })).toThrow(/kernelSizes1: expected odd kernel sizes in 3..31, found 4/);
    expect(() => FfnetModel.create(e, { variant: 'ffnet-9' as never })).toThrow(/variant: expected one of ffnet-1/);
    expect(() => FfnetModel.create(e, { variant: 'ffnet-1', config: { dims: [80, 100, 320, 640] } })).toThrow(/dims\[1\] must be 160/);
    const m = FfnetModel.create(e, { variant: 'ffnet-3', config: SMALL, weights: params, height: 16, width: 16 });
    expect(() => m.forward(new Float32Array(4 * 16 * 16))).toThrow(FfnkitError);
    expect(() => m.forward(new Float32Array(4 * 16 * 16))).toThrow(/input: expected 3 x 16 x 16 = 768 float32 values/);
    m.free();
  });
});
