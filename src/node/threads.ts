// Worker threads for engines created through the Node entry: registers the factory that
// src/runtime/threads.ts uses to start a pool's workers (worker_threads, unref'd so that an idle
// pool never keeps the process alive).

import { Worker } from 'node:worker_threads';
import { setWorkerFactory, type WorkerInit } from '../runtime/threads.js';

setWorkerFactory((init: WorkerInit) =>
  new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./thread-worker.js', import.meta.url), { workerData: init });
    worker.once('message', () => {
      worker.unref();
      resolve({ terminate: () => void worker.terminate() });
    });
    worker.once('error', reject);
  }),
);
