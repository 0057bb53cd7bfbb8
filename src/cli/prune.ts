// `ffnkit prune`: static structured pruning, FactorLLM's equal-compute baseline: keep in every
// layer the FFN neurons with the largest mean |activation| on calibration text, write the
// narrower dense model as GGUF. Nothing is written unless the whole run succeeds.

import { Command } from 'commander';
import { FfnkitError, Tokenizer, readWeights, writeGguf } from '../node/index.js';
import { pruneModel } from '../entries/factor.js';
import { backendOption, carriedMetadata, engineOptions, numberOption, checkOutPath, writeOutAtomically, readTextOption } from './common.js';
import { TOKENIZER_SOURCES } from './help-texts.js';
import { progressLine } from './progress.js';

interface Options {
  model: string;
  tokenizer: string;
  calib: string;
  keep: number;
  calibTokens: number;
  out: string;
  backend?: 'scalar' | 'simd' | 'relaxed';
}

export function pruneCommand(): Command {
  return new Command('prune')
    .description('keep the FFN neurons that fire most on calibration text (a dense model with a narrower FFN), write GGUF')
    .requiredOption('--model <path>', 'dense model: llama2.c .bin, GGUF, or a Hugging Face directory')
    .requiredOption('--tokenizer <path>', TOKENIZER_SOURCES)
    .requiredOption('--calib <file>', 'calibration text (documents separated by blank lines)')
    .requiredOption('--keep <n>', 'FFN neurons kept per layer', numberOption('--keep', 1, 1 << 20, true))
    .option('--calib-tokens <n>', 'calibration tokens the neurons are ranked on', numberOption('--calib-tokens', 1, 1 << 24, true), 8192)
    .requiredOption('--out <path>', 'output GGUF')
    .addOption(backendOption())
    .action(async (o: Options) => {
      await checkOutPath(o.out);
      const source = await readWeights(o.model);
      const { weights } = source;
      if (o.keep > weights.config.hiddenDim) throw new FfnkitError('E_ARG', `--keep: ${o.keep} is more than the hidden size ${weights.config.hiddenDim}`);
      const tokenizer = await Tokenizer.load(o.tokenizer);
      const calib = await readTextOption(o.calib, '--calib');
      const progress = progressLine();
      const pruned = await pruneModel(weights, tokenizer, calib, {
        keep: o.keep, calibTokens: o.calibTokens,
        onProgress: (stage, done, total) => progress.update(`prune: ${stage} ${done}/${total}`),
      }, engineOptions(o.backend));
      progress.done();
      await writeOutAtomically(o.out, writeGguf(pruned, tokenizer.vocabulary(), { metadata: carriedMetadata(source) }));
      process.stderr.write(`wrote ${o.out}: ${weights.config.nLayers} layers, FFN ${weights.config.hiddenDim} -> ${o.keep} neurons\n`);
    });
}
