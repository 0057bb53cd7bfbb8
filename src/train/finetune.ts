// Fine-tuning a model on text: AdamW with linear warm-up and cosine decay, gradient clipping by
// global norm (after the backward pass, before the update), freezing by name pattern, gradient
// accumulation over micro-batches, checkpoints that resume bit-for-bit. FactorLLM's recipe is
// the default for a factorized model: experts and routers train on L_LM + 0.05 L_PA + 0.01 L_bal,
// everything else frozen.
//
// Batches are a pure function of (seed, step, micro-batch): windows of seqLen + 1 tokens drawn
// from the text's documents (each encoded with a leading BOS, concatenated), so a resumed run
// sees exactly the batches the uninterrupted run would have.

import { FfnkitError } from '../errors.js';
import type { Tokenizer } from '../formats/tokenizer.js';
import { splitDocuments } from '../text/documents.js';
import type { LlamaWeights } from '../model/weights.js';
import { createEngine, type EngineOptions } from '../runtime/engine.js';
import { rng } from '../rng.js';
import { AdamW } from '../optim/adamw.js';
import { type Checkpoint, modelFingerprint, tokensFingerprint } from './checkpoint.js';
import { TrainableLlama, checkTrainable, type LossTerms } from './llama-train.js';
import { FACTORLLM_TRAINABLE, selectTrainable } from './params.js';

export interface FinetuneOptions {
  /** Optimizer steps. */
  steps: number;
  /** Peak learning rate. Default 1e-3. */
  lr?: number;
  /** Warm-up steps (linear from 0). Default 5% of the steps. */
  warmup?: number;
  /** The cosine decays to lr * minLrRatio. Default 0.1. */
  minLrRatio?: number;
  /** Sequences per micro-batch. Default 8. */
  batch?: number;
  /** Tokens per sequence. Default 256 (at most the model's context). */
  seqLen?: number;
  /** Micro-batches whose gradients add up to one step. Default 1. */
  accumulate?: number;
  /** Clip the global gradient norm to this (0 = off). Default 1. */
  clip?: number;
  weightDecay?: number;
  /** Weights of the PA and balance terms (the paper's 0.05 and 0.01). */
  paWeight?: number;
  balanceWeight?: number;
  /**
   * Weight a in [0, 1] of distillation from the dense model the run starts from (a factorized
   * model's dense FFNs are the sum of its initial experts): the LM term's targets become
   * (1 - a) onehot + a teacher probabilities. Default 0 (the paper's plain LM loss).
   */
  distill?: number;
  /**
   * The dense model to distill from instead of the starting model's own dense FFNs (e.g. the
   * unpruned model when fine-tuning a pruned one); same vocabulary, dense.
   */
  teacher?: LlamaWeights;
  /** Glob patterns of tensors to train (default: FactorLLM's experts and routers for a factorized model, else all). */
  train?: string[];
  /** Glob patterns of tensors to freeze (applied after `train`). */
  freeze?: string[];
  seed?: number;
  /** A checkpoint to continue from (its model and options must match). */
  resume?: Checkpoint;
  /** Call `onCheckpoint` every this many steps (0 = never). */
  checkpointEvery?: number;
  onCheckpoint?: (c: Checkpoint) => void | Promise<void>;
  onStep?: (s: StepReport) => void;
  engine?: EngineOptions;
}

export interface StepReport extends LossTerms {
  step: number;
  steps: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  tokensPerSecond: number;
}

export interface FinetuneResult {
  weights: LlamaWeights;
  steps: number;
  /** Trained tokens per second over the whole run. */
  tokensPerSecond: number;
  /** Wasm memory at the end, bytes. */
  wasmBytes: number;
  last: StepReport | undefined;
}

/** Learning rate at `step` (1-based): linear warm-up to lr, then cosine down to lr * minRatio at the last step. */
export function learningRate(step: number, steps: number, lr: number, warmup: number, minRatio: number): number {
  if (step <= warmup) return (lr * step) / Math.max(1, warmup);
  const progress = (step - warmup) / Math.max(1, steps - warmup);
  return lr * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress))));
}

/** The token stream of a text: each document BOS-prefixed, concatenated. */
export function textTokens(tokenizer: Tokenizer, text: string): Int32Array {
  const ids: number[] = [];
  for (const doc of splitDocuments(text)) for (const id of tokenizer.encode(doc)) ids.push(id);
  return Int32Array.from(ids);
}

