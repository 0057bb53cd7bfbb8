// A MixerGraph as an ONNX model (opset 17), so other runtimes can run exactly the network ffnkit
// runs: Conv, BatchNormalization, Add, Mul, GlobalAveragePool + Flatten, Gemm, and GELU spelled
// out as 0.5 x (1 + erf(x / sqrt 2)) (opset 17 has no Gelu; onnxruntime fuses the pattern back).
// Input `input` [1, c, h, w], output `output` [1, classes] (or [1, c, h, w] for a feature map).

import { FfnkitError } from '../errors.js';
import { type OnnxNode, type OnnxTensor, onnxModel, onnxNode, onnxTensor } from '../formats/onnx.js';
import type { MixerGraph } from './graph.js';

/** Serializes a graph and its parameters to ONNX bytes. */
export function toOnnx(g: MixerGraph): Uint8Array {
  const nodes: OnnxNode[] = [];
  const inits: OnnxTensor[] = [];
  const used = new Set<string>();
  const init = (name: string) => {
    if (used.has(name)) return name;
    used.add(name);
    const p = g.params.get(name);
    if (!p) throw new FfnkitError('E_ARG', `onnx export: parameter ${name} is missing from the graph's parameters`);
    inits.push(onnxTensor(name, p.shape, p.data));
    return name;
  };
  const constant = (name: string, v: number) => {
    if (!used.has(name)) {
      used.add(name);
      inits.push(onnxTensor(name, [], [v]));
    }
    return name;
  };
  const rename = (t: string) => (t === g.input ? 'input' : t === g.output ? 'output' : t);
  const gelu = (x: string, y: string) => {
    nodes.push(
      onnxNode('Div', [x, constant('gelu.sqrt2', Math.SQRT2)], [`${y}.scaled`]),
      onnxNode('Erf', [`${y}.scaled`], [`${y}.erf`]),
      onnxNode('Add', [`${y}.erf`, constant('gelu.one', 1)], [`${y}.erf1`]),
      onnxNode('Mul', [x, `${y}.erf1`], [`${y}.prod`]),
      onnxNode('Mul', [`${y}.prod`, constant('gelu.half', 0.5)], [y]),
    );
  };
  for (const op of g.ops) {
    const y = rename(op.y);
    switch (op.kind) {
      case 'conv': {
        const pad = (op.k - 1) >> 1;
        const out = op.gelu ? `${y}.pre` : y;
        const inputs = [rename(op.x), init(op.weight), ...(op.bias ? [init(op.bias)] : [])];
        nodes.push(onnxNode('Conv', inputs, [out], { group: op.groups, kernel_shape: [op.k, op.k], pads: [pad, pad, pad, pad], strides: [op.stride, op.stride] }));
        if (op.gelu) gelu(out, y);
        break;
      }
      case 'batchnorm':
        nodes.push(onnxNode('BatchNormalization', [rename(op.x), init(op.gamma), init(op.beta), init(op.mean), init(op.variance)], [y], { epsilon: op.eps }));
        break;
      case 'gelu':
        gelu(rename(op.x), y);
        break;
      case 'add':
        nodes.push(onnxNode('Add', [rename(op.a), rename(op.b)], [y]));
        break;
      case 'scale':
        nodes.push(onnxNode('Mul', [rename(op.x), init(op.scale)], [y]));
        break;
      case 'mean':
        nodes.push(onnxNode('GlobalAveragePool', [rename(op.x)], [`${y}.map`]), onnxNode('Flatten', [`${y}.map`], [y], { axis: 1 }));
        break;
      case 'linear':
        nodes.push(onnxNode('Gemm', [rename(op.x), init(op.weight), init(op.bias)], [y], { transB: 1 }));
        break;
    }
  }
  const s = g.shapes.get(g.input)!;
  const o = g.shapes.get(g.output)!;
  const vectorOut = g.ops.some((op) => op.kind === 'mean');
  return onnxModel(nodes, inits, ['input', [1, s.c, s.h, s.w]], ['output', vectorOut ? [1, o.c] : [1, o.c, o.h, o.w]]);
}
