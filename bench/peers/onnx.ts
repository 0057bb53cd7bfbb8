// ONNX graphs built in memory with onnx-proto, for onnxruntime (web and node) to run the same
// work as ffnkit: y = x · Wᵀ (Gemm with transB) and the SwiGLU FFN.

import pkg from 'onnx-proto';

const { onnx } = pkg;
const FLOAT = 1;

function tensor(name: string, dims: number[], data: Float32Array) {
  return onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
}

function valueInfo(name: string, dims: number[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: FLOAT,
        shape: onnx.TensorShapeProto.create({ dim: dims.map((d) => onnx.TensorShapeProto.Dimension.create({ dimValue: d })) }),
      }),
    }),
  });
}

function gemmNode(a: string, w: string, out: string) {
  return onnx.NodeProto.create({
    opType: 'Gemm', input: [a, w], output: [out],
    attribute: [onnx.AttributeProto.create({ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 })],
  });
}

function model(nodes: ReturnType<typeof gemmNode>[], inits: ReturnType<typeof tensor>[], input: [string, number[]], output: [string, number[]]): Uint8Array {
  const graph = onnx.GraphProto.create({ name: 'g', node: nodes, initializer: inits, input: [valueInfo(...input)], output: [valueInfo(...output)] });
  const m = onnx.ModelProto.create({ irVersion: 8, opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 17 })], graph });
  return onnx.ModelProto.encode(m).finish();
}

/** y[M,N] = x[M,K] · W[N,K]ᵀ. */
export function gemmModel(m: number, n: number, k: number, w: Float32Array): Uint8Array {
  return model([gemmNode('x', 'w', 'y')], [tensor('w', [n, k], w)], ['x', [m, k]], ['y', [m, n]]);
}

/** y = w2 · (silu(w1 x) * (w3 x)) for t tokens of dim d, hidden h. */
export function ffnModel(t: number, d: number, h: number, w1: Float32Array, w3: Float32Array, w2: Float32Array): Uint8Array {
  const node = (opType: string, input: string[], output: string) => onnx.NodeProto.create({ opType, input, output: [output] });
  return model(
    [gemmNode('x', 'w1', 'g'), gemmNode('x', 'w3', 'u'), node('Sigmoid', ['g'], 's'), node('Mul', ['g', 's'], 'a'), node('Mul', ['a', 'u'], 'b'), gemmNode('b', 'w2', 'y')],
    [tensor('w1', [h, d], w1), tensor('w3', [h, d], w3), tensor('w2', [d, h], w2)],
    ['x', [t, d]],
    ['y', [t, d]],
  );
}

/** Depthwise Conv (group = C, 'same' zero padding, stride 1): x [1, C, ...spatial], w [C, 1, ...kernel]. */
export function depthwiseConvModel(c: number, spatial: number[], kernel: number[], w: Float32Array): Uint8Array {
  const pads = [...kernel.map((k) => (k - 1) / 2), ...kernel.map((k) => (k - 1) / 2)];
  const node = onnx.NodeProto.create({
    opType: 'Conv', input: ['x', 'w'], output: ['y'],
    attribute: [
      onnx.AttributeProto.create({ name: 'group', type: onnx.AttributeProto.AttributeType.INT, i: c }),
      onnx.AttributeProto.create({ name: 'pads', type: onnx.AttributeProto.AttributeType.INTS, ints: pads }),
      onnx.AttributeProto.create({ name: 'kernel_shape', type: onnx.AttributeProto.AttributeType.INTS, ints: kernel }),
    ],
  });
  return model([node as never], [tensor('w', [c, 1, ...kernel], w)], ['x', [1, c, ...spatial]], ['y', [1, c, ...spatial]]);
}
