// The sampling flags `generate` and `chat` share, and the generation options they make.

import { InvalidArgumentError, Option, type Command } from 'commander';
import type { GenerateOptions } from '../node/index.js';
import { numberOption } from './common.js';

export interface SamplingFlags {
  maxTokens: number;
  temperature: number;
  topP: number;
  sampleTopK: number;
  minP: number;
  repeatPenalty: number;
  repeatLastN: number;
  presencePenalty: number;
  frequencyPenalty: number;
  seed?: number;
  stop: string[];
}

/** Adds the sampling flags to `command`. */
export function samplingOptions(command: Command, maxTokens = 256): Command {
  return command
    .option('--max-tokens <n>', 'new tokens at most', numberOption('--max-tokens', 0, 1 << 20, true), maxTokens)
    .option('--temperature <t>', 'sampling temperature, 0 = greedy', numberOption('--temperature', 0, 100), 1)
    .option('--top-p <p>', 'nucleus sampling mass, 1 = off', numberOption('--top-p', 1e-9, 1), 0.9)
    .option('--sample-top-k <k>', 'sample among the k most likely tokens, 0 = off', numberOption('--sample-top-k', 0, 1 << 20, true), 0)
    .option('--min-p <p>', 'keep tokens at least p times as likely as the top one, 0 = off', numberOption('--min-p', 0, 1), 0)
    .option('--repeat-penalty <x>', 'divide the logits of recent tokens by x (llama.cpp), 1 = off', numberOption('--repeat-penalty', 1e-6, 100), 1)
    .option('--repeat-last-n <n>', 'recent tokens the penalties look at', numberOption('--repeat-last-n', 0, 1 << 20, true), 64)
    .option('--presence-penalty <x>', 'subtract x from the logit of every recent token, 0 = off', numberOption('--presence-penalty', -100, 100), 0)
    .option('--frequency-penalty <x>', 'subtract x per occurrence from the logit of a recent token, 0 = off', numberOption('--frequency-penalty', -100, 100), 0)
    .option('--seed <s>', 'random seed (the same seed, the same text; default: a fresh one, printed)', numberOption('--seed', 0, Number.MAX_SAFE_INTEGER, true))
    .addOption(new Option('--stop <text>', 'end the text before this string (repeatable)').argParser(stopList).default([]));
}

/** Collects the --stop strings; an empty one would stop before any text, so it is bad usage. */
function stopList(v: string, all: string[] = []): string[] {
  if (v === '') throw new InvalidArgumentError('--stop must be a non-empty string');
  return [...all, v];
}

/** The generation options of the flags. */
export function samplingFrom(o: SamplingFlags): GenerateOptions {
  return {
    maxTokens: o.maxTokens, temperature: o.temperature, topP: o.topP, topK: o.sampleTopK, minP: o.minP, repeatPenalty: o.repeatPenalty,
    penaltyLastN: o.repeatLastN, presencePenalty: o.presencePenalty, frequencyPenalty: o.frequencyPenalty,
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.stop.length ? { stop: o.stop } : {}),
  };
}
