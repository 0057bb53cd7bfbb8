// The FFN of one layer in training: E experts of `he` neurons with a router choosing k per token
// (FactorLLM), or the dense gated FFN as the one-expert case (E = k = 1, no router); the gate is
// SwiGLU, or GeGLU for the Gemma families. The forward
// keeps what the backward needs; gradients reach the chosen experts only (hard top-k), with each
// token's combination weight; the router learns from the PA loss and the balance term (the
// `sum` and `paper` weights are constants), as in the paper; with the `weighted` combination
// (softmax over the chosen logits, Mixtral style) the LM loss reaches the router through the
// weights as well.
//
// PA targets are taken against a frozen teacher: the layer's dense FFN as it was when training
// started (for a factorized file, the sum of its initial experts, i.e. the original dense FFN).
// `sum` combination: the k-subset whose summed outputs are closest to the teacher's;
// `paper` / `weighted`: the k experts closest to teacher / (E/k) (the authors' d_i).

import type { Activation, Combination, LlamaLayer } from '../model/weights.js';
import { denseOfRouted } from '../model/weights.js';
import type { F32Buffer } from '../runtime/buffer.js';
import type { DenseFfn } from '../runtime/kernels.js';
import { paLoss } from '../factor/pa-loss.js';
import { paTargets } from '../llm/oracle.js';
import { combinationWeights } from '../llm/routed-ffn.js';
import type { DeviceParam, DeviceParams, PackedPair } from './device-params.js';

export interface AuxWeights {
  /** Weight of the PA loss (per layer, mean over tokens). */
  pa: number;
  /** Weight of the balance term. */
  balance: number;
}

interface Expert {
  w1: PackedPair;
  w3: PackedPair;
  w2: PackedPair;
  /** Float offsets of this expert's blocks in the gate/up and down tensors. */
  upOffset: number;
  downOffset: number;
}

export class TrainFfn {
  readonly experts: number;
  readonly topK: number;
  readonly he: number;
  private readonly dim: number;
  private readonly combination: Combination;
  private readonly activation: Activation;
  private readonly params: DeviceParams;
  private readonly w1: DeviceParam;
  private readonly w3: DeviceParam;
  private readonly w2: DeviceParam;
  private readonly router: { weight: DeviceParam; bias: DeviceParam; packed: PackedPair } | undefined;
  private readonly list: Expert[];
  private readonly teacher: DenseFfn | undefined;
  // saved by the forward for the backward (R = tokens * k routed rows, expert after expert)
  private readonly z: F32Buffer; // router logits [T, E]
  private readonly dz: F32Buffer; // their gradient from the PA and balance terms
  private readonly idx: F32Buffer; // chosen experts (int32) [T, k]
  private readonly val: F32Buffer;
  private readonly rows: F32Buffer; // token of each routed row (int32) [R]
  private readonly rowWeight: F32Buffer; // its combination weight [R]
  private readonly ones: F32Buffer;
  private readonly xs: F32Buffer; // [R, d]
  private readonly g: F32Buffer; // [R, he]
  private readonly u: F32Buffer;
  private readonly a: F32Buffer;
  private readonly ys: F32Buffer; // each routed row's expert output, before its weight [R, d]
  /** Token and slot (0..k-1) of each routed row, and its weight, on the host. */
  private rowToken = new Int32Array(0);
  private rowSlot = new Int32Array(0);
  private rowW = new Float32Array(0);
  /** Routed rows per expert, after the last forward. */
  private counts: Int32Array;
  private tokens = 0;

