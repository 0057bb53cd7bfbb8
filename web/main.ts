// The demo page: panels wired to the model worker. Nothing here computes; everything that does
// runs in the worker (web/worker/), so the page stays responsive while a model loads, streams
// or is measured.

import { ModelWorker } from './client.js';
import type { Bounds } from './protocol.js';
import { ChatPanel } from './panels/chat-panel.js';
import { KernelPanel } from './panels/kernel-panel.js';
import { MethodsPanel } from './panels/methods-panel.js';
import { ModelPanel } from './panels/model-panel.js';
import { $ } from './ui/dom.js';
import { sig } from './ui/format.js';

const worker = new ModelWorker();
let bounds: Bounds | undefined;

const chat = new ChatPanel(worker, () => bounds);
const methods = new MethodsPanel(worker, () => bounds, (on) => ($<HTMLButtonElement>('send').disabled = on));
const model = new ModelPanel(worker, (card) => {
  chat.modelLoaded(card);
  methods.modelLoaded(card);
}, () => chat.stop());
const kernels = new KernelPanel(worker, () => Number($<HTMLSelectElement>('threads').value));

const env = $('env');
env.textContent = globalThis.crossOriginIsolated
  ? 'Cross-origin isolated: the model may run threads.'
  : 'Not cross-origin isolated: one thread (the server needs COOP/COEP headers for threads).';

// the bounds every speed is shown against, measured once; then the default model, if the server has it
const measured = worker.call({ type: 'bounds' }).result.then((b) => {
  bounds = b;
  env.textContent += ` This machine: ${sig(b.bandwidth)} GB/s read bandwidth, ${sig(b.peak)} GFLOP/s multiply-add peak (one thread).`;
}, (e: Error) => {
  env.textContent += ` The bounds could not be measured (${e.message}): speeds are shown without them.`;
});
void model.loadDefault();

// for the browser tests and the curious
Object.assign(window, {
  ffnkitDemo: {
    kernelCheck: () => worker.call({ type: 'kernelCheck' }).result,
    runKernels: (seconds: number) => kernels.run(seconds),
    bounds: () => measured.then(() => bounds),
  },
});
