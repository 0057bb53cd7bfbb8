// Training a FactorLLM router on recorded FFN inputs with the PA loss (plus the optional balance
// term), by AdamW on minibatches, without backpropagating through the model: the targets (which
// k experts best approximate the dense output) are fixed by the calibration pass.

import { FfnkitError } from '../errors.js';
import { rng } from '../rng.js';
import { AdamW } from '../optim/adamw.js';
import { paLoss } from './pa-loss.js';

export interface RouterTrainOptions {
  steps: number;
  lr: number;
  batch: number;
  balanceWeight: number;
  seed: number;
  weightDecay?: number;
  /** Train the bias too (default); false keeps it as it is (zero for a llama.cpp router). */
  trainBias?: boolean;
  /** Called after each step with the batch's mean PA and balance terms. */
  onStep?: (step: number, pa: number, balance: number) => void;
}

/**
 * Trains `router` [E, dim] and `bias` [E] in place on `inputs` [N, dim] and `targets` [N, k]
 * (each row the k target experts). Returns the mean PA loss of the last step.
 */
export function trainRouter(
  router: Float32Array, bias: Float32Array, inputs: Float32Array, targets: Int32Array, k: number, options: RouterTrainOptions,
): number {
  const E = bias.length;
  const dim = router.length / E;
  const n = inputs.length / dim;
  if (n < 1 || targets.length !== n * k) throw new FfnkitError('E_ARG', `router training: ${n} inputs but ${targets.length / k} targets`);
  const { steps, lr, batch, balanceWeight, seed, weightDecay = 0, trainBias = true } = options;
  const next = rng(seed);
  const optW = new AdamW(router.length, { lr, weightDecay });
  const optB = new AdamW(E, { lr });
  const gW = new Float64Array(router.length);
  const gB = new Float64Array(E);
  const z = new Float64Array(E);
  const gz = new Float64Array(E);
  let last = NaN;
  for (let step = 1; step <= steps; step++) {
    gW.fill(0);
    gB.fill(0);
    let pa = 0;
    let bal = 0;
    for (let b = 0; b < batch; b++) {
      const t = Math.floor(next() * n);
      const h = inputs.subarray(t * dim, (t + 1) * dim);
      for (let e = 0; e < E; e++) {
        let s = bias[e]!;
        for (let j = 0; j < dim; j++) s += router[e * dim + j]! * h[j]!;
        z[e] = s;
      }
      gz.fill(0);
      const terms = paLoss(z, targets.subarray(t * k, (t + 1) * k), k, balanceWeight, gz);
      pa += terms.pa;
      bal += terms.balance;
      for (let e = 0; e < E; e++) {
        const g = gz[e]! / batch;
        gB[e]! += g;
        for (let j = 0; j < dim; j++) gW[e * dim + j]! += g * h[j]!;
      }
    }
    optW.step(router, gW);
    if (trainBias) optB.step(bias, gB);
    last = pa / batch;
    options.onStep?.(step, last, bal / batch);
  }
  return last;
}
