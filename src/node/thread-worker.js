// One worker of an engine's thread pool (src/runtime/threads.ts): instantiates the kernel build on
// the shared memory, says it is ready, then waits for jobs. Plain JavaScript so that it starts the
// same way from the TypeScript sources (tsx, vitest) and from the compiled dist/.

import { parentPort, workerData } from 'node:worker_threads';

const { bytes, memory, control, index, names } = workerData;
const JOB = 0;
const DONE = 1;
const FAILED = 2;
const HEAD = 4;
const SLOT = 2;
const ARGS = 16;

const { instance } = await WebAssembly.instantiate(bytes, { env: { memory } });
const fns = names.map((n) => instance.exports[n]);
const ctl = new Int32Array(control);
// the argument area starts after the int32 words of every worker's slot (see controlBytes)
const count = workerData.workers;
const ints = HEAD + count * SLOT;
const args = new Float64Array(control, Math.ceil((ints * 4) / 8) * 8, count * ARGS);
parentPort.postMessage('ready');

let seen = Atomics.load(ctl, JOB);
for (;;) {
  Atomics.wait(ctl, JOB, seen);
  const job = Atomics.load(ctl, JOB);
  if (job === -1) break;
  if (job === seen) continue;
  seen = job;
  const slot = HEAD + index * SLOT;
  const fn = ctl[slot];
  if (fn >= 0) {
    const argc = ctl[slot + 1];
    const a = Array.from(args.subarray(index * ARGS, index * ARGS + argc));
    try {
      fns[fn](...a);
    } catch {
      Atomics.store(ctl, FAILED, 1);
    }
  }
  Atomics.add(ctl, DONE, 1);
  Atomics.notify(ctl, DONE);
}
