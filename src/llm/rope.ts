// RoPE rotations by position for one kind of layer (its base, scaling and frequency factors),
// computed on first use: a context may be long and most of it never reached.

import type { Engine } from '../runtime/engine.js';
import type { F32Buffer } from '../runtime/buffer.js';
import { ropeCosSin, type RopeScaling } from '../runtime/kernels.js';

export interface RopeParams extends RopeScaling {
  theta: number;
}

export class RopeTable {
  readonly params: RopeParams;
  private readonly headDim: number;
  private readonly rows: F32Buffer;
  private readonly ready: Uint8Array;

  constructor(engine: Engine, seqLen: number, headDim: number, params: RopeParams, what = 'rope table') {
    this.params = params;
    this.headDim = headDim;
    this.rows = engine.alloc(seqLen * headDim, what);
    this.ready = new Uint8Array(seqLen);
  }

  /** The cos/sin row of position `pos` (< seqLen), as `kernels.rope` takes it. */
  at(pos: number): F32Buffer {
    const row = this.rows.sub(pos * this.headDim, this.headDim);
    if (!this.ready[pos]) {
      row.set(ropeCosSin(pos, this.headDim, this.params.theta, this.params));
      this.ready[pos] = 1;
    }
    return row;
  }

  /** True when `p` gives the same rotations. */
  same(p: RopeParams): boolean {
    return p.theta === this.params.theta && p.scale === this.params.scale && p.factors === this.params.factors;
  }
}
