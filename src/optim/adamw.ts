// AdamW (Loshchilov & Hutter): Adam moments with bias correction, weight decay applied to the
// parameters directly (decoupled), on float64 moments and float32 (or float64) parameters.

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** What a checkpoint keeps of an optimizer: its step count and both moments, exactly. */
export interface AdamWState {
  t: number;
  m: Float64Array;
  v: Float64Array;
}

export class AdamW {
  private m: Float64Array;
  private v: Float64Array;
  private t = 0;
  readonly options: Required<AdamWOptions>;

  constructor(size: number, options: AdamWOptions) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
    this.options = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, ...options };
  }

  /**
   * One update of `params` with `grad * gradScale` (same length); `lr` overrides the base rate
   * (schedules), `gradScale` applies clipping without a scaled copy of the gradient.
   */
  step(params: Float32Array | Float64Array, grad: ArrayLike<number>, lr = this.options.lr, gradScale = 1): void {
    const { beta1, beta2, eps, weightDecay } = this.options;
    this.t++;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    for (let i = 0; i < params.length; i++) {
      const g = grad[i]! * gradScale;
      this.m[i] = beta1 * this.m[i]! + (1 - beta1) * g;
      this.v[i] = beta2 * this.v[i]! + (1 - beta2) * g * g;
      const update = this.m[i]! / c1 / (Math.sqrt(this.v[i]! / c2) + eps);
      params[i] = params[i]! - lr * (update + weightDecay * params[i]!);
    }
  }

  /** A copy of the optimizer's state. */
  state(): AdamWState {
    return { t: this.t, m: this.m.slice(), v: this.v.slice() };
  }

  /** Restores a state taken with `state()` from an optimizer of the same size. */
  restore(s: AdamWState): void {
    if (s.m.length !== this.m.length || s.v.length !== this.v.length) {
      throw new RangeError(`AdamW state of ${s.m.length} values for an optimizer of ${this.m.length}`);
    }
    this.t = s.t;
    this.m = s.m.slice();
    this.v = s.v.slice();
  }
}