/** Micro-batch `micro` of step `step`: `batch` windows of seqLen + 1 tokens. */
export function sampleBatch(stream: Int32Array, batch: number, seqLen: number, seed: number, step: number, micro: number): Int32Array {
  const next = rng((seed * 0x9e3779b1 + step * 0x85ebca6b + micro * 0xc2b2ae35) >>> 0);
  const out = new Int32Array(batch * (seqLen + 1));
  const starts = stream.length - seqLen - 1;
  for (let b = 0; b < batch; b++) {
    const at = Math.floor(next() * (starts + 1));
    out.set(stream.subarray(at, at + seqLen + 1), b * (seqLen + 1));
  }
  return out;
}

/**
 * Fine-tunes `weights` (modified in place and returned) on `text`. Throws E_ARG before any
 * update if the loss or gradient turns NaN or infinite (the caller keeps its last checkpoint).
 */
export async function finetune(weights: LlamaWeights, tokenizer: Tokenizer, text: string, options: FinetuneOptions): Promise<FinetuneResult> {
  const c = weights.config;
  checkTrainable(weights);
  const routed = weights.layers.some((l) => l.routed);
  const o = {
    lr: 1e-3, minLrRatio: 0.1, batch: 8, seqLen: Math.min(256, c.seqLen), accumulate: 1, clip: 1, weightDecay: 0,
    paWeight: 0.05, balanceWeight: 0.01, distill: 0, seed: 1, checkpointEvery: 0, ...options,
  };
  o.warmup = options.warmup ?? Math.round(o.steps / 20);
  const positive = (name: string, v: number, min: number) => {
    if (!Number.isFinite(v) || v < min) throw new FfnkitError('E_ARG', `${name}: expected a number >= ${min}, found ${v}`);
  };
  for (const [name, v, min] of [['steps', o.steps, 1], ['batch', o.batch, 1], ['seqLen', o.seqLen, 1], ['accumulate', o.accumulate, 1]] as const) {
    if (!Number.isInteger(v) || v < min) throw new FfnkitError('E_ARG', `${name}: expected an integer >= ${min}, found ${v}`);
  }
  positive('lr', o.lr, Number.MIN_VALUE);
  if (!(o.distill >= 0 && o.distill <= 1)) throw new FfnkitError('E_ARG', `distill: expected a weight in [0, 1], found ${o.distill}`);
  if (o.teacher) {
    const t = o.teacher.config;
    if (t.vocabSize !== c.vocabSize || t.seqLen < o.seqLen) throw new FfnkitError('E_ARG', `teacher: vocabulary ${t.vocabSize} and context ${t.seqLen}, the model needs ${c.vocabSize} and at least ${o.seqLen}`);
    if (o.teacher.layers.some((l) => l.routed)) throw new FfnkitError('E_ARG', 'teacher: factorized (the teacher is a dense model)');
    if (o.distill === 0) throw new FfnkitError('E_ARG', 'teacher: given without distill (the teacher only shapes the distillation targets)');
  }
  for (const [name, v] of [['clip', o.clip], ['weightDecay', o.weightDecay], ['paWeight', o.paWeight], ['balanceWeight', o.balanceWeight], ['warmup', o.warmup], ['minLrRatio', o.minLrRatio]] as const) positive(name, v, 0);
  if (o.warmup > o.steps) throw new FfnkitError('E_ARG', `warmup: ${o.warmup} steps, more than the run's ${o.steps} steps (the learning rate would never reach lr)`);
  if (c.seqLen < o.seqLen) throw new FfnkitError('E_ARG', `seqLen: ${o.seqLen} is more than the model's context ${c.seqLen}`);
  const stream = textTokens(tokenizer, text);
  if (stream.length < o.seqLen + 1) throw new FfnkitError('E_ARG', `text: ${stream.length} tokens, fewer than one sequence of seqLen + 1 = ${o.seqLen + 1}`);

  const trainable = selectTrainable(weights, o.train ?? (routed ? FACTORLLM_TRAINABLE : undefined), o.freeze ?? []);
  if (trainable.size === 0) throw new FfnkitError('E_ARG', 'train/freeze: no tensor is left to train');
  // what a resumed run must agree on
  const shaping = {
    steps: o.steps, lr: o.lr, warmup: o.warmup, minLrRatio: o.minLrRatio, batch: o.batch, seqLen: o.seqLen, accumulate: o.accumulate,
    clip: o.clip, weightDecay: o.weightDecay, paWeight: o.paWeight, balanceWeight: o.balanceWeight, distill: o.distill, seed: o.seed,
    trainable: [...trainable].sort(),
    // the training text itself (its token stream's hash): another text would draw other batches
    text: tokensFingerprint(stream),
    ...(o.teacher ? { teacher: modelFingerprint(o.teacher) } : {}),
  };
  const fingerprint = modelFingerprint(weights);
  if (o.resume) checkResume(o.resume, fingerprint, shaping);

  // student and teacher share one wasm memory (so `wasmBytes` is the run's whole footprint)
  const engine = await createEngine(o.engine ?? {});
  const model = await TrainableLlama.create(weights, { engine, batch: o.batch, seqLen: o.seqLen, trainable });
  const teacherOf = o.teacher ?? { ...weights, layers: weights.layers.map((l) => ({ ...l, routed: undefined })) };
  const teacher = o.distill > 0
    ? await TrainableLlama.create(
        teacherOf,
        { engine, batch: o.batch, seqLen: o.seqLen, trainable: new Set() },
      )
    : undefined;
  const params = model.params.all().filter((p) => p.grad);
  const opts = params.map((p) => new AdamW(p.data.length, { lr: o.lr, weightDecay: o.weightDecay }));
  let first = 1;
  if (o.resume) {
    const byName = new Map(o.resume.tensors.map((t) => [t.name, t]));
    params.forEach((p, i) => {
      const t = byName.get(p.name);
      if (!t || t.data.length !== p.data.length) throw new FfnkitError('E_FORMAT', `resume: checkpoint has no tensor ${p.name} of ${p.data.length} values`);
      p.data.set(t.data);
      opts[i]!.restore({ t: t.t, m: t.m, v: t.v });
    });
    model.params.changed();
    first = o.resume.step + 1;
  }
  const aux = { pa: o.paWeight, balance: o.balanceWeight };
  const tokensPerStep = o.batch * o.seqLen * o.accumulate;
  const started = performance.now();
  let last: StepReport | undefined;
  for (let step = first; step <= o.steps; step++) {
    const t0 = performance.now();
    model.params.zeroGrads();
    const sum: LossTerms = { lm: 0, pa: 0, balance: 0, distill: 0, total: 0 };
    for (let a = 0; a < o.accumulate; a++) {
      const tokens = sampleBatch(stream, o.batch, o.seqLen, o.seed, step, a);
      const targets = teacher ? { probs: teacher.probabilities(tokens), weight: o.distill } : undefined;
      const terms = model.step(tokens, aux, 1 / o.accumulate, targets);
      for (const key of ['lm', 'pa', 'balance', 'distill', 'total'] as const) sum[key] += terms[key] / o.accumulate;
    }
    let sq = 0;
    for (const p of params) for (const g of p.grad!.view()) sq += g * g;
    const gradNorm = Math.sqrt(sq);
    if (!Number.isFinite(sum.total) || !Number.isFinite(gradNorm)) {
      throw new FfnkitError('E_NUMERIC', `step ${step}: the ${Number.isFinite(sum.total) ? 'gradient norm' : 'loss'} is ${Number.isFinite(sum.total) ? gradNorm : sum.total}; stopped before updating (try a lower learning rate)`);
    }
    const scale = o.clip > 0 && gradNorm > o.clip ? o.clip / gradNorm : 1;
    const lr = learningRate(step, o.steps, o.lr, o.warmup, o.minLrRatio);
    params.forEach((p, i) => opts[i]!.step(p.data.view(), p.grad!.view(), lr, scale));
    model.params.changed();
    last = { ...sum, step, steps: o.steps, lr, gradNorm, tokensPerSecond: tokensPerStep / ((performance.now() - t0) / 1000) };
    o.onStep?.(last);
    if ((o.checkpointEvery > 0 && step % o.checkpointEvery === 0) || (step === o.steps && o.onCheckpoint)) {
      await o.onCheckpoint?.({
        step, model: fingerprint, options: shaping,
        tensors: params.map((p, i) => ({ name: p.name, data: p.data.toArray(), ...opts[i]!.state() })),
      });
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const trained = model.toWeights();
  engine.close();
  return {
    weights: trained,
    steps: o.steps,
    tokensPerSecond: ((o.steps - first + 1) * tokensPerStep) / seconds,
    wasmBytes: model.engine.memory.buffer.byteLength,
    last,
  };
}

function checkResume(r: Checkpoint, fingerprint: string, shaping: Record<string, unknown>): void {
  if (r.model !== fingerprint) throw new FfnkitError('E_ARG', `resume: the checkpoint was made from another model (fingerprint ${r.model}, this model ${fingerprint})`);
  for (const [key, v] of Object.entries(shaping)) {
    if (JSON.stringify(r.options[key]) !== JSON.stringify(v)) {
      throw new FfnkitError('E_ARG', `resume: the checkpoint ran with ${key} = ${JSON.stringify(r.options[key])}, this run asks ${JSON.stringify(v)}`);
    }
  }
  if (!Number.isInteger(r.step) || r.step < 0 || r.step > (shaping.steps as number)) throw new FfnkitError('E_ARG', `resume: checkpoint step ${r.step} is past the run's ${String(shaping.steps)} steps`);
}
