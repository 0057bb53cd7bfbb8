// The page's module Worker: the same greedy continuation on `threads` threads. Blocking waits are
// allowed in a worker, so ffnkit starts its pool here, from the package's own worker script.

import { Tokenizer, generateIds, loadModel } from 'ffnkit';

self.onmessage = async ({ data: job }) => {
  try {
    const model = await loadModel(job.model, { threads: job.threads });
    const tokenizer = await Tokenizer.load(job.tokenizer);
    const prompt = tokenizer.encode(job.prompt, { bos: true });
    const ids = [...prompt, ...generateIds(model, prompt, { temperature: 0, maxTokens: job.maxTokens })];
    self.postMessage({ ids, text: job.prompt + tokenizer.decode(ids.slice(prompt.length)), threads: model.engine.threads });
    model.engine.close();
  } catch (e) {
    self.postMessage({ error: String(e.stack ?? e) });
  }
};
