// FFN skipping while decoding (FFN-SkipLLM, arXiv 2404.03865), and its two baselines. The layer
// loop asks the policy before each FFN whether to run it, and tells it the cosine similarity
// between the residual stream before and after each FFN block that ran. Prefill never asks:
// only decode steps skip. Attention runs in every layer, so the KV cache needs no repair.
//
// FFN-SkipLLM: the first `coldStart` and last `coldEnd` layers always run; the first `warmup`
// decode steps run in full, and so does every `fullEvery`-th step; once a layer's cosine exceeds
// `threshold`, the FFNs of the next `budget` layers are skipped for this token (stopping before
// the cold end), after which monitoring resumes.
// random: the same number of skips per token at random layers outside the cold regions.
// static: one fixed block of layers skipped for every decode step.

import { FfnkitError } from '../errors.js';
import { rng } from '../rng.js';
import type { FfnSkip } from '../llm/skip.js';

/** Cosine histogram: 40 bins of width 0.05 over [-1, 1]. */
export const HISTOGRAM_BINS = 40;

export interface SkipStats {
  /** Decode steps seen. */
  tokens: number;
  /** FFN blocks skipped / FFN blocks asked about, overall. */
  ratio: number;
  /** Per layer: skipped / decode steps. */
  perLayer: number[];
  /** Per layer: counts of the cosine values seen in HISTOGRAM_BINS bins over [-1, 1]. */
  cosineHistogram: number[][];
}

export abstract class SkipPolicy implements FfnSkip {
  abstract readonly kind: string;
  readonly layers: number;
  private steps = 0;
  private readonly skipped: Float64Array;
  private readonly histogram: Float64Array[];

  constructor(layers: number) {
    this.layers = layers;
    this.skipped = new Float64Array(layers);
    this.histogram = Array.from({ length: layers }, () => new Float64Array(HISTOGRAM_BINS));
  }

  /** Called once per decode step before the first layer; `step` counts decode steps from 0. */
  beginToken(step: number): void {
    this.steps++;
    this.begin(step);
  }

  /** Whether layer `layer` runs its FFN for the current decode step. */
  runs(layer: number): boolean {
    const run = this.decide(layer);
    if (!run) this.skipped[layer]!++;
    return run;
  }

  /** The cosine between the residual stream before and after layer `layer`'s FFN block. */
  observe(layer: number, cos: number): void {
    const bin = Math.min(HISTOGRAM_BINS - 1, Math.max(0, Math.floor(((cos + 1) / 2) * HISTOGRAM_BINS)));
    this.histogram[layer]![bin]!++;
    this.seen(layer, cos);
  }

  /** Decode steps at the start that skip nothing (eval prefills this many tokens instead). */
  abstract get warmup(): number;

  /** True when the layer loop must compute cosines for `observe` (monitoring costs a pass over dim). */
  get monitors(): boolean {
    return false;
  }

  stats(): SkipStats {
    const total = this.steps * this.layers;
    const skipped = this.skipped.reduce((a, b) => a + b, 0);
    return {
      tokens: this.steps,
      ratio: total ? skipped / total : 0,
      perLayer: Array.from(this.skipped, (s) => (this.steps ? s / this.steps : 0)),
      cosineHistogram: this.histogram.map((h) => Array.from(h)),
    };
  }

  resetStats(): void {
    this.steps = 0;
    this.skipped.fill(0);
    for (const h of this.histogram) h.fill(0);
  }

  protected abstract begin(step: number): void;
  protected abstract decide(layer: number): boolean;
  protected seen(_layer: number, _cos: number): void {}
}

export interface ThresholdOptions {
  threshold: number;
  warmup: number;
  coldStart: number;
  coldEnd: number;
  /** Layers skipped after a saturated layer: a count, or a cycle of counts over decode steps. */
  budget: number | number[];
  /** Every fullEvery-th decode step runs in full (0 = never). */
  fullEvery: number;
}

/** FFN-SkipLLM's input-adaptive rule. */
export class ThresholdSkip extends SkipPolicy {
  readonly kind = 'ffn-skip';
  readonly options: ThresholdOptions;
  private full = true;
  private budget = 0;
  private remaining = 0;

  constructor(layers: number, options: ThresholdOptions) {
    super(layers);
    this.options = options;
  }

