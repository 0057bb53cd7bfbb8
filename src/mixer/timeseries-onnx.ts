// The time-series FFNet as an ONNX model (opset 17), written from the fused weights ffnkit runs,
// so other runtimes compute exactly the same network: input `input` [1, seqLen, nvars], output
// `output` [1, predLen, nvars]. RevIN as ReduceMean / Sqrt / elementwise ops; the stem as a
// Conv over the variables as a batch (the last value repeated by Slice, Expand and Concat); the mixers as
// 1x1 and depthwise Convs on [1, nvars * dim, patches]; the head as a Gemm of each variable's
// flattened map; GELU spelled out as 0.5 x (1 + erf(x / sqrt 2)).

import { type OnnxNode, type OnnxTensor, onnxInt64s, onnxModel, onnxNode, onnxTensor } from '../formats/onnx.js';
import { type MixerPointwise, type TimeSeriesFfnet, groupedPointwiseDense, mixerGroups, patchCount } from './timeseries.js';

export function timeSeriesToOnnx(model: TimeSeriesFfnet): Uint8Array {
  const c = model.config;
  const f = model.fused;
  const M = c.nvars;
  const D = c.dim;
  const F = D * c.ffnRatio;
  const K = c.largeSize;
  const N = patchCount(c);
  const L = c.seqLen;
  const nodes: OnnxNode[] = [];
  const inits: OnnxTensor[] = [];
  const init = (name: string, dims: number[], data: ArrayLike<number>) => {
    inits.push(onnxTensor(name, dims, data));
    return name;
  };
  const ints = (name: string, values: number[]) => {
    inits.push(onnxInt64s(name, values));
    return name;
  };
  const one = init('one', [], [1]);
  const gelu = (x: string, y: string) => {
    nodes.push(
      onnxNode('Div', [x, init(`${y}.sqrt2`, [], [Math.SQRT2])], [`${y}.s`]),
      onnxNode('Erf', [`${y}.s`], [`${y}.e`]),
      onnxNode('Add', [`${y}.e`, one], [`${y}.e1`]),
      onnxNode('Mul', [x, `${y}.e1`], [`${y}.p`]),
      onnxNode('Mul', [`${y}.p`, init(`${y}.half`, [], [0.5])], [y]),
    );
  };
  const pads = (k: number) => (c.causal ? [k - 1, 0] : [(k - 1) / 2, (k - 1) / 2]);
  const depthwise = (x: string, y: string, w: Float32Array, b: Float32Array) =>
    nodes.push(onnxNode('Conv', [x, init(`${y}.w`, [M * D, 1, K], w), init(`${y}.b`, [M * D], b)], [y], { group: M * D, kernel_shape: [K], pads: pads(K) }));

  // RevIN: statistics over time per variable ([1, L, M], axis 1)
  let z = 'input';
  if (c.revin) {
    nodes.push(
      onnxNode('ReduceMean', ['input'], ['mean'], { axes: [1], keepdims: 1 }),
      onnxNode('Sub', ['input', 'mean'], ['dev']),
      onnxNode('Mul', ['dev', 'dev'], ['dev2']),
      onnxNode('ReduceMean', ['dev2'], ['var'], { axes: [1], keepdims: 1 }),
      onnxNode('Add', ['var', init('revin.eps', [], [1e-5])], ['var.eps']),
      onnxNode('Sqrt', ['var.eps'], ['std']),
    );
    let center = 'mean';
    if (c.subtractLast) {
      nodes.push(onnxNode('Slice', ['input', ints('last.start', [L - 1]), ints('last.end', [L]), ints('last.axes', [1])], ['last']));
      center = 'last';
    }
    nodes.push(onnxNode('Sub', ['input', center], ['centred']), onnxNode('Div', ['centred', 'std'], ['normed']));
    z = 'normed';
    if (f.revinWeight) {
      nodes.push(
        onnxNode('Mul', ['normed', init('revin.w', [M], f.revinWeight)], ['affine.m']),
        onnxNode('Add', ['affine.m', init('revin.b', [M], f.revinBias!)], ['affine']),
      );
      z = 'affine';
    }
  }
  // stem: [1, L, M] -> [M, 1, L], repeat the last value, Conv1d per variable -> [M, D, N] -> [1, M*D, N]
  nodes.push(onnxNode('Transpose', [z], ['series'], { perm: [2, 0, 1] }));
  let series = 'series';
  if (c.patchSize > c.patchStride) {
    nodes.push(
      onnxNode('Slice', ['series', ints('tail.start', [L - 1]), ints('tail.end', [L]), ints('tail.axes', [2])], ['tail']),
      onnxNode('Expand', ['tail', ints('tail.shape', [M, 1, c.patchSize - c.patchStride])], ['tail.rep']),
      onnxNode('Concat', ['series', 'tail.rep'], ['series.p'], { axis: 2 }),
    );
    series = 'series.p';
  }
  nodes.push(onnxNode('Conv', [series, init('stem.w', [D, 1, c.patchSize], f.stemWeight), init('stem.b', [D], f.stemBias)], ['stem'], { kernel_shape: [c.patchSize], strides: [c.patchStride] }));
  nodes.push(onnxNode('Reshape', ['stem', ints('map.shape', [1, M * D, N])], ['x0']));
  let x = 'x0';
  // each grouped 1x1 as a dense one in the maps' channel order (ONNX's Conv groups are contiguous)
  const g = mixerGroups(c);
  const conv1x1 = (x: string, y: string, which: MixerPointwise, w: Float32Array, b: Float32Array, cin: number) => {
    const dense = groupedPointwiseDense(g[which], cin, w, b);
    const cout = g[which].groups * g[which].cout;
    nodes.push(onnxNode('Conv', [x, init(`${y}.w`, [cout, cin, 1], dense.weight), init(`${y}.b`, [cout], dense.bias)], [y], { kernel_shape: [1] }));
  };
  f.blocks.forEach((b, i) => {
    const p = `b${i}`;
    conv1x1(x, `${p}.t1`, 'tok1', b.tok1, b.tok1Bias, M * D);
    gelu(`${p}.t1`, `${p}.t1g`);
    conv1x1(`${p}.t1g`, `${p}.t2`, 'tok2', b.tok2, b.tok2Bias, 2 * M * D);
    depthwise(`${p}.t2`, `${p}.t3`, b.dw1, b.dw1Bias);
    gelu(`${p}.t3`, `${p}.t3g`);
    depthwise(`${p}.t3g`, `${p}.t4`, b.dw2, b.dw2Bias);
    nodes.push(onnxNode('Add', [x, `${p}.t4`], [`${p}.tok`]));
    depthwise(`${p}.tok`, `${p}.c1`, b.chDw, b.chDwBias);
    conv1x1(`${p}.c1`, `${p}.c2`, 'ch1', b.ch1, b.ch1Bias, M * D);
    gelu(`${p}.c2`, `${p}.c2g`);
    conv1x1(`${p}.c2g`, `${p}.c3`, 'ch2', b.ch2, b.ch2Bias, M * F);
    nodes.push(onnxNode('Add', [`${p}.tok`, `${p}.c3`], [`${p}.out`]));
    x = `${p}.out`;
  });
  // head: [1, M*D, N] -> [M, D*N] · Wᵀ + b -> [M, predLen]; RevIN denorm; -> [1, predLen, M]
  nodes.push(
    onnxNode('Reshape', [x, ints('head.shape', [M, D * N])], ['flat']),
    onnxNode('Gemm', ['flat', init('head.w', [c.predLen, D * N], f.headWeight), init('head.b', [c.predLen], f.headBias)], ['head'], { transB: 1 }),
    onnxNode('Transpose', ['head'], ['head.t'], { perm: [1, 0] }),
    onnxNode('Unsqueeze', ['head.t', ints('batch.axis', [0])], ['pred']),
  );
  let y = 'pred';
  if (c.revin) {
    if (f.revinWeight) {
      nodes.push(
        onnxNode('Sub', [y, 'revin.b'], ['pred.b']),
        onnxNode('Add', ['revin.w', init('revin.eps2', [], [1e-10])], ['revin.w.eps']),
        onnxNode('Div', ['pred.b', 'revin.w.eps'], ['pred.a']),
      );
      y = 'pred.a';
    }
    nodes.push(onnxNode('Mul', [y, 'std'], ['pred.s']), onnxNode('Add', ['pred.s', c.subtractLast ? 'last' : 'mean'], ['pred.c']));
    y = 'pred.c';
  }
  nodes.push(onnxNode('Identity', [y], ['output']));
  return onnxModel(nodes, inits, ['input', [1, L, M]], ['output', [1, c.predLen, M]]);
}
