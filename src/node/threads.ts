// Worker threads for engines created through the Node entry: registers the factory that
// src/runtime/threads.ts uses to start a pool's workers (worker_threads, unref'd so that an idle
// pool never keeps the process alive).

import { Worker } from 'node:worker_threads';
import { setWorkerFactory, type WorkerInit } from '../runtime/threads.js';

setWorkerFactory((init: WorkerInit, signal: AbortSignal) =>
  new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./thread-worker.js', import.meta.url), { workerData: init });
    const abort = () => {
      void worker.terminate();
      reject(signal.reason);
    };
    signal.addEventListener('abort', abort, { once: true });
    worker.once('message', () => {
      signal.removeEventListener('abort', abort);
      worker.unref();
      resolve({
        terminate: () => void worker.terminate(),
        onLost: (lost) => {
          worker.on('error', (e) => lost(`failed (${e.message})`));
          worker.on('exit', (code) => lost(`exited (code ${code})`));
        },
      });
    });
    // listening for good: an error after the start (the pool then names the worker that does not
    // answer) must not become an uncaught 'error' event
    worker.on('error', reject);
    worker.once('exit', (code) => reject(new Error(`the worker exited with code ${code} before it was ready`)));
  }),
);
