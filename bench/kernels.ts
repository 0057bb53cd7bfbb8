// `ffnkit bench kernels`: f32 GEMM and GEMV on every build that this engine accepts and in plain
// JavaScript, each next to its bound measured in the same process (the build's multiply-add peak
// for GEMM, the read bandwidth for GEMV). Inputs are seeded; every implementation's output is
// checked against the plain-JS result (float64 accumulation) before it is timed. The Q8_0 GEMV
// has two bounds: bandwidth, and its kernel's rate on weights in cache. Then the same
// kinds of work on one thread per core (bench/threads.ts).

import { BACKENDS, FfnkitError, createEngine, type Backend, type Engine } from '../src/index.js';
import { encodeQ8_0, type F32Buffer } from '../src/entries/kernels.js';
import { randomF32 } from '../testing/random.js';
import { gemvQ8Ref } from '../testing/q8-reference.js';
import { maxAbsDiff } from '../testing/compare.js';
import { type BenchLine, type BenchOptions, sig3, time, collector } from './harness.js';
import { gemmJs, gemvJs } from './plain-js.js';
import { maddPeak, q8DotPeak, readBandwidth } from './probes.js';
import { runThreadCases } from './threads.js';
import { GGML_BENCH_TYPES, runGgmlGemvCases } from './ggml.js';
import { runQ8PathCases } from './q8-paths-run.js';
import { runQ5KCases } from './q5k.js';

/** (M, K, N) of the GEMM cases: a prefill block of a 1B model's projections. */
export const GEMM_SHAPES: readonly [number, number, number][] = [
  [256, 1024, 1024],
  [64, 1024, 4096],
  [64, 2048, 5632],
];
/** (M, K, N) of the GEMV cases: one decoded token through a 1B model's projections. */
export const GEMV_SHAPES: readonly [number, number, number][] = [
  [1, 4096, 4096],
  [1, 2048, 5632],
  [1, 5632, 2048],
];

const SUITE = 'kernels';
/** Weights a GEMV case cycles through, so that none is still in cache when it is read again. */
const COLD_BYTES = 256 << 20;

/** `ffnkit-<build>`, with the thread count when there are several: the impl name of a bench line. */
export const ffnkitImpl = (e: Engine): string => `ffnkit-${e.backend}${e.threads > 1 ? ` ${e.threads} threads` : ''}`;

/** The engines for every build this WebAssembly engine accepts, best first (SIMD builds on `threads` threads). */
export async function availableEngines(skip: (backend: Backend, why: string) => void, threads = 1): Promise<Engine[]> {
  const engines: Engine[] = [];
  for (const backend of BACKENDS) {
    try {
      engines.push(await createEngine({ backend, threads: backend === 'scalar' ? 1 : threads }));
    } catch (e) {
      skip(backend, (e as Error).message);
    }
  }
  return engines;
}

