// What the layer loop asks of an FFN-skipping policy on decode steps. The policies themselves
// (FFN-SkipLLM's threshold rule and its baselines) live in skip/, above this layer.

export interface FfnSkip {
  /** Decode steps at the start that skip nothing (eval prefills this many tokens instead). */
  readonly warmup: number;
  /** True when the layer loop must compute cosines for `observe` (monitoring costs a pass over dim). */
  readonly monitors: boolean;
  /** Called once per decode step before the first layer; `step` counts decode steps from 0. */
  beginToken(step: number): void;
  /** Whether layer `layer` runs its FFN for the current decode step. */
  runs(layer: number): boolean;
  /** The cosine between the residual stream before and after layer `layer`'s FFN block. */
  observe(layer: number, cos: number): void;
}