  override get monitors(): boolean {
    return true;
  }

  get warmup(): number {
    return this.options.warmup;
  }

  protected begin(step: number): void {
    const o = this.options;
    this.full = step < o.warmup || (o.fullEvery > 0 && (step - o.warmup) % o.fullEvery === o.fullEvery - 1);
    this.budget = Array.isArray(o.budget) ? o.budget[step % o.budget.length]! : o.budget;
    this.remaining = 0;
  }

  protected decide(layer: number): boolean {
    const o = this.options;
    if (this.full || layer < o.coldStart || layer >= this.layers - o.coldEnd) return true;
    if (this.remaining > 0) {
      this.remaining--;
      return false;
    }
    return true;
  }

  protected override seen(layer: number, cos: number): void {
    const o = this.options;
    if (!this.full && layer >= o.coldStart - 1 && layer < this.layers - o.coldEnd && cos > o.threshold) this.remaining = this.budget;
  }
}

/** Skips `count` random layers per decode step outside the cold regions (seeded). */
export class RandomSkip extends SkipPolicy {
  readonly kind = 'random';
  private readonly next: () => number;
  private chosen = new Set<number>();

  readonly count: number;
  readonly coldStart: number;
  readonly coldEnd: number;
  private readonly warm: number;

  constructor(layers: number, count: number, coldStart: number, coldEnd: number, warmup: number, seed: number) {
    super(layers);
    this.count = count;
    this.coldStart = coldStart;
    this.coldEnd = coldEnd;
    this.warm = warmup;
    this.next = rng(seed);
  }

  get warmup(): number {
    return this.warm;
  }

  protected begin(step: number): void {
    this.chosen.clear();
    if (step < this.warm) return;
    const pool = [];
    for (let l = this.coldStart; l < this.layers - this.coldEnd; l++) pool.push(l);
    for (let i = 0; i < this.count && pool.length > 0; i++) {
      const j = Math.floor(this.next() * pool.length);
      this.chosen.add(pool[j]!);
      pool.splice(j, 1);
    }
  }

  protected decide(layer: number): boolean {
    return !this.chosen.has(layer);
  }
}

/** Skips layers first..last (inclusive) on every decode step after the warm-up. */
export class StaticSkip extends SkipPolicy {
  readonly kind = 'static';
  private active = false;

  readonly first: number;
  readonly last: number;
  private readonly warm: number;

  constructor(layers: number, first: number, last: number, warmup = 0) {
    super(layers);
    this.first = first;
    this.last = last;
    this.warm = warmup;
  }

  get warmup(): number {
    return this.warm;
  }

  protected begin(step: number): void {
    this.active = step >= this.warm;
  }

  protected decide(layer: number): boolean {
    return !(this.active && layer >= this.first && layer <= this.last);
  }
}

/**
 * Defaults for a model of `layers` layers: the paper's values (coldStart 5, coldEnd 5, threshold
 * 0.95, budget 2) for 32-40 layers, scaled down for shallow models (a fifth of the depth at each
 * end, at least one layer), warm-up max_len/64.
 */
export function defaultSkipOptions(layers: number, maxLen = 1024): ThresholdOptions {
  const cold = layers >= 32 ? 5 : Math.max(1, Math.floor(layers / 5));
  return { threshold: 0.95, warmup: Math.max(1, Math.round(maxLen / 64)), coldStart: cold, coldEnd: cold, budget: 2, fullEvery: 0 };
}

/**
 * Parses a skip spec (the CLI's --skip) for a model of `layers` layers:
 *   threshold=0.95,warmup=16,coldStart=1,coldEnd=1,budget=2[,fullEvery=8][,ratio=0.25]
 *     (budget may be a cycle like 2/1/0; ratio asks for that share of skipped FFNs instead)
 *   static:2-3[,warmup=W]
 *   random:count=2[,coldStart=1,coldEnd=1,warmup=W,seed=S]   (or ratio=0.25 instead of count)
 */
