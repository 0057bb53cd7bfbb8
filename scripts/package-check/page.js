// The page scripts/check-package.mjs bundles: ffnkit imported by name, as an app imports it, from
// the installed tarball. It continues the prompt greedily on the main thread (one thread, the
// wasm file resolved by the bundler), then in a module Worker on two threads (the pool's worker
// script resolved by the bundler too), and leaves the ids for the check to compare with llama2.c's.

import { Tokenizer, generate, loadModel } from 'ffnkit';

const MODEL = '/shared/models/stories260K.bin';
const TOKENIZER = '/shared/models/tok512.bin';
const query = new URLSearchParams(location.search);
const job = { model: MODEL, tokenizer: TOKENIZER, prompt: query.get('prompt') ?? 'Once upon a time', maxTokens: Number(query.get('max-tokens') ?? 64) };

async function onMainThread(show) {
  const model = await loadModel(job.model);
  const tokenizer = await Tokenizer.load(job.tokenizer);
  const ids = [];
  let text = job.prompt;
  for await (const piece of generate(model, tokenizer, job.prompt, { temperature: 0, maxTokens: job.maxTokens, onToken: (id) => ids.push(id) })) {
    text += piece;
    show(text);
  }
  return { ids, text, backend: model.engine.backend, threads: model.engine.threads };
}

function inWorker(threads) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./generate-worker.js', import.meta.url), { type: 'module' });
    worker.onmessage = (e) => (e.data.error ? reject(new Error(e.data.error)) : resolve(e.data));
    worker.onerror = (e) => reject(new Error(e.message || 'the worker failed to load'));
    worker.postMessage({ ...job, threads });
  });
}

const status = document.getElementById('status');
try {
  const page = await onMainThread((text) => (document.getElementById('page-text').textContent = text));
  status.textContent = `main thread: ${page.ids.length} tokens, backend ${page.backend}; generating in a Worker...`;
  const worker = await inWorker(2);
  document.getElementById('worker-text').textContent = worker.text;
  status.textContent = `main thread: ${page.ids.length} tokens, backend ${page.backend}, ${page.threads} thread; worker: ${worker.ids.length} tokens, ${worker.threads} threads, cross-origin isolated: ${crossOriginIsolated}`;
  window.ffnkitCheck = { page, worker };
} catch (e) {
  status.textContent = `failed: ${e.message}`;
  window.ffnkitCheck = { error: String(e.stack ?? e) };
}
document.body.dataset.done = 'true';
