// ONNX graphs for onnxruntime (web and node) to run the same work as ffnkit: y = x · Wᵀ (Gemm
// with transB), the SwiGLU FFN and depthwise convolutions. Built with ffnkit's ONNX helpers.

import { onnxModel, onnxNode, onnxTensor } from '../../src/formats/onnx.js';

const gemmNode = (a: string, w: string, out: string) => onnxNode('Gemm', [a, w], [out], { transB: 1 });

/** y[M,N] = x[M,K] · W[N,K]ᵀ. */
export function gemmModel(m: number, n: number, k: number, w: Float32Array): Uint8Array {
  return onnxModel([gemmNode('x', 'w', 'y')], [onnxTensor('w', [n, k], w)], ['x', [m, k]], ['y', [m, n]]);
}

/** y = w2 · (silu(w1 x) * (w3 x)) for t tokens of dim d, hidden h. */
export function ffnModel(t: number, d: number, h: number, w1: Float32Array, w3: Float32Array, w2: Float32Array): Uint8Array {
  return onnxModel(
    [gemmNode('x', 'w1', 'g'), gemmNode('x', 'w3', 'u'), onnxNode('Sigmoid', ['g'], ['s']), onnxNode('Mul', ['g', 's'], ['a']), onnxNode('Mul', ['a', 'u'], ['b']), gemmNode('b', 'w2', 'y')],
    [onnxTensor('w1', [h, d], w1), onnxTensor('w3', [h, d], w3), onnxTensor('w2', [d, h], w2)],
    ['x', [t, d]],
    ['y', [t, d]],
  );
}

/** Depthwise Conv (group = C, 'same' zero padding, stride 1): x [1, C, ...spatial], w [C, 1, ...kernel]. */
export function depthwiseConvModel(c: number, spatial: number[], kernel: number[], w: Float32Array): Uint8Array {
  const pads = [...kernel.map((k) => (k - 1) / 2), ...kernel.map((k) => (k - 1) / 2)];
  const node = onnxNode('Conv', ['x', 'w'], ['y'], { group: c, pads, kernel_shape: kernel });
  return onnxModel([node], [onnxTensor('w', [c, 1, ...kernel], w)], ['x', [1, c, ...spatial]], ['y', [1, c, ...spatial]]);
}
