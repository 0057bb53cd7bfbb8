// ffnkit/onnx: FFNet models (ffnkit/mixer) as ONNX model bytes. It needs the onnx-proto package,
// an optional peer dependency: without it, importing this entry throws an FfnkitError naming it.

export { toOnnx } from '../mixer/onnx-export.js';
export { timeSeriesToOnnx } from '../mixer/timeseries-onnx.js';
