// Helpers the model commands share: option parsing with named errors, and loading a model with
// its tokenizer.

import { InvalidArgumentError, Option } from 'commander';
import { BACKENDS, FfnkitError, RoutedLayerFfn, Tokenizer, loadModel, type Backend, type LlamaModel } from '../node/index.js';

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

export function expertsOption(): Option {
  return new Option('--top-k <k>', 'experts per token for a factorized (routed) model, overriding the file').argParser(numberOption('--top-k', 1, 1 << 16, true));
}

/** Applies --top-k to every routed layer; an error for a dense model or a k above the expert count. */
export function applyTopK(model: LlamaModel, k: number | undefined): void {
  if (k === undefined) return;
  const routed = model.layers.map((l) => l.ffn).filter((f): f is RoutedLayerFfn => f instanceof RoutedLayerFfn);
  if (routed.length === 0) throw new FfnkitError('E_ARG', '--top-k: the model is dense (no routed FFN to set k on)');
  for (const f of routed) f.topK = k;
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
