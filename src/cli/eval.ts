// `ffnkit eval`: perplexity of a model on a text, with the protocol of
// ../shared/golden/stories260K-ppl.json (documents separated by blank lines, each with a leading
// BOS, truncated to seq_len, teacher-forced; mean NLL over every predicted token).

import { Command } from 'commander';
import { evaluate } from '../node/index.js';
import type { RoutingMode } from '../entries/factor.js';
import { asFlag, applyTopK, applyRouting, routingOption, backendOption, threadsOption, expertsOption, describeDot, formatSkipStats, integerDotOption, loadWithTokenizer, kvCacheOption, skipOption, skipPolicy, readTextOption } from './common.js';
import { TOKENIZER_SOURCES } from './help-texts.js';
import type { IntegerDot, KvCache } from '../node/index.js';
import { progressLine } from './progress.js';
import { out } from './output.js';

interface Options {
  model: string;
  tokenizer?: string;
  text: string;
  json?: boolean;
  topK?: number;
  routing?: RoutingMode;
  skip?: string;
  stats?: boolean;
  backend?: 'scalar' | 'simd' | 'relaxed';
  threads?: number;
  kvCache?: KvCache;
  integerDot?: IntegerDot;
}

export function evalCommand(): Command {
  return new Command('eval')
    .description(
      'perplexity on a text: documents separated by blank lines, each encoded with BOS and no EOS, ' +
        'truncated to the context, run teacher-forced from position 0; mean next-token NLL (nats) over all predicted tokens. ' +
        "With --skip, each document is prefilled for the policy's warm-up tokens and every later position runs as a " +
        'decode step (where FFNs are skipped), so the perplexity is what decoding would produce',
    )
    .requiredOption('--model <path>', 'llama2.c .bin, GGUF, or a Hugging Face directory')
    .option('--tokenizer <path>', `${TOKENIZER_SOURCES} (default: the vocabulary in the model file)`)
    .requiredOption('--text <file>', 'UTF-8 text file')
    .option('--json', 'print one JSON object: {"tokens","nll","ppl","seconds"}')
    .addOption(expertsOption())
    .addOption(routingOption())
    .addOption(skipOption())
    .option('--stats', 'print FFN-skipping statistics')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(kvCacheOption())
    .addOption(integerDotOption())
    .action(async (o: Options) => {
      const { model, tokenizer } = await loadWithTokenizer(o.model, o.tokenizer, o.backend, o.threads, o.kvCache, o.integerDot);
      applyTopK(model, o.topK);
      applyRouting(model, o.routing);
      const skip = skipPolicy(o.skip, model);
      const text = await readTextOption(o.text, '--text');
      const progress = progressLine();
      const r = asFlag('text', `--text ${o.text}`, () => evaluate(model, tokenizer, text, {
        ...(skip ? { skip } : {}),
        onProgress: (done, total, tokens) => progress.update(`eval: document ${done}/${total}, ${tokens} tokens`),
      }));
      progress.done();
      const stats = skip?.stats();
      if (o.json) {
        const method = stats ? { skip: o.skip, skipRatio: stats.ratio, skipPerLayer: stats.perLayer, ...(o.stats ? { cosineHistogram: stats.cosineHistogram } : {}) } : {};
        out(`${JSON.stringify({ tokens: r.tokens, nll: r.nll, ppl: r.ppl, seconds: r.seconds, ...method })}\n`);
      } else {
        if (stats && o.stats) out(formatSkipStats(stats));
        out(
          `${r.documents} documents, ${r.tokens} predicted tokens\nnll ${r.nll.toFixed(6)}  ppl ${r.ppl.toFixed(4)}  ` +
            `(${r.seconds.toFixed(2)} s, ${(r.tokens / r.seconds).toFixed(0)} tokens/s, backend ${model.engine.backend}, ${describeDot(model.engine.dot)}, kv cache ${model.kvCache})\n`,
        );
      }
    });
}
