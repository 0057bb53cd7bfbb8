// Text generation: prefill the prompt in blocks, then sample one token at a time, streaming the
// text of each token as soon as it is complete UTF-8.

import { FfnkitError } from '../errors.js';
import { BOS, EOS, type Tokenizer } from '../formats/tokenizer.js';
import type { FfnSkip } from './skip.js';
import type { LlamaModel } from './model.js';
import { Sampler, type SamplerOptions } from './sampler.js';

export interface GenerateOptions extends SamplerOptions {
  /** FFN skipping for the decode steps (default: the model's own `skip`, if set). */
  skip?: FfnSkip;
  /** New tokens to produce at most (after the prompt). Default 256. */
  maxTokens?: number;
  /** Called with every token id, the prompt's included, as it becomes known. */
  onToken?: (id: number) => void;
  /** Tokens that end generation (not yielded). Default BOS and EOS (run.c's); `generate` uses the tokenizer's. */
  stopIds?: readonly number[];
}

/**
 * Token ids after `prompt` (which must start the sequence, BOS included): the model's cache is
 * reset, the prompt prefilled, then up to `maxTokens` tokens sampled. Stops before a stop token
 * (`stopIds`: BOS or EOS by default, as run.c) or at the context length.
 */
export function* generateIds(model: LlamaModel, prompt: number[], options: GenerateOptions = {}): Generator<number> {
  const maxTokens = options.maxTokens ?? 256;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new FfnkitError('E_ARG', `maxTokens: expected an integer >= 0, found ${maxTokens}`);
  if (prompt.length === 0) throw new FfnkitError('E_ARG', 'prompt: expected at least one token (BOS)');
  if (prompt.length > model.config.seqLen) {
    throw new FfnkitError('E_ARG', `prompt: ${prompt.length} tokens exceed the model's context of ${model.config.seqLen}`);
  }
  const stop = new Set(options.stopIds ?? [BOS, EOS]);
  const sampler = new Sampler(options);
  model.reset();
  const saved = model.skip;
  if (options.skip) model.skip = options.skip;
  try {
    prompt.forEach((id) => options.onToken?.(id));
    let logits = model.forward(prompt);
    for (let produced = 0; produced < maxTokens; produced++) {
      const next = sampler.sample(logits);
      if (stop.has(next)) return;
      options.onToken?.(next);
      yield next;
      if (model.position >= model.config.seqLen) return;
      logits = model.forward([next]);
    }
  } finally {
    model.skip = saved;
  }
}

/** Text pieces continuing `prompt`, streamed as they are decoded. */
export async function* generate(model: LlamaModel, tokenizer: Tokenizer, prompt: string, options: GenerateOptions = {}): AsyncGenerator<string> {
  model.checkTokenizer(tokenizer);
  const ids = tokenizer.encode(prompt);
  const decoder = tokenizer.streamDecoder();
  for (const id of ids) decoder.push(id); // the prompt's own text is not repeated
  for (const id of generateIds(model, ids, { stopIds: tokenizer.eogIds, ...options })) {
    const piece = decoder.push(id);
    if (piece) yield piece;
  }
  const rest = decoder.flush();
  if (rest) yield rest;
}
