// The machine's bounds and the kernel panel's measurements, in the worker. Each figure is the
// fastest of repeated calls within a time budget (a bound is what the machine can do; the
// kernels get the same treatment so the two compare). GEMM and the depthwise convolution are
// compute-bound: GFLOP/s against the build's multiply-add peak (times the threads). The GEMVs
// stream a matrix larger than the caches once per call: GB/s of weights against the read
// bandwidth measured with the same threads.

import { BACKENDS, createEngine, type Backend, type Engine } from '../../src/index.js';
import { encodeQ8_0 } from '../../src/entries/kernels.js';
import { randomF32 } from '../../testing/random.js';
import type { Bounds, KernelRow } from '../protocol.js';

/** Bytes of the bandwidth probe's buffer: twice or more the last-level cache of most CPUs. */
const PROBE_BYTES = 128 << 20;

/** Seconds per call: the fastest of the calls made within `budget` seconds (at least 3). */
export function fastest(fn: () => void, budget: number): number {
  let best = Infinity;
  const end = performance.now() + budget * 1000;
  for (let i = 0; i < 3 || performance.now() < end; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return Math.max(best, 1e-3) / 1000;
}

/** Read bandwidth in GB/s: every thread of the engine sums its share of one large buffer. */
function readBandwidth(e: Engine, budget: number): number {
  const n = PROBE_BYTES / 4;
  const buf = e.alloc(n, 'bandwidth probe');
  buf.view().fill(1);
  const pool = e.pool;
  const per = Math.floor(n / e.threads);
  const t = pool
    ? fastest(() => pool.run(Array.from({ length: pool.threads }, (_, i) => ({ fn: 'f32_probe_read', args: [buf.ptr + i * per * 4, per] }))), budget)
    : fastest(() => e.wasm.f32_probe_read(buf.ptr, n), budget);
  buf.free();
  return (per * e.threads * 4) / t / 1e9;
}

/** One thread's multiply-add peak in GFLOP/s (assembly/probe.ts: 96 flops per iteration with SIMD, 20 without). */
function maddPeak(e: Engine, budget: number): number {
  const iters = 1 << 20;
  return (iters * (e.backend === 'scalar' ? 20 : 96)) / fastest(() => e.wasm.f32_probe_madd(iters, 0.5), budget) / 1e9;
}

/** The bounds the page's speed figures are shown against: the best build, one thread. */
export async function measureBounds(budget = 0.2): Promise<Bounds> {
  const e = await createEngine();
  return { bandwidth: readBandwidth(e, budget), peak: maddPeak(e, budget), probeBytes: PROBE_BYTES };
}

/** The builds to compare: each single-threaded build, and the shared-memory ones when threads can start. */
export function kernelBuilds(threads: number): { backend: Backend; threads: number }[] {
  const builds = BACKENDS.map((backend) => ({ backend, threads: 1 }));
  if (threads > 1 && globalThis.crossOriginIsolated) builds.push(...BACKENDS.filter((b) => b !== 'scalar').map((backend) => ({ backend, threads })));
  return builds;
}

/** Each kernel on each build; `row` hears each build's results once its bounds are known. */
export async function runKernels(threads: number, budget: number, row: (r: KernelRow) => void): Promise<KernelRow[]> {
  const rows: KernelRow[] = [];
  const add = (r: KernelRow) => {
    rows.push(r);
    row(r);
  };
  // 4096 x 4096: 64 MiB of f32 panels and 17 MiB of Q8_0 blocks, which a large last-level
  // cache partly holds between calls: such a GEMV runs past the bandwidth bound, and the panel says so
  const [rows_, cols] = [4096, 4096];
  const values = randomF32(rows_ * cols, 3);
  const q8bytes = encodeQ8_0(values);
  // one thread's bandwidth, on the best build: the scalar build's probe is bound by its own
  // loads, not by memory, and the memory is the same for every build
  const best = await createEngine();
  const oneThread = readBandwidth(best, budget);
  for (const build of kernelBuilds(threads)) {
    let e: Engine;
    try {
      e = await createEngine(build);
    } catch {
      continue; // a build this browser rejects is left out
    }
    const name = e.threads > 1 ? `${e.backend}-mt` : e.backend;
    // the bounds are probed before and after the kernels, the faster kept: a bound is what the
    // machine can do, and a shared machine may be busy during one of the two
    const peakBefore = maddPeak(e, budget);
    const bandwidthBefore = e.backend === 'scalar' ? 0 : readBandwidth(e, budget);
    const measured: Omit<KernelRow, 'bound' | 'boundName' | 'build' | 'threads'>[] = [];

    const [m, n, k] = [128, 512, 512];
    const packed = e.kernels.packFrom(randomF32(n * k, 1), n, k);
    const a = e.upload(randomF32(m * k, 2));
    const c = e.alloc(m * n);
    measured.push({ kernel: `f32 GEMM ${m}x${k}x${n}`, value: (2 * m * n * k) / fastest(() => e.kernels.gemm(a, packed, c, m), budget) / 1e9, unit: 'GFLOP/s' });

    const x = e.upload(randomF32(cols, 4));
    const y = e.alloc(rows_);
    const f32 = e.kernels.packFrom(values, rows_, cols);
    measured.push({ kernel: `f32 GEMV ${rows_}x${cols}`, value: (f32.data.length * 4) / fastest(() => e.kernels.gemv(f32, x, y), budget) / 1e9, unit: 'GB/s' });
    f32.data.free();
    const q8 = e.kernels.q8Matrix(q8bytes, rows_, cols);
    measured.push({ kernel: `Q8_0 GEMV ${rows_}x${cols}`, value: q8bytes.length / fastest(() => e.kernels.gemv(q8, x, y), budget) / 1e9, unit: 'GB/s' });

    // MetaMixer's token mixer: a 7x7 depthwise convolution over 128 channels of 32x32
    const [ch, hw, kk] = [128, 32, 7];
    const ci = e.upload(randomF32(hw * hw * ch, 5));
    const cw = e.upload(randomF32(kk * kk * ch, 6));
    const co = e.alloc(hw * hw * ch);
    measured.push({ kernel: 'depthwise conv 7x7, 128 channels of 32x32', value: (2 * kk * kk * ch * hw * hw) / fastest(() => e.kernels.depthwiseConv2d(ci, { h: hw, w: hw, c: ch }, cw, kk, co), budget) / 1e9, unit: 'GFLOP/s' });

    const peak = Math.max(peakBefore, maddPeak(e, budget)) * e.threads;
    const own = e.backend === 'scalar' ? 0 : Math.max(bandwidthBefore, readBandwidth(e, budget));
    const bandwidth = Math.max(oneThread, own); // threads read at least as fast as one
    for (const r of measured) {
      const compute = r.unit === 'GFLOP/s';
      add({
        ...r, build: name, threads: e.threads,
        bound: compute ? peak : bandwidth,
        boundName: compute ? (e.threads > 1 ? `multiply-add peak x ${e.threads} threads` : 'multiply-add peak') : (e.threads > 1 ? `read bandwidth, ${e.threads} threads` : 'read bandwidth'),
      });
    }
    e.close();
  }
  return rows;
}
