// The wasm quantizers (runtime/kernels/quantize.ts) in front of the JavaScript codecs: same bytes,
// many times faster. The JavaScript stays where no build can be compiled synchronously (a
// browser) and as the reference the tests compare the kernels with.

import { sharedBlockQuantizer, type KernelQuantizedType } from '../../runtime/kernels/quantize.js';

/** The quantizer of `type`: the wasm kernel where one loads, else `js`. */
export function kernelOr(type: KernelQuantizedType, js: (x: Float32Array) => Uint8Array): (x: Float32Array) => Uint8Array {
  return (x) => {
    const q = sharedBlockQuantizer();
    return q ? q.quantize(type, x) : js(x);
  };
}
