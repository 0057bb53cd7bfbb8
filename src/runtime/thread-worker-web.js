// One worker of an engine's thread pool in a browser (a module Web Worker started from a worker:
// a page's main thread may not block on Atomics.wait): instantiates the kernel build on the
// shared memory and serves jobs (thread-loop.js). A build that does not instantiate is reported
// as a message, since a rejected promise in a worker raises no error event in its parent.

import { serve } from './thread-loop.js';

self.onmessage = async (event) => {
  self.onmessage = null;
  const init = event.data;
  let instance;
  try {
    ({ instance } = await WebAssembly.instantiate(init.bytes, { env: { memory: init.memory } }));
  } catch (e) {
    self.postMessage({ error: e instanceof Error ? e.message : String(e) });
    return;
  }
  serve(instance.exports, init, () => self.postMessage('ready'));
};
