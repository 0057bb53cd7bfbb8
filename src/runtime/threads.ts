// A pool of worker threads sharing one WebAssembly.Memory, each running its own instance of the
// same kernel build: a kernel call is split into one task per thread (the main thread runs the
// first), each task a kernel export called on its own slice of the work, so every output is
// computed by the same instructions in the same order as in one thread (bit-identical results).
//
// Synchronisation is a small SharedArrayBuffer: the main thread writes each worker's task into
// its slot, bumps the job counter and notifies; every worker records the job it took, runs its
// task (or nothing), records the job it finished and rings the done bell (thread-loop.js); the
// calling thread waits (Atomics.wait) until every worker has finished this job. Every wait has a
// deadline: a worker that does not start, or does not finish its part of a job, ends in an
// FfnkitError (E_THREAD) naming it, and the pool closes (the engine then runs one thread), so a
// lost worker never hangs the caller; one whose end the factory reports between jobs (onLost)
// closes the pool before the next job, which then runs on the calling thread. Waiting blocks, which Node allows on its main thread and
// browsers allow in workers only: the Node entry registers a worker_threads factory
// (src/node/threads.ts); in a browser, an engine created inside a Web Worker starts module Web
// Workers (webWorkerFactory); on a page's main thread an engine runs one thread.

import { FfnkitError } from '../errors.js';

/** One kernel call: an export's name and its numeric arguments. */
export interface ThreadTask {
  fn: string;
  args: number[];
}

/** What a worker thread needs to start. */
export interface WorkerInit {
  bytes: Uint8Array;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  /** This worker's slot, and how many workers share the control block. */
  index: number;
  workers: number;
  names: string[];
  /** How long the worker polls for a job before it sleeps, in ms (SPIN_MS by default). */
  spinMs: number;
  /** The control block's layout (CONTROL, and the byte offset of the arguments), so the worker script defines none of it. */
  layout: ControlLayout;
}

export interface WorkerHandle {
  terminate(): void;
  /**
   * Registers `lost`, called (on this thread's event loop) with why when the worker ends or fails
   * after it was ready; the pool then runs its next job on this thread. Optional: a factory whose
   * workers cannot report it leaves a lost worker to the job's deadline.
   */
  onLost?(lost: (why: string) => void): void;
}

/**
 * Starts one worker, resolving once it serves jobs (thread-loop.js's `ready`). When `signal`
 * aborts (the pool gave up waiting), the factory stops the worker and rejects.
 */
export type WorkerFactory = (init: WorkerInit, signal: AbortSignal) => Promise<WorkerHandle>;

let factory: WorkerFactory | undefined;

/** @internal the Node entry registers how to start workers */
export function setWorkerFactory(f: WorkerFactory): void {
  factory = f;
}

/** The registered worker factory, if this environment has one. */
export function workerFactory(): WorkerFactory | undefined {
  return factory;
}

/** Module Web Workers running thread-worker-web.js (for engines created inside a worker). */
export function webWorkerFactory(): WorkerFactory {
  return (init, signal) =>
    new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./thread-worker-web.js', import.meta.url), { type: 'module' });
      const abort = () => {
        worker.terminate();
        reject(signal.reason);
      };
      signal.addEventListener('abort', abort, { once: true });
      worker.onmessage = (e: MessageEvent<'ready' | { error: string }>) => {
        signal.removeEventListener('abort', abort);
        if (e.data === 'ready') {
          resolve({
            terminate: () => worker.terminate(),
            onLost: (lost) => {
              worker.onerror = (ev) => lost(`failed (${ev.message || 'an error in the worker'})`);
            },
          });
        }
        else {
          worker.terminate();
          reject(new Error(e.data.error));
        }
      };
      worker.onerror = (e) => reject(new Error(e.message || 'the worker script failed to load'));
      worker.postMessage(init);
    });
}

// a browser worker (where blocking waits are allowed) starts module Web Workers by default
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined' && typeof Worker !== 'undefined') {
  setWorkerFactory(webWorkerFactory());
}

// control layout, int32 words: [0] job counter, [1] done bell (rung by every worker that
// finishes a job), [2] failures, [3] stop, then per worker SLOT words: [fn index or -1, argument
// count, the last job it took, the last job it finished]; the arguments as float64 after. Jobs are
// compared for equality only, so the counter may wrap.
export const CONTROL = { JOB: 0, DONE: 1, FAILED: 2, STOP: 3, HEAD: 4, SLOT: 4, FN: 0, ARGC: 1, TAKEN: 2, FINISHED: 3, ARGS: 16 } as const;

/**
 * How long a thread polls for the next job (workers) or for the workers' results (the caller)
 * before it sleeps: a decode step's matrix products arrive microseconds apart, and waking a
 * sleeping thread costs 30-100 us on the 2-core VM this was measured on (a pool dispatch took
 * 33-98 us sleeping, 4.5-7.6 us polling), as long as a small product itself.
 */
