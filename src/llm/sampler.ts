// Picking the next token from logits. The steps, in order:
// 1. penalties over the last `penaltyLastN` tokens of the sequence (the prompt's included), as
//    llama.cpp's penalties sampler defines them: a token seen `count` times has its logit divided
//    by repeatPenalty when positive (multiplied when not), then frequencyPenalty * count and
//    presencePenalty (once) subtracted;
// 2. temperature 0: the largest logit (greedy);
// 3. min-p, as llama.cpp's: only tokens whose logit is at least the largest + ln(minP), i.e.
//    whose probability at temperature 1 is at least minP times the top one's;
// 4. softmax(logits / temperature) over what is left, then top-k and the top-p nucleus by
//    llama2.c's run.c rule, drawn with run.c's generator: a seed reproduces a run exactly.

import { FfnkitError } from '../errors.js';

export interface SamplerOptions {
  /** 0 = greedy (argmax). Default 1. */
  temperature?: number;
  /** Nucleus: keep the smallest set of tokens whose probability reaches topP; 1 = off. Default 0.9. */
  topP?: number;
  /** Keep only the k most likely tokens; 0 = off. Default 0. */
  topK?: number;
  /** Keep only tokens at least minP times as likely as the most likely one; 0 = off. Default 0. */
  minP?: number;
  /** Divide (multiply, when negative) the logits of recent tokens by this; 1 = off. Default 1. */
  repeatPenalty?: number;
  /** Subtracted once from the logit of every recent token; 0 = off. Default 0. */
  presencePenalty?: number;
  /** Subtracted from the logit of a recent token per occurrence; 0 = off. Default 0. */
  frequencyPenalty?: number;
  /** How many of the last tokens the penalties look at. Default 64. */
  penaltyLastN?: number;
  /** Seed of the random generator: the same seed, the same text. Default: a fresh one each time. */
  seed?: number;
}

/** Keys of SamplerOptions with their kinds, for option checking. */
export const SAMPLER_OPTION_KINDS = {
  temperature: 'number', topP: 'number', topK: 'integer', minP: 'number', repeatPenalty: 'number',
  presencePenalty: 'number', frequencyPenalty: 'number', penaltyLastN: 'integer', seed: 'integer',
} as const;

/** A seed from the platform's random source (53 bits, a safe integer). */
export function freshSeed(): number {
  const w = crypto.getRandomValues(new Uint32Array(2));
  return (w[0]! & 0x1fffff) * 2 ** 32 + w[1]!;
}

/** run.c's xorshift64* generator, on a 64-bit state (BigInt: a handful of operations per token). */
export class Rng {
  private state: bigint;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new FfnkitError('E_ARG', `seed: expected a non-negative integer, found ${seed}`);
    this.state = BigInt(seed) || 1n;
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const mask = (1n << 64n) - 1n;
    let s = this.state;
    s ^= s >> 12n;
    s = (s ^ (s << 25n)) & mask;
    s ^= s >> 27n;
    this.state = s;
    return Number(((s * 0x2545f4914f6cdd1dn) & mask) >> 32n);
  }

  /** A uniform float in [0, 1) with 24 bits, as run.c's random_f32. */
  f32(): number {
    return (this.u32() >>> 8) / 16777216;
  }
}

export class Sampler {
  readonly temperature: number;
  readonly topP: number;
  readonly topK: number;
  readonly minP: number;
  readonly repeatPenalty: number;
  readonly presencePenalty: number;
  readonly frequencyPenalty: number;
  readonly penaltyLastN: number;
  /** The seed in use (the one given, or the fresh one drawn), to reproduce this run. */
  readonly seed: number;
  private readonly rng: Rng;
  /** The last penaltyLastN accepted tokens, oldest first. */
  private readonly recent: number[] = [];

  constructor(options: SamplerOptions = {}) {
    const {
      temperature = 1, topP = 0.9, topK = 0, minP = 0, repeatPenalty = 1, presencePenalty = 0, frequencyPenalty = 0, penaltyLastN = 64,
    } = options;
    const check = (ok: boolean, name: string, want: string, v: number) => {
      if (!ok) throw new FfnkitError('E_ARG', `${name}: expected ${want}, found ${v}`);
    };
    check(Number.isFinite(temperature) && temperature >= 0, 'temperature', 'a number >= 0', temperature);
    check(topP > 0 && topP <= 1, 'topP', 'a number in (0, 1]', topP);
    check(Number.isInteger(topK) && topK >= 0, 'topK', 'an integer >= 0', topK);
    check(minP >= 0 && minP <= 1, 'minP', 'a number in [0, 1]', minP);
    check(Number.isFinite(repeatPenalty) && repeatPenalty > 0, 'repeatPenalty', 'a number > 0', repeatPenalty);
    check(Number.isFinite(presencePenalty), 'presencePenalty', 'a finite number', presencePenalty);
    check(Number.isFinite(frequencyPenalty), 'frequencyPenalty', 'a finite number', frequencyPenalty);
    check(Number.isInteger(penaltyLastN) && penaltyLastN >= 0, 'penaltyLastN', 'an integer >= 0', penaltyLastN);
    this.temperature = temperature;
    this.topP = topP;
    this.topK = topK;
    this.minP = minP;
    this.repeatPenalty = repeatPenalty;
    this.presencePenalty = presencePenalty;
    this.frequencyPenalty = frequencyPenalty;
    this.penaltyLastN = penaltyLastN;
    this.seed = options.seed ?? freshSeed();
    this.rng = new Rng(this.seed);
  }

