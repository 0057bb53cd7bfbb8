// Perplexity, with the protocol of ../shared/golden/stories260K-ppl.json: documents separated by
// blank lines; each encoded with a leading BOS and no EOS, truncated to seq_len tokens, run
// teacher-forced from position 0; the mean next-token negative log-likelihood (natural log) over
// every predicted position (n - 1 per document), and ppl = exp(mean nll).

import { FfnkitError } from '../errors.js';
import type { Tokenizer } from '../formats/tokenizer.js';
import { splitDocuments } from '../text/documents.js';
import type { FfnSkip } from './skip.js';
import type { LlamaModel } from './model.js';
import { checkOptions, describeValue } from './options.js';

export interface EvalResult {
  /** Predicted positions. */
  tokens: number;
  /** Mean negative log-likelihood per predicted token (nats). */
  nll: number;
  ppl: number;
  seconds: number;
  documents: number;
}

export interface EvalOptions {
  /**
   * FFN skipping: each document is prefilled for the policy's warm-up tokens, then every further
   * position runs as a decode step (where skipping happens), so the perplexity is what decoding
   * would produce. Without it, documents run teacher-forced in blocks.
   */
  skip?: FfnSkip;
  /** Called after each document with (documents done, documents in all, tokens so far). */
  onProgress?: (done: number, total: number, tokens: number) => void;
}

/** -log softmax(row)[target], in float64. */
export function tokenNll(logits: Float32Array, offset: number, n: number, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[offset + i]!);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[offset + i]! - max);
  return Math.log(sum) + max - logits[offset + target]!;
}

/** Teacher-forced perplexity of `model` on `text`. */
export function evaluate(model: LlamaModel, tokenizer: Tokenizer, text: string, options: EvalOptions = {}): EvalResult {
  checkOptions(options, { skip: 'object', onProgress: 'function' }, 'evaluate');
  if (typeof text !== 'string') throw new FfnkitError('E_ARG', `text: expected a string, found ${describeValue(text)}`);
  model.checkTokenizer(tokenizer);
  const release = model.reserve('evaluate');
  const saved = model.skip;
  model.skip = options.skip;
  try {
    return run(model, tokenizer, text, options);
  } finally {
    model.skip = saved;
    release();
  }
}

function run(model: LlamaModel, tokenizer: Tokenizer, text: string, options: EvalOptions): EvalResult {
  const started = performance.now();
  const docs = splitDocuments(text);
  const vocab = model.config.vocabSize;
  let total = 0;
  let tokens = 0;
  docs.forEach((doc, d) => {
    const ids = tokenizer.encode(doc).slice(0, model.config.seqLen);
    if (ids.length >= 2) {
      const logits = inDocument(d, docs.length, () => documentLogits(model, ids, options.skip));
      for (let p = 0; p + 1 < ids.length; p++) total += tokenNll(logits, p * vocab, vocab, ids[p + 1]!);
      tokens += ids.length - 1;
    }
    options.onProgress?.(d + 1, docs.length, tokens);
  });
  // a mean over no token is NaN, which reads as a model that failed
  if (tokens === 0) throw new FfnkitError('E_ARG', `text: no document of two or more tokens (documents are separated by blank lines; each starts with BOS, so it needs a token of its own), in ${docs.length} document${docs.length === 1 ? '' : 's'}`);
  const nll = total / tokens;
  return { tokens, nll, ppl: Math.exp(nll), seconds: (performance.now() - started) / 1000, documents: docs.length };
}

/** The logits of every position of one document, from an empty cache (with `skip`: its warm-up prefilled, then decode steps). */
function documentLogits(model: LlamaModel, ids: number[], skip: FfnSkip | undefined): Float32Array {
  model.reset();
  if (!skip) return model.forward(ids, { allLogits: true });
  const vocab = model.config.vocabSize;
  const pre = Math.max(1, Math.min(skip.warmup, ids.length - 1));
  const logits = new Float32Array(ids.length * vocab);
  logits.set(model.forward(ids.slice(0, pre), { allLogits: true }));
  model.decodeSteps = skip.warmup; // the prefill was the warm-up
  for (let p = pre; p < ids.length; p++) logits.set(model.forward([ids[p]!]), p * vocab);
  return logits;
}

/** `fn`, with a numeric error (logits not finite) also naming the document, whose positions it counts. */
function inDocument<T>(d: number, documents: number, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FfnkitError && e.code === 'E_NUMERIC') throw new FfnkitError('E_NUMERIC', `document ${d + 1} of ${documents}: ${e.message}`);
    throw e;
  }
}
