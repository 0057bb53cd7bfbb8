// Timing and reporting shared by the benchmark suites: the `benchmark` package picks how many
// calls make a sample; we report the median sample (robust on a shared, noisy machine) and the
// spread, as one JSON line per result in the shape DESIGN.md gives.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Benchmark from 'benchmark';
import { LlamaModel, Tokenizer, evaluate, readLlama2c, type LlamaConfig, type LlamaWeights } from '../src/index.js';
import { llamaConfig } from '../src/llm/random.js';

/** The stories110M shape (llama2.c's 110M model), for seeded random weights. */
export const STORIES110M: LlamaConfig = llamaConfig({ dim: 768, hiddenDim: 2048, nLayers: 12, nHeads: 12, nKvHeads: 12, vocabSize: 32000, seqLen: 1024 });

/** TinyLlama-1.1B's shape, its own classifier included (1.1B weights), for seeded random weights. */
export const TINYLLAMA_1_1B: LlamaConfig = llamaConfig({ dim: 2048, hiddenDim: 5632, nLayers: 22, nHeads: 32, nKvHeads: 4, vocabSize: 32000, seqLen: 2048, sharedClassifier: false });

/** One benchmark result: the fields DESIGN.md fixes first, then context. */
export interface BenchLine {
  suite: string;
  case: string;
  impl: string;
  value: number;
  unit: string;
  /** What bounds `value` (same unit), and `value / bound`. */
  bound?: number;
  boundName?: string;
  share?: number;
  /** Max |output - reference| checked before timing. */
  maxAbsDiff?: number;
  /** Median seconds per call, relative spread (rme, %) and sample count. */
  seconds?: number;
  rme?: number;
  samples?: number;
  /** Suite-specific figures (skip ratio, greedy agreement, ...). */
  [field: string]: string | number | undefined;
}

export interface BenchOptions {
  /** Shorter runs: fewer samples, for a first look and for CI. */
  quick: boolean;
  /** Called with each result as soon as it is measured. */
  report: (line: BenchLine) => void;
  /** Called with a short status line before each measurement (stderr progress). */
  progress?: (what: string) => void;
  /** Only the models whose name contains this (bench llm, decode in bench peers). */
  only?: string;
}

export interface Timing {
  /** Median seconds per call. */
  seconds: number;
  /** Fastest sample, seconds per call: what the machine can do, for the probes that set bounds. */
  fastest: number;
  /** Relative margin of error of the mean, in percent. */
  rme: number;
  samples: number;
}

/** Times `fn` with the benchmark package; the median of its samples, in seconds per call. */
export function time(fn: () => void, quick: boolean): Timing {
  const bench = new Benchmark({
    fn,
    minSamples: quick ? 3 : 10,
    maxTime: quick ? 0.4 : 2,
    initCount: 1,
  });
  bench.run();
  if (bench.error) throw bench.error;
  const sample = [...bench.stats.sample].sort((a, b) => a - b);
  const mid = sample.length >> 1;
  const median = sample.length % 2 ? sample[mid]! : (sample[mid - 1]! + sample[mid]!) / 2;
  return { seconds: median, fastest: sample[0]!, rme: bench.stats.rme, samples: sample.length };
}

/** Rounds to 3 significant digits for printing. */
export function sig3(v: number): number {
  return Number(v.toPrecision(3));
}

/** The suite's result list, a function that records and reports a line, and the progress callback. */
export function collector(opts: BenchOptions): { lines: BenchLine[]; emit: (l: BenchLine) => void; say: (what: string) => void } {
  const lines: BenchLine[] = [];
  return {
    lines,
    emit: (l) => {
      lines.push(l);
      opts.report(l);
    },
    say: opts.progress ?? (() => {}),
  };
}

/** The shared data folder (FFNKIT_SHARED, else ../shared beside the repository), if it is there. */
export function sharedDir(): string | undefined {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const dir = process.env.FFNKIT_SHARED ?? join(root, '..', 'shared');
  return existsSync(join(dir, 'models', 'stories260K.bin')) ? dir : undefined;
}

/** stories260K, its tokenizer, both texts, and the dense model's eval PPL: what the quality sweeps start from. */
export async function storiesSetup(shared: string): Promise<{ weights: LlamaWeights; tok: Tokenizer; calib: string; text: string; dense: number }> {
  const weights = readLlama2c(new Uint8Array(readFileSync(join(shared, 'models', 'stories260K.bin'))));
  const tok = Tokenizer.fromLlama2c(new Uint8Array(readFileSync(join(shared, 'models', 'tok512.bin'))));
  const calib = readFileSync(join(shared, 'data', 'tinystories-calib.txt'), 'utf8');
  const text = readFileSync(join(shared, 'data', 'tinystories-eval.txt'), 'utf8');
  const dense = evaluate(await LlamaModel.create(weights), tok, text).ppl;
  return { weights, tok, calib, text, dense };
}