export function parseSkip(spec: string, layers: number, maxLen = 1024): SkipPolicy {
  const fail = (msg: string) => new FfnkitError('E_ARG', `skip spec '${spec}': ${msg}`);
  const [head, rest] = spec.includes(':') ? [spec.slice(0, spec.indexOf(':')), spec.slice(spec.indexOf(':') + 1)] : ['ffn-skip', spec];
  if (!['ffn-skip', 'static', 'random'].includes(head)) throw fail(`unknown policy '${head}' (threshold=..., static:A-B or random:...)`);
  const fields = new Map<string, string>();
  let range: string | undefined;
  for (const part of rest.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (head === 'static' && range === undefined) range = part;
      else throw fail(`'${part}' is not key=value`);
    } else {
      fields.set(part.slice(0, eq), part.slice(eq + 1));
    }
  }
  const num = (key: string, def: number, min: number, max: number, integer = true) => {
    const v = fields.get(key);
    fields.delete(key);
    if (v === undefined) return def;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw fail(`${key} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], found '${v}'`);
    }
    return n;
  };
  const done = (policy: SkipPolicy) => {
    const unknown = [...fields.keys()];
    if (unknown.length) throw fail(`unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
    return policy;
  };
  const d = defaultSkipOptions(layers, maxLen);
  if (head === 'ffn-skip') {
    const coldStart = num('coldStart', d.coldStart, 0, layers);
    const coldEnd = num('coldEnd', d.coldEnd, 0, layers);
    if (coldStart + coldEnd >= layers) throw fail(`coldStart ${coldStart} + coldEnd ${coldEnd} cover all ${layers} layers: nothing could be skipped`);
    const threshold = num('threshold', d.threshold, -1, 1, false);
    const warmup = num('warmup', d.warmup, 0, 1 << 30);
    const fullEvery = num('fullEvery', 0, 0, 1 << 30);
    const middle = layers - coldStart - coldEnd;
    let budget: number | number[] = d.budget;
    const b = fields.get('budget');
    fields.delete('budget');
    const ratio = fields.has('ratio') ? num('ratio', 0, 0, 1, false) : undefined;
    if (b !== undefined) {
      const parts = b.split('/').map(Number);
      if (parts.some((n) => !Number.isInteger(n) || n < 0 || n > middle)) throw fail(`budget must be counts in 0..${middle} (like 2 or 2/1/0), found '${b}'`);
      budget = parts.length === 1 ? parts[0]! : parts;
    } else if (ratio !== undefined) {
      // a saturated layer skips `budget` more: ratio r of all layers needs about r*layers skips per token
      const perToken = ratio * layers;
      const low = Math.floor(perToken);
      const frac = perToken - low;
      // a cycle of 20 steps mixing low and low+1 to reach the fraction on average
      budget = Array.from({ length: 20 }, (_, i) => Math.min(middle, low + (i < Math.round(frac * 20) ? 1 : 0)));
    }
    return done(new ThresholdSkip(layers, { threshold, warmup, coldStart, coldEnd, budget, fullEvery }));
  }
  if (head === 'static') {
    if (!range || !/^\d+(-\d+)?$/.test(range)) throw fail("static needs a layer range like static:2-3");
    const [a, bb] = range.split('-').map(Number) as [number, number?];
    const last = bb ?? a;
    if (a > last) throw fail(`the range ${range} runs backwards: the first layer comes first (static:${last}-${a})`);
    if (last >= layers) throw fail(`layers ${range} are outside 0..${layers - 1}`);
    return done(new StaticSkip(layers, a, last, num('warmup', 0, 0, 1 << 30)));
  }
  if (head === 'random') {
    const coldStart = num('coldStart', d.coldStart, 0, layers);
    const coldEnd = num('coldEnd', d.coldEnd, 0, layers);
    if (coldStart + coldEnd >= layers) throw fail(`coldStart ${coldStart} + coldEnd ${coldEnd} cover all ${layers} layers`);
    const middle = layers - coldStart - coldEnd;
    const ratio = fields.has('ratio') ? num('ratio', 0, 0, 1, false) : undefined;
    const count = ratio !== undefined ? Math.min(middle, Math.round(ratio * layers)) : num('count', 1, 0, middle);
    return done(new RandomSkip(layers, count, coldStart, coldEnd, num('warmup', 0, 0, 1 << 30), num('seed', 1, 0, 2 ** 31)));
  }
  throw fail(`unknown policy '${head}' (threshold=..., static:A-B or random:...)`);
}
