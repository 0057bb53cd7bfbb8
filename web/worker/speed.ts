// Prefill and decode speed where the model runs. The library reports every token id through
// `onToken`: the prompt's first (all at once, before the prefill), then each new token as it is
// sampled. So the prefill is the time from the last prompt id to the first new one (one forward
// pass over the prompt and a sample), and decoding the time from the first new token to the
// last, per token after the first: what a reader of the stream gets, yields to the page included.

import type { LlamaModel } from '../../src/index.js';
import type { Speed } from '../protocol.js';

export class SpeedMeter {
  private seen = 0;
  private promptAt = 0;
  private firstAt = 0;
  private lastAt = 0;

  /** `promptTokens()` says how many of the ids heard first are the prompt's (known once the turn has started). */
  constructor(private readonly promptTokens: () => number, private readonly prefilled: () => number = promptTokens) {}

  /** The `onToken` option to pass to generate or chat. */
  readonly onToken = (): void => {
    const now = performance.now();
    this.seen++;
    const prompt = this.promptTokens();
    if (this.seen === prompt) this.promptAt = now;
    if (this.seen === prompt + 1) this.firstAt = now;
    this.lastAt = now;
  };

  /** The figures so far, with the model's per-token weight bytes and flops for the bounds. */
  speed(model: LlamaModel, weightBytes = model.weightBytes()): Speed {
    const generated = Math.max(0, this.seen - this.promptTokens());
    return {
      prefillTokens: generated > 0 ? this.prefilled() : 0,
      prefillSeconds: generated > 0 ? (this.firstAt - this.promptAt) / 1000 : 0,
      decodeTokens: Math.max(0, generated - 1),
      decodeSeconds: generated > 1 ? (this.lastAt - this.firstAt) / 1000 : 0,
      weightBytes,
      flopsPerToken: model.matmulFlops(1),
    };
  }
}
