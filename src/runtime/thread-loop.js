// The loop every pool worker runs (Node's worker_threads and browsers' Web Workers alike): wait
// for the job counter to move (polling briefly, then sleeping), run this worker's task from its
// slot in the control block, count it done, until the counter reads -1. The layout is src/runtime/threads.ts's CONTROL. Plain
// JavaScript: it is loaded as a worker's module straight from the sources or from dist/.

const JOB = 0;
const DONE = 1;
const FAILED = 2;
const HEAD = 4;
const SLOT = 2;
const ARGS = 16;

/**
 * Serves jobs forever (until shut down) with the kernel exports `exports`.
 * @param {Record<string, Function>} exports
 * @param {{ control: SharedArrayBuffer, index: number, workers: number, names: string[], spinMs: number }} init
 * @param {() => void} ready called once the worker can take jobs
 */
export function serve(exports, init, ready) {
  const { control, index, workers, names, spinMs } = init;
  const fns = names.map((n) => exports[n]);
  const ctl = new Int32Array(control);
  const ints = HEAD + workers * SLOT;
  const args = new Float64Array(control, Math.ceil((ints * 4) / 8) * 8, workers * ARGS);
  ready();
  let seen = Atomics.load(ctl, JOB);
  for (;;) {
    // poll before sleeping (see SPIN_MS in threads.ts)
    const until = performance.now() + spinMs;
    while (Atomics.load(ctl, JOB) === seen && performance.now() < until);
    if (Atomics.load(ctl, JOB) === seen) Atomics.wait(ctl, JOB, seen);
    const job = Atomics.load(ctl, JOB);
    if (job === -1) return;
    if (job === seen) continue;
    seen = job;
    const slot = HEAD + index * SLOT;
    const fn = ctl[slot];
    if (fn >= 0) {
      const argc = ctl[slot + 1];
      try {
        fns[fn](...Array.from(args.subarray(index * ARGS, index * ARGS + argc)));
      } catch {
        Atomics.store(ctl, FAILED, 1);
      }
    }
    Atomics.add(ctl, DONE, 1);
    Atomics.notify(ctl, DONE);
  }
}
