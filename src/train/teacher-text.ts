// Training text sampled from the dense model a fine-tune starts from (its teacher): stories
// generated from the tokenizer's BOS at temperature 1, until a number of tokens. A factorized model's teacher is
// the sum of its experts, run here as the routed model with every expert on and the `sum`
// combination, which is the dense FFN exactly. The fine-tuned model then learns from text of its
// teacher's own distribution, as much as asked for, instead of a fixed calibration file.

import { FfnkitError } from '../errors.js';
import type { Tokenizer } from '../formats/tokenizer.js';
import { generateIds } from '../llm/generate.js';
import { LlamaModel } from '../llm/model.js';
import type { HostMatrix, LlamaWeights } from '../model/weights.js';
import type { EngineOptions } from '../runtime/engine.js';

export interface TeacherTextOptions {
  /** Tokens to sample in all (stories end at the tokenizer's BOS or end-of-generation tokens, or after `maxStory`). */
  tokens: number;
  /** Seed of the first story's sampler (story i uses seed + i). Default 1. */
  seed?: number;
  /** Sampling temperature. Default 1 (the model's own distribution). */
  temperature?: number;
  /** Tokens per story at most. Default the model's context minus one. */
  maxStory?: number;
  engine?: EngineOptions;
  /** Called after each story with the tokens sampled so far. */
  onProgress?: (done: number, total: number) => void;
}

/** The teacher of `weights`: routed layers with every expert on, summed (the dense FFN they were cut from). */
export function teacherWeights<M extends HostMatrix>(weights: LlamaWeights<M>): LlamaWeights<M> {
  return {
    ...weights,
    layers: weights.layers.map((l) => (l.routed ? { ...l, routed: { ...l.routed, topK: l.routed.experts, combination: 'sum' as const } } : l)),
  };
}

/**
 * Stories sampled from the teacher of `weights`, separated by blank lines (the documents
 * `finetune` reads), until `tokens` tokens. Deterministic for a seed (top-p off), so a resumed
 * run that samples again trains on the same text.
 */
export async function teacherText(weights: LlamaWeights<HostMatrix>, tokenizer: Tokenizer, options: TeacherTextOptions): Promise<string> {
  const { tokens, seed = 1, temperature = 1 } = options;
  if (!Number.isInteger(tokens) || tokens < 1) throw new FfnkitError('E_ARG', `tokens: expected an integer >= 1, found ${tokens}`);
  if (!(temperature > 0)) throw new FfnkitError('E_ARG', `temperature: expected a number > 0, found ${temperature}`);
  const maxStory = options.maxStory ?? weights.config.seqLen - 1;
  // a story starts as the tokenizer starts a text: its BOS (which GGUF and tokenizer_config.json
  // name), else the end-of-text token that separates byte-level vocabularies' documents
  const start = tokenizer.bosId >= 0 ? tokenizer.bosId : tokenizer.eosId;
  if (start < 0) throw new FfnkitError('E_UNSUPPORTED', `tokenizer: ${tokenizer.source} names neither a BOS nor an EOS token to start a story from`);
  const model = await LlamaModel.create(teacherWeights(weights), options.engine ?? {});
  try {
    const stories: string[] = [];
    let done = 0;
    for (let i = 0; done < tokens; i++) {
      const ids = [...generateIds(model, [start], { temperature, topP: 1, seed: seed + i, maxTokens: Math.min(maxStory, tokens - done), stopTokens: [...new Set([start, ...tokenizer.eogIds])] })];
      // a story that ends at once still counts its BOS, so the loop always advances
      done += Math.max(1, ids.length);
      const text = tokenizer.decode(ids).trim();
      if (text) stories.push(text);
      options.onProgress?.(Math.min(done, tokens), tokens);
    }
    return `${stories.join('\n\n')}\n`;
  } finally {
    model.engine.close();
  }
}
