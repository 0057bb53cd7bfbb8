// One worker of an engine's thread pool in Node (worker_threads): instantiates the kernel build
// on the shared memory and serves jobs (src/runtime/thread-loop.js).

import { parentPort, workerData } from 'node:worker_threads';
import { serve } from '../runtime/thread-loop.js';

const { instance } = await WebAssembly.instantiate(workerData.bytes, { env: { memory: workerData.memory } });
serve(instance.exports, workerData, () => parentPort.postMessage('ready'));
