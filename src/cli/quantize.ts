// `ffnkit quantize`: rewrites a model as GGUF with its matrices in Q8_0 (or F16 / BF16 / F32),
// keeping its vocabulary (from the GGUF, or from --tokenizer for a llama2.c checkpoint).

import { Command, Option } from 'commander';
import { Tokenizer, readWeights, writeGguf, type TensorType } from '../node/index.js';
import { writeOutAtomically } from './common.js';

interface Options {
  model: string;
  tokenizer?: string;
  out: string;
  type: string;
}

const TYPES: Record<string, TensorType> = { q8_0: 'Q8_0', f16: 'F16', bf16: 'BF16', f32: 'F32' };

export function quantizeCommand(): Command {
  return new Command('quantize')
    .description('write a model as GGUF with Q8_0 (default), F16, BF16 or F32 matrices; 1-D tensors, and matrices whose rows are not whole 32-value blocks, stay F32')
    .requiredOption('--model <path>', 'llama2.c checkpoint, GGUF, or safetensors')
    .option('--tokenizer <path>', 'llama2.c tokenizer.bin or GGUF whose vocabulary to embed (default: the model\'s own, if any)')
    .requiredOption('--out <path>', 'output GGUF')
    .addOption(new Option('--type <type>', 'matrix type').choices(Object.keys(TYPES)).default('q8_0'))
    .action(async (o: Options) => {
      const { weights, tokenizer: own } = await readWeights(o.model);
      const tokenizer = o.tokenizer ? await Tokenizer.load(o.tokenizer) : own;
      const bytes = writeGguf(weights, tokenizer?.vocabulary(), TYPES[o.type]!);
      await writeOutAtomically(o.out, bytes);
      process.stderr.write(`wrote ${o.out}: ${(bytes.length / 2 ** 20).toFixed(2)} MiB, matrices ${TYPES[o.type]}${tokenizer ? '' : ', no vocabulary (pass --tokenizer)'}\n`);
    });
}
