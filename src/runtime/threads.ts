// A pool of worker threads sharing one WebAssembly.Memory, each running its own instance of the
// same kernel build: a kernel call is split into one task per thread (the main thread runs the
// first), each task a kernel export called on its own slice of the work, so every output is
// computed by the same instructions in the same order as in one thread (bit-identical results).
//
// Synchronisation is a small SharedArrayBuffer: the main thread writes each worker's task into
// its slot, bumps the job counter and notifies; every worker runs its task (or nothing) and
// bumps the done counter (thread-loop.js); the calling thread waits (Atomics.wait) until all
// have. Waiting blocks, which Node allows on its main thread and browsers allow in workers only:
// the Node entry registers a worker_threads factory (src/node/threads.ts); in a browser, an
// engine created inside a Web Worker starts module Web Workers (webWorkerFactory); on a page's
// main thread an engine runs one thread.

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
}

/** Starts one worker (resolving once its kernel instance is ready). */
export type WorkerFactory = (init: WorkerInit) => Promise<WorkerHandle>;

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
  return (init) =>
    new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./thread-worker-web.js', import.meta.url), { type: 'module' });
      worker.onmessage = () => resolve({ terminate: () => worker.terminate() });
      worker.onerror = (e) => reject(new Error(e.message || 'the worker script failed to load'));
      worker.postMessage(init);
    });
}

// a browser worker (where blocking waits are allowed) starts module Web Workers by default
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined' && typeof Worker !== 'undefined') {
  setWorkerFactory(webWorkerFactory());
}

// control layout, int32 words: [0] job counter (-1: shut down), [1] done counter, [2] failures,
// then per worker SLOT words: [fn index or -1, argument count]; the arguments as float64 after.
export const CONTROL = { JOB: 0, DONE: 1, FAILED: 2, HEAD: 4, SLOT: 2, ARGS: 16 } as const;

/**
 * How long a thread polls for the next job (workers) or for the workers' results (the caller)
 * before it sleeps: a decode step's matrix products arrive microseconds apart, and waking a
 * sleeping thread costs 30-100 us on the 2-core VM this was measured on (a pool dispatch took
 * 33-98 us sleeping, 4.5-7.6 us polling), as long as a small product itself.
 */
export const SPIN_MS = 0.25;

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

export class ThreadPool {
  /** Threads in all, the main thread included. */
  readonly threads: number;
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private readonly names: string[];
  private readonly exports: Record<string, (...a: number[]) => unknown>;
  private readonly workers: WorkerHandle[];

  private readonly spinMs: number;

  constructor(exports: object, control: SharedArrayBuffer, workers: WorkerHandle[], names: string[], spinMs = SPIN_MS) {
    this.spinMs = spinMs;
    this.exports = exports as Record<string, (...a: number[]) => unknown>;
    this.workers = workers;
    this.names = names;
    this.threads = workers.length + 1;
    this.ctl = new Int32Array(control);
    this.args = new Float64Array(control, controlLayout(workers.length).argsByte, workers.length * CONTROL.ARGS);
  }

  /** Runs tasks[0] here and tasks[i] on worker i - 1 (at most `threads` tasks), returning when all are done. */
  run(tasks: ThreadTask[]): void {
    if (tasks.length > this.threads) throw new FfnkitError('E_ARG', `threads: ${tasks.length} tasks for ${this.threads} threads`);
    const w = this.workers.length;
    for (let i = 0; i < w; i++) {
      const task = tasks[i + 1];
      const slot = CONTROL.HEAD + i * CONTROL.SLOT;
      if (!task) {
        this.ctl[slot] = -1;
        continue;
      }
      const fn = this.names.indexOf(task.fn);
      if (fn < 0 || task.args.length > CONTROL.ARGS) throw new FfnkitError('E_ARG', `threads: cannot run ${task.fn} on a worker`);
      this.ctl[slot] = fn;
      this.ctl[slot + 1] = task.args.length;
      this.args.set(task.args, i * CONTROL.ARGS);
    }
    Atomics.store(this.ctl, CONTROL.DONE, 0);
    Atomics.add(this.ctl, CONTROL.JOB, 1);
    Atomics.notify(this.ctl, CONTROL.JOB);
    const own = tasks[0];
    if (own) this.exports[own.fn]!(...own.args);
    // the workers usually finish within microseconds of this thread: poll before sleeping, as a
    // sleeping thread takes tens of microseconds to wake
    const until = performance.now() + this.spinMs;
    while (Atomics.load(this.ctl, CONTROL.DONE) < w && performance.now() < until);
    for (;;) {
      const done = Atomics.load(this.ctl, CONTROL.DONE);
      if (done >= w) break;
      Atomics.wait(this.ctl, CONTROL.DONE, done, 10_000);
    }
    if (Atomics.exchange(this.ctl, CONTROL.FAILED, 0) !== 0) throw new FfnkitError('E_ARG', 'threads: a worker failed while running a kernel');
  }

  /** Stops the workers. */
  close(): void {
    Atomics.store(this.ctl, CONTROL.JOB, -1);
    Atomics.notify(this.ctl, CONTROL.JOB);
    for (const w of this.workers) w.terminate();
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
