// `ffnkit bench train`: what fine-tuning recovers and what it costs.
// Quality: stories260K factorized with the coactivation split and PA-trained routers (as
// `ffnkit factorize` makes it), eval PPL on tinystories-eval.txt before and after FactorLLM
// fine-tuning on tinystories-calib.txt (the paper's LM + PA + balance loss, and with the LM term
// distilled from the dense model), for (4,1), (4,2) and (8,2), next to the dense model's.
// Speed: training tokens/s at seq-len 256 (batch 8), plain LM loss and with distillation, next to
// the build's measured multiply-add peak turned into tokens/s by the step's counted flops (matrix
// products and attention; norms, softmax and the optimizer not counted, so the share is a floor),
// and the wasm memory of the run.

import { LlamaModel, createEngine, evaluate, type LlamaConfig, type LlamaWeights } from '../src/index.js';
import { factorizeModel } from '../src/entries/factor.js';
import { finetune } from '../src/entries/train.js';
import { type BenchLine, type BenchOptions, collector, storiesSetup, sharedDir, sig3 } from './harness.js';
import { maddPeak } from './probes.js';

const SUITE = 'train';
export const TRAIN_SHAPES: [number, number][] = [[4, 1], [4, 2], [8, 2]];
/** The recipe the README's table uses; `--quick` runs 20 steps of it (the speed lines always run 30). */
export const RECIPE = { steps: 300, lr: 3e-3, batch: 8, seqLen: 256, distill: 1 };

/** With `threads` > 1 the speed lines are measured on that many threads too. */
export async function runTrain(opts: BenchOptions & { threads?: number }): Promise<BenchLine[]> {
  const { lines, emit, say } = collector(opts);
  const shared = sharedDir();
  if (!shared) {
    say('skipping: ../shared not found (set FFNKIT_SHARED)');
    return lines;
  }
  const { weights, tok, calib, text, dense } = await storiesSetup(shared);
  emit({ suite: SUITE, case: 'stories260K eval ppl', impl: 'dense', value: sig3(dense), unit: 'ppl' });
  const steps = opts.quick ? 20 : RECIPE.steps;
  const factorized = (E: number, k: number) => factorizeModel(weights, tok, calib, { experts: E, topK: k, split: 'coactivation' });

  // speed first, on a fresh (4,2) model
  {
    const w = await factorized(4, 2);
    const engine = await createEngine();
    const peak = maddPeak(engine, opts.quick);
    const threads = opts.threads ?? 1;
    for (const t of threads > 1 ? [1, threads] : [1]) {
      for (const distill of [0, 1]) {
        say(`speed: fine-tuning (4,2), distill ${distill}, ${t} thread${t > 1 ? 's' : ''}`);
        const r = await finetune(structuredClone(w), tok, calib, { ...RECIPE, steps: 30, distill, engine: { backend: engine.backend, threads: t } });
        const flops = stepFlopsPerToken(w.config, 4, 2, RECIPE.seqLen, distill > 0);
        emit({
          suite: SUITE, case: `stories260K E4 k2 training seq-len ${RECIPE.seqLen} batch ${RECIPE.batch}${distill ? ' distill' : ''}`,
          impl: `ffnkit-${engine.backend}${t > 1 ? ` ${t} threads` : ''}`, value: sig3(r.tokensPerSecond), unit: 'tokens/s',
          bound: sig3((t * peak * 1e9) / flops), boundName: `${t > 1 ? `${t} x ` : ''}madd peak ${sig3(peak)} GFLOP/s / ${sig3(flops / 1e6)} MFLOP per token`,
          share: sig3((r.tokensPerSecond * flops) / (t * peak * 1e9)), wasmMiB: sig3(r.wasmBytes / 2 ** 20), peakRssMiB: sig3(process.resourceUsage().maxRSS / 1024),
        });
      }
    }
  }

  for (const [E, k] of TRAIN_SHAPES) {
    say(`quality: factorize E${E} k${k}`);
    const w: LlamaWeights = await factorized(E, k);
    const before = evaluate(await LlamaModel.create(w), tok, text).ppl;
    emit({ suite: SUITE, case: `stories260K eval ppl coactivation E${E} k${k}`, impl: 'pa-trained routers', value: sig3(before), unit: 'ppl', bound: sig3(dense), boundName: 'dense', share: sig3(before / dense) });
    for (const distill of [0, RECIPE.distill]) {
      const recipe = distill ? `distilled (--distill ${distill})` : 'LM loss (the paper)';
      const r = await finetune(structuredClone(w), tok, calib, {
        ...RECIPE, steps, distill,
        onStep: (s) => { if (s.step % 10 === 0) say(`quality: fine-tuning E${E} k${k}, ${recipe}, step ${s.step}/${steps} LM ${s.lm.toFixed(3)}`); },
      });
      const after = evaluate(await LlamaModel.create(r.weights), tok, text).ppl;
      emit({
        suite: SUITE, case: `stories260K eval ppl coactivation E${E} k${k}`, impl: `fine-tuned ${steps} steps, ${recipe}`, value: sig3(after), unit: 'ppl',
        bound: sig3(dense), boundName: 'dense', share: sig3(after / dense),
      });
    }
  }
  return lines;
}

/**
 * Counted flops of one fine-tuning step per token (FactorLLM defaults: experts and routers train):
 * forward, the PA targets (teacher FFN and every expert), backward (dX everywhere, dW for experts
 * and routers), attention over (S + 1) / 2 keys on average (backward: five products per key), and
 * with distillation the dense teacher's forward.
 */
export function stepFlopsPerToken(c: LlamaConfig, E: number, k: number, S: number, distill: boolean): number {
  const d = c.dim;
  const qw = d + 2 * (d / c.nHeads) * c.nKvHeads;
  const he = Math.ceil(c.hiddenDim / E);
  const keys = (S + 1) / 2;
  const attention = 2 * 2 * d * keys; // QK and PV: 2 flops per key and head dimension each
  const projections = 2 * d * qw + 2 * d * d;
  const routed = 2 * d * E + k * 6 * d * he;
  const classifier = 2 * d * c.vocabSize;
  const forward = c.nLayers * (projections + attention + routed) + classifier;
  const targets = c.nLayers * (6 * d * c.hiddenDim + E * 6 * d * he);
  const backward = c.nLayers * (projections + routed + (5 / 2) * attention + routed) + classifier;
  const teacher = distill ? c.nLayers * (projections + attention + 6 * d * c.hiddenDim) + classifier : 0;
  return forward + targets + backward + teacher;
}
