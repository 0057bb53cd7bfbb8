// One worker of an engine's thread pool in a browser (a module Web Worker started from a worker:
// a page's main thread may not block on Atomics.wait): instantiates the kernel build on the
// shared memory and serves jobs (thread-loop.js).

import { serve } from './thread-loop.js';

self.onmessage = async (event) => {
  self.onmessage = null;
  const init = event.data;
  const { instance } = await WebAssembly.instantiate(init.bytes, { env: { memory: init.memory } });
  serve(instance.exports, init, () => self.postMessage('ready'));
};
