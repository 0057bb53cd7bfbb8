// A small dataflow graph of planar (NCHW, batch 1) operations: what the FFNet builders emit, what
// MixerRunner executes on the wasm kernels and what toOnnx exports. Tensors and parameters are
// named; every op reads named tensors and writes one new one.

import { FfnkitError } from '../errors.js';

/** Channels x height x width of a feature map (a vector is c x 1 x 1). */
export interface FeatureShape {
  c: number;
  h: number;
  w: number;
}

/** A parameter: its PyTorch shape and values. */
export interface Param {
  shape: number[];
  data: Float32Array;
}

export type MixerOp =
  /** PyTorch Conv2d with 'same'-style padding (k-1)/2; weight [cout, cin/groups, k, k]. */
  | { kind: 'conv'; x: string; y: string; weight: string; bias: string | null; cout: number; k: number; stride: 1 | 2; groups: number; gelu: boolean }
  /** Inference BatchNorm2d: (x - mean) / sqrt(variance + eps) * gamma + beta, per channel. */
  | { kind: 'batchnorm'; x: string; y: string; gamma: string; beta: string; mean: string; variance: string; eps: number }
  | { kind: 'gelu'; x: string; y: string }
  | { kind: 'add'; a: string; b: string; y: string }
  /** Per-channel scale (layer scale), parameter [c, 1, 1]. */
  | { kind: 'scale'; x: string; y: string; scale: string }
  /** Global average pool to a c-vector. */
  | { kind: 'mean'; x: string; y: string }
  /** y = weight · x + bias on a vector; weight [out, in]. */
  | { kind: 'linear'; x: string; y: string; weight: string; bias: string };

export interface MixerGraph {
  input: string;
  output: string;
  ops: MixerOp[];
  shapes: Map<string, FeatureShape>;
  params: Map<string, Param>;
}

/** Emits ops with fresh tensor names and tracks every tensor's shape. */
export class GraphBuilder {
  readonly ops: MixerOp[] = [];
  readonly shapes = new Map<string, FeatureShape>();
  readonly params = new Map<string, Param>();
  private next = 0;

  constructor(readonly input: string, shape: FeatureShape) {
    this.shapes.set(input, shape);
  }

  shape(t: string): FeatureShape {
    const s = this.shapes.get(t);
    if (!s) throw new FfnkitError('E_SHAPE', `graph: unknown tensor ${t}`);
    return s;
  }

  /** Registers a parameter (its shape checked against `shape`) and returns its name. */
  param(name: string, shape: number[], data: Float32Array): string {
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new FfnkitError('E_SHAPE', `${name}: expected [${shape}] = ${n} values, found ${data.length}`);
    this.params.set(name, { shape, data });
    return name;
  }

  private out(s: FeatureShape): string {
    const y = `t${this.next++}`;
    this.shapes.set(y, s);
    return y;
  }

  conv(x: string, weight: string, bias: string | null, o: { cout: number; k: number; stride?: 1 | 2; groups?: number; gelu?: boolean }): string {
    const s = this.shape(x);
    const stride = o.stride ?? 1;
    const groups = o.groups ?? 1;
    const y = this.out({ c: o.cout, h: Math.ceil(s.h / stride), w: Math.ceil(s.w / stride) });
    this.ops.push({ kind: 'conv', x, y, weight, bias, cout: o.cout, k: o.k, stride, groups, gelu: o.gelu ?? false });
    return y;
  }

  batchnorm(x: string, prefix: string, eps = 1e-5): string {
    const y = this.out(this.shape(x));
    this.ops.push({ kind: 'batchnorm', x, y, gamma: `${prefix}.weight`, beta: `${prefix}.bias`, mean: `${prefix}.running_mean`, variance: `${prefix}.running_var`, eps });
    return y;
  }

  gelu(x: string): string {
    const y = this.out(this.shape(x));
    this.ops.push({ kind: 'gelu', x, y });
    return y;
  }

  add(a: string, b: string): string {
    const y = this.out(this.shape(a));
    this.ops.push({ kind: 'add', a, b, y });
    return y;
  }

  scale(x: string, scale: string): string {
    const y = this.out(this.shape(x));
    this.ops.push({ kind: 'scale', x, y, scale });
    return y;
  }

  mean(x: string): string {
    const y = this.out({ c: this.shape(x).c, h: 1, w: 1 });
    this.ops.push({ kind: 'mean', x, y });
    return y;
  }

  linear(x: string, weight: string, bias: string, out: number): string {
    const y = this.out({ c: out, h: 1, w: 1 });
    this.ops.push({ kind: 'linear', x, y, weight, bias });
    return y;
  }

  finish(output: string): MixerGraph {
    return { input: this.input, output, ops: this.ops, shapes: this.shapes, params: this.params };
  }
}

/** Parameter count of a graph (every value of every parameter). */
export function graphParameterCount(g: MixerGraph): number {
  let n = 0;
  for (const p of g.params.values()) n += p.data.length;
  return n;
}

/** Multiply-adds x 2 of a graph's convolutions and linear layers (elementwise ops not counted). */
export function graphFlops(g: MixerGraph): number {
  let f = 0;
  for (const op of g.ops) {
    if (op.kind === 'conv') {
      const cin = g.shapes.get(op.x)!.c;
      const out = g.shapes.get(op.y)!;
      f += 2 * op.cout * (cin / op.groups) * op.k * op.k * out.h * out.w;
    } else if (op.kind === 'linear') {
      f += 2 * g.shapes.get(op.y)!.c * g.shapes.get(op.x)!.c;
    }
  }
  return f;
}
