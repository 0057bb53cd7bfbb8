import { FfnkitError } from '../errors.js';

/** One allocation in an arena. `live` turns false when it is freed or the arena is reset. */
export interface Block {
  readonly ptr: number;
  readonly bytes: number;
  live: boolean;
}

const PAGE = 65536;
/** wasm32 addresses 4 GiB: 65536 pages of 64 KiB. */
export const MAX_PAGES = 65536;
/** Every block starts on a 64-byte boundary: a cache line, and v128-aligned. */
export const ALIGN = 64;

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/**
 * Allocates regions of one `WebAssembly.Memory` for the kernels. The kernels never allocate;
 * every pointer they see comes from here.
 *
 * First fit over an address-ordered free list with coalescing, and a bump pointer above it that
 * grows the memory when needed. Growing detaches the old `ArrayBuffer`; `f32()` and `u8()` always
 * return views of the current one.
 */
export class Arena {
  readonly memory: WebAssembly.Memory;
  private readonly base: number;
  private top: number;
  private free_: { ptr: number; bytes: number }[] = [];
  private blocks = new Set<Block>();
  private f32View: Float32Array;
  private u8View: Uint8Array;
  private peak = 0;

  /** @param base first byte the arena may use (the module's heap base). */
  constructor(memory: WebAssembly.Memory, base: number) {
    this.memory = memory;
    this.base = alignUp(base, ALIGN);
    this.top = this.base;
    this.f32View = new Float32Array(memory.buffer);
    this.u8View = new Uint8Array(memory.buffer);
  }

  /** Allocates `bytes` bytes (64-byte aligned). `what` names the allocation in errors. */
  alloc(bytes: number, what = 'buffer'): Block {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new FfnkitError('E_ARG', `${what}: size must be a non-negative integer number of bytes, found ${bytes}`);
    }
    const size = alignUp(Math.max(bytes, 1), ALIGN);
    let ptr = -1;
    for (let i = 0; i < this.free_.length; i++) {
      const f = this.free_[i]!;
      if (f.bytes >= size) {
        ptr = f.ptr;
        if (f.bytes === size) this.free_.splice(i, 1);
        else this.free_[i] = { ptr: f.ptr + size, bytes: f.bytes - size };
        break;
      }
    }
    if (ptr < 0) {
      ptr = this.top;
      this.ensure(ptr + size, what);
      this.top = ptr + size;
    }
    const block: Block = { ptr, bytes: size, live: true };
    this.blocks.add(block);
    this.peak = Math.max(this.peak, this.top);
    return block;
  }

  /** Returns a block to the free list. Freeing twice, or a block of another arena, throws. */
  free(block: Block): void {
    if (!this.owns(block)) {
      throw new FfnkitError('E_ARG', `free: block at ${block.ptr} is not a live allocation of this arena`);
    }
    block.live = false;
    this.blocks.delete(block);
    this.insertFree(block.ptr, block.bytes);
  }

  /** Frees everything at once (every outstanding buffer becomes unusable). */
  reset(): void {
    for (const b of this.blocks) b.live = false;
    this.blocks.clear();
    this.free_ = [];
    this.top = this.base;
  }

  /** True when `block` is a live allocation of this arena. */
  owns(block: Block): boolean {
    return block.live && this.blocks.has(block);
  }

  /** Bytes currently allocated. */
  get bytesInUse(): number {
    let sum = 0;
    for (const b of this.blocks) sum += b.bytes;
    return sum;
  }

  /** Highest address ever reached: the memory this arena has needed. */
  get peakBytes(): number {
    return this.peak;
  }

  /** A Float32Array over the whole memory, valid until the next allocation that grows it. */
  f32(): Float32Array {
    if (this.f32View.buffer !== this.memory.buffer) this.refresh();
    return this.f32View;
  }

  /** A Uint8Array over the whole memory, valid until the next allocation that grows it. */
  u8(): Uint8Array {
    if (this.u8View.buffer !== this.memory.buffer) this.refresh();
    return this.u8View;
  }

  private refresh(): void {
    this.f32View = new Float32Array(this.memory.buffer);
    this.u8View = new Uint8Array(this.memory.buffer);
  }

  private ensure(end: number, what: string): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE);
    const total = have / PAGE + pages;
    if (total > MAX_PAGES) {
      throw new FfnkitError(
        'E_MEMORY',
        `${what}: needs ${end} bytes of wasm memory in all; wasm32 holds at most ${MAX_PAGES * PAGE} (4 GiB)`,
      );
    }
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw new FfnkitError('E_MEMORY', `${what}: could not grow wasm memory to ${total * PAGE} bytes (${String(e)})`);
    }
    this.refresh();
  }

  private insertFree(ptr: number, bytes: number): void {
    const list = this.free_;
    let i = 0;
    while (i < list.length && list[i]!.ptr < ptr) i++;
    list.splice(i, 0, { ptr, bytes });
    // merge with the next, then the previous neighbour
    if (i + 1 < list.length && ptr + bytes === list[i + 1]!.ptr) {
      list[i] = { ptr, bytes: bytes + list[i + 1]!.bytes };
      list.splice(i + 1, 1);
    }
    if (i > 0 && list[i - 1]!.ptr + list[i - 1]!.bytes === list[i]!.ptr) {
      list[i - 1] = { ptr: list[i - 1]!.ptr, bytes: list[i - 1]!.bytes + list[i]!.bytes };
      list.splice(i, 1);
      i--;
    }
    // a free block at the top goes back to the bump pointer
    const last = list[list.length - 1];
    if (last && last.ptr + last.bytes === this.top) {
      this.top = last.ptr;
      list.pop();
    }
  }
}