export const SPIN_MS = 0.25;

/**
 * How long the pool waits, in ms, for a worker to start, and for a worker to finish its part of a
 * job beyond the time this thread took for its own part (parts are the same kernel on at most as
 * much work as this thread's): long enough for a starved thread on a loaded machine, short
 * enough that a lost worker is an error and not a hang.
 */
export const THREAD_TIMEOUT_MS = 30_000;

/** CONTROL plus where the float64 arguments start for a given number of workers. */
export type ControlLayout = typeof CONTROL & { argsByte: number };

/** The control block's layout for `workers` workers. */
export function controlLayout(workers: number): ControlLayout {
  const ints = CONTROL.HEAD + workers * CONTROL.SLOT;
  return { ...CONTROL, argsByte: Math.ceil((ints * 4) / 8) * 8 };
}

export function controlBytes(workers: number): number {
  return controlLayout(workers).argsByte + workers * CONTROL.ARGS * 8;
}

/** What `startPool` needs: this thread's kernel instance and what every worker instantiates. */
export interface PoolOptions {
  /** This thread's instance of the kernels (it runs the first task of every job). */
  exports: object;
  /** The shared-memory kernel build and the memory every instance uses. */
  bytes: Uint8Array;
  memory: WebAssembly.Memory;
  /** The exports a worker may be asked to run. */
  names: string[];
  workers: number;
  spinMs: number;
  timeoutMs: number;
  factory: WorkerFactory;
}

/**
 * Starts `workers` workers at once and returns their pool, or throws an FfnkitError (E_THREAD)
 * naming the workers that failed or did not start within `timeoutMs`, having stopped them all.
 */
export async function startPool(o: PoolOptions): Promise<ThreadPool> {
  const control = new SharedArrayBuffer(controlBytes(o.workers));
  const layout = controlLayout(o.workers);
  const names = [...o.names];
  const abort = new AbortController();
  const handles: (WorkerHandle | undefined)[] = Array.from({ length: o.workers }, () => undefined);
  const starting = handles.map((_, index) =>
    o.factory({ bytes: o.bytes, memory: o.memory, control, index, workers: o.workers, names, spinMs: o.spinMs, layout }, abort.signal).then(
      (handle) => {
        handles[index] = handle;
        // one that answers after the pool gave up is stopped too
        if (abort.signal.aborted) handle.terminate();
      },
      (e: unknown) => {
        throw new FfnkitError('E_THREAD', `worker ${index + 1} of ${o.workers} did not start (${(e as Error)?.message ?? String(e)})`);
      },
    ),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const missing = handles.flatMap((h, i) => (h ? [] : [i + 1]));
      reject(new FfnkitError('E_THREAD', `${workerList(missing, o.workers)} did not start within ${o.timeoutMs} ms`));
    }, o.timeoutMs);
  });
  try {
    await Promise.race([Promise.all(starting), timeout]);
  } catch (e) {
    abort.abort(e);
    for (const h of handles) h?.terminate();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return new ThreadPool(o.exports, control, handles as WorkerHandle[], names, o.spinMs, o.timeoutMs);
}

/** "worker 2 of 3", "workers 1, 3 of 3". */
function workerList(which: number[], of: number): string {
  return `${which.length === 1 ? 'worker' : 'workers'} ${which.join(', ')} of ${of}`;
}

export class ThreadPool {
  /** Threads in all, the main thread included. */
  readonly threads: number;
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private readonly names: string[];
  private readonly exports: Record<string, (...a: number[]) => unknown>;
  private readonly workers: WorkerHandle[];
  private readonly spinMs: number;
  private readonly timeoutMs: number;
  private stopped = false;
  /** Why a worker is gone, once one ended or failed between jobs (its event arrives on this thread's event loop). */
  private lost: string | undefined;

  /** @internal `startPool` makes pools */
  constructor(exports: object, control: SharedArrayBuffer, workers: WorkerHandle[], names: string[], spinMs = SPIN_MS, timeoutMs = THREAD_TIMEOUT_MS) {
    this.spinMs = spinMs;
    this.timeoutMs = timeoutMs;
    this.exports = exports as Record<string, (...a: number[]) => unknown>;
    this.workers = workers;
    this.names = names;
    this.threads = workers.length + 1;
    this.ctl = new Int32Array(control);
    this.args = new Float64Array(control, controlLayout(workers.length).argsByte, workers.length * CONTROL.ARGS);
    workers.forEach((w, i) =>
      w.onLost?.((why) => {
        if (!this.stopped) this.lost ??= `worker ${i + 1} of ${workers.length} ${why}`;
      }),
    );
  }

  /** True once the pool is stopped (by `close`, or after a worker did not answer); it runs nothing more. */
  get closed(): boolean {
    return this.stopped;
  }