export async function runKernels(opts: BenchOptions): Promise<BenchLine[]> {
  // ggml's type names in either case (Q4_K as q4_k); anything else is refused before any work
  const only = opts.only?.toLowerCase();
  const onlyType = GGML_BENCH_TYPES.find((t) => t === only);
  if (only !== undefined && only !== 'q8_0' && only !== 'q5_k' && !onlyType) {
    throw new FfnkitError('E_ARG', `--only ${opts.only}: bench kernels takes q8_0, or one of the ggml types ${GGML_BENCH_TYPES.join(', ')}`);
  }
  const { lines, emit, say } = collector(opts);
  const engines = await availableEngines((b, why) => say(`skipping ffnkit-${b}: ${why}`));
  if (only === 'q8_0') {
    // just the Q8_0 layouts and paths, in Node and in Chromium
    await runQ8PathCases(engines, opts, emit, say);
    return lines;
  }
  if (only === 'q5_k') {
    // Q5_K's 4-row kernel against the row kernel it replaced, in one process
    runQ5KCases(engines, opts, emit, say);
    return lines;
  }

  // bounds
  const probeEngine = engines.find((e) => e.backend !== 'scalar') ?? engines[0]!;
  say('read bandwidth (256 MiB)');
  const bandwidth = readBandwidth(probeEngine, opts.quick);
  emit({ suite: SUITE, case: 'read bandwidth 256MiB', impl: `ffnkit-${probeEngine.backend}`, value: sig3(bandwidth), unit: 'GB/s' });
  if (onlyType) {
    // one block type's GEMV and prefill GEMM lines
    runGgmlGemvCases(engines, bandwidth, opts, emit, say, [onlyType]);
    return lines;
  }
  const peak = new Map<Backend, number>();
  for (const e of engines) {
    say(`multiply-add peak, ${e.backend}`);
    const p = maddPeak(e, opts.quick);
    peak.set(e.backend, p);
    emit({ suite: SUITE, case: 'madd peak', impl: `ffnkit-${e.backend}`, value: sig3(p), unit: 'GFLOP/s' });
  }

  for (const [m, k, n] of GEMM_SHAPES) {
    const name = `gemm m${m} k${k} n${n}`;
    const flops = 2 * m * n * k;
    const a = randomF32(m * k, m + k);
    const w = randomF32(n * k, n + k);
    const want = new Float32Array(m * n);
    say(`${name}: plain-js`);
    const js = time(() => gemmJs(a, w, want, m, n, k), opts.quick);
    emit({ suite: SUITE, case: name, impl: 'plain-js', value: sig3(flops / js.seconds / 1e9), unit: 'GFLOP/s', seconds: js.seconds, rme: sig3(js.rme), samples: js.samples });
    for (const e of engines) {
      say(`${name}: ffnkit-${e.backend}`);
      const packed = e.kernels.pack(e.matrix(n, k, w));
      const ab = e.upload(a);
      const c = e.alloc(m * n);
      e.kernels.gemm(ab, packed, c, m);
      const diff = maxAbsDiff(c.view(), want);
      const t = time(() => e.wasm.f32_gemm_4x8(ab.ptr, packed.data.ptr, c.ptr, m, n, k), opts.quick);
      const value = flops / t.seconds / 1e9;
      const bound = peak.get(e.backend)!;
      emit({
        suite: SUITE, case: name, impl: `ffnkit-${e.backend}`, value: sig3(value), unit: 'GFLOP/s',
        bound: sig3(bound), boundName: 'madd peak', share: sig3(value / bound), maxAbsDiff: sig3(diff),
        seconds: t.seconds, rme: sig3(t.rme), samples: t.samples,
      });
      e.arena.reset();
    }
  }

  for (const [m, k, n] of GEMV_SHAPES) {
    const name = `gemv m${m} k${k} n${n}`;
    const flops = 2 * n * k;
    // GEMV streams each weight once: at `bandwidth` GB/s it cannot beat bandwidth/2 GFLOP/s
    const bound = bandwidth / 2;
    const w = randomF32(n * k, n + 3 * k);
    const x = randomF32(k, k);
    const want = new Float32Array(n);
    say(`${name}: plain-js`);
    const js = time(() => gemvJs(w, x, want, n, k), opts.quick);
    const jsValue = flops / js.seconds / 1e9;
    emit({
      suite: SUITE, case: name, impl: 'plain-js', value: sig3(jsValue), unit: 'GFLOP/s',
      bound: sig3(bound), boundName: 'read bandwidth', share: sig3(jsValue / bound),
      seconds: js.seconds, rme: sig3(js.rme), samples: js.samples,
    });
    for (const e of engines) {
      const xb = e.upload(x);
      const y = e.alloc(n);
      // Decoding touches each weight once per token and a model is far larger than the caches,
      // so each timed call reads the next of several copies (256 MiB in all, like the bandwidth
      // probe): no call finds its weights in L3.
      const copies = Math.max(2, Math.ceil(COLD_BYTES / (4 * n * k)));
      const variants: [string, () => F32Buffer[]][] = [
        // ffnkit-<build>: packed weights, one contiguous stream, the form models decode with
        [`ffnkit-${e.backend}`, () => {
          const wm = e.matrix(n, k, w);
          const bufs = Array.from({ length: copies }, () => e.kernels.pack(wm).data);
          wm.data.free();
          return bufs;
        }],
        // ffnkit-<build>-rowmajor: the weights as loaded, no packing
        [`ffnkit-${e.backend}-rowmajor`, () => Array.from({ length: copies }, () => e.matrix(n, k, w).data)],
      ];
      for (const [impl, place] of variants) {
        say(`${name}: ${impl}`);
        const bufs = place();
        const ptrs = bufs.map((b) => b.ptr);
        const packed = !impl.endsWith('-rowmajor');
        const call = (p: number) => (packed ? e.wasm.f32_gemm_4x8(xb.ptr, p, y.ptr, 1, n, k) : e.wasm.f32_gemv(p, xb.ptr, 0, y.ptr, n, k));
        y.view().fill(NaN);
        call(ptrs[copies - 1]!);
        const diff = maxAbsDiff(y.view(), want);
        let next = 0;
        const t = time(() => {
          call(ptrs[next]!);
          next = next + 1 === copies ? 0 : next + 1;
        }, opts.quick);
        const value = flops / t.seconds / 1e9;
        emit({
          suite: SUITE, case: name, impl, value: sig3(value), unit: 'GFLOP/s',
          bound: sig3(bound), boundName: 'read bandwidth', share: sig3(value / bound), maxAbsDiff: sig3(diff),
          seconds: t.seconds, rme: sig3(t.rme), samples: t.samples,
        });
        for (const b of bufs) b.free();
      }
      e.arena.reset();
    }
  }

  // Q8_0 GEMV: GGUF's int8 blocks regrouped by 4 rows, scales widened to f32 (36 bytes per 32)
  {
    const [m, k, n] = GEMV_SHAPES[0]!;
    const name = `gemv q8_0 m${m} k${k} n${n}`;
    const bytes = encodeQ8_0(randomF32(n * k, n + 3 * k));
    // reads 36/32 bytes per 2 flops: bandwidth x 2 / (36/32) GFLOP/s at most
    const bound = (bandwidth * 2 * 32) / 36;
    // reference: the same quantized values in float64 (testing/q8-reference.ts)
    const xHost = randomF32(k, k);
    const want = gemvQ8Ref(bytes, xHost, n, k).y;
    for (const e of engines.filter((en) => en.backend !== 'scalar')) {
      say(`q8_0 dot peak (weights in cache), ${e.backend}`);
      const inCache = q8DotPeak(e, opts.quick);
      emit({ suite: SUITE, case: 'q8_0 dot peak (in cache)', impl: `ffnkit-${e.backend}`, value: sig3(inCache), unit: 'GFLOP/s' });
      say(`${name}: ffnkit-${e.backend}`);
      const copies = Math.max(2, Math.ceil(COLD_BYTES / bytes.length));
      const ws = Array.from({ length: copies }, () => e.kernels.q8Matrix(bytes, n, k));
      const x = e.upload(xHost);
      const y = e.alloc(n);
      e.kernels.gemv(ws[0]!, x, y);
      const diff = maxAbsDiff(y.view(), want);
      let next = 0;
      const t = time(() => {
        e.kernels.gemv(ws[next]!, x, y);
        next = (next + 1) % copies;
      }, opts.quick);
      const value = (2 * n * k) / t.seconds / 1e9;
      emit({
        suite: SUITE, case: name, impl: `ffnkit-${e.backend}`, value: sig3(value), unit: 'GFLOP/s',
        bound: sig3(bound), boundName: 'read bandwidth x 2 / (36/32)', share: sig3(value / bound),
        maxAbsDiff: sig3(diff), computeBound: sig3(inCache), computeShare: sig3(value / inCache),
        seconds: t.seconds, rme: sig3(t.rme), samples: t.samples,
      });
      e.arena.reset();
      runQ8GemmCase(e, inCache, peak.get(e.backend)!, opts, emit, say);
    }
  }
  runGgmlGemvCases(engines, bandwidth, opts, emit, say);
  await runQ8PathCases(engines, opts, emit, say);
  await runThreadCases(engines, peak, opts, emit, say);
  return lines;
}

