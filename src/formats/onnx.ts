// Building ONNX models in memory with onnx-proto: float32 initializers, value infos, nodes with
// attributes, and the model bytes. Used by the FFNet exporter and by `bench peers`, which run
// the same work in onnxruntime. onnx-proto is an optional peer dependency of the package: it is
// loaded when this module is, and its absence is an FfnkitError naming it.

import { importPeer } from '../runtime/peer-dependency.js';

const { onnx } = (await importPeer('onnx-proto', 'ONNX export (ffnkit/onnx)', () => import('onnx-proto'))).default;
const FLOAT = 1;
const { INT, INTS, FLOAT: FLOAT_ATTR } = onnx.AttributeProto.AttributeType;

export type OnnxNode = ReturnType<typeof onnx.NodeProto.create>;
export type OnnxTensor = ReturnType<typeof onnx.TensorProto.create>;

/** A float32 initializer. */
export function onnxTensor(name: string, dims: number[], data: ArrayLike<number>): OnnxTensor {
  const f = data instanceof Float32Array ? data : Float32Array.from(data);
  return onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) });
}

/** An int64 initializer (shapes, axes, slice bounds). */
export function onnxInt64s(name: string, values: number[]): OnnxTensor {
  const data = BigInt64Array.from(values.map((v) => BigInt(v)));
  return onnx.TensorProto.create({ name, dims: [values.length], dataType: 7, rawData: new Uint8Array(data.buffer) });
}

/** A node; attribute values: integers, integer lists or (non-integer) floats. */
export function onnxNode(opType: string, input: string[], output: string[], attributes: Record<string, number | number[]> = {}): OnnxNode {
  const attribute = Object.entries(attributes).map(([name, v]) =>
    Array.isArray(v)
      ? onnx.AttributeProto.create({ name, type: INTS, ints: v })
      : Number.isInteger(v)
        ? onnx.AttributeProto.create({ name, type: INT, i: v })
        : onnx.AttributeProto.create({ name, type: FLOAT_ATTR, f: v }));
  return onnx.NodeProto.create({ opType, input, output, attribute });
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

/** The serialized model: one float32 input and one output, default opset 17. */
export function onnxModel(nodes: OnnxNode[], initializers: OnnxTensor[], input: [string, number[]], output: [string, number[]], opset = 17): Uint8Array {
  const graph = onnx.GraphProto.create({ name: 'ffnkit', node: nodes, initializer: initializers, input: [valueInfo(...input)], output: [valueInfo(...output)] });
  const model = onnx.ModelProto.create({ irVersion: 8, producerName: 'ffnkit', opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: opset })], graph });
  return onnx.ModelProto.encode(model).finish();
}
