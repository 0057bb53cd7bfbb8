import { FfnkitError } from '../errors.js';
import { Arena, MAX_PAGES } from './arena.js';
import { F32Buffer } from './buffer.js';
import { checkSize } from './check.js';
import { INTEGER_DOTS, Kernels, type IntegerDot, type Matrix } from './kernels/index.js';
import { THREAD_KERNELS } from './kernels/context.js';
import { type Backend, type KernelExports, instantiate, selectBackend, wasmBytes } from './wasm.js';
import type { DotSelfTest } from './kernels/relaxed-dot.js';
import { SPIN_MS, THREAD_TIMEOUT_MS, ThreadPool, startPool, workerFactory } from './threads.js';

/** Options of `createEngine`. */
export interface EngineOptions {
  /** Build to run; default: `FFNKIT_BACKEND`, else the best this WebAssembly engine accepts. */
  backend?: Backend;
  /** Memory to reserve up front, in MiB (it grows on demand anyway). Default 16. */
  initialMiB?: number;
  /**
   * Threads for the matrix products (the main thread included). Default 1. More than one needs
   * SharedArrayBuffer, the Node entry (`ffnkit/node`, which starts worker_threads) and a SIMD
   * build; otherwise the engine warns and runs one thread, with the same results.
   */
  threads?: number;
  /**
   * With threads: how long idle threads poll for work before they sleep, in ms (default 0.25,
   * `SPIN_MS`). Polling makes back-to-back calls (decoding) start in microseconds instead of the
   * tens a sleeping thread takes to wake, at the cost of that much CPU after each call; 0 sleeps
   * at once.
   */
  spinMs?: number;
  /**
   * With threads: how long to wait, in ms, for a worker to start (else the engine warns and runs
   * one thread), and for a worker to finish its part of a kernel call beyond the time this thread
   * took for its own part (else the call throws an FfnkitError, E_THREAD, naming the worker, and
   * the engine runs one thread from then on). Default 30000 (`THREAD_TIMEOUT_MS`).
   */
  threadTimeoutMs?: number;
  /**
   * The quantized kernels' integer dot product: 'auto' (default) runs relaxed SIMD's dot where
   * the self-test at creation proves a form the kernels know, else the i16 path; 'i16' runs the
   * i16 path always. Integer sums are exact on both, so both give the same bits: 'i16' is there
   * to measure what the relaxed path gains.
   */
  integerDot?: IntegerDot;
}

/**
 * One instance of the kernels with its own `WebAssembly.Memory` and arena. Buffers belong to the
 * engine that allocated them; kernels reject buffers of other engines.
 */
export class Engine {
  /** The build this engine runs. */
  readonly backend: Backend;
  /** The engine's linear memory (shared by every buffer). */
  readonly memory: WebAssembly.Memory;
  /** The allocator over `memory`. */
  readonly arena: Arena;
  /** The checked kernel wrappers. */
  readonly kernels: Kernels;
  /** @internal the raw exports, for benchmarks and probes that pass their own pointers */
  readonly wasm: KernelExports;
  /** Which integer dot product the quantized kernels run, as the self-test at creation found the engine's relaxed dot. */
  readonly dot: DotSelfTest;
  private workerPool: ThreadPool | undefined;

  /** @internal use `createEngine` */
  constructor(backend: Backend, memory: WebAssembly.Memory, wasm: KernelExports, pool?: ThreadPool, integerDot: IntegerDot = 'auto') {
    this.backend = backend;
    this.memory = memory;
    this.wasm = wasm;
    this.workerPool = pool;
    this.arena = new Arena(memory, wasm.heap_base());
    this.kernels = new Kernels(wasm, this.arena, (n, what) => this.alloc(n, what), pool, integerDot);
    this.dot = this.kernels.quantizedDot;
  }

  /** The worker pool when the engine runs more than one thread. */
  get pool(): ThreadPool | undefined {
    return this.workerPool?.closed ? undefined : this.workerPool;
  }

  /** Threads the kernels use (1 without a pool, or once a worker did not answer). */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  /** Stops the worker threads, if any (the engine keeps working on one thread). */
  close(): void {
    this.workerPool?.close();
    this.workerPool = undefined;
    this.kernels.detachPool();
  }

