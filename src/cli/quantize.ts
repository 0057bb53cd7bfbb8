// `ffnkit quantize`: rewrites a model as GGUF in a llama.cpp file type (Q4_K_M, Q8_0, F16, ...),
// each tensor in the ggml type llama-quantize would give it, keeping its vocabulary (from the
// GGUF, a Hugging Face directory's tokenizer.json, or --tokenizer for a llama2.c checkpoint).
// Written to a temporary file and renamed, so nothing is left at --out when it fails.

import { Command, InvalidArgumentError } from 'commander';
import { FILE_TYPES, FfnkitError, Tokenizer, fileTypeByName, planGguf, readWeights, writeGguf, type FileType, type GgufTensorPlan, type WriteGgufOptions } from '../node/index.js';
import { carriedMetadata, checkOutPath, writeOutAtomically } from './common.js';
import { TOKENIZER_SOURCES } from './help-texts.js';

interface Options {
  model: string;
  tokenizer?: string;
  out: string;
  type: FileType;
  pure?: boolean;
  allowRequantize?: boolean;
  quantizedBy?: string;
}

function fileType(v: string): FileType {
  const t = fileTypeByName(v);
  if (!t) throw new InvalidArgumentError(`--type must be one of ${Object.keys(FILE_TYPES).join(', ')} (or Q3_K, Q4_K, Q5_K for the _M mixes), got '${v}'`);
  return t;
}

/**
 * Refuses, before anything is written, a --tokenizer with more tokens than the model has
 * embedding rows: the file would be written, and every reader refuse it. (Fewer tokens are a
 * padded vocabulary, which readers pad back.)
 */
function checkTokenizerRows(tokenizer: Tokenizer, o: Options, rows: number): void {
  if (tokenizer.vocabSize > rows) {
    throw new FfnkitError('E_ARG', `--tokenizer: ${o.tokenizer} has ${tokenizer.vocabSize} tokens but ${o.model} has ${rows} embedding rows (ids ${rows} and up would have no embedding): pass the model's own tokenizer`);
  }
}

/** Refuses a plan that requantizes blocks (rounding their values a second time), as llama-quantize does unless asked. */
function refuseRequantizing(plan: GgufTensorPlan[], type: FileType): void {
  const again = plan.filter((t) => t.requantizedFrom);
  if (again.length === 0) return;
  const from = [...new Set(again.map((t) => t.requantizedFrom))].join('/');
  throw new FfnkitError(
    'E_ARG',
    `--type ${type}: ${again.length} tensor${again.length > 1 ? 's are' : ' is'} in ${from} blocks already (e.g. ${again[0]!.name}); requantizing ${again.length > 1 ? 'them' : 'it'} loses accuracy twice: run with --allow-requantize to do it anyway`,
  );
}

export function quantizeCommand(): Command {
  return new Command('quantize')
    .description('write a model as GGUF in a llama.cpp file type: the k-quant mixes (Q4_K_M, ...) give each tensor the type llama-quantize would; norms stay F32')
    .requiredOption('--model <path>', 'llama2.c checkpoint, GGUF, or a Hugging Face directory (config.json, model.safetensors or its shards, tokenizer.json)')
    .option('--tokenizer <path>', `${TOKENIZER_SOURCES}, whose vocabulary to embed (default: the model's own, if any)`)
    .requiredOption('--out <path>', 'output GGUF')
    .option('--type <type>', `file type: ${Object.keys(FILE_TYPES).join(', ')}`, fileType, 'Q8_0' as FileType)
    .option('--pure', 'every quantized tensor in the base type of --type, without the k-quant mix (rows that are not whole blocks still fall back)')
    .option('--allow-requantize', 'requantize matrices that are in another block type already')
    .option('--quantized-by <name>', "general.quantized_by: who quantized the file (the source's value is not carried)")
    .action(async (o: Options) => {
      await checkOutPath(o.out);
      const source = await readWeights(o.model, { blocks: 'all' });
      const { weights, tokenizer: own } = source;
      const metadata = carriedMetadata(source);
      const tokenizer = o.tokenizer ? await Tokenizer.load(o.tokenizer) : own;
      if (o.tokenizer) checkTokenizerRows(tokenizer!, o, weights.config.vocabSize);
      const options: WriteGgufOptions = {
        type: o.type, pure: Boolean(o.pure), allowRequantize: Boolean(o.allowRequantize),
        ...(metadata ? { metadata } : {}), ...(o.quantizedBy !== undefined ? { quantizedBy: o.quantizedBy } : {}),
      };
      // planned as if allowed, so that a refusal can count the tensors and name the flag
      const plan = planGguf(weights, { ...options, allowRequantize: true });
      if (!o.allowRequantize) refuseRequantizing(plan, o.type);
      const bytes = writeGguf(weights, tokenizer?.vocabulary(), options);
      await writeOutAtomically(o.out, bytes);
      const count = new Map<string, number>();
      for (const t of plan) count.set(t.type, (count.get(t.type) ?? 0) + 1);
      const types = [...count].map(([t, n]) => `${n} ${t}`).join(', ');
      // the fallbacks, one line per kind: wanted -> used (rows of n), how many, the first tensor
      const fallbacks = new Map<string, string[]>();
      for (const t of plan.filter((x) => x.wanted)) {
        const kind = `${t.wanted} -> ${t.type} (rows of ${t.dims[0]})`;
        fallbacks.set(kind, [...(fallbacks.get(kind) ?? []), t.name]);
      }
      const beyond = new Set(plan.filter((t) => t.beyondLlama).map((t) => t.wanted));
      const lines = [...fallbacks].map(([kind, names]) => `  ${kind}: ${names.length} tensor${names.length > 1 ? 's' : ''}, e.g. ${names[0]}${
        beyond.has(kind.split(' ')[0] as (typeof plan)[number]['type']) ? ' (llama-quantize refuses such rows; F16 is its last resort)' : ''
      }`);
      process.stderr.write(
        `wrote ${o.out}: ${(bytes.length / 2 ** 20).toFixed(2)} MiB, ${o.type}: tensors ${types}${tokenizer ? '' : ', no vocabulary (pass --tokenizer)'}\n` +
          (lines.length ? `rows that are not whole blocks fell back:\n${lines.join('\n')}\n` : ''),
      );
    });
}
