// `ffnkit factorize`: FactorLLM on a model: split each FFN into experts, train the routers with
// the PA loss on calibration text, write the factorized model as GGUF (llama.cpp's MoE tensor
// names plus ffnkit.* metadata). Nothing is written unless the whole run succeeds.

import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { FfnkitError, Tokenizer, readWeights, planGguf, writeGguf, type Combination, type HostMatrix, type LlamaWeights } from '../node/index.js';
import { factorizeModel, SPLIT_METHODS, type SplitMethod } from '../entries/factor.js';
import { backendOption, carriedMetadata, engineOptions, numberOption, threadsOption, writeOutAtomically, readTextOption } from './common.js';
import { progressLine } from './progress.js';

interface Options {
  model: string;
  tokenizer: string;
  calib: string;
  experts: number;
  topK: number;
  split: SplitMethod;
  combination?: Combination;
  llamacpp?: boolean;
  steps: number;
  lr: number;
  batch: number;
  balance: number;
  calibTokens: number;
  seed: number;
  log?: string;
  out: string;
  backend?: 'scalar' | 'simd' | 'relaxed';
  threads?: number;
}

export function factorizeCommand(): Command {
  return new Command('factorize')
    .description('split each FFN into routed experts (FactorLLM), train routers with the PA loss, write GGUF')
    .requiredOption('--model <path>', 'dense model: llama2.c .bin, GGUF, or a Hugging Face directory')
    .requiredOption('--tokenizer <path>', 'llama2.c tokenizer.bin or GGUF')
    .requiredOption('--calib <file>', 'calibration text (documents separated by blank lines)')
    .requiredOption('--experts <E>', 'experts per layer', numberOption('--experts', 2, 1 << 16, true))
    .requiredOption('--top-k <k>', 'experts used per token', numberOption('--top-k', 1, 1 << 16, true))
    .addOption(new Option('--split <method>', 'how neurons are grouped').choices([...SPLIT_METHODS]).makeOptionMandatory())
    .addOption(
      new Option('--combination <c>', "sum: add the chosen experts (drop the rest); paper: sum x E/k (FactorLLM's code); weighted: softmax of router logits")
        .choices(['sum', 'paper', 'weighted']),
    )
    .option('--llamacpp', "write a file llama.cpp runs: the weighted combination (llama.cpp's normalised top-k gating) and routers without bias")
    .option('--steps <n>', 'router training steps per layer (0 = untrained)', numberOption('--steps', 0, 1e7, true), 300)
    .option('--lr <x>', 'AdamW learning rate', numberOption('--lr', 1e-9, 10), 0.01)
    .option('--batch <n>', 'tokens per training step', numberOption('--batch', 1, 1 << 20, true), 256)
    .option('--balance <w>', 'weight of the balance term (0 = off)', numberOption('--balance', 0, 100), 0.01)
    .option('--calib-tokens <n>', 'calibration tokens recorded', numberOption('--calib-tokens', 1, 1 << 24, true), 8192)
    .option('--seed <s>', 'seed (same seed, same file)', numberOption('--seed', 0, 2 ** 31, true), 1)
    .option('--log <file>', 'write the training loss per layer and step as JSON lines')
    .requiredOption('--out <path>', 'output GGUF')
    .addOption(backendOption())
    .addOption(threadsOption())
    .action(async (o: Options) => {
      const combination = o.combination ?? (o.llamacpp ? 'weighted' : 'sum');
      if (o.llamacpp && combination !== 'weighted') {
        throw new FfnkitError('E_ARG', `--combination ${combination}: llama.cpp weights the chosen experts by a softmax over their router logits ('weighted'); '${combination}' runs in ffnkit only, without --llamacpp`);
      }
      // Q8_0 stays in blocks: calibration runs it so, and the experts are cut from it
      const source = await readWeights(o.model, { blocks: 'runnable' });
      const { weights } = source;
      if (o.experts > weights.config.hiddenDim) throw new FfnkitError('E_ARG', `--experts: ${o.experts} is more than the hidden size ${weights.config.hiddenDim}`);
      if (o.topK > o.experts) throw new FfnkitError('E_ARG', `--top-k: ${o.topK} is more than --experts ${o.experts}`);
      const tokenizer = await Tokenizer.load(o.tokenizer);
      const calib = await readTextOption(o.calib, '--calib');
      if (calib.trim() === '') throw new FfnkitError('E_ARG', `--calib: ${o.calib} is empty`);
      const progress = progressLine();
      const log: string[] = [];
      const factorized = await factorizeModel(weights, tokenizer, calib, {
        experts: o.experts, topK: o.topK, split: o.split, combination, routerBias: !o.llamacpp, steps: o.steps, lr: o.lr,
        batch: o.batch, balanceWeight: o.balance, seed: o.seed, calibTokens: o.calibTokens,
        onProgress: (stage, done, total) => progress.update(`factorize: ${stage} ${done}/${total}`),
        onLoss: (layer, step, pa, balance) => {
          log.push(JSON.stringify({ layer, step, pa, balance }));
          if (step % 10 === 0) progress.update(`factorize: layer ${layer} step ${step}/${o.steps} PA ${pa.toFixed(4)}`);
        },
      }, engineOptions(o.backend, o.threads));
      progress.done();
      // a Q8_0 model is written in Q8_0 again (every matrix, as llama-quantize --pure)
      const fileType = { ...(factorizedInQ8(factorized) ? { type: 'Q8_0' as const, pure: true } : { type: 'F32' as const }), metadata: carriedMetadata(source) };
      const expertTypes = [...new Set(planGguf(factorized, fileType).filter((t) => t.name.endsWith('_exps.weight')).map((t) => t.type))].join('/');
      const bytes = writeGguf(factorized, tokenizer.vocabulary(), fileType);
      await writeOutAtomically(o.out, bytes, async () => {
        if (o.log) await writeFile(o.log, log.length ? `${log.join('\n')}\n` : '');
      });
      process.stderr.write(`wrote ${o.out}: ${weights.config.nLayers} layers x ${o.experts} experts, top-${o.topK}, ${o.split} split, ${combination} combination, ${o.steps} router steps${o.llamacpp ? ', for llama.cpp' : ''}, ${fileType.type} file, experts in ${expertTypes}\n`);
    });
}

/** True when the model came in Q8_0 blocks. */
function factorizedInQ8(w: LlamaWeights<HostMatrix>): boolean {
  return !(w.layers[0]!.wq instanceof Float32Array) && w.layers[0]!.wq.type === 'Q8_0';
}

