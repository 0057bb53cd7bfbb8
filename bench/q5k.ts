// `bench kernels --only q5_k`: Q5_K's 4-row kernel (assembly/q5x4.ts, on its repacked layout and
// Q4_K's q8_k_x4 activations) against the row kernel it replaced (q5_k_gemm, still exported, on
// GGUF's rows and ggml's block_q8_K), A/B in one process: GEMV 4096 x 4096 streamed (copies
// filling 256 MiB, called in rotation) and in cache (64 x 4096), GEMM 8 tokens through 1024 x
// 4096. Both are checked against the float64 reference first. The two alternate in rounds of
// about 60 ms, and each line takes the fastest round by wall clock and by the process's CPU time
// (the machine is shared: CPU time holds better under load).

import type { Engine } from '../src/index.js';
import { GGML_KERNEL_TRAITS, ggmlMatrixBytes, ggmlRowBytes, type GgmlKernelExports } from '../src/runtime/kernels/ggml.js';
import { gemvRef, randomBlocks } from '../testing/ggml-reference.js';
import { randomF32 } from '../testing/random.js';
import { maxAbsDiff } from '../testing/compare.js';
import { type BenchLine, type BenchOptions, sig3 } from './harness.js';
import { readBandwidth } from './probes.js';

const SUITE = 'kernels';
const COLD_BYTES = 256 << 20;

interface Impl {
  name: string;
  bytesPerWeight: number;
  /** One call on copy `i` (of `copies`). */
  call: (i: number) => void;
  copies: number;
  out: () => Float32Array;
}

/** Fastest round (wall and CPU seconds per call) of each impl, alternating, `rounds` rounds of about `ms` each. */
function alternate(impls: Impl[], rounds: number, ms: number): { wall: number; cpu: number }[] {
  const best = impls.map(() => ({ wall: Infinity, cpu: Infinity }));
  // calls per round, from the calls of a warm-up of about 2 * ms each (the engine's optimizing
  // tier compiles the kernel during it)
  const per = impls.map((im) => {
    let calls = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 2 * ms) im.call(calls++ % im.copies);
    return Math.max(1, Math.round(calls / 2));
  });
  for (let r = 0; r < rounds; r++) {
    impls.forEach((im, j) => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < per[j]!; i++) im.call(i % im.copies);
      const wall = (performance.now() - t0) / 1000 / per[j]!;
      const c = process.cpuUsage(c0);
      const cpu = (c.user + c.system) / 1e6 / per[j]!;
      best[j] = { wall: Math.min(best[j]!.wall, wall), cpu: Math.min(best[j]!.cpu, cpu) };
    });
  }
  return best;
}

