// AdamW (Loshchilov & Hutter): Adam moments with bias correction, weight decay applied to the
// parameters directly (decoupled), on float64 gradients and float32 (or float64) parameters.

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

export class AdamW {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private t = 0;
  readonly options: Required<AdamWOptions>;

  constructor(size: number, options: AdamWOptions) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
    this.options = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, ...options };
  }

  /** One update of `params` with `grad` (same length); `lr` overrides the base rate (schedules). */
  step(params: Float32Array | Float64Array, grad: ArrayLike<number>, lr = this.options.lr): void {
    const { beta1, beta2, eps, weightDecay } = this.options;
    this.t++;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    for (let i = 0; i < params.length; i++) {
      const g = grad[i]!;
      this.m[i] = beta1 * this.m[i]! + (1 - beta1) * g;
      this.v[i] = beta2 * this.v[i]! + (1 - beta2) * g * g;
      const update = this.m[i]! / c1 / (Math.sqrt(this.v[i]! / c2) + eps);
      params[i] = params[i]! - lr * (update + weightDecay * params[i]!);
    }
  }
}