  /** A new buffer of `n` floats, zero-filled. `what` names it in errors. */
  alloc(n: number, what = 'buffer'): F32Buffer {
    checkSize(`${what} length`, n, 0);
    const block = this.arena.alloc(n * 4, what);
    const b = new F32Buffer(this.arena, block, 0, n);
    b.view().fill(0);
    return b;
  }

  /** A new buffer holding a copy of `data`. */
  upload(data: ArrayLike<number>, what = 'buffer'): F32Buffer {
    return this.alloc(data.length, what).set(data);
  }

  /** A row-major f32 weight matrix of `rows` x `cols`, copied from `data` or zero. */
  matrix(rows: number, cols: number, data?: ArrayLike<number>, what = 'matrix'): Matrix {
    checkSize(`${what} rows`, rows, 1);
    checkSize(`${what} cols`, cols, 1);
    if (data !== undefined && data.length !== rows * cols) {
      throw new FfnkitError('E_SHAPE', `${what}: expected ${rows}x${cols} = ${rows * cols} values, found ${data.length}`);
    }
    const buf = this.alloc(rows * cols, what);
    if (data !== undefined) buf.set(data);
    return { type: 'f32', rows, cols, data: buf };
  }
}

/** Loads the best (or the requested) kernel build into a new memory. */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const mib = options.initialMiB ?? 16;
  checkSize('initialMiB', mib, 1);
  const pages = mib * 16;
  if (pages > MAX_PAGES) throw new FfnkitError('E_MEMORY', `initialMiB: ${mib} MiB exceeds wasm32's 4096 MiB`);
  const threads = checkSize('threads', options.threads ?? 1, 1);
  if (threads > 256) throw new FfnkitError('E_ARG', `threads: expected at most 256, found ${threads}`);
  const spinMs = options.spinMs ?? SPIN_MS;
  if (typeof spinMs !== 'number' || !(spinMs >= 0 && spinMs <= 1000)) throw new FfnkitError('E_ARG', `spinMs: expected a number of milliseconds in 0..1000, found ${String(spinMs)}`);
  const timeoutMs = options.threadTimeoutMs ?? THREAD_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0 && timeoutMs <= 3_600_000)) throw new FfnkitError('E_ARG', `threadTimeoutMs: expected a number of milliseconds in (0, 3600000], found ${String(timeoutMs)}`);
  const integerDot = options.integerDot ?? 'auto';
  if (!(INTEGER_DOTS as readonly unknown[]).includes(integerDot)) throw new FfnkitError('E_ARG', `integerDot: expected ${INTEGER_DOTS.map((d) => `'${d}'`).join(' or ')}, found '${String(integerDot)}'`);
  const { backend, bytes } = await selectBackend(options.backend);
  const why = threads === 1 ? undefined : threadsUnavailable(backend);
  if (threads === 1 || why) {
    if (why) console.warn(`ffnkit: running one thread instead of ${threads}: ${why}`);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES });
    return new Engine(backend, memory, await instantiate(bytes, memory), undefined, integerDot);
  }
  const shared = await wasmBytes(backend, true);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES, shared: true });
  const wasm = await instantiate(shared, memory);
  let pool: ThreadPool | undefined;
  try {
    pool = await startPool({ exports: wasm, bytes: shared, memory, names: [...THREAD_KERNELS], workers: threads - 1, spinMs, timeoutMs, factory: workerFactory()! });
  } catch (e) {
    console.warn(`ffnkit: running one thread instead of ${threads}: ${(e as Error).message}`);
  }
  return new Engine(backend, memory, wasm, pool, integerDot);
}

/** Why this environment cannot run threads, if it cannot. */
function threadsUnavailable(backend: Backend): string | undefined {
  if (typeof SharedArrayBuffer === 'undefined') return 'SharedArrayBuffer is unavailable (a page needs cross-origin isolation)';
  if (!workerFactory()) return 'no worker threads here (in Node import ffnkit/node; in a browser create the engine inside a Web Worker, since a page\'s main thread may not block)';
  if (backend === 'scalar') return 'the scalar build has no shared-memory variant';
  return undefined;
}
