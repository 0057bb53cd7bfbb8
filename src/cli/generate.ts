// `ffnkit generate`: continue a prompt, streaming text to stdout (or, with --ids, the token ids,
// BOS and prompt included, on one line). Speed goes to stderr.

import { Command } from 'commander';
import { generateIds } from '../node/index.js';
import { applyTopK, backendOption, threadsOption, expertsOption, formatSkipStats, loadWithTokenizer, numberOption, skipOption, skipPolicy } from './common.js';

interface Options {
  model: string;
  tokenizer?: string;
  prompt: string;
  maxTokens: number;
  temperature: number;
  topP: number;
  sampleTopK: number;
  topK?: number;
  seed: number;
  ids?: boolean;
  skip?: string;
  stats?: boolean;
  backend?: 'scalar' | 'simd' | 'relaxed';
  threads?: number;
}

export function generateCommand(): Command {
  return new Command('generate')
    .description('continue a prompt with a Llama-family model (temperature 0 = greedy)')
    .requiredOption('--model <path>', 'llama2.c .bin, GGUF, or a Hugging Face directory')
    .option('--tokenizer <path>', 'llama2.c tokenizer.bin or GGUF (default: the vocabulary in the model file)')
    .requiredOption('--prompt <text>', 'text to continue')
    .option('--max-tokens <n>', 'new tokens at most', numberOption('--max-tokens', 0, 1 << 20, true), 256)
    .option('--temperature <t>', 'sampling temperature, 0 = greedy', numberOption('--temperature', 0, 100), 1)
    .option('--top-p <p>', 'nucleus sampling mass, 1 = off', numberOption('--top-p', 1e-9, 1), 0.9)
    .option('--sample-top-k <k>', 'sample among the k most likely tokens, 0 = off', numberOption('--sample-top-k', 0, 1 << 20, true), 0)
    .addOption(expertsOption())
    .option('--seed <s>', 'random seed (same seed, same text)', numberOption('--seed', 0, Number.MAX_SAFE_INTEGER, true), 42)
    .option('--ids', 'print token ids (BOS and prompt included) on one line instead of text')
    .addOption(skipOption())
    .option('--stats', 'print FFN-skipping statistics to stderr')
    .addOption(backendOption())
    .addOption(threadsOption())
    .action(async (o: Options) => {
      const { model, tokenizer } = await loadWithTokenizer(o.model, o.tokenizer, o.backend, o.threads);
      applyTopK(model, o.topK);
      const skip = skipPolicy(o.skip, model);
      const prompt = tokenizer.encode(o.prompt);
      const sampling = { stopIds: tokenizer.eogIds, maxTokens: o.maxTokens, temperature: o.temperature, topP: o.topP, topK: o.sampleTopK, seed: o.seed, ...(skip ? { skip } : {}) };
      const started = performance.now();
      let generated = 0;
      if (o.ids) {
        const ids = [...prompt];
        for (const id of generateIds(model, prompt, sampling)) {
          ids.push(id);
          generated++;
        }
        process.stdout.write(`${ids.join(' ')}\n`);
      } else {
        process.stdout.write(o.prompt);
        const decoder = tokenizer.streamDecoder();
        for (const id of prompt) decoder.push(id);
        for (const id of generateIds(model, prompt, sampling)) {
          process.stdout.write(decoder.push(id));
          generated++;
        }
        process.stdout.write(`${decoder.flush()}\n`);
      }
      const seconds = (performance.now() - started) / 1000;
      if (o.stats && skip) process.stderr.write(formatSkipStats(skip.stats()));
      process.stderr.write(
        `${generated} tokens in ${seconds.toFixed(2)} s (${(generated / seconds).toFixed(1)} tokens/s incl. prefill of ${prompt.length}), backend ${model.engine.backend}\n`,
      );
    });
}
