// A pool worker with stand-in kernels for threads-timeouts.test.ts, behaving as `workerData.mode`
// says: 'serve' runs jobs (`nap` sleeps `ms` then counts itself in `marks`, `hang` never
// returns), 'idle' says it is ready and then serves nothing, 'silent' never says it is ready.

import { parentPort, workerData } from 'node:worker_threads';
import { serve } from '../src/runtime/thread-loop.js';

const { mode, marks, ...init } = workerData;
const park = new Int32Array(new SharedArrayBuffer(4));
const kernels = {
  nap: (ms) => {
    Atomics.wait(park, 0, 0, ms);
    Atomics.add(new Int32Array(marks), 0, 1);
  },
  hang: () => Atomics.wait(park, 0, 0),
};
if (mode === 'serve') serve(kernels, init, () => parentPort.postMessage('ready'));
else if (mode === 'idle') parentPort.postMessage('ready');
