// Runs a MixerGraph on an engine's kernels. Construction uploads the parameters (BatchNorms as
// scale/shift pairs, the classifier packed for the GEMV) and plans the activations: each tensor
// gets a buffer when it is written and gives it back after its last reader, so a 256x256 FFNet-1
// needs a handful of feature-map buffers rather than one per op. `run` then allocates nothing.

import { FfnkitError } from '../errors.js';
import type { F32Buffer } from '../runtime/buffer.js';
import type { Engine } from '../runtime/engine.js';
import type { PackedMatrix } from '../runtime/kernels.js';
import type { FeatureShape, MixerGraph, MixerOp } from './graph.js';
import { bnAffine } from './reparam.js';

export class MixerRunner {
  readonly graph: MixerGraph;
  private readonly engine: Engine;
  private readonly params = new Map<string, F32Buffer>();
  private readonly packed = new Map<string, PackedMatrix>();
  private readonly tensors = new Map<string, F32Buffer>();
  private readonly owned: F32Buffer[] = [];

  constructor(engine: Engine, graph: MixerGraph) {
    this.engine = engine;
    this.graph = graph;
    const upload = (name: string, data: ArrayLike<number>) => {
      const buf = engine.upload(data, name);
      this.owned.push(buf);
      return buf;
    };
    for (const op of graph.ops) {
      if (op.kind === 'conv') this.checkConv(op);
      if (op.kind === 'batchnorm') {
        const get = (n: string) => this.param(n).data;
        const { scale, shift } = bnAffine({ gamma: get(op.gamma), beta: get(op.beta), mean: get(op.mean), variance: get(op.variance), eps: op.eps });
        this.params.set(`${op.y}.scale`, upload(`${op.gamma} (scale)`, scale));
        this.params.set(`${op.y}.shift`, upload(`${op.beta} (shift)`, shift));
      } else if (op.kind === 'linear') {
        // the packed panels hold the bias too: the row-major staging copies are freed at once
        const w = this.param(op.weight);
        const bias = engine.upload(this.param(op.bias).data, op.bias);
        const m = engine.matrix(w.shape[0]!, w.shape[1]!, w.data, op.weight);
        this.packed.set(op.weight, engine.kernels.pack(m, bias));
        m.data.free();
        bias.free();
      } else {
        for (const name of paramsOf(op)) if (!this.params.has(name)) this.params.set(name, upload(name, this.param(name).data));
      }
    }
    this.planActivations();
  }

  private param(name: string) {
    const p = this.graph.params.get(name);
    if (!p) throw new FfnkitError('E_FORMAT', `graph: parameter ${name} is missing`);
    return p;
  }

  private checkConv(op: Extract<MixerOp, { kind: 'conv' }>): void {
    const cin = this.shape(op.x).c;
    const ok = op.groups === 1 || (op.groups === cin && (op.cout === cin || op.cout === 2 * cin) && op.k >= 3);
    if (!ok) throw new FfnkitError('E_UNSUPPORTED', `${op.weight}: a convolution with ${cin} inputs, ${op.cout} outputs and ${op.groups} groups (k ${op.k}) has no kernel; supported: groups 1, or depthwise with 1 or 2 outputs per channel`);
  }

  private shape(t: string): FeatureShape {
    return this.graph.shapes.get(t)!;
  }

  private planActivations(): void {
    const g = this.graph;
    const lastUse = new Map<string, number>();
    g.ops.forEach((op, i) => {
      for (const t of inputsOf(op)) lastUse.set(t, i);
    });
    const free: F32Buffer[] = [];
    const size = (t: string) => {
      const s = this.shape(t);
      return s.c * s.h * s.w;
    };
    const take = (t: string) => {
      const n = size(t);
      let best = -1;
      for (let i = 0; i < free.length; i++) if (free[i]!.length >= n && (best < 0 || free[i]!.length < free[best]!.length)) best = i;
      const buf = best >= 0 ? free.splice(best, 1)[0]! : this.engine.alloc(n, `activation ${t}`);
      if (best < 0) this.owned.push(buf);
      this.tensors.set(t, buf.sub(0, n));
      return buf;
    };
    const whole = new Map<string, F32Buffer>();
    whole.set(g.input, take(g.input));
    g.ops.forEach((op, i) => {
      whole.set(op.y, take(op.y));
      for (const t of new Set(inputsOf(op))) {
        if (lastUse.get(t) === i && t !== g.output && t !== g.input) free.push(whole.get(t)!);
      }
    });
  }