export function runQ5KCases(engines: Engine[], opts: BenchOptions, emit: (l: BenchLine) => void, say: (s: string) => void): void {
  const rounds = opts.quick ? 5 : 9;
  const ms = opts.quick ? 40 : 80;
  const probe = engines.find((e) => e.backend !== 'scalar') ?? engines[0]!;
  say('read bandwidth (256 MiB)');
  const bandwidth = readBandwidth(probe, opts.quick);
  emit({ suite: SUITE, case: 'read bandwidth 256MiB', impl: `ffnkit-${probe.backend}`, value: sig3(bandwidth), unit: 'GB/s' });
  const k = 4096;
  const cases: { name: string; m: number; n: number; streamed: boolean }[] = [
    { name: `gemv q5_k m1 k${k} n4096 streamed`, m: 1, n: 4096, streamed: true },
    { name: `gemv q5_k m1 k${k} n64 in cache`, m: 1, n: 64, streamed: false },
    { name: `gemm q5_k m8 k${k} n1024`, m: 8, n: 1024, streamed: false },
  ];
  for (const e of engines.filter((en) => en.backend !== 'scalar')) {
    const wasm = e.wasm as unknown as GgmlKernelExports;
    const paths: [string, number][] = e.dot.code !== 0 ? [['', e.dot.code], ['-i16', 0]] : [['', 0]];
    for (const c of cases) {
      const { m, n } = c;
      const bytes = randomBlocks('q5_k', n, k, n + 5 * k);
      const xHost = randomF32(m * k, k + m, -1, 1);
      const want = Array.from({ length: m }, (_, t) => gemvRef('q5_k', bytes, xHost.subarray(t * k, (t + 1) * k), n, k).y);
      const rowBytes = n * ggmlRowBytes('q5_k', k);
      const packedBytes = ggmlMatrixBytes('q5_k', n, k);
      const copies = c.streamed ? Math.max(2, Math.ceil(COLD_BYTES / packedBytes)) : 1;
      const x = e.upload(xHost);
      // the row kernel: GGUF's bytes as they are, block_q8_K activations
      const rows = Array.from({ length: copies }, () => {
        const b = e.alloc(Math.ceil(rowBytes / 4));
        new Uint8Array(e.memory.buffer, b.ptr, rowBytes).set(bytes);
        return b;
      });
      const xk = e.alloc(((m * k) / 256) * 73);
      wasm.q8_k_quantize_f32(x.ptr, m * k, xk.ptr);
      // the 4-row kernel: the repacked layout, q8_k_x4 activations
      const packed = Array.from({ length: copies }, () => e.kernels.ggmlMatrix(bytes, 'q5_k', n, k));
      const x4 = e.kernels.ggmlActivations(GGML_KERNEL_TRAITS.q5_k.activations, x, m, k).x;
      const yOld = e.alloc(m * n), yNew = e.alloc(m * n);
      const impls: Impl[] = [];
      for (const [suffix, dot] of paths) {
        impls.push({
          name: `ffnkit-${e.backend} row kernel${suffix}`, bytesPerWeight: 176 / 256, copies,
          call: (i) => { wasm.q5_k_gemm(rows[i]!.ptr, xk.ptr, yOld.ptr, m, n, k, n, dot); },
          out: () => yOld.toArray(),
        });
        impls.push({
          name: `ffnkit-${e.backend} 4-row${suffix}`, bytesPerWeight: packedBytes / (n * k), copies,
          call: (i) => { wasm.q5_k_gemm_x4(packed[i]!.data.ptr, x4, yNew.ptr, m, n, k, n, dot); },
          out: () => yNew.toArray(),
        });
      }
      // Q4_K's 4-row kernel on Q4_K blocks of the same shape: the speed Q5_K aims at
      const q4Bytes = randomBlocks('q4_k', n, k, n + 7 * k);
      const q4Want = Array.from({ length: m }, (_, t) => gemvRef('q4_k', q4Bytes, xHost.subarray(t * k, (t + 1) * k), n, k).y);
      const q4Packed = ggmlMatrixBytes('q4_k', n, k);
      const q4 = Array.from({ length: c.streamed ? Math.max(2, Math.ceil(COLD_BYTES / q4Packed)) : 1 }, () => e.kernels.ggmlMatrix(q4Bytes, 'q4_k', n, k));
      const yQ4 = e.alloc(m * n);
      impls.push({
        name: `ffnkit-${e.backend} q4_k 4-row`, bytesPerWeight: q4Packed / (n * k), copies: q4.length,
        call: (i) => { wasm.q4_k_gemm_x4(q4[i]!.data.ptr, x4, yQ4.ptr, m, n, k, n, e.dot.code); },
        out: () => yQ4.toArray(),
      });
      const wants = impls.map((im) => (im.name.includes('q4_k') ? q4Want : want));
      const diffs = impls.map((im, j) => {
        im.call(im.copies - 1);
        const y = im.out();
        return Math.max(...wants[j]!.map((w, t) => maxAbsDiff(y.subarray(t * n, (t + 1) * n), w)));
      });
      say(`${c.name}: ${impls.map((im) => im.name).join(', ')}, alternating`);
      const best = alternate(impls, rounds, ms);
      const flops = 2 * m * n * k;
      const oldCpu = best[0]!.cpu;
      impls.forEach((im, j) => {
        const value = flops / best[j]!.cpu / 1e9;
        const bound = (bandwidth * 2 * m) / im.bytesPerWeight;
        emit({
          suite: SUITE, case: c.name, impl: im.name, value: sig3(value), unit: 'GFLOP/s (CPU time)',
          wallGflops: sig3(flops / best[j]!.wall / 1e9), bytesPerWeight: sig3(im.bytesPerWeight),
          ...(c.streamed ? { bound: sig3(bound), boundName: `read bandwidth x 2 / ${sig3(im.bytesPerWeight)} bytes per weight`, share: sig3(value / bound) } : {}),
          vsRowKernel: sig3(oldCpu / best[j]!.cpu), maxAbsDiff: sig3(diffs[j]!), dotPath: im.name.endsWith('-i16') ? 'i16' : e.dot.path,
        });
      });
      e.arena.reset();
    }
  }
}
