// `ffnkit bench quantize`: weight quantization speed (values per second) of every ggml weight type
// the writer produces, on seeded Gaussian weights: the wasm kernels (assembly/quantize-kquants.ts,
// what the traits call in Node) against the JavaScript codecs they replace, whose bytes are
// checked equal first. Types without a kernel are timed in JavaScript only.

import { GGML_TYPES, type GgmlTypeName } from '../src/model/ggml-types.js';
import { quantizeIQ4_NLJs, quantizeIQ4_XSJs } from '../src/model/ggml/iquants.js';
import { quantizeQ2_KJs, quantizeQ3_KJs, quantizeQ4_KJs, quantizeQ5_KJs, quantizeQ6_KJs } from '../src/model/ggml/kquants.js';
import { KERNEL_QUANTIZED, sharedBlockQuantizer, type KernelQuantizedType } from '../src/runtime/kernels/quantize.js';
import { rng } from '../testing/random.js';
import { type BenchLine, type BenchOptions, collector, sig3, time } from './harness.js';

const SUITE = 'quantize';
const JS: Record<KernelQuantizedType, (x: Float32Array) => Uint8Array> = {
  Q2_K: quantizeQ2_KJs, Q3_K: quantizeQ3_KJs, Q4_K: quantizeQ4_KJs, Q5_K: quantizeQ5_KJs, Q6_K: quantizeQ6_KJs,
  IQ4_NL: quantizeIQ4_NLJs, IQ4_XS: quantizeIQ4_XSJs,
};
const JS_ONLY: GgmlTypeName[] = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'F16', 'BF16'];

function gaussianWeights(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => 0.02 * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}

export async function runQuantize(opts: BenchOptions): Promise<BenchLine[]> {
  const { lines, emit, say } = collector(opts);
  const n = 256 * 256; // 256 rows of 256 (a 65536-value tensor)
  const x = gaussianWeights(n, 42);
  const wasm = sharedBlockQuantizer();
  const line = (type: string, impl: string, seconds: number, extra: Partial<BenchLine>) =>
    emit({ suite: SUITE, case: `${type} quantize ${n} values`, impl, value: sig3(n / seconds / 1e6), unit: 'M values/s', seconds, ...extra });
  for (const type of Object.keys(KERNEL_QUANTIZED) as KernelQuantizedType[]) {
    say(`${type}: JavaScript`);
    const tJs = time(() => JS[type](x), opts.quick);
    line(type, 'js', tJs.seconds, { rme: tJs.rme, samples: tJs.samples });
    if (!wasm) continue;
    const a = JS[type](x);
    const b = wasm.quantize(type, x);
    const same = a.length === b.length && a.every((v, i) => v === b[i]);
    if (!same) throw new Error(`bench quantize: ${type}: the wasm kernel's bytes differ from the JavaScript codec's`);
    say(`${type}: wasm (${wasm.backend})`);
    const tW = time(() => wasm.quantize(type, x), opts.quick);
    line(type, `wasm-${wasm.backend}`, tW.seconds, { rme: tW.rme, samples: tW.samples, speedup: sig3(tJs.seconds / tW.seconds), sameBytes: 'yes' });
  }
  for (const name of JS_ONLY) {
    say(`${name}: JavaScript`);
    const t = time(() => GGML_TYPES[name].quantize(x), opts.quick);
    line(name, 'js', t.seconds, { rme: t.rme, samples: t.samples });
  }
  return lines;
}
