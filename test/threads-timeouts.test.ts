// A pool worker that does not answer is an FfnkitError (E_THREAD) naming it, never a hang: one
// that does not start (the engine warns and runs one thread), one that does not take a job, one
// that takes it and does not finish; the pool then closes and the engine computes one thread's
// bits. Stand-in workers (threads-fake-worker.mjs) misbehave on purpose.

import { Worker } from 'node:worker_threads';
import { describe, expect, test, vi } from 'vitest';
import { FfnkitError, createEngine, type Engine } from '../src/node/index.js';
import { setWorkerFactory, startPool, workerFactory, type WorkerFactory, type WorkerInit } from '../src/runtime/threads.js';
import { randomF32 } from '../testing/random.js';

type Mode = 'serve' | 'idle' | 'silent';

/** Starts threads-fake-worker.mjs in `mode`; `marks` counts finished naps. */
const fakeWorkers = (mode: Mode, marks = new SharedArrayBuffer(4)): WorkerFactory => (init: WorkerInit, signal: AbortSignal) =>
  new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./threads-fake-worker.mjs', import.meta.url), { workerData: { ...init, mode, marks } });
    signal.addEventListener('abort', () => {
      void worker.terminate();
      reject(signal.reason);
    });
    worker.once('message', () => resolve({ terminate: () => void worker.terminate() }));
    worker.on('error', reject);
  });

// long enough for a worker to start while another test file loads the other core
const pool = (factory: WorkerFactory, exports: object = {}, timeoutMs = 1500) =>
  startPool({ exports, bytes: new Uint8Array(0), memory: new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }), names: ['nap', 'hang'], workers: 2, spinMs: 0.25, timeoutMs, factory });

const caught = (fn: () => unknown): FfnkitError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FfnkitError);
    return e as FfnkitError;
  }
  throw new Error('expected an FfnkitError');
};

describe('a pool worker that does not answer', () => {
  test('serving workers run their parts; the pool waits for them even when this thread\'s part throws', async () => {
    const marks = new SharedArrayBuffer(4);
    const p = await pool(fakeWorkers('serve', marks), { nap: () => {}, fail: () => { throw new Error('own part failed'); } }, 10_000);
    p.run([{ fn: 'nap', args: [0] }, { fn: 'nap', args: [50] }, { fn: 'nap', args: [50] }]);
    expect(Atomics.load(new Int32Array(marks), 0)).toBe(2);
    // the workers nap 200 ms while this thread's part fails at once: run returns only after both finished
    expect(() => p.run([{ fn: 'fail', args: [] }, { fn: 'nap', args: [200] }, { fn: 'nap', args: [200] }])).toThrow(/own part failed/);
    expect(Atomics.load(new Int32Array(marks), 0)).toBe(4);
    p.run([{ fn: 'nap', args: [0] }, { fn: 'nap', args: [0] }]);
    expect(Atomics.load(new Int32Array(marks), 0)).toBe(5);
    p.close();
    expect(caught(() => p.run([{ fn: 'nap', args: [0] }])).message).toMatch(/threads: the pool is closed/);
  });

  test('a worker that takes its part and does not finish: E_THREAD naming it and its kernel, and the pool closes', async () => {
    const p = await pool(fakeWorkers('serve'), { nap: () => {} });
    const t0 = performance.now();
    const e = caught(() => p.run([{ fn: 'nap', args: [0] }, { fn: 'nap', args: [0] }, { fn: 'hang', args: [] }]));
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(e.code).toBe('E_THREAD');
    expect(e.message).toMatch(/^threads: no answer \d+ ms after job 1 was posted \(this thread's own part took \d+ ms\): worker 2 of 2 took it \(hang\) and did not finish; the pool is closed/);
    expect(e.message).not.toMatch(/worker 1 of 2/);
    expect(p.closed).toBe(true);
  });

  test('workers that say they are ready and serve nothing: E_THREAD naming each as not taking the job', async () => {
    const p = await pool(fakeWorkers('idle'), { nap: () => {} });
    const e = caught(() => p.run([{ fn: 'nap', args: [0] }, { fn: 'nap', args: [0] }]));
    expect(e.message).toMatch(/worker 1 of 2 did not take it \(nap\): it is not serving; worker 2 of 2 did not take it \(no task\): it is not serving/);
  });

  test('a worker that never says it is ready: E_THREAD naming it, every worker stopped', async () => {
    const aborted: boolean[] = [];
    const started: WorkerFactory = fakeWorkers('serve');
    const factory: WorkerFactory = (init, signal) => {
      signal.addEventListener('abort', () => aborted.push(true));
      return init.index === 1 ? fakeWorkers('silent')(init, signal) : started(init, signal);
    };
    await expect(pool(factory)).rejects.toThrow(/^worker 2 of 2 did not start within 1500 ms$/);
    expect(aborted).toEqual([true, true]);
  });

  test('the Node factory rejects a worker whose build does not instantiate', async () => {
    const init: WorkerInit = { bytes: new Uint8Array([0, 1, 2, 3]), memory: new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }), control: new SharedArrayBuffer(256), index: 0, workers: 1, names: [], spinMs: 0, layout: {} as WorkerInit['layout'] };
    await expect(workerFactory()!(init, new AbortController().signal)).rejects.toThrow(/WebAssembly|magic/i);
  });
});

