// The threads part of `ffnkit bench kernels`: GEMM, GEMV (f32 and Q8_0), depthwise convolutions
// and FFNet-1 on an engine with one worker per core next to one thread, in the same process. Each
// line carries the one-thread figure and the speed-up; its bound is the one-thread bound times the
// threads (the multiply-add peak) or, for the GEMVs, the read bandwidth measured with every thread
// reading.

import { availableParallelism } from 'node:os';
import { createEngine, type Engine } from '../src/index.js';
import { FfnetModel, graphFlops } from '../src/entries/mixer.js';
import { encodeQ8_0 } from '../src/entries/kernels.js';
import { randomF32 } from '../testing/random.js';
import { type BenchLine, type BenchOptions, sig3, time } from './harness.js';
import { readBandwidthThreads } from './probes.js';

const SUITE = 'kernels';

export async function runThreadCases(
  engines: Engine[], peak: Map<string, number>, opts: BenchOptions, emit: (l: BenchLine) => void, say: (s: string) => void,
): Promise<void> {
  const threads = Math.min(availableParallelism(), 16);
  if (threads < 2) {
    say('threads: one core, nothing to compare');
    return;
  }
  for (const one of engines.filter((e) => e.backend !== 'scalar')) {
    const many = await createEngine({ backend: one.backend, threads });
    if (many.threads < 2) {
      say(`threads: ${one.backend} runs one thread here`);
      continue;
    }
    const impl = `ffnkit-${one.backend} ${threads} threads`;
    const bw = readBandwidthThreads(many, opts.quick);
    emit({ suite: SUITE, case: 'read bandwidth 256MiB', impl, value: sig3(bw), unit: 'GB/s' });

    // what starting a call on every thread costs: an empty task per thread, back to back, with
    // threads that poll before sleeping (the default) and with threads that sleep at once
    for (const [label, e] of [['polling 0.25 ms', many], ['sleeping', await createEngine({ backend: one.backend, threads, spinMs: 0 })]] as const) {
      const probe = e.alloc(16);
      const tasks = Array.from({ length: threads }, () => ({ fn: 'f32_probe_read', args: [probe.ptr, 16] }));
      const t = time(() => e.pool!.run(tasks), opts.quick);
      emit({ suite: SUITE, case: `thread dispatch, ${label}`, impl, value: sig3(t.seconds * 1e6), unit: 'us', rme: sig3(t.rme), samples: t.samples });
      probe.free();
      if (e !== many) e.close();
    }

    const cases: { name: string; flops: number; run: (e: Engine) => () => void; bound: number; boundName: string }[] = [];
    {
      const [m, k, nn] = [256, 1024, 1024];
      const a = randomF32(m * k, 1);
      const w = randomF32(nn * k, 2);
      cases.push({
        name: `gemm m${m} k${k} n${nn}`, flops: 2 * m * k * nn, bound: threads * peak.get(one.backend)!, boundName: `madd peak x ${threads}`,
        run: (e) => {
          const packed = e.kernels.packFrom(w, nn, k);
          const ab = e.upload(a);
          const c = e.alloc(m * nn);
          return () => e.kernels.gemm(ab, packed, c, m);
        },
      });
    }
    {
      const [k, nn] = [4096, 4096];
      const w = randomF32(nn * k, 3);
      const x = randomF32(k, 4);
      cases.push({
        name: `gemv m1 k${k} n${nn}`, flops: 2 * k * nn, bound: bw / 2, boundName: `read bandwidth, ${threads} threads`,
        run: (e) => {
          // cold weights: each call reads the next of several copies
          const copies = Math.max(2, Math.ceil((256 << 20) / (4 * nn * k)));
          const packs = Array.from({ length: copies }, () => e.kernels.packFrom(w, nn, k));
          const xb = e.upload(x);
          const y = e.alloc(nn);
          let next = 0;
          return () => e.kernels.gemm(xb, packs[next++ % copies]!, y, 1);
        },
      });
    }
    {
      // the decoding kernel of a Q8_0 model: each thread takes whole 4-row groups
      const [k, nn] = [4096, 4096];
      const bytes = encodeQ8_0(randomF32(nn * k, 3));
      const x = randomF32(k, 4);
      cases.push({
        name: `gemv q8_0 m1 k${k} n${nn}`, flops: 2 * k * nn, bound: (bw * 2 * 32) / 36, boundName: `read bandwidth, ${threads} threads, x 2 / (36/32)`,
        run: (e) => {
          const copies = Math.max(2, Math.ceil((256 << 20) / bytes.length));
          const ws = Array.from({ length: copies }, () => e.kernels.q8Matrix(bytes, nn, k));
          const xb = e.upload(x);
          const y = e.alloc(nn);
          let next = 0;
          return () => e.kernels.gemv(ws[next++ % copies]!, xb, y);
        },
      });
    }
    for (const [c, h, k] of [[256, 56, 7], [128, 32, 31]] as const) {
      const x = randomF32(c * h * h, 5);
      const wt = randomF32(c * k * k, 6);
      cases.push({
        name: `dwconv2d ${k}x${k} c${c} ${h}x${h}`, flops: 2 * c * h * h * k * k, bound: threads * peak.get(one.backend)!, boundName: `madd peak x ${threads}`,
        run: (e) => {
          const xb = e.upload(x);
          const wb = e.upload(wt);
          const y = e.alloc(c * h * h);
          return () => e.kernels.depthwiseConv2d(xb, { h, w: h, c }, wb, k, y);
        },
      });
    }
    {
      const image = randomF32(3 * 256 * 256, 7, -2, 2);
      const probe = FfnetModel.create(one, { variant: 'ffnet-1' });
      const flops = graphFlops(probe.graph);
      probe.free();
      cases.push({
        name: 'ffnet-1 forward 256x256', flops, bound: threads * peak.get(one.backend)!, boundName: `madd peak x ${threads}`,
        run: (e) => {
          const model = FfnetModel.create(e, { variant: 'ffnet-1' });
          return () => void model.forward(image);
        },
      });
    }
    for (const cs of cases) {
      say(`${cs.name}: ${impl}`);
      const single = time(cs.run(one), opts.quick);
      one.arena.reset();
      const multi = time(cs.run(many), opts.quick);
      many.arena.reset();
      const value = cs.flops / multi.seconds / 1e9;
      emit({
        suite: SUITE, case: cs.name, impl, value: sig3(value), unit: 'GFLOP/s', bound: sig3(cs.bound), boundName: cs.boundName,
        share: sig3(value / cs.bound), oneThread: sig3(cs.flops / single.seconds / 1e9), speedup: sig3(single.seconds / multi.seconds),
        seconds: multi.seconds, rme: sig3(multi.rme), samples: multi.samples,
      });
    }
    many.close();
  }
}
