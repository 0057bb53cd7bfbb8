// `ffnkit factorize`: FactorLLM on a model: split each FFN into experts, train the routers with
// the PA loss on calibration text, write the factorized model as GGUF (llama.cpp's MoE tensor
// names plus ffnkit.* metadata). Nothing is written unless the whole run succeeds.

import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import {
  FILE_TYPES, FfnkitError, LLAMA_CPP_COMBINATION, LLAMA_CPP_MOE_GAPS, MOE_ARCHS, Tokenizer, readWeights, planGguf, writeGguf, type Combination, type FileType, type HostMatrix, type LlamaWeights,
} from '../node/index.js';
import { factorizeModel, SPLIT_METHODS, type SplitMethod } from '../entries/factor.js';
import { backendOption, carriedMetadata, engineOptions, numberOption, threadsOption, checkOutPath, writeOutAtomically, readTextOption } from './common.js';
import { TOKENIZER_SOURCES } from './help-texts.js';
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
    .requiredOption('--tokenizer <path>', TOKENIZER_SOURCES)
    .requiredOption('--calib <file>', 'calibration text (documents separated by blank lines)')
    .requiredOption('--experts <E>', 'experts per layer', numberOption('--experts', 2, 1 << 16, true))
    .requiredOption('--top-k <k>', 'experts used per token', numberOption('--top-k', 1, 1 << 16, true))
    .addOption(new Option('--split <method>', 'how neurons are grouped').choices([...SPLIT_METHODS]).makeOptionMandatory())
    .addOption(
      new Option(
        '--combination <c>',
        "sum: add the chosen experts (drop the rest); paper: sum x E/k (FactorLLM's code); weighted: softmax of the chosen router logits; softmax: their share of the softmax over all (Qwen2-MoE's)",
      ).choices(['sum', 'paper', 'weighted', 'softmax']),
    )
    .option('--llamacpp', "write a file llama.cpp runs: the combination llama.cpp's MoE graph for the family computes (weighted; softmax for qwen2) and routers without bias")
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
      await checkOutPath(o.out);
      // block types stay blocks: calibration runs them so, and the experts are cut from them
      const source = await readWeights(o.model, { blocks: 'runnable' });
      const { weights } = source;
      const family = weights.config.family ?? 'llama';
      const gap = LLAMA_CPP_MOE_GAPS[family];
      if (o.llamacpp && gap) throw new FfnkitError('E_UNSUPPORTED', `--llamacpp: a factorized ${family} model cannot be written for llama.cpp: ${gap}`);
      // llama.cpp's graph for the family's MoE architecture decides how the experts combine
      const arch = MOE_ARCHS[family];
      const travels = LLAMA_CPP_COMBINATION[arch] ?? 'weighted';
      const combination = o.combination ?? (o.llamacpp ? travels : 'sum');
      if (o.llamacpp && combination !== travels) {
        const how = travels === 'weighted' ? 'by a softmax over their router logits' : 'by their probabilities under a softmax over all router logits, not renormalised';
        throw new FfnkitError('E_ARG', `--combination ${combination}: llama.cpp's ${arch} graph weights the chosen experts ${how} ('${travels}'); '${combination}' runs in ffnkit only, without --llamacpp`);
      }
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
      // a quantized model is written in the types it came in (the experts in those they were cut to)
      const heldIn = mainBlockType(factorized);
      const fileType = { ...(heldIn ? { type: heldIn, keepTypes: true } : { type: 'F32' as const }), metadata: carriedMetadata(source) };
      const expertTypes = [...new Set(planGguf(factorized, fileType).filter((t) => t.name.endsWith('_exps.weight')).map((t) => t.type))].join('/');
      const requantized = factorized.layers.map((l, i) => (l.routed?.requantized ? `blk.${i} ${l.routed.requantized}` : '')).filter(Boolean);
      if (requantized.length) {
        process.stderr.write(`requantized (an expert's down projection gathers its neurons' columns, which are not whole blocks of the source): ${requantized.join('; ')}\n`);
      }
      const bytes = writeGguf(factorized, tokenizer.vocabulary(), fileType);
      await writeOutAtomically(o.out, bytes, async () => {
        if (o.log) await writeFile(o.log, log.length ? `${log.join('\n')}\n` : '');
      });
      process.stderr.write(`wrote ${o.out}: ${weights.config.nLayers} layers x ${o.experts} experts, top-${o.topK}, ${o.split} split, ${combination} combination, ${o.steps} router steps${o.llamacpp ? ', for llama.cpp' : ''}, ${fileType.type} file, experts in ${expertTypes}\n`);
    });
}

/**
 * The llama.cpp file type named after the block type most of the model's attention weights are
 * held in (general.file_type says no more than that), or undefined when they are float32.
 */
function mainBlockType(w: LlamaWeights<HostMatrix>): FileType | undefined {
  const counts = new Map<string, number>();
  for (const l of w.layers) for (const m of [l.wq, l.wk, l.wv, l.wo]) if (!(m instanceof Float32Array)) counts.set(m.type, (counts.get(m.type) ?? 0) + m.rows * m.cols);
  const type = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  if (!type) return undefined;
  const names = (Object.keys(FILE_TYPES) as FileType[]).filter((ft) => FILE_TYPES[ft].base === type);
  return names.find((ft) => ft === type) ?? names.find((ft) => ft.endsWith('_M')) ?? names[0];
}
