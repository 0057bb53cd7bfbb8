// The windowed, soft-capped attention (f32_attention_windowed) split over two threads by whole KV
// heads, as attention_f32 is in threads.test.ts: the same bits as one thread. One threaded engine
// for the file, closed at the end, as threads.test.ts does.

import { afterAll, describe, expect, test, vi } from 'vitest';
import { createEngine, type Engine } from '../src/node/index.js';
import { randomF32 } from '../testing/random.js';

describe('the windowed attention on two threads', () => {
  let one: Engine | undefined;
  let two: Engine | undefined;
  afterAll(() => two?.close());
  const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
  test.each([
    [1, 700, 8, 4, 64, { window: 512, softcap: 50 }],
    [16, 100, 8, 4, 64, { window: 8, softcap: 5, scale: 0.1 }],
  ] as const)('%i tokens after %i, %i heads over %i KV heads of %i, %o: split by KV heads, bit-identical', async (tokens, pos0, heads, kvHeads, headDim, options) => {
    one ??= await createEngine({ backend: 'simd' });
    two ??= await createEngine({ backend: 'simd', threads: 2 });
    {
      const rows = pos0 + tokens;
      const q = randomF32(tokens * heads * headDim, tokens + heads);
      const kv = [randomF32(rows * kvHeads * headDim, rows), randomF32(rows * kvHeads * headDim, rows + 1)];
      const run = (e: Engine) => {
        const out = e.alloc(tokens * heads * headDim);
        e.kernels.attention(e.upload(q), e.upload(kv[0]!), e.upload(kv[1]!), out, { tokens, pos0, heads, kvHeads, headDim, ...options });
        const got = out.toArray();
        e.arena.reset();
        return got;
      };
      const a = run(one!);
      const split = vi.spyOn(two.pool!, 'run');
      const b = run(two!);
      expect(split).toHaveBeenCalledTimes(1);
      split.mockRestore();
      expect(bits(b)).toEqual(bits(a));
    }
  });
});
