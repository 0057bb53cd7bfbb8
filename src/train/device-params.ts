// A model's parameters in wasm memory for training: each tensor a master copy (F32Buffer), a
// gradient for the ones that train, and the packed forms the GEMMs read (W for the forward, Wᵀ for
// the backward's dX), repacked only after an update changed the tensor.

import { FfnkitError } from '../errors.js';
import type { BackwardKernels } from '../runtime/backward.js';
import type { F32Buffer } from '../runtime/buffer.js';
import type { Engine } from '../runtime/engine.js';
import type { PackedMatrix } from '../runtime/kernels.js';

export interface DeviceParam {
  readonly name: string;
  readonly data: F32Buffer;
  /** Accumulated gradient; null when the tensor is frozen. */
  readonly grad: F32Buffer | null;
}

/** A matrix's two packings, kept in step with its data. */
export interface PackedPair {
  /** W (rows x cols, with the bias when one is given): the forward's `y = x Wᵀ + b`. */
  readonly forward: PackedMatrix;
  /** Wᵀ (cols x rows): the backward's `dx = dy W`. */
  readonly backward: PackedMatrix;
  /** Repacks both if the data changed since the last call. */
  refresh(): void;
}

export class DeviceParams {
  readonly engine: Engine;
  readonly bk: BackwardKernels;
  private readonly byName = new Map<string, DeviceParam>();
  /** Bumped by every optimizer step: packings older than this are stale. */
  private version = 1;

  constructor(engine: Engine, bk: BackwardKernels) {
    this.engine = engine;
    this.bk = bk;
  }

  /** Uploads a tensor (its gradient allocated when it trains). */
  add(name: string, host: Float32Array, trains: boolean): DeviceParam {
    if (this.byName.has(name)) throw new FfnkitError('E_ARG', `parameter ${name} added twice`);
    const p = { name, data: this.engine.upload(host, name), grad: trains ? this.engine.alloc(host.length, `${name} gradient`) : null };
    this.byName.set(name, p);
    return p;
  }

  get(name: string): DeviceParam {
    const p = this.byName.get(name);
    if (!p) throw new FfnkitError('E_ARG', `no parameter named ${name}`);
    return p;
  }

  /** Every parameter, in the order added. */
  all(): DeviceParam[] {
    return [...this.byName.values()];
  }

  /**
   * Packings of `rows` x `cols` at float `offset` of `param` (a whole matrix, or one expert's
   * block), with an optional bias parameter of `rows` floats for the forward.
   */
  packed(param: DeviceParam, rows: number, cols: number, offset = 0, bias?: DeviceParam): PackedPair {
    const what = `${param.name}${offset ? `@${offset}` : ''}`;
    const forward = this.bk.allocPacked(rows, cols, what);
    const backward = this.bk.allocPacked(cols, rows, `${what}ᵀ`);
    const sources = bias ? [param, bias] : [param];
    let packedAt = 0; // the version these packings were made at (0: never)
    const pair: PackedPair = {
      forward,
      backward,
      refresh: () => {
        if (packedAt === this.version) return;
        // only tensors that train change; frozen ones are packed once
        if (packedAt !== 0 && sources.every((s) => !s.grad)) {
          packedAt = this.version;
          return;
        }
        const w = param.data.sub(offset, rows * cols);
        this.bk.repack(w, forward, bias ? { bias: bias.data } : {});
        this.bk.repack(w, backward, { transposed: true });
        packedAt = this.version;
      },
    };
    return pair;
  }

  /** Marks every packing of a trained tensor stale (call after changing parameter data). */
  changed(): void {
    this.version++;
  }

  /** Zeroes every gradient. */
  zeroGrads(): void {
    for (const p of this.byName.values()) if (p.grad) p.grad.view().fill(0);
  }
}
