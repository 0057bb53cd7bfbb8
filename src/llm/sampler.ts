// Picking the next token from logits: greedy (temperature 0), or temperature-scaled softmax
// restricted to the top-k tokens and/or the top-p nucleus, drawn with a seeded generator so a
// seed reproduces a run exactly. The generator and the nucleus rule follow llama2.c's run.c.

import { FfnkitError } from '../errors.js';

export interface SamplerOptions {
  /** 0 = greedy (argmax). Default 1. */
  temperature?: number;
  /** Nucleus: keep the smallest set of tokens whose probability reaches topP; 1 = off. Default 0.9. */
  topP?: number;
  /** Keep only the k most likely tokens; 0 = off. Default 0. */
  topK?: number;
  /** Seed of the random generator. Default 42. */
  seed?: number;
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
  private readonly rng: Rng;

  constructor(options: SamplerOptions = {}) {
    const { temperature = 1, topP = 0.9, topK = 0, seed = 42 } = options;
    if (!Number.isFinite(temperature) || temperature < 0) throw new FfnkitError('E_ARG', `temperature: expected a number >= 0, found ${temperature}`);
    if (!(topP > 0 && topP <= 1)) throw new FfnkitError('E_ARG', `topP: expected a number in (0, 1], found ${topP}`);
    if (!Number.isInteger(topK) || topK < 0) throw new FfnkitError('E_ARG', `topK: expected an integer >= 0, found ${topK}`);
    this.temperature = temperature;
    this.topP = topP;
    this.topK = topK;
    this.rng = new Rng(seed);
  }

  /** The next token for these logits (not modified). */
  sample(logits: Float32Array): number {
    if (this.temperature === 0) return argmax(logits);
    const n = logits.length;
    // softmax(logits / temperature), in float64
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, logits[i]!);
    const probs = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp((logits[i]! - max) / this.temperature);
      probs[i] = e;
      sum += e;
    }
    for (let i = 0; i < n; i++) probs[i]! /= sum;
    const coin = this.rng.f32();
    if (this.topK === 0 && this.topP >= 1) return sampleAll(probs, coin);
    return sampleTop(probs, coin, this.topK, this.topP);
  }
}

/** Index of the first largest value. */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

function sampleAll(probs: Float64Array, coin: number): number {
  let cdf = 0;
  for (let i = 0; i < probs.length; i++) {
    cdf += probs[i]!;
    if (coin < cdf) return i;
  }
  return probs.length - 1;
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
  for (let i = 0; i < n; i++) if (probs[i]! >= cutoff) idx.push(i);
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
