// `ffnkit logits`: the logits of every id of a sequence, run from an empty cache, as one JSON
// object {"vocab":V,"logits":[[V floats] per id]} (the shape the llama.cpp comparisons read).

import { Command, InvalidArgumentError } from 'commander';
import { FfnkitError, loadModel, type LlamaConfig } from '../node/index.js';
import { backendOption, engineOptions, integerDotOption, kvCacheOption, threadsOption } from './common.js';
import type { IntegerDot, KvCache } from '../node/index.js';
import { out } from './output.js';

interface Options {
  model: string;
  ids: number[];
  json?: boolean;
  backend?: 'scalar' | 'simd' | 'relaxed';
  threads?: number;
  kvCache?: KvCache;
  integerDot?: IntegerDot;
}

/** Parses "1,403,407": non-negative integer ids, at least one. */
function idList(v: string): number[] {
  const ids = v.split(',').map((s) => s.trim());
  if (ids.some((s) => !/^\d+$/.test(s)) || ids.length === 0) throw new InvalidArgumentError(`--ids must be comma-separated token ids, got '${v}'`);
  return ids.map(Number);
}

/** --ids against the model: each a token of its vocabulary, all within its context (named by the flag, not as forward's tokens[i]). */
function checkIds(ids: number[], c: LlamaConfig): void {
  if (ids.length > c.seqLen) throw new FfnkitError('E_ARG', `--ids: ${ids.length} ids exceed the model's context of ${c.seqLen}`);
  const bad = ids.findIndex((id) => id >= c.vocabSize);
  if (bad >= 0) throw new FfnkitError('E_ARG', `--ids: ${ids[bad]} (id ${bad + 1} of ${ids.length}) is outside the vocabulary of ${c.vocabSize} (0..${c.vocabSize - 1})`);
}

export function logitsCommand(): Command {
  return new Command('logits')
    .description('print the logits of each token id, teacher-forced from an empty cache, as JSON')
    .requiredOption('--model <path>', 'llama2.c .bin, GGUF, or a Hugging Face directory')
    .requiredOption('--ids <list>', 'comma-separated token ids, e.g. 1,403,407', idList)
    .option('--json', 'print one JSON object (the only form there is)')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(kvCacheOption())
    .addOption(integerDotOption())
    .action(async (o: Options) => {
      const model = await loadModel(o.model, { ...engineOptions(o.backend, o.threads, o.integerDot), ...(o.kvCache ? { kvCache: o.kvCache } : {}) });
      checkIds(o.ids, model.config);
      const vocab = model.config.vocabSize;
      const logits = model.forward(o.ids, { allLogits: true });
      const rows = o.ids.map((_, p) => `[${Array.from(logits.subarray(p * vocab, (p + 1) * vocab)).join(',')}]`);
      out(`{"vocab":${vocab},"logits":[${rows.join(',')}]}\n`);
    });
}
