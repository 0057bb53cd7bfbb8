// The engine side of threads-stress.test.ts, in a worker thread of its own so that a pool that
// hangs blocks this thread and not the test's (whose timeout then fails the test). Creates and
// closes two-thread engines, posting each job the moment the engine exists (the moment a worker
// has just said it is ready), and checks each product against one thread's bits. Posts
// { iteration } after each engine, then { done } or { error }.

import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { createEngine } = await import('../src/node/index.ts');
const { iterations, threadTimeoutMs } = workerData;

const [n, k] = [1024, 1024];
const weights = Float32Array.from({ length: n * k }, (_, i) => Math.sin(i * 0.37));
const x = Float32Array.from({ length: k }, (_, i) => Math.cos(i * 0.11));
const gemv = (e) => {
  const y = e.alloc(n);
  e.kernels.gemm(e.upload(x), e.kernels.packFrom(weights, n, k), y, 1);
  return new Uint32Array(y.toArray().buffer);
};
const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

try {
  const one = gemv(await createEngine({ backend: 'simd' }));
  for (let i = 0; i < iterations; i++) {
    // every other engine's workers sleep at once instead of polling: both ways of waiting
    const e = await createEngine({ backend: 'simd', threads: 2, spinMs: i % 2 ? 0 : 0.25, threadTimeoutMs });
    if (e.threads !== 2) throw new Error(`engine ${i}: ${e.threads} threads`);
    const probe = { fn: 'f32_probe_read', args: [0, 16] };
    e.pool.run([probe, probe]);
    for (let j = 0; j < 3; j++) if (!same(gemv(e), one)) throw new Error(`engine ${i}: two threads gave other bits than one`);
    e.close();
    parentPort.postMessage({ iteration: i });
  }
  parentPort.postMessage({ done: true });
} catch (e) {
  parentPort.postMessage({ error: `${e?.code ?? ''} ${e?.message ?? e}` });
}
