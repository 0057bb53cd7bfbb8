// The loop every pool worker runs (Node's worker_threads and browsers' Web Workers alike): wait
// for the job counter to move (polling briefly, then sleeping), run this worker's task from its
// slot in the control block, count it done, until the counter reads -1. The block's layout
// comes with `init` (src/runtime/threads.ts's controlLayout). Plain JavaScript: it is loaded as a
// worker's module straight from the sources or from dist/.

/**
 * Serves jobs forever (until shut down) with the kernel exports `exports`.
 * @param {Record<string, Function>} exports
 * @param {{ control: SharedArrayBuffer, index: number, workers: number, names: string[], spinMs: number,
 *   layout: { JOB: number, DONE: number, FAILED: number, HEAD: number, SLOT: number, ARGS: number, argsByte: number } }} init
 * @param {() => void} ready called once the worker can take jobs
 */
export function serve(exports, init, ready) {
  const { control, index, workers, names, spinMs, layout } = init;
  const { JOB, DONE, FAILED, HEAD, SLOT, ARGS } = layout;
  const fns = names.map((n) => exports[n]);
  const ctl = new Int32Array(control);
  const args = new Float64Array(control, layout.argsByte, workers * ARGS);
  // the job counter is read before the engine hears `ready`: a job posted the moment it does
  // must find this worker waiting for a change from the count before it, not from its own
  let seen = Atomics.load(ctl, JOB);
  ready();
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