  /** Starts the penalties' window over a new sequence: its last penaltyLastN tokens. */
  restart(sequence: ArrayLike<number>): void {
    this.recent.length = 0;
    for (let i = Math.max(0, sequence.length - this.penaltyLastN); i < sequence.length; i++) this.recent.push(sequence[i]!);
  }

  /** Records a token of the sequence (prompt or generated) for the penalties. */
  accept(token: number): void {
    if (this.penaltyLastN === 0) return;
    this.recent.push(token);
    if (this.recent.length > this.penaltyLastN) this.recent.shift();
  }

  /** The next token for these logits (not modified); E_NUMERIC for logits no token can be drawn from. */
  sample(logits: Float32Array): number {
    checkSampleable(logits);
    const l = this.penalized(logits);
    if (this.temperature === 0) return argmax(l);
    const n = l.length;
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, l[i]!);
    // min-p on the logits; the largest always passes
    const floor = this.minP > 0 ? max + Math.log(this.minP) : -Infinity;
    // softmax(logits / temperature) over the tokens that pass, in float64
    const probs = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      if (l[i]! < floor) continue;
      const e = Math.exp((l[i]! - max) / this.temperature);
      probs[i] = e;
      sum += e;
    }
    for (let i = 0; i < n; i++) probs[i]! /= sum;
    const coin = this.rng.f32();
    if (this.topK === 0 && this.topP >= 1) return sampleAll(probs, coin);
    return sampleTop(probs, coin, this.topK, this.topP);
  }

  /** The logits with the penalties applied (the same array when none applies). */
  penalized(logits: Float32Array): ArrayLike<number> {
    const off = this.repeatPenalty === 1 && this.presencePenalty === 0 && this.frequencyPenalty === 0;
    if (off || this.recent.length === 0) return logits;
    const counts = new Map<number, number>();
    for (const t of this.recent) counts.set(t, (counts.get(t) ?? 0) + 1);
    const out = Float64Array.from(logits);
    for (const [t, count] of counts) {
      if (t < 0 || t >= out.length) continue;
      const v = out[t]!;
      out[t] = (v <= 0 ? v * this.repeatPenalty : v / this.repeatPenalty) - count * this.frequencyPenalty - this.presencePenalty;
    }
    return out;
  }
}

/**
 * Throws E_NUMERIC unless a token can be drawn from `logits`: a NaN or +Infinity makes every
 * probability NaN (and the draw a token id of undefined), and so does a row that is -Infinity
 * throughout. A -Infinity among finite logits is a masked token, as a logit bias writes it.
 */
function checkSampleable(logits: Float32Array): void {
  let finite = false;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v === -Infinity) continue;
    if (!(v < Infinity)) throw new FfnkitError('E_NUMERIC', `logits[${i}]: ${v}; the sampler needs finite logits (or -Infinity for a masked token)`);
    finite = true;
  }
  if (!finite) throw new FfnkitError('E_NUMERIC', `logits: every one is -Infinity (or there are none, of ${logits.length}); the sampler needs a finite one to draw`);
}

/** Index of the first largest value. */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

function sampleAll(probs: Float64Array, coin: number): number {
  let cdf = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] === 0) continue;
    cdf += probs[i]!;
    last = i;
    if (coin < cdf) return i;
  }
  return last; // rounding left the coin above the total: the last token with mass
}

/**
 * Top-k, then top-p (run.c's rule: tokens by falling probability until the cumulative
 * probability passes p), then a draw scaled to the kept mass.
 */
function sampleTop(probs: Float64Array, coin: number, topK: number, topP: number): number {
  const n = probs.length;
  // run.c's shortcut: a token below (1 - p) / (n - 1) can never be in the nucleus
  const cutoff = topP < 1 ? (1 - topP) / (n - 1) : 0;
  let idx: number[] = [];
  for (let i = 0; i < n; i++) if (probs[i]! > 0 && probs[i]! >= cutoff) idx.push(i);
  idx.sort((a, b) => probs[b]! - probs[a]! || a - b);
  if (topK > 0 && idx.length > topK) idx = idx.slice(0, topK);
  let kept = idx.length;
  let mass = 0;
  for (let i = 0; i < idx.length; i++) {
    mass += probs[idx[i]!]!;
    if (mass > topP) {
      kept = i + 1;
      break;
    }
  }
  const r = coin * mass;
  let cdf = 0;
  for (let i = 0; i < kept; i++) {
    cdf += probs[idx[i]!]!;
    if (r < cdf) return idx[i]!;
  }
  return idx[kept - 1]!;
}
