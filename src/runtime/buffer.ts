import { FfnkitError } from '../errors.js';
import type { Arena, Block } from './arena.js';

/**
 * A run of float32 values in an engine's wasm memory: the only way data reaches a kernel.
 * `sub()` gives a window on the same memory at any float offset (so also ones that are not
 * 16-byte aligned); `free()`
 * returns the whole allocation. Views are re-created on each call, so they survive memory growth.
 */
export class F32Buffer {
  /** @internal */
  readonly arena: Arena;
  /** @internal */
  readonly block: Block;
  /** Offset of the first float within the allocation. */
  readonly offset: number;
  /** Number of floats. */
  readonly length: number;

  /** @internal use `engine.alloc` or `engine.upload` */
  constructor(arena: Arena, block: Block, offset: number, length: number) {
    this.arena = arena;
    this.block = block;
    this.offset = offset;
    this.length = length;
  }

  /** Byte address in wasm memory (what the kernels receive). */
  get ptr(): number {
    return this.block.ptr + this.offset * 4;
  }

  /** False once freed (or its arena reset). */
  get live(): boolean {
    return this.block.live;
  }

  /** A Float32Array view on these floats; valid until the engine next allocates. */
  view(): Float32Array {
    this.assertLive('view');
    return this.arena.f32().subarray(this.ptr >>> 2, (this.ptr >>> 2) + this.length);
  }

  /** The same memory seen as int32 (index buffers for the routing kernels); valid until the engine next allocates. */
  i32(): Int32Array {
    this.assertLive('i32');
    return new Int32Array(this.arena.memory.buffer, this.ptr, this.length);
  }

  /** Copies `src` in, starting at float `at`. */
  set(src: ArrayLike<number>, at = 0): this {
    this.assertLive('set');
    if (!Number.isInteger(at) || at < 0 || at + src.length > this.length) {
      throw new FfnkitError('E_SHAPE', `set: ${src.length} values at offset ${at} do not fit in a buffer of ${this.length}`);
    }
    this.view().set(src, at);
    return this;
  }

  /** A copy of the values, safe to keep. */
  toArray(): Float32Array {
    return this.view().slice();
  }

  /** A window of `length` floats starting `offset` floats in (shares memory). */
  sub(offset: number, length: number = this.length - offset): F32Buffer {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.length) {
      throw new FfnkitError('E_SHAPE', `sub: window [${offset}, ${offset}+${length}) lies outside a buffer of ${this.length}`);
    }
    return new F32Buffer(this.arena, this.block, this.offset + offset, length);
  }

  /** Returns the allocation (all windows on it become unusable). */
  free(): void {
    this.arena.free(this.block);
  }

  private assertLive(what: string): void {
    if (!this.block.live) throw new FfnkitError('E_ARG', `${what}: buffer was freed`);
  }
}
