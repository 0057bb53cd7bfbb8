// What the peers comparisons share in timing: the pause between runtimes, the median with its
// spread, and ffnkit's own greedy decoding timed as the peers' are.

import type { Engine, LlamaModel, Tokenizer } from '../../src/index.js';
import type { GgmlBlockType } from '../../src/entries/kernels.js';
import type { Activations } from '../../src/runtime/kernels/index.js';

/**
 * With threads, a short pause before each timed run, so that the thread pools of the runtime
 * timed before (which poll for work for a while before they sleep, ffnkit's for 0.25 ms) are
 * asleep and do not take cores from the one being timed.
 */
export function settle(threads: number): Promise<unknown> {
  return new Promise((resolve) => setTimeout(resolve, threads > 1 ? 20 : 0));
}

/** The median of some samples, with the smallest and largest. */
export function summary(t: number[]) {
  const s = [...t].sort((a, b) => a - b);
  return { median: s[s.length >> 1]!, min: s[0]!, max: s[s.length - 1]! };
}

export interface FfnkitGreedy {
  /** The generated ids (the prompt not included). */
  ids: number[];
  /** Seconds from the call to the first generated token (the prompt's forward pass and its argmax). */
  prefillSeconds: number;
  /** Generated tokens after the first, per second. */
  decodeRate: number;
}

/** Greedy decoding of `steps` tokens after `prompt` from an empty cache. */
export function ffnkitGreedy(model: LlamaModel, prompt: number[], steps: number): FfnkitGreedy {
  const start = performance.now();
  model.reset();
  const ids: number[] = [];
  let logits = model.forward(prompt);
  let firstAt = 0;
  for (let i = 0; i < steps; i++) {
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[best]!) best = v;
    ids.push(best);
    if (i === 0) firstAt = performance.now();
    if (i + 1 < steps) logits = model.forward([best]);
  }
  const seconds = (performance.now() - firstAt) / 1000;
  return { ids, prefillSeconds: (firstAt - start) / 1000, decodeRate: steps > 1 ? (steps - 1) / seconds : NaN };
}

/**
 * A GEMV's integer product in GFLOP/s with its weights in cache: one token through `rows` x `cols`
 * weights of ggml `type` (GGUF's bytes), the activations prepared once as `kind` (the type's), then
 * `calls` products back to back, the fastest of `reps`. Self-contained, so that a page can define
 * it from its source and run it on its own engine.
 */
export function ffnkitGemvRate(engine: Engine, type: GgmlBlockType, kind: Activations, bytes: ArrayLike<number>, rows: number, cols: number, reps: number, calls: number): number {
  const w = engine.kernels.ggmlMatrix(Uint8Array.from(bytes), type, rows, cols, `${type} in-cache weights`);
  const x = engine.upload(Float32Array.from({ length: cols }, (_, i) => Math.sin(i * 0.37) * 2), `${type} in-cache activations`);
  const y = engine.alloc(rows, `${type} in-cache output`);
  const xq = engine.kernels.ggmlActivations(kind, x, 1, cols);
  let fastest = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let c = 0; c < calls; c++) engine.kernels.ggmlProduct(xq, w, y);
    fastest = Math.min(fastest, performance.now() - t0);
  }
  for (const b of [w.data, x, y]) b.free();
  return (2 * rows * cols * calls) / (fastest / 1000) / 1e9;
}

/** The longest run of whole words from the start of `text` that encodes to at most `tokens` ids. */
export function promptOfTokens(tok: Tokenizer, text: string, tokens: number): string {
  const words = text.split(' ');
  let n = 1;
  while (n < words.length && tok.encode(words.slice(0, n + 1).join(' ')).length <= tokens) n++;
  return words.slice(0, n).join(' ');
}
