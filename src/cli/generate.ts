// `ffnkit generate`: continue a prompt, streaming text to stdout (or, with --ids, the token ids,
// BOS and prompt included, on one line). Speed and the seed go to stderr.

import { Command } from 'commander';
import { FfnkitError, generateIds } from '../node/index.js';
import { freshSeed } from '../llm/sampler.js';
import { applyTopK, backendOption, describeDot, threadsOption, expertsOption, formatSkipStats, integerDotOption, loadWithTokenizer, kvCacheOption, skipOption, skipPolicy } from './common.js';
import { TOKENIZER_SOURCES } from './help-texts.js';
import type { FinishReason, IntegerDot, KvCache } from '../node/index.js';
import { samplingFrom, samplingOptions, type SamplingFlags } from './sampling.js';
import { out } from './output.js';

interface Options extends SamplingFlags {
  model: string;
  tokenizer?: string;
  prompt: string;
  topK?: number;
  ids?: boolean;
  skip?: string;
  stats?: boolean;
  backend?: 'scalar' | 'simd' | 'relaxed';
  threads?: number;
  kvCache?: KvCache;
  integerDot?: IntegerDot;
}

export function generateCommand(): Command {
  const command = new Command('generate')
    .description('continue a prompt with a Llama-family model (temperature 0 = greedy)')
    .requiredOption('--model <path>', 'llama2.c .bin, GGUF, or a Hugging Face directory')
    .option('--tokenizer <path>', `${TOKENIZER_SOURCES} (default: the vocabulary in the model file)`)
    .requiredOption('--prompt <text>', 'text to continue');
  return samplingOptions(command)
    .addOption(expertsOption())
    .option('--ids', 'print token ids (BOS and prompt included) on one line instead of text')
    .addOption(skipOption())
    .option('--stats', 'print FFN-skipping statistics to stderr')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(kvCacheOption())
    .addOption(integerDotOption())
    .action(async (o: Options) => {
      if (o.ids && o.stop.length) throw new FfnkitError('E_ARG', '--stop: ends text output; --ids prints token ids');
      const { model, tokenizer } = await loadWithTokenizer(o.model, o.tokenizer, o.backend, o.threads, o.kvCache, o.integerDot);
      applyTopK(model, o.topK);
      const skip = skipPolicy(o.skip, model);
      const seed = o.seed ?? freshSeed();
      const sampling = { ...samplingFrom(o), seed, ...(skip ? { skip } : {}) };
      const prompt = tokenizer.encode(o.prompt);
      const started = performance.now();
      let generated = 0;
      let finish: FinishReason;
      if (o.ids) {
        const ids = [...prompt];
        const tokens = generateIds(model, prompt, sampling);
        let step = tokens.next();
        for (; !step.done; step = tokens.next()) ids.push(step.value);
        finish = step.value;
        generated = ids.length - prompt.length;
        out(`${ids.join(' ')}\n`);
      } else {
        const counted = { ...sampling, onToken: () => generated++ };
        finish = await streamAfterPrompt(o.prompt, model.generate(tokenizer, o.prompt, counted));
        generated -= prompt.length; // onToken saw the prompt's tokens too
        out('\n');
      }
      // the context, not --max-tokens, ended it: a longer run needs a shorter prompt or a model with a longer context
      if (finish === 'context') process.stderr.write(`stopped at the end of the model's context (${model.config.seqLen} tokens), before --max-tokens ${o.maxTokens}\n`);
      const seconds = (performance.now() - started) / 1000;
      if (o.stats && skip) process.stderr.write(formatSkipStats(skip.stats()));
      process.stderr.write(
        `${generated} tokens in ${seconds.toFixed(2)} s (${(generated / seconds).toFixed(1)} tokens/s incl. prefill of ${prompt.length}), backend ${model.engine.backend}, ${describeDot(model.engine.dot)}, kv cache ${model.kvCache}, seed ${seed}\n`,
      );
    });
}

/**
 * Prints the prompt and then the stream's pieces, the prompt only once the stream's first step
 * has succeeded: the options, the prompt's length and the prefill are checked there, so bad
 * input leaves stdout empty instead of holding a prompt that nothing followed.
 */
async function streamAfterPrompt(prompt: string, stream: AsyncGenerator<string, FinishReason>): Promise<FinishReason> {
  let step = await stream.next();
  out(prompt);
  for (; !step.done; step = await stream.next()) out(step.value);
  return step.value;
}