describe('an engine whose worker does not answer', () => {
  const gemv = (e: Engine) => {
    const y = e.alloc(2048);
    e.kernels.gemm(e.upload(randomF32(1024, 1)), e.kernels.packFrom(randomF32(2048 * 1024, 2), 2048, 1024), y, 1);
    return Array.from(new Uint32Array(y.toArray().buffer));
  };

  test('does not start: a warning naming it, one thread', async () => {
    const node = workerFactory()!;
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    setWorkerFactory(() => new Promise(() => {}));
    try {
      const e = await createEngine({ backend: 'simd', threads: 2, threadTimeoutMs: 200 });
      expect(e.threads).toBe(1);
      expect(warn).toHaveBeenCalledWith('ffnkit: running one thread instead of 2: worker 1 of 1 did not start within 200 ms');
    } finally {
      setWorkerFactory(node);
      warn.mockRestore();
    }
    await expect(createEngine({ backend: 'simd', threads: 2, threadTimeoutMs: 0 })).rejects.toThrow(/threadTimeoutMs: expected a number of milliseconds in \(0, 3600000\], found 0/);
  });

  test('stops serving: the kernel call throws E_THREAD, then the engine runs one thread with one thread\'s bits', async () => {
    const node = workerFactory()!;
    setWorkerFactory(fakeWorkers('idle'));
    let e: Engine;
    try {
      e = await createEngine({ backend: 'simd', threads: 2, threadTimeoutMs: 1500 });
    } finally {
      setWorkerFactory(node);
    }
    expect(e.threads).toBe(2);
    expect(() => gemv(e)).toThrow(/threads: no answer .* worker 1 of 1 did not take it \(f32_gemm_4x8\)/);
    expect(e.threads).toBe(1);
    expect(e.pool).toBeUndefined();
    expect(gemv(e)).toEqual(gemv(await createEngine({ backend: 'simd' })));
  });

  test('a worker that exits between calls: the next call warns naming it and runs on one thread, with one thread\'s bits', async () => {
    const e = await createEngine({ backend: 'simd', threads: 2 });
    expect(e.threads).toBe(2);
    const bits = gemv(e);
    // ends the worker as a crash would, not through the pool
    (e.pool as unknown as { workers: { terminate(): void }[] }).workers[0]!.terminate();
    await new Promise((r) => setTimeout(r, 200));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const started = performance.now();
      expect(gemv(e)).toEqual(bits);
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(warn).toHaveBeenCalledWith('ffnkit: running one thread from now on: worker 1 of 1 exited (code 1)');
    } finally {
      warn.mockRestore();
    }
    expect(e.threads).toBe(1);
    expect(gemv(e)).toEqual(bits);
  });
});
