// Text generation: prefill the prompt in blocks, then sample one token at a time. The token loop
// (`runTokens`) is synchronous; `streamText` turns it into a stream of text pieces that stops at
// stop strings (held back while they might still be forming across tokens), ends at the next
// token when its AbortSignal fires (the KV cache then holds exactly the tokens forwarded so far),
// and yields to the event loop between tokens so a page can paint while it streams: once at
// least YIELD_SLICE_MS have passed since the last yield (as React's scheduler slices work), so a
// model faster than that does not pay a macrotask per token, and a slower one yields after each.

import { FfnkitError } from '../errors.js';
import { BOS, EOS, isTokenizer, type Tokenizer } from '../formats/tokenizer.js';
import { StopStrings } from '../text/stop-strings.js';
import type { FfnSkip } from './skip.js';
import type { LlamaModel } from './model.js';
import { checkOptions, describeValue, type OptionKinds } from './options.js';
import { SAMPLER_OPTION_KINDS, Sampler, type SamplerOptions } from './sampler.js';
import { nextMacrotask } from './yield.js';

export interface GenerateOptions extends SamplerOptions {
  /** FFN skipping for the decode steps (default: the model's own `skip`, if set). */
  skip?: FfnSkip;
  /** New tokens to produce at most (after the prompt); 0 prefills the prompt and produces none ('length'). Default 256. */
  maxTokens?: number;
  /** Called with every token id, the prompt's included, as it becomes known. */
  onToken?: (id: number) => void;
  /** Token ids that end the generation, not emitted. Default: the model's end-of-turn tokens and BOS (else BOS and EOS). */
  stopTokens?: number[];
  /** Text that ends the generation, not emitted (matched across token boundaries). */
  stop?: string | string[];
  /** Ends the stream at the next token when aborted. */
  signal?: AbortSignal;
  /**
   * Yield to the event loop (a macrotask) between tokens: true (default) once at least
   * YIELD_SLICE_MS have passed since the last yield, a number for another slice in ms (0: after
   * every token), false never.
   */
  yield?: boolean | number;
}

/** The option keys of `generate`, with their kinds. */
export const GENERATE_OPTION_KINDS = {
  ...SAMPLER_OPTION_KINDS,
  skip: 'object', maxTokens: 'integer', onToken: 'function', stopTokens: 'object', stop: 'strings', signal: 'signal', yield: 'boolean|number',
} as const satisfies OptionKinds;

/** Milliseconds of generation between two yields to the event loop, by default (a third of a 60 Hz frame). */
export const YIELD_SLICE_MS = 5;

/**
 * Why a generation ended: a stop token or stop string ('stop'), maxTokens ('length'), the end of
 * the context ('context'), or its AbortSignal ('abort').
 */
export type FinishReason = 'stop' | 'length' | 'context' | 'abort';

/** What the token loop needs besides the prompt. */
export interface TokenRun {
  sampler: Sampler;
  maxTokens: number;
  stopTokens: ReadonlySet<number>;
  skip: FfnSkip | undefined;
  /** Called with each generated token (callers report the prompt's). */
  onToken: ((id: number) => void) | undefined;
}

/** Checks the generation options shared by every entry point and builds the token loop's settings. */
export function tokenRun(model: LlamaModel, options: GenerateOptions): TokenRun {
  const maxTokens = options.maxTokens ?? 256;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new FfnkitError('E_ARG', `maxTokens: expected an integer >= 0, found ${maxTokens}`);
  const stopTokens = options.stopTokens ?? defaultStopTokens(model);
  if (!Array.isArray(stopTokens) || !stopTokens.every((t) => Number.isInteger(t) && t >= 0 && t < model.config.vocabSize)) {
    throw new FfnkitError('E_ARG', `stopTokens: expected an array of token ids below the vocabulary size ${model.config.vocabSize}`);
  }
  return { sampler: new Sampler(options), maxTokens, stopTokens: new Set(stopTokens), skip: options.skip ?? model.skip, onToken: options.onToken };
}

/** The tokens that end a reply: the model's end-of-turn tokens and BOS (run.c stops at BOS), else BOS and EOS. */
export function defaultStopTokens(model: LlamaModel): number[] {
  const v = model.chatVocabulary;
  if (!v) return model.tokenizer ? [...model.tokenizer.eogIds] : [BOS, EOS];
  return [...v.endOfTurn, ...(v.bos ? [v.bos.id] : [])];
}

/**
 * The token loop: keeps the first `reuse` tokens of the KV cache (they must equal the prompt's),
 * prefills the rest of `prompt`, then samples up to `run.maxTokens` tokens (none for 0), yielding each. Its
 * return value says why it ended. A generated token is forwarded (enters the cache) only when
 * the next one is asked for, so a consumer that stops leaves the cache consistent.
 */