  constructor(params: DeviceParams, layer: LlamaLayer, dim: number, maxTokens: number, prefix: string, trainable: Set<string>, activation: Activation = 'silu') {
    const e = params.engine;
    this.params = params;
    this.dim = dim;
    this.activation = activation;
    const r = layer.routed;
    if (r) {
      this.experts = r.experts;
      this.topK = r.topK;
      this.he = r.expertHidden;
      this.combination = r.combination;
      this.w1 = params.add(`${prefix}.ffn_gate_exps`, r.w1, trainable.has(`${prefix}.ffn_gate_exps`));
      this.w3 = params.add(`${prefix}.ffn_up_exps`, r.w3, trainable.has(`${prefix}.ffn_up_exps`));
      this.w2 = params.add(`${prefix}.ffn_down_exps`, r.w2, trainable.has(`${prefix}.ffn_down_exps`));
      const weight = params.add(`${prefix}.ffn_gate_inp`, r.router, trainable.has(`${prefix}.ffn_gate_inp`));
      const bias = params.add(`${prefix}.ffn_gate_inp.bias`, r.routerBias, trainable.has(`${prefix}.ffn_gate_inp.bias`));
      this.router = { weight, bias, packed: params.packed(weight, r.experts, dim, 0, bias) };
      const dense = denseOfRouted(r, dim);
      const k = e.kernels;
      this.teacher = k.denseFfnFromPacked(
        k.packFrom(dense.w1, dense.hidden, dim, `${prefix} teacher w1`),
        k.packFrom(dense.w3, dense.hidden, dim, `${prefix} teacher w3`),
        k.packFrom(dense.w2, dim, dense.hidden, `${prefix} teacher w2`),
        activation,
      );
    } else {
      this.experts = 1;
      this.topK = 1;
      this.he = layer.w1.length / dim;
      this.combination = 'sum';
      this.w1 = params.add(`${prefix}.ffn_gate`, layer.w1, trainable.has(`${prefix}.ffn_gate`));
      this.w3 = params.add(`${prefix}.ffn_up`, layer.w3, trainable.has(`${prefix}.ffn_up`));
      this.w2 = params.add(`${prefix}.ffn_down`, layer.w2, trainable.has(`${prefix}.ffn_down`));
    }
    const he = this.he;
    this.list = Array.from({ length: this.experts }, (_, i) => ({
      w1: params.packed(this.w1, he, dim, i * he * dim),
      w3: params.packed(this.w3, he, dim, i * he * dim),
      w2: params.packed(this.w2, dim, he, i * dim * he),
      upOffset: i * he * dim,
      downOffset: i * dim * he,
    }));
    const E = this.experts;
    const R = maxTokens * this.topK;
    this.z = e.alloc(maxTokens * E, `${prefix} router logits`);
    this.dz = e.alloc(maxTokens * E, `${prefix} router logit gradient`);
    this.idx = e.alloc(maxTokens * this.topK, `${prefix} chosen experts`);
    this.val = e.alloc(maxTokens * this.topK, `${prefix} chosen logits`);
    this.rows = e.alloc(R, `${prefix} routed rows`);
    this.rowWeight = e.alloc(R, `${prefix} routed weights`);
    this.ones = e.alloc(R, 'ones');
    this.ones.view().fill(1);
    this.xs = e.alloc(R * dim, `${prefix} expert inputs`);
    this.g = e.alloc(R * he, `${prefix} gate`);
    this.u = e.alloc(R * he, `${prefix} up`);
    this.a = e.alloc(R * he, `${prefix} activations`);
    this.ys = e.alloc(R * dim, `${prefix} expert outputs`);
    this.counts = new Int32Array(E);
  }

