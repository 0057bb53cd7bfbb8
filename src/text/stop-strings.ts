// Stop strings over streamed text: pieces arrive one token at a time and a stop string may be
// split across them ("<|im" + "_end|>"), so the tail that could still begin a stop string is held
// back until the next piece decides it. Nothing of a stop string, nor anything after it, is emitted.

import { FfnkitError } from '../errors.js';

export class StopStrings {
  private readonly stops: string[];
  private pending = '';
  private done = false;

  constructor(stops: readonly string[]) {
    stops.forEach((s, i) => {
      if (typeof s !== 'string' || s === '') throw new FfnkitError('E_ARG', `stop[${i}]: expected a non-empty string, found ${JSON.stringify(s)}`);
    });
    this.stops = [...stops];
  }

  /** True once a stop string has appeared. */
  get stopped(): boolean {
    return this.done;
  }

  /** The text that can be emitted now that `piece` arrived (the text before a stop string, once one appears). */
  push(piece: string): string {
    if (this.done) return '';
    const text = this.pending + piece;
    let at = -1;
    for (const s of this.stops) {
      const i = text.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      this.done = true;
      this.pending = '';
      return text.slice(0, at);
    }
    const hold = this.heldBack(text);
    this.pending = text.slice(text.length - hold);
    return text.slice(0, text.length - hold);
  }

  /** What was held back, at the end of the stream (no stop string followed it). */
  flush(): string {
    const rest = this.done ? '' : this.pending;
    this.pending = '';
    return rest;
  }

  /** Length of the longest tail of `text` that is a proper prefix of a stop string. */
  private heldBack(text: string): number {
    let best = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, text.length); n > best; n--) {
        if (text.endsWith(s.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