export function* runTokens(model: LlamaModel, prompt: readonly number[], reuse: number, run: TokenRun): Generator<number, FinishReason> {
  if (prompt.length === 0) throw new FfnkitError('E_ARG', 'prompt: expected at least one token (BOS)');
  if (prompt.length > model.config.seqLen) {
    throw new FfnkitError('E_ARG', `prompt: ${prompt.length} tokens exceed the model's context of ${model.config.seqLen}`);
  }
  if (reuse >= prompt.length) throw new FfnkitError('E_ARG', `reuse: ${reuse} cached tokens leave none of the ${prompt.length}-token prompt to run`);
  const { sampler } = run;
  model.truncate(reuse);
  model.decodeSteps = 0;
  const saved = model.skip;
  model.skip = run.skip;
  try {
    sampler.restart(prompt);
    let logits = model.forward(prompt.slice(reuse));
    // maxTokens 0 still prefills: the cache then holds the prompt (a chat can prefill a turn ahead)
    if (run.maxTokens === 0) return 'length';
    for (let produced = 0; ; ) {
      const next = sampler.sample(logits);
      if (run.stopTokens.has(next)) return 'stop';
      sampler.accept(next);
      run.onToken?.(next);
      yield next;
      if (++produced >= run.maxTokens) return 'length';
      if (model.position >= model.config.seqLen) return 'context';
      logits = model.forward([next]);
    }
  } finally {
    model.skip = saved;
  }
}

/**
 * Token ids after `prompt` (which must start the sequence, BOS included), from an empty cache:
 * up to `maxTokens` tokens, ending before a stop token (by default the model's end-of-turn
 * tokens, or BOS and EOS: run.c stops at BOS) or at the context length. Synchronous: no stop
 * strings, signal or yielding (those need `generate`).
 */
export function* generateIds(model: LlamaModel, prompt: number[], options: GenerateOptions = {}): Generator<number, FinishReason> {
  checkOptions(options, GENERATE_OPTION_KINDS, 'generateIds');
  if (!Array.isArray(prompt) && !ArrayBuffer.isView(prompt)) throw new FfnkitError('E_ARG', `prompt: expected an array of token ids, found ${describeValue(prompt)}`);
  for (const key of ['stop', 'signal', 'yield'] as const) {
    if (options[key] !== undefined) throw new FfnkitError('E_ARG', `generateIds: option '${key}' needs the streaming generate()`);
  }
  const run = tokenRun(model, options);
  const release = model.reserve('generateIds');
  try {
    prompt.forEach((id) => run.onToken?.(id));
    return yield* runTokens(model, prompt, 0, run);
  } finally {
    release();
  }
}

/** The options of the text stream. */
export interface StreamOptions {
  stop?: string | string[];
  signal?: AbortSignal;
  yield?: boolean | number;
}

/**
 * Text pieces of the tokens from `tokens`, decoded by `decoder` (which has seen the prompt):
 * each piece as soon as it is complete UTF-8 and cannot be the start of a stop string.
 */
export async function* streamText(
  decoder: { push: (id: number) => string; flush: () => string },
  tokens: Iterator<number, FinishReason>,
  options: StreamOptions,
): AsyncGenerator<string, FinishReason> {
  const stops = new StopStrings(typeof options.stop === 'string' ? [options.stop] : (options.stop ?? []));
  const y = options.yield ?? true;
  if (typeof y === 'number' && !(y >= 0)) throw new FfnkitError('E_ARG', `yield: expected true, false or a slice in milliseconds >= 0, found ${y}`);
  const slice = y === false ? Infinity : y === true ? YIELD_SLICE_MS : y;
  let lastYield = performance.now();
  let reason: FinishReason | undefined;
  try {
    for (;;) {
      if (options.signal?.aborted) {
        reason = 'abort';
        break;
      }
      const r = tokens.next();
      if (r.done) {
        reason = r.value;
        break;
      }
      const text = stops.push(decoder.push(r.value));
      if (text) yield text;
      if (stops.stopped) {
        reason = 'stop';
        break;
      }
      if (performance.now() - lastYield >= slice) {
        await nextMacrotask();
        lastYield = performance.now();
      }
    }
    const rest = stops.push(decoder.flush()) + stops.flush();
    if (rest) yield rest;
    return reason;
  } finally {
    tokens.return?.(reason ?? 'abort');
  }
}

/**
 * Text pieces continuing `prompt`, streamed as they are decoded, with `tokenizer` or else the
 * model's own vocabulary. Starts from an empty cache.
 */
export async function* generate(model: LlamaModel, tokenizer: Tokenizer | undefined, prompt: string, options: GenerateOptions = {}): AsyncGenerator<string, FinishReason> {
  checkOptions(options, GENERATE_OPTION_KINDS, 'generate');
  if (typeof prompt !== 'string') throw new FfnkitError('E_ARG', `prompt: expected a string (the text to continue), found ${describeValue(prompt)}`);
  if (tokenizer !== undefined && !isTokenizer(tokenizer)) {
    throw new FfnkitError('E_ARG', `tokenizer: expected a Tokenizer (or undefined: the model's own), found ${describeValue(tokenizer)}`);
  }
  const tok = tokenizer ?? model.tokenizer;
  if (!tok) {
    throw new FfnkitError('E_ARG', `generate: the model (${model.format ?? 'in memory'}) stores no vocabulary: pass a tokenizer first, generate(tokenizer, prompt, options)`);
  }
  model.checkTokenizer(tok);
  const run = tokenRun(model, options);
  const ids = tok.encode(prompt); // BOS as the vocabulary asks (Qwen has none)
  const release = model.reserve('generate');
  try {
    const decoder = tok.streamDecoder();
    for (const id of ids) decoder.push(id); // the prompt's own text is not repeated
    ids.forEach((id) => run.onToken?.(id));
    return yield* streamText(decoder, runTokens(model, ids, 0, run), options);
  } finally {
    release();
  }
}