  /** Bytes of wasm memory held for parameters and activations. */
  get bytes(): number {
    return this.owned.reduce((a, b) => a + b.length * 4, 0) + [...this.packed.values()].reduce((a, p) => a + p.data.length * 4, 0);
  }

  /**
   * Runs the graph on a planar input (c x h x w floats as the graph's input shape) and returns the
   * output. `onOp`, when given, hears each op with the milliseconds it took (for profiles).
   */
  run(input: Float32Array, onOp?: (op: MixerOp, ms: number) => void): Float32Array {
    const s = this.shape(this.graph.input);
    const n = s.c * s.h * s.w;
    if (!(input instanceof Float32Array) || input.length !== n) {
      throw new FfnkitError('E_SHAPE', `input: expected ${s.c} x ${s.h} x ${s.w} = ${n} float32 values (planar, channels first), found ${input?.length ?? typeof input}`);
    }
    this.tensors.get(this.graph.input)!.set(input);
    for (const op of this.graph.ops) {
      const t0 = onOp ? performance.now() : 0;
      this.step(op);
      onOp?.(op, performance.now() - t0);
    }
    return Float32Array.from(this.tensors.get(this.graph.output)!.view());
  }

  private step(op: MixerOp): void {
    const k = this.engine.kernels;
    const t = (name: string) => this.tensors.get(name)!;
    const p = (name: string) => this.params.get(name)!;
    const s = this.shape('x' in op ? op.x : op.a);
    const pixels = s.h * s.w;
    switch (op.kind) {
      case 'conv': {
        const bias = op.bias ? p(op.bias) : undefined;
        if (op.groups === 1 && op.k === 1 && op.stride === 1) {
          k.pointwiseConv(t(op.x), { c: s.c, pixels }, p(op.weight), op.cout, t(op.y), { bias, gelu: op.gelu });
        } else if (op.groups === 1) {
          k.conv2d(t(op.x), s, p(op.weight), op.k, op.cout, t(op.y), { bias, stride: op.stride, gelu: op.gelu });
        } else {
          k.depthwiseConv2d(t(op.x), s, p(op.weight), op.k, t(op.y), { bias, stride: op.stride, gelu: op.gelu, multiplier: op.cout === s.c ? 1 : 2 });
        }
        return;
      }
      case 'batchnorm':
        k.channelAffine(t(op.x), { c: s.c, pixels }, p(`${op.y}.scale`), p(`${op.y}.shift`), t(op.y));
        return;
      case 'scale':
        k.channelAffine(t(op.x), { c: s.c, pixels }, p(op.scale), null, t(op.y));
        return;
      case 'gelu':
        k.gelu(t(op.x), t(op.y));
        return;
      case 'add':
        k.add(t(op.a), t(op.b), t(op.y));
        return;
      case 'mean':
        k.channelMean(t(op.x), { c: s.c, pixels }, t(op.y));
        return;
      case 'linear':
        k.gemm(t(op.x), this.packed.get(op.weight)!, t(op.y), 1);
        return;
    }
  }

  /** Returns every buffer this runner holds to the engine. */
  free(): void {
    for (const b of this.owned) if (b.live) b.free();
    for (const m of this.packed.values()) if (m.data.live) m.data.free();
  }
}

/** The kernel an op runs on: 'pointwise', 'full conv' (im2col), 'depthwise', or the op's kind. */
export function kernelOf(op: MixerOp): string {
  if (op.kind !== 'conv') return op.kind;
  if (op.groups !== 1) return 'depthwise';
  return op.k === 1 && op.stride === 1 ? 'pointwise' : 'full conv';
}

function inputsOf(op: MixerOp): string[] {
  return op.kind === 'add' ? [op.a, op.b] : [op.x];
}

function paramsOf(op: MixerOp): string[] {
  switch (op.kind) {
    case 'conv':
      return op.bias ? [op.weight, op.bias] : [op.weight];
    case 'scale':
      return [op.scale];
    default:
      return [];
  }
}