  /**
   * Runs tasks[0] here and tasks[i] on worker i - 1 (at most `threads` tasks), returning when all
   * are done. A worker that does not finish in time throws an FfnkitError (E_THREAD) naming it,
   * and closes the pool. A worker known to be gone before the job (it exited or failed) closes the
   * pool with a warning naming it, and this thread runs every task: the same bits, one thread.
   */
  run(tasks: ThreadTask[]): void {
    if (this.stopped) throw new FfnkitError('E_THREAD', 'threads: the pool is closed');
    if (tasks.length > this.threads) throw new FfnkitError('E_ARG', `threads: ${tasks.length} tasks for ${this.threads} threads`);
    if (this.lost !== undefined) {
      console.warn(`ffnkit: running one thread from now on: ${this.lost}`);
      this.close();
      for (const t of tasks) this.exports[t.fn]!(...t.args);
      return;
    }
    const w = this.workers.length;
    for (let i = 0; i < w; i++) {
      const task = tasks[i + 1];
      const slot = CONTROL.HEAD + i * CONTROL.SLOT;
      if (!task) {
        this.ctl[slot + CONTROL.FN] = -1;
        continue;
      }
      const fn = this.names.indexOf(task.fn);
      if (fn < 0 || task.args.length > CONTROL.ARGS) throw new FfnkitError('E_ARG', `threads: cannot run ${task.fn} on a worker`);
      this.ctl[slot + CONTROL.FN] = fn;
      this.ctl[slot + CONTROL.ARGC] = task.args.length;
      this.args.set(task.args, i * CONTROL.ARGS);
    }
    const job = (Atomics.add(this.ctl, CONTROL.JOB, 1) + 1) | 0;
    Atomics.notify(this.ctl, CONTROL.JOB);
    const posted = performance.now();
    const own = tasks[0];
    let failed = false;
    try {
      if (own) this.exports[own.fn]!(...own.args);
    } finally {
      // even when this thread's own task threw: the next job may not start while a worker still
      // runs this one
      this.awaitWorkers(job, posted, tasks);
      failed = Atomics.exchange(this.ctl, CONTROL.FAILED, 0) !== 0;
    }
    if (failed) throw new FfnkitError('E_ARG', 'threads: a worker failed while running a kernel');
  }

  /** Stops the workers. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    Atomics.store(this.ctl, CONTROL.STOP, 1);
    // moving the counter wakes every worker, even one about to sleep on its old value
    Atomics.add(this.ctl, CONTROL.JOB, 1);
    Atomics.notify(this.ctl, CONTROL.JOB);
    for (const w of this.workers) w.terminate();
  }

  private finished(i: number, job: number): boolean {
    return Atomics.load(this.ctl, CONTROL.HEAD + i * CONTROL.SLOT + CONTROL.FINISHED) === job;
  }

  private allFinished(job: number): boolean {
    for (let i = 0; i < this.workers.length; i++) if (!this.finished(i, job)) return false;
    return true;
  }

  /** Waits until every worker has finished `job`, or throws naming those that did not in time. */
  private awaitWorkers(job: number, posted: number, tasks: ThreadTask[]): void {
    // the workers usually finish within microseconds of this thread: poll before sleeping, as a
    // sleeping thread takes tens of microseconds to wake
    const ownDone = performance.now();
    const spinUntil = ownDone + this.spinMs;
    while (!this.allFinished(job) && performance.now() < spinUntil);
    const deadline = ownDone + (ownDone - posted) + this.timeoutMs;
    for (;;) {
      // read the bell before the slots: a worker that finishes after this read changes the bell,
      // so the wait below returns at once instead of missing it
      const bell = Atomics.load(this.ctl, CONTROL.DONE);
      if (this.allFinished(job)) return;
      const left = deadline - performance.now();
      if (left <= 0) break;
      Atomics.wait(this.ctl, CONTROL.DONE, bell, left);
    }
    const what = this.workers.flatMap((_, i) => {
      if (this.finished(i, job)) return [];
      const task = tasks[i + 1]?.fn ?? 'no task';
      const took = Atomics.load(this.ctl, CONTROL.HEAD + i * CONTROL.SLOT + CONTROL.TAKEN) === job;
      return [`worker ${i + 1} of ${this.workers.length} ${took ? `took it (${task}) and did not finish` : `did not take it (${task}): it is not serving`}`];
    });
    this.close();
    const waited = Math.round(performance.now() - posted);
    throw new FfnkitError('E_THREAD', `threads: no answer ${waited} ms after job ${job} was posted (this thread's own part took ${Math.round(ownDone - posted)} ms): ${what.join('; ')}; the pool is closed and the engine runs one thread`);
  }
}

/**
 * Splits [0, n) into at most `parts` runs whose boundaries are multiples of `align` (except the
 * end): the slices each thread computes.
 */
export function splitRange(n: number, parts: number, align: number): [number, number][] {
  const per = Math.ceil(n / parts / align) * align;
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += per) out.push([s, Math.min(n, s + per)]);
  return out;
}
