// The thread pool under load: two-thread engines created, used and closed many times while two
// busy threads keep every core of a small machine occupied, as the rest of the test suite does.
// A worker that misses its first job (the pool's start race) or a lost wakeup shows as an
// iteration that never ends: the engines run in a worker thread of their own
// (threads-stress-worker.mjs), so a blocked Atomics.wait there leaves this thread free to fail
// the test when an iteration takes longer than a generous limit.

import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { afterAll, expect, test } from 'vitest';

const ITERATIONS = 40;
/** Longer than any one iteration takes on a loaded machine, and than the pool's own timeout. */
const ITERATION_LIMIT_MS = 60_000;

const busy: Worker[] = [];
afterAll(async () => {
  await Promise.all(busy.map((w) => w.terminate()));
});

test(`${ITERATIONS} two-thread engines created, used and closed under CPU contention: none hangs, every product has one thread's bits`, async () => {
  for (let i = 0; i < Math.max(2, availableParallelism()); i++) busy.push(new Worker('for (;;) {}', { eval: true }));
  const engines = new Worker(new URL('./threads-stress-worker.mjs', import.meta.url), { workerData: { iterations: ITERATIONS, threadTimeoutMs: 20_000 } });
  let last = -1;
  try {
    const outcome = await new Promise<string>((resolve) => {
      let watchdog: ReturnType<typeof setTimeout>;
      const arm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => resolve(`hang: engine ${last + 1} did not finish within ${ITERATION_LIMIT_MS} ms`), ITERATION_LIMIT_MS);
      };
      arm();
      engines.on('message', (m: { iteration?: number; done?: boolean; error?: string }) => {
        if (m.iteration !== undefined) {
          last = m.iteration;
          arm();
        } else {
          clearTimeout(watchdog);
          resolve(m.done ? 'done' : `failed: ${m.error}`);
        }
      });
      engines.on('error', (e) => {
        clearTimeout(watchdog);
        resolve(`failed: ${e.message}`);
      });
    });
    expect(outcome).toBe('done');
    expect(last).toBe(ITERATIONS - 1);
  } finally {
    await engines.terminate();
  }
}, ITERATIONS * ITERATION_LIMIT_MS);