/**
 * The Q8_0 GEMM on a prefill block (GEMM_SHAPES' last: 64 tokens through a 2048 x 5632
 * projection), activations quantized in the timed call as a model does: its rate against the
 * Q8_0 GEMV's in-cache rate (above 1 where each weight loaded serves several tokens) and the
 * build's f32 multiply-add peak. Tokens 0, 1 and the last are checked against the float64
 * reference first.
 */
function runQ8GemmCase(e: Engine, inCache: number, madd: number, opts: BenchOptions, emit: (l: BenchLine) => void, say: (what: string) => void): void {
  const [m, k, n] = GEMM_SHAPES[GEMM_SHAPES.length - 1]!;
  const name = `gemm q8_0 m${m} k${k} n${n}`;
  say(`${name}: ffnkit-${e.backend}`);
  const bytes = encodeQ8_0(randomF32(n * k, n + k));
  const aHost = randomF32(m * k, m + k);
  const w = e.kernels.q8Matrix(bytes, n, k);
  const a = e.upload(aHost);
  const c = e.alloc(m * n);
  e.kernels.gemm(a, w, c, m);
  let diff = 0;
  for (const t of [0, 1, m - 1]) {
    const want = gemvQ8Ref(bytes, aHost.subarray(t * k, (t + 1) * k), n, k).y;
    diff = Math.max(diff, maxAbsDiff(c.view().subarray(t * n, (t + 1) * n), want));
  }
  const t = time(() => e.kernels.gemm(a, w, c, m), opts.quick);
  const value = (2 * m * n * k) / t.seconds / 1e9;
  emit({
    suite: SUITE, case: name, impl: `ffnkit-${e.backend}`, value: sig3(value), unit: 'GFLOP/s',
    bound: sig3(inCache), boundName: 'q8_0 GEMV in cache', share: sig3(value / inCache),
    maddPeak: sig3(madd), maddShare: sig3(value / madd), maxAbsDiff: sig3(diff),
    seconds: t.seconds, rme: sig3(t.rme), samples: t.samples,
  });
  e.arena.reset();
}
