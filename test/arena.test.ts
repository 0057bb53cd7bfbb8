// The arena: alignment, reuse of freed space, coalescing, growth with fresh views, reset.

import { expect, test } from 'vitest';
import { createEngine } from '../src/node/index.js';
import { ALIGN } from '../src/runtime/arena.js';

test('blocks are 64-byte aligned and do not overlap', async () => {
  const e = await createEngine({ backend: 'scalar' });
  const blocks = [1, 5, 17, 64, 3].map((n) => e.arena.alloc(n * 4));
  for (const b of blocks) expect(b.ptr % ALIGN).toBe(0);
  const sorted = [...blocks].sort((a, b) => a.ptr - b.ptr);
  for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.ptr).toBeGreaterThanOrEqual(sorted[i - 1]!.ptr + sorted[i - 1]!.bytes);
});

test('freed space is reused, and neighbours coalesce', async () => {
  const e = await createEngine({ backend: 'scalar' });
  const a = e.arena.alloc(256);
  const b = e.arena.alloc(256);
  const c = e.arena.alloc(256);
  e.arena.free(a);
  e.arena.free(b);
  const d = e.arena.alloc(512); // fits only in a and b merged
  expect(d.ptr).toBe(a.ptr);
  e.arena.free(c);
  e.arena.free(d);
  expect(e.arena.bytesInUse).toBe(0);
  // everything free again: the next block starts at the bottom
  expect(e.arena.alloc(64).ptr).toBe(a.ptr);
});

test('growing the memory keeps data and refreshes views', async () => {
  const e = await createEngine({ backend: 'simd', initialMiB: 1 });
  const x = e.upload([1, 2, 3, 4]);
  const before = e.memory.buffer.byteLength;
  const big = e.alloc(4 << 20); // 16 MiB: forces memory.grow, detaching the old ArrayBuffer
  expect(e.memory.buffer.byteLength).toBeGreaterThan(before);
  expect(Array.from(x.view())).toEqual([1, 2, 3, 4]);
  big.view()[big.length - 1] = 7;
  expect(big.view()[big.length - 1]).toBe(7);
  expect(e.arena.peakBytes).toBeGreaterThanOrEqual(16 << 20);
});

test('reset frees everything at once', async () => {
  const e = await createEngine({ backend: 'scalar' });
  const first = e.arena.alloc(100);
  e.arena.alloc(1000);
  e.arena.reset();
  expect(first.live).toBe(false);
  expect(e.arena.bytesInUse).toBe(0);
  expect(e.arena.alloc(100).ptr).toBe(first.ptr);
});
