// What every kernel family shares: argument checks against the engine's arena, named scratch
// buffers reused between calls, and the one rule for splitting a kernel call over the threads.

import type { Arena } from '../arena.js';
import type { F32Buffer } from '../buffer.js';
import { checkBuffer } from '../check.js';
import { splitRange, type ThreadPool } from '../threads.js';
import type { KernelExports } from '../wasm.js';
import type { DotSelfTest } from './relaxed-dot.js';

/** Below this many multiply-adds a kernel call runs on one thread (waking workers costs more). */
export const PARALLEL_MIN_MACS = 1 << 19;

/** The kernel exports a worker may be asked to run (the engine hands workers this list). */
export const THREAD_KERNELS = [
  'f32_gemm_4x8', 'q8_0_gemm_x4', 'f32_ffn_swiglu_4x8', 'f32_attention', 'f32_dwconv2d_nchw', 'f32_pwconv_nchw',
  'f32_grouped_pwconv_nchw', 'f32_attention_seq', 'f32_attention_seq_backward', 'f32_probe_read', 'f32_attention_windowed',
  'q4_0_gemm_x4', 'q4_1_gemm', 'q5_0_gemm', 'q5_1_gemm', 'iq4_nl_gemm',
  'q2_k_gemm_x4', 'q3_k_gemm_x4', 'q4_k_gemm_x4', 'q5_k_gemm', 'q5_k_gemm_x4', 'q6_k_gemm_x4', 'iq4_xs_gemm', 'f16_gemm', 'bf16_gemm',
  'f32_attention_seq_windowed', 'f32_attention_seq_windowed_backward',
  'f16_attention', 'f16_attention_flash',
  'q8_0_gemm_x4_u8',
] as const;

export type ThreadKernel = (typeof THREAD_KERNELS)[number];

/** One call of a kernel a worker can run, its arguments typed by the export's signature. */
export type KernelCall = { [K in ThreadKernel]: { fn: K; args: Parameters<KernelExports[K]> } }[ThreadKernel];

/** How one kernel call divides over the threads. */
export interface Split {
  /** Units along the split axis: rows, 8-feature panels, 4-row groups, KV heads, channels or groups. */
  units: number;
  /** Every part but the last is a multiple of this many units: the kernel's tile. */
  align: number;
  /** Multiply-adds of the whole call: below PARALLEL_MIN_MACS it runs on one thread. */
  macs: number;
  /** With fewer units than this the call runs on one thread (default 2). */
  minUnits?: number;
  /** Scratch for each part: `floats` of its own in the scratch buffer `name`. */
  scratch?: { name: string; floats: number };
}

export class KernelContext {
  readonly wasm: KernelExports;
  readonly arena: Arena;
  private readonly allocF32: (n: number, what: string) => F32Buffer;
  private readonly poolOf: () => ThreadPool | undefined;
  /** The integer dot path the quantized kernels run (the engine's self-test at creation chose it). */
  readonly dot: DotSelfTest;
  private readonly scratchBuffers = new Map<string, F32Buffer>();

  /** `pool` is asked on every call, so a closed pool is never used. */
  constructor(wasm: KernelExports, arena: Arena, allocF32: (n: number, what: string) => F32Buffer, pool: () => ThreadPool | undefined, dot: DotSelfTest) {
    this.wasm = wasm;
    this.arena = arena;
    this.allocF32 = allocF32;
    this.poolOf = pool;
    this.dot = dot;
  }

  /** The engine's pool, unless it is closed (a worker that did not answer closes it). */
  get pool(): ThreadPool | undefined {
    const pool = this.poolOf();
    return pool?.closed ? undefined : pool;
  }

  /** A new zero-filled buffer of n floats; `what` names it in errors. */
  alloc(n: number, what: string): F32Buffer {
    return this.allocF32(n, what);
  }

  /** `b` as a live buffer of this engine (of exactly `length` floats when given), else an FfnkitError naming it. */
  buf(name: string, b: unknown, length?: number): F32Buffer {
    return checkBuffer(this.arena, name, b, length);
  }

  /** The scratch buffer `name`, of at least n floats, reused between calls (allocated only to grow). */
  scratch(name: string, n: number): F32Buffer {
    let b = this.scratchBuffers.get(name);
    if (!b || !b.live || b.length < n) {
      if (b?.live) b.free();
      b = this.allocF32(n, `${name} scratch`);
      this.scratchBuffers.set(name, b);
    }
    return b;
  }

  /** Runs one kernel call on this thread. */
  call(c: KernelCall): void {
    (this.wasm[c.fn] as (...args: number[]) => unknown)(...c.args);
  }

  /** Runs the calls at once, one per thread (the first on this one), or one after another without a pool. */
  runAll(calls: KernelCall[]): void {
    const pool = this.pool;
    if (pool && calls.length > 1) pool.run(calls);
    else for (const c of calls) this.call(c);
  }

  /**
   * The one rule for running a kernel on several threads: [0, units) is cut into at most one
   * part per thread, every part a whole number of `align` units, and `part(start, end, scratch)`
   * gives the kernel call computing units start .. end-1 (`scratch`: that part's own scratch, a
   * byte address, 0 without). Each part is a call of the same kernel on its slice, so every
   * output is computed by the same instructions as in one thread (bit-identical results).
   * Without a pool, for small work or few units it is one call over [0, units) on this thread.
   */
  parallel(split: Split, part: (start: number, end: number, scratch: number) => KernelCall): void {
    const pool = this.pool;
    const floats = split.scratch?.floats ?? 0;
    if (!pool || split.units < (split.minUnits ?? 2) || split.macs < PARALLEL_MIN_MACS) {
      if (split.units > 0) this.call(part(0, split.units, split.scratch ? this.scratch(split.scratch.name, floats).ptr : 0));
      return;
    }
    const parts = splitRange(split.units, pool.threads, split.align);
    const scratch = split.scratch ? this.scratch(split.scratch.name, parts.length * floats).ptr : 0;
    this.runAll(parts.map(([start, end], i) => part(start, end, scratch + i * floats * 4)));
  }
}
