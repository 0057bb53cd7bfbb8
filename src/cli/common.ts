// Helpers the model commands share: option parsing with named errors, and loading a model with
// its tokenizer.

import { InvalidArgumentError, Option } from 'commander';
import { BACKENDS, FfnkitError, Tokenizer, loadModel, type Backend, type LlamaModel } from '../node/index.js';

/** A commander parser for numbers within [min, max] (integers when `integer`). */
export function numberOption(name: string, min: number, max: number, integer = false): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(`${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got '${v}'`);
    }
    return n;
  };
}

export function backendOption(): Option {
  return new Option('--backend <build>', 'wasm build (default: FFNKIT_BACKEND, else the best this runtime accepts)').choices([...BACKENDS]);
}

export function skipOption(): Option {
  return new Option('--skip <spec>', 'FFN skipping policy (FFN-SkipLLM), e.g. threshold=0.95,warmup=16 or static:2-3');
}

/** Rejects --skip until FFN skipping lands, rather than ignoring it. */
export function rejectSkip(spec: string | undefined): void {
  if (spec !== undefined) throw new FfnkitError('E_UNSUPPORTED', `--skip ${spec}: FFN skipping is not implemented yet`);
}

/** The model, and the tokenizer from --tokenizer or else the one stored in the model file. */
export async function loadWithTokenizer(modelPath: string, tokenizerPath: string | undefined, backend: Backend | undefined): Promise<{ model: LlamaModel; tokenizer: Tokenizer }> {
  const model = await loadModel(modelPath, backend ? { backend } : {});
  const tokenizer = tokenizerPath !== undefined ? await Tokenizer.load(tokenizerPath) : model.tokenizer;
  if (!tokenizer) {
    throw new FfnkitError('E_ARG', `--tokenizer: required, since ${modelPath} (${model.format}) stores no vocabulary`);
  }
  model.checkTokenizer(tokenizer);
  return { model, tokenizer };
}