  /**
   * y[T, d] = FFN(h[T, d]); keeps the routing and activations for `backward`. With a router,
   * also computes the PA and balance terms (means over the T tokens) and their gradient with
   * respect to the router logits, scaled by `scale` (the caller's loss scale).
   */
  forward(h: F32Buffer, y: F32Buffer, T: number, aux: AuxWeights, scale: number): { pa: number; balance: number } {
    const k = this.params.engine.kernels;
    const d = this.dim;
    const E = this.experts;
    const K = this.topK;
    const he = this.he;
    this.tokens = T;
    for (const ex of this.list) {
      ex.w1.refresh();
      ex.w3.refresh();
      ex.w2.refresh();
    }
    // routing: which experts each token uses, grouped expert after expert in token order
    const chosen = new Int32Array(T * K);
    let weight: Float32Array = new Float32Array(T * K).fill(1);
    let terms = { pa: 0, balance: 0 };
    if (this.router) {
      this.router.packed.refresh();
      const z = this.z.sub(0, T * E);
      k.gemm(h, this.router.packed.forward, z, T);
      k.topk(z, T, K, this.idx.sub(0, T * K), this.val.sub(0, T * K));
      chosen.set(this.idx.i32().subarray(0, T * K));
      weight = combinationWeights(this.combination, E, K, this.val.view(), T);
      if (aux.pa !== 0 || aux.balance !== 0) terms = this.auxLoss(h, T, aux, scale);
      else this.dz.sub(0, T * E).view().fill(0);
    }
    this.counts = new Int32Array(E);
    for (let i = 0; i < T * K; i++) this.counts[chosen[i]!]!++;
    const start = new Int32Array(E);
    for (let e = 1; e < E; e++) start[e] = start[e - 1]! + this.counts[e - 1]!;
    const rowsHost = new Int32Array(T * K);
    const slotHost = new Int32Array(T * K);
    const weightHost = new Float32Array(T * K);
    const fill = start.slice();
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < K; j++) {
        const e = chosen[t * K + j]!;
        rowsHost[fill[e]!] = t;
        slotHost[fill[e]!] = j;
        weightHost[fill[e]!++] = weight[t * K + j]!;
      }
    }
    this.rowToken = rowsHost;
    this.rowSlot = slotHost;
    this.rowW = weightHost;
    this.rows.i32().set(rowsHost);
    this.rowWeight.view().set(weightHost);
    y.sub(0, T * d).view().fill(0);
    for (let e = 0; e < E; e++) {
      const n = this.counts[e]!;
      if (n === 0) continue;
      const r0 = start[e]!;
      const ex = this.list[e]!;
      const xs = this.xs.sub(r0 * d, n * d);
      const g = this.g.sub(r0 * he, n * he);
      const u = this.u.sub(r0 * he, n * he);
      const a = this.a.sub(r0 * he, n * he);
      const ys = this.ys.sub(r0 * d, n * d);
      k.gatherRows(h, this.rows.sub(r0, n), n, d, xs);
      k.gemm(xs, ex.w1.forward, g, n);
      k.gemm(xs, ex.w3.forward, u, n);
      if (this.activation === 'gelu-tanh') k.geglu(g, u, a);
      else k.swiglu(g, u, a);
      k.gemm(a, ex.w2.forward, ys, n);
      k.scatterAddRows(ys, this.rows.sub(r0, n), this.rowWeight.sub(r0, n), n, d, y);
    }
    return terms;
  }

  /** PA targets from every expert's output against the teacher, and the router-logit gradient. */
  private auxLoss(h: F32Buffer, T: number, aux: AuxWeights, scale: number): { pa: number; balance: number } {
    const k = this.params.engine.kernels;
    const bk = this.params.bk;
    const d = this.dim;
    const E = this.experts;
    const K = this.topK;
    const outs = bk.scratchFor('all expert outputs', (E + 1) * T * d);
    k.ffn(this.teacher!, h, outs.sub(E * T * d, T * d), T);
    for (let e = 0; e < E; e++) {
      const ex = this.list[e]!;
      k.ffn(k.denseFfnFromPacked(ex.w1.forward, ex.w3.forward, ex.w2.forward, this.activation), h, outs.sub(e * T * d, T * d), T);
    }
    const o = outs.view();
    const z = this.z.view();
    const targets = new Int32Array(T * K);
    paTargets(o, E * T * d, E, K, d, T, this.combination, targets);
    const grad = new Float64Array(E);
    let pa = 0;
    let balance = 0;
    const dz = this.dz.view();
    for (let t = 0; t < T; t++) {
      const target = targets.subarray(t * K, (t + 1) * K);
      grad.fill(0);
      const terms = paLoss(z.subarray(t * E, (t + 1) * E), target, K, aux.balance, grad, aux.pa);
      pa += terms.pa;
      balance += terms.balance;
      for (let e = 0; e < E; e++) dz[t * E + e] = (grad[e]! * scale) / T;
    }
    return { pa: pa / T, balance: balance / T };
  }

  /** From dy[T, d] (the gradient of this FFN's output) writes dh[T, d] and adds the parameter gradients. */
  backward(h: F32Buffer, dy: F32Buffer, dh: F32Buffer): void {
    const k = this.params.engine.kernels;
    const bk = this.params.bk;
    const d = this.dim;
    const he = this.he;
    const T = this.tokens;
    dh.sub(0, T * d).view().fill(0);
    let r0 = 0;
    for (let e = 0; e < this.experts; e++) {
      const n = this.counts[e]!;
      if (n === 0) continue;
      const ex = this.list[e]!;
      const xs = this.xs.sub(r0 * d, n * d);
      const g = this.g.sub(r0 * he, n * he);
      const u = this.u.sub(r0 * he, n * he);
      const a = this.a.sub(r0 * he, n * he);
      const rows = this.rows.sub(r0, n);
      // dys = weight * dy of each routed row
      const dys = bk.scratchFor('expert dy', n * d).sub(0, n * d);
      k.gatherRows(dy, rows, n, d, dys);
      const dv = dys.view();
      const w = this.rowWeight.sub(r0, n).view();
      for (let i = 0; i < n; i++) {
        const wi = w[i]!;
        if (wi !== 1) for (let j = 0; j < d; j++) dv[i * d + j]! *= wi;
      }
      if (this.w2.grad) bk.weightGradient(dys, a, n, d, he, this.w2.grad.sub(ex.downOffset, d * he));
      const da = bk.scratchFor('expert da', n * he).sub(0, n * he);
      const dg = bk.scratchFor('expert dg', n * he).sub(0, n * he);
      const du = bk.scratchFor('expert du', n * he).sub(0, n * he);
      k.gemm(dys, ex.w2.backward, da, n);
      if (this.activation === 'gelu-tanh') bk.gegluBackward(g, u, da, dg, du);
      else bk.swigluBackward(g, u, da, dg, du);
      if (this.w1.grad) bk.weightGradient(dg, xs, n, he, d, this.w1.grad.sub(ex.upOffset, he * d));
      if (this.w3.grad) bk.weightGradient(du, xs, n, he, d, this.w3.grad.sub(ex.upOffset, he * d));
      const dxs = bk.scratchFor('expert dx', 2 * n * d);
      const dx1 = dxs.sub(0, n * d);
      const dx3 = dxs.sub(n * d, n * d);
      k.gemm(dg, ex.w1.backward, dx1, n);
      k.gemm(du, ex.w3.backward, dx3, n);
      k.add(dx1, dx3, dx1);
      k.scatterAddRows(dx1, rows, this.ones.sub(0, n), n, d, dh);
      r0 += n;
    }
    if (this.router) {
      // the router's input gradient and its own, from the PA / balance logit gradient and, for
      // `weighted`, the softmax weights: dL/dz_j = w_j (dL/dw_j - sum_i w_i dL/dw_i)
      const E = this.experts;
      const K = this.topK;
      const dz = this.dz.sub(0, T * E);
      if (this.combination === 'weighted') {
        const dw = new Float64Array(T * K);
        const dyv = dy.view();
        const ysv = this.ys.view();
        for (let r = 0; r < T * K; r++) {
          const t = this.rowToken[r]!;
          let s = 0;
          for (let i = 0; i < d; i++) s += dyv[t * d + i]! * ysv[r * d + i]!;
          dw[t * K + this.rowSlot[r]!] = s;
        }
        const w = new Float64Array(T * K);
        const chosen = new Int32Array(T * K);
        for (let r = 0; r < T * K; r++) {
          const at = this.rowToken[r]! * K + this.rowSlot[r]!;
          w[at] = this.rowW[r]!;
        }
        chosen.set(this.idx.i32().subarray(0, T * K));
        const dzv = dz.view();
        for (let t = 0; t < T; t++) {
          let mean = 0;
          for (let j = 0; j < K; j++) mean += w[t * K + j]! * dw[t * K + j]!;
          for (let j = 0; j < K; j++) dzv[t * E + chosen[t * K + j]!]! += w[t * K + j]! * (dw[t * K + j]! - mean);
        }
      }
      const r = this.router;
      if (r.weight.grad) bk.weightGradient(dz, h, T, E, d, r.weight.grad);
      if (r.bias.grad) {
        const gb = r.bias.grad.view();
        const dzv = dz.view();
        for (let t = 0; t < T; t++) for (let e = 0; e < E; e++) gb[e]! += dzv[t * E + e]!;
      }
      const dhr = bk.scratchFor('router dh', T * d).sub(0, T * d);
      k.gemm(dz, r.packed.backward, dhr, T);
      k.add(dh.sub(0, T * d), dhr, dh.sub(0, T * d));
    }
  }

  /** Routed rows per expert in the last forward. */
  expertCounts(): Int32Array {
    return this.counts.slice();
  }
}
