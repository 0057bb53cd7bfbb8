// The loop every pool worker runs (Node's worker_threads and browsers' Web Workers alike): wait
// for the job counter to move (polling briefly, then sleeping), record the job as taken, run this
// worker's task from its slot in the control block, record it as finished and ring the done bell,
// until the pool sets its stop word. The block's layout comes with `init` (src/runtime/threads.ts's
// controlLayout). Plain JavaScript: it is loaded as a worker's module straight from the sources or
// from dist/.

/**
 * Serves jobs forever (until shut down) with the kernel exports `exports`.
 * @param {Record<string, Function>} exports
 * @param {{ control: SharedArrayBuffer, index: number, workers: number, names: string[], spinMs: number,
 *   layout: { JOB: number, DONE: number, FAILED: number, STOP: number, HEAD: number, SLOT: number, FN: number,
 *     ARGC: number, TAKEN: number, FINISHED: number, ARGS: number, argsByte: number } }} init
 * @param {() => void} ready called once the worker can take jobs
 */
export function serve(exports, init, ready) {
  const { control, index, workers, names, spinMs, layout } = init;
  const { JOB, DONE, FAILED, STOP, HEAD, SLOT, FN, ARGC, TAKEN, FINISHED, ARGS } = layout;
  const fns = names.map((n) => exports[n]);
  const ctl = new Int32Array(control);
  const args = new Float64Array(control, layout.argsByte, workers * ARGS);
  const slot = HEAD + index * SLOT;
  // read the counter before saying ready: the caller may post the first job the moment it hears,
  // and a worker that read the counter after that post would wait for the job after it
  let seen = Atomics.load(ctl, JOB);
  ready();
  for (;;) {
    // poll before sleeping (see SPIN_MS in threads.ts); the wait returns at once if the counter moved
    const until = performance.now() + spinMs;
    while (Atomics.load(ctl, JOB) === seen && performance.now() < until);
    Atomics.wait(ctl, JOB, seen);
    if (Atomics.load(ctl, STOP) !== 0) return;
    const job = Atomics.load(ctl, JOB);
    if (job === seen) continue;
    seen = job;
    Atomics.store(ctl, slot + TAKEN, job);
    const fn = ctl[slot + FN];
    if (fn >= 0) {
      const argc = ctl[slot + ARGC];
      try {
        fns[fn](...Array.from(args.subarray(index * ARGS, index * ARGS + argc)));
      } catch {
        Atomics.store(ctl, FAILED, 1);
      }
    }
    Atomics.store(ctl, slot + FINISHED, job);
    Atomics.add(ctl, DONE, 1);
    Atomics.notify(ctl, DONE);
  }
}
