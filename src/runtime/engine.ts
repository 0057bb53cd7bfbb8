import { FfnkitError } from '../errors.js';
import { Arena, MAX_PAGES } from './arena.js';
import { F32Buffer } from './buffer.js';
import { checkSize } from './check.js';
import { Kernels, type Matrix } from './kernels.js';
import { type Backend, type KernelExports, instantiate, selectBackend } from './wasm.js';

/** Options of `createEngine`. */
export interface EngineOptions {
  /** Build to run; default: `FFNKIT_BACKEND`, else the best this WebAssembly engine accepts. */
  backend?: Backend;
  /** Memory to reserve up front, in MiB (it grows on demand anyway). Default 16. */
  initialMiB?: number;
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

  /** @internal use `createEngine` */
  constructor(backend: Backend, memory: WebAssembly.Memory, wasm: KernelExports) {
    this.backend = backend;
    this.memory = memory;
    this.wasm = wasm;
    this.arena = new Arena(memory, wasm.heap_base());
    this.kernels = new Kernels(wasm, this.arena, (n, what) => this.alloc(n, what));
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
  const { backend, bytes } = await selectBackend(options.backend);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES });
  const wasm = await instantiate(bytes, memory);
  return new Engine(backend, memory, wasm);
}
