// `bench kernels`, ggml block types: one token's GEMV through 4096 x 4096 weights in each type's
// own blocks, with two bounds measured in the same process: the read bandwidth over the type's
// bytes per weight (what streaming the weights allows), and the type's own kernel rate on
// weights in cache (what its integer work allows); and the prefill GEMM of 16 tokens on weights
// in cache, next to the peak of the instruction it multiplies with (the integer dot peak, or
// the madd peak for F16/BF16, which are widened in registers). Each output is checked against
// the float64 reference of testing/ggml-reference.ts before it is timed.

import type { Engine } from '../src/index.js';
import { GGML_KERNEL_TRAITS, ggmlMatrixBytes, type GgmlBlockType } from '../src/entries/kernels.js';
import { gemvRef, randomBlocks } from '../testing/ggml-reference.js';
import { randomF32 } from '../testing/random.js';
import { maxAbsDiff } from '../testing/compare.js';
import { type BenchLine, type BenchOptions, sig3, time } from './harness.js';
import { ggmlDotPeak, intDotPeak, maddPeak } from './probes.js';

/** The types, most downloaded first (Q4_K_M is Q4_K with Q6_K). Q8_0 has its own lines in bench/kernels.ts. */
export const GGML_BENCH_TYPES: readonly GgmlBlockType[] = ['q4_k', 'q6_k', 'q4_0', 'q5_k', 'f16', 'bf16', 'q5_0', 'q4_1', 'q5_1', 'q3_k', 'q2_k', 'iq4_nl', 'iq4_xs'];

/** Weights each case cycles through, so that none is still in cache when it is read again. */
const COLD_BYTES = 256 << 20;

export function runGgmlGemvCases(
  engines: Engine[], bandwidth: number, opts: BenchOptions, emit: (l: BenchLine) => void, say: (s: string) => void,
  types: readonly GgmlBlockType[] = GGML_BENCH_TYPES,
): void {
  const n = 4096, k = 4096;
  const xHost = randomF32(k, k);
  // each engine's instruction peaks, measured once for all the types' GEMM lines
  const peaks = new Map<Engine, InstructionPeaks>();
  const peaksOf = (e: Engine) => peaks.get(e) ?? peaks.set(e, { intDot: intDotPeak(e, opts.quick), madd: maddPeak(e, opts.quick) }).get(e)!;
  for (const type of types) {
    const name = `gemv ${type} m1 k${k} n${n}`;
    const bytes = randomBlocks(type, n, k, n + 5 * k);
    // the bytes the kernel streams: its own layout's where the type is repacked at load
    const perWeight = ggmlMatrixBytes(type, n, k) / (n * k);
    // reads perWeight bytes per 2 flops: bandwidth x 2 / perWeight GFLOP/s at most
    const bound = (bandwidth * 2) / perWeight;
    const want = gemvRef(type, bytes, xHost, n, k).y;
    for (const e of engines.filter((en) => en.backend !== 'scalar')) {
      const impl = `ffnkit-${e.backend}`;
      say(`${type} dot rate (weights in cache), ${impl}`);
      const inCache = ggmlDotPeak(e, type, opts.quick);
      emit({ suite: 'kernels', case: `${type} dot peak (in cache)`, impl, value: sig3(inCache), unit: 'GFLOP/s', dotPath: e.dot.path });
      if (e.dot.code !== 0) {
        // the same kernel on the i16 path, for the relaxed path's ratio over it
        say(`${type} dot rate (weights in cache), ${impl} on the i16 path`);
        const i16 = ggmlDotPeak(e, type, opts.quick, 0);
        emit({ suite: 'kernels', case: `${type} dot peak (in cache)`, impl: `${impl}-i16`, value: sig3(i16), unit: 'GFLOP/s', dotPath: 'i16', relaxedRatio: sig3(inCache / i16) });
      }
      say(`${name}: ${impl}`);
      const copies = Math.max(2, Math.ceil(COLD_BYTES / bytes.length));
      const ws = Array.from({ length: copies }, () => e.kernels.ggmlMatrix(bytes, type, n, k));
      const x = e.upload(xHost);
      const y = e.alloc(n);
      e.kernels.gemv(ws[copies - 1]!, x, y);
      const diff = maxAbsDiff(y.view(), want);
      let next = 0;
      const t = time(() => {
        e.kernels.gemv(ws[next]!, x, y);
        next = next + 1 === copies ? 0 : next + 1;
      }, opts.quick);
      const value = (2 * n * k) / t.seconds / 1e9;
      emit({
        suite: 'kernels', case: name, impl, value: sig3(value), unit: 'GFLOP/s', bytesPerWeight: sig3(perWeight),
        bound: sig3(bound), boundName: `read bandwidth x 2 / ${sig3(perWeight)} bytes per weight`, share: sig3(value / bound),
        maxAbsDiff: sig3(diff), computeBound: sig3(inCache), computeShare: sig3(value / inCache), dotPath: e.dot.path,
        seconds: t.seconds, rme: sig3(t.rme), samples: t.samples,
      });
      e.arena.reset();
      runGgmlGemmCase(e, type, peaksOf(e), opts, emit, say);
    }
  }
}

/**
 * Prefill's GEMM in `type`: 16 tokens through 256 x 2048 weights that stay in L2, activations
 * prepared once, so the rate is the kernel's integer (or, for F16/BF16, float) work alone, next
 * to the peak of its instruction: what a compute-bound prefill can reach in this build.
 */
interface InstructionPeaks {
  intDot: number;
  madd: number;
}

function runGgmlGemmCase(e: Engine, type: GgmlBlockType, peaks: InstructionPeaks, opts: BenchOptions, emit: (l: BenchLine) => void, say: (s: string) => void): void {
  const m = 16, n = 256, k = 2048;
  const name = `gemm ${type} m${m} k${k} n${n} in cache`;
  const impl = `ffnkit-${e.backend}`;
  say(`${name}: ${impl}`);
  const bytes = randomBlocks(type, n, k, n + 7 * k);
  const aHost = randomF32(m * k, m + k);
  const w = e.kernels.ggmlMatrix(bytes, type, n, k, `${type} gemm weights`);
  const a = e.upload(aHost, `${type} gemm activations`);
  const c = e.alloc(m * n, `${type} gemm output`);
  const xq = e.kernels.ggmlActivations(GGML_KERNEL_TRAITS[type].activations, a, m, k);
  e.kernels.ggmlProduct(xq, w, c);
  let diff = 0;
  for (const t of [0, m - 1]) diff = Math.max(diff, maxAbsDiff(c.view().subarray(t * n, (t + 1) * n), gemvRef(type, bytes, aHost.subarray(t * k, (t + 1) * k), n, k).y));
  const t = time(() => e.kernels.ggmlProduct(xq, w, c), opts.quick);
  const value = (2 * m * n * k) / t.seconds / 1e9;
  const float = type === 'f16' || type === 'bf16';
  const bound = float ? peaks.madd : peaks.intDot;
  emit({
    suite: 'kernels', case: name, impl, value: sig3(value), unit: 'GFLOP/s',
    bound: sig3(bound), boundName: float ? 'madd peak' : `integer dot peak (${e.dot.path} path)`, share: sig3(value / bound),
    maxAbsDiff: sig3(diff), dotPath: e.dot.path, seconds: t.seconds, rme: sig3(t.rme), samples: t.samples,
  });
  for (const b of [w.data, a, c]) b.free();
}
