// The routed FFN of FactorLLM at run time: a router picks k of E experts per token and only
// those experts run. One token (decode): each chosen expert's packed GEMVs, added into the
// output with its weight. A block (prefill): tokens are grouped by expert (wasm gather), each
// expert runs one GEMM over its tokens, and the results are scattered back with their weights.
//
// Combination `sum`: the chosen experts' outputs added, the others dropped (MoEfication; the
// default, since the experts are slices of one FFN). `paper`: that sum scaled by E/k (the
// FactorLLM release). `weighted`: softmax over the chosen router logits (Mixtral). `softmax`: each
// chosen expert's probability under the softmax over all E logits, not renormalised (Qwen2-MoE).
// Mode `oracle` (analysis, and the PA targets) runs every expert and picks, for `paper` and
// `weighted`, the k whose outputs are closest to dense / (E/k) (the authors' d_i); for `sum`, the
// k-subset whose sum is closest to the dense output (all C(E, k) subsets are tried).

import { FfnkitError } from '../errors.js';
import { paTargets } from './oracle.js';
import { uploadMatrix, type LayerFfn } from './ffn.js';
import { type Combination, type HostMatrix, type RoutedFfnWeights, matrixRows } from '../model/weights.js';
import type { F32Buffer } from '../runtime/buffer.js';
import { weightBytes, type DenseFfn, type GateActivation, type Kernels, type PackedMatrix } from '../runtime/kernels.js';
import type { Engine } from '../runtime/engine.js';

export type RoutingMode = 'router' | 'oracle';

export class RoutedLayerFfn implements LayerFfn {
  readonly kind = 'routed';
  readonly experts: number;
  readonly dim: number;
  readonly expertHidden: number;
  combination: Combination;
  mode: RoutingMode = 'router';
  /** Tokens routed to each expert since the last `resetCounts` (statistics for the demo and tests). */
  readonly counts: Float64Array;
  private k: number;
  private readonly engine: Engine;
  private readonly router: PackedMatrix;
  private readonly ffns: DenseFfn[];
  private bufs: { cap: number; logits: F32Buffer; idx: F32Buffer; val: F32Buffer; rows: F32Buffer; weight: F32Buffer; xs: F32Buffer; ys: F32Buffer } | undefined;
  /** Every expert's output for the oracle (allocated only when the oracle runs). */
  private oracleOut: F32Buffer | undefined;

  /**
   * Uploads a routed FFN's router and experts (float32, or Q8_0 experts as int8 groups); each
   * expert gates with `activation` as the dense FFN it came from did (SwiGLU, or Gemma's GeGLU).
   */
  constructor(engine: Engine, w: RoutedFfnWeights<HostMatrix>, dim: number, where = 'routed FFN', activation: GateActivation = 'silu') {
    const k = engine.kernels;
    this.engine = engine;
    this.experts = w.experts;
    this.dim = dim;
    this.expertHidden = w.expertHidden;
    this.combination = w.combination;
    this.k = w.topK;
    this.counts = new Float64Array(w.experts);
    // the router's bias rides in its packed panels
    const routerMatrix = engine.matrix(w.experts, dim, w.router, `${where} router`);
    const bias = engine.upload(w.routerBias, `${where} router bias`);
    this.router = k.pack(routerMatrix, bias);
    routerMatrix.data.free();
    bias.free();
    const he = w.expertHidden;
    this.ffns = Array.from({ length: w.experts }, (_, e) =>
      k.denseFfnFromPacked(
        uploadMatrix(k, matrixRows(w.w1, dim, e * he, (e + 1) * he), he, dim, `${where} expert ${e} w1`),
        uploadMatrix(k, matrixRows(w.w3, dim, e * he, (e + 1) * he), he, dim, `${where} expert ${e} w3`),
        uploadMatrix(k, matrixRows(w.w2, he, e * dim, (e + 1) * dim), dim, he, `${where} expert ${e} w2`),
        activation,
      ),
    );
  }

  /** Experts used per token. */
  get topK(): number {
    return this.k;
  }

  set topK(k: number) {
    if (!Number.isInteger(k) || k < 1 || k > this.experts) {
      throw new FfnkitError('E_ARG', `top-k: expected an integer in 1..${this.experts} (the expert count), found ${k}`);
    }
    this.k = k;
  }

  /** Weight bytes one token reads: the router and k experts. */
  bytesPerToken(): number {
    const f = this.ffns[0]!;
    return weightBytes(this.router) + this.k * (weightBytes(f.w1) + weightBytes(f.w3) + weightBytes(f.w2));
  }

  /** Frees the router, the experts and the scratch buffers in the engine (the layer is unusable after). */
  free(): void {
    this.router.data.free();
    for (const f of this.ffns) for (const m of [f.w1, f.w3, f.w2]) m.data.free();
    if (this.bufs?.logits.live) for (const [key, buf] of Object.entries(this.bufs)) if (key !== 'cap') (buf as F32Buffer).free();
    if (this.oracleOut?.live) this.oracleOut.free();
    this.bufs = undefined;
    this.oracleOut = undefined;
  }

  resetCounts(): void {
    this.counts.fill(0);
  }

  private buffers(tokens: number) {
    if (!this.bufs || this.bufs.cap < tokens || !this.bufs.logits.live) {
      if (this.bufs?.logits.live) for (const [key, buf] of Object.entries(this.bufs)) if (key !== 'cap') (buf as F32Buffer).free();
      const cap = Math.max(tokens, 1);
      const e = this.engine;
      const E = this.experts;
      this.bufs = {
        cap,
        logits: e.alloc(cap * E, 'router logits'),
        idx: e.alloc(cap * E, 'chosen experts'),
        val: e.alloc(cap * E, 'chosen logits'),
        rows: e.alloc(cap, 'expert rows'),
        weight: e.alloc(cap, 'expert weights'),
        xs: e.alloc(cap * this.dim, 'expert inputs'),
        ys: e.alloc(cap * this.dim, 'expert outputs'),
      };
    }
    return this.bufs;
  }

  /** The k chosen experts (by the router, or the oracle in oracle mode) and their weights for each token: [tokens][k]. */
  route(x: F32Buffer, tokens: number): { idx: Int32Array; weight: Float32Array } {
    const kr = this.engine.kernels;
    const b = this.buffers(tokens);
    const E = this.experts;
    const k = this.k;
    const idxBuf = b.idx.sub(0, tokens * k);
    const valBuf = b.val.sub(0, tokens * k);
    if (this.mode === 'oracle') {
      this.oracle(x, tokens, idxBuf);
    } else {
      const logits = b.logits.sub(0, tokens * E);
      kr.gemm(x, this.router, logits, tokens);
      kr.topk(logits, tokens, k, idxBuf, valBuf);
    }
    const idx = idxBuf.i32().slice();
    const vals = valBuf.view();
    // the oracle's picks have no router logits: they combine as `paper` unless summed
    const oracle = this.mode === 'oracle';
    const combination = oracle && (this.combination === 'weighted' || this.combination === 'softmax') ? 'paper' : this.combination;
    const weight = combinationWeights(combination, E, k, vals, tokens, oracle ? undefined : b.logits.sub(0, tokens * E).view());
    for (let i = 0; i < tokens * k; i++) this.counts[idx[i]!]!++;
    return { idx, weight };
  }

  /** Oracle selection: every expert's output, and the PA targets against their sum (paTargets). */
  private oracle(x: F32Buffer, tokens: number, idxOut: F32Buffer): void {
    const kr = this.engine.kernels;
    const E = this.experts;
    const d = this.dim;
    if (!this.oracleOut?.live || this.oracleOut.length < E * tokens * d) {
      if (this.oracleOut?.live) this.oracleOut.free();
      this.oracleOut = this.engine.alloc(E * tokens * d, 'oracle outputs');
    }
    const outs = this.oracleOut.sub(0, E * tokens * d);
    for (let e = 0; e < E; e++) kr.ffn(this.ffns[e]!, x, outs.sub(e * tokens * d, tokens * d), tokens);
    paTargets(outs.view(), -1, E, this.k, d, tokens, this.combination, idxOut.i32());
  }

  /**
   * Every expert on `tokens` rows of x (the oracle's pass): y = the experts' sum, which is the
   * dense FFN they were cut from, and the oracle's k experts for each token, [tokens][k] (the
   * PA targets, as `route` gives them in oracle mode). Calibration uses it to record the targets
   * while the model runs, instead of a second pass over the recorded inputs.
   */
  allExperts(x: F32Buffer, y: F32Buffer, tokens: number): Int32Array {
    const kr = this.engine.kernels;
    const d = this.dim;
    const idxBuf = this.buffers(tokens).idx.sub(0, tokens * this.k);
    this.oracle(x, tokens, idxBuf);
    const out = y.sub(0, tokens * d);
    out.view().fill(0);
    for (let e = 0; e < this.experts; e++) kr.axpy(1, this.oracleOut!.sub(e * tokens * d, tokens * d), out);
    return idxBuf.i32().slice();
  }

  forward(x: F32Buffer, y: F32Buffer, tokens: number): void {
    const kr = this.engine.kernels;
    const d = this.dim;
    const k = this.k;
    const { idx, weight } = this.route(x, tokens);
    y.view().fill(0);
    const b = this.buffers(tokens);
    if (tokens === 1) {
      const out = b.ys.sub(0, d);
      for (let j = 0; j < k; j++) {
        kr.ffn(this.ffns[idx[j]!]!, x, out, 1);
        kr.axpy(weight[j]!, out, y);
      }
      return;
    }
    // group the block's tokens by expert: gather, one GEMM per expert, scatter-add
    for (let e = 0; e < this.experts; e++) {
      const rows: number[] = [];
      const ws: number[] = [];
      for (let t = 0; t < tokens; t++) {
        for (let j = 0; j < k; j++) {
          if (idx[t * k + j] === e) {
            rows.push(t);
            ws.push(weight[t * k + j]!);
          }
        }
      }
      const n = rows.length;
      if (n === 0) continue;
      b.rows.i32().set(rows);
      b.weight.view().set(ws);
      const xs = b.xs.sub(0, n * d);
      const ys = b.ys.sub(0, n * d);
      kr.gatherRows(x, b.rows, n, d, xs);
      kr.ffn(this.ffns[e]!, xs, ys, n);
      kr.scatterAddRows(ys, b.rows, b.weight, n, d, y);
    }
  }
}

/**
 * The weight of each chosen expert, [tokens][k], from the chosen router logits `vals` (each
 * token's k in descending order): `sum` 1, `paper` E/k, `weighted` the softmax of the chosen
 * logits, `softmax` the chosen experts' share of the softmax over all E logits (`logits`,
 * [tokens][E], which only it needs).
 */
export function combinationWeights(combination: Combination, E: number, k: number, vals: ArrayLike<number>, tokens: number, logits?: ArrayLike<number>): Float32Array {
  const weight = new Float32Array(tokens * k);
  if (combination === 'softmax' && !logits) throw new FfnkitError('E_UNSUPPORTED', "the 'softmax' combination needs every router logit, and this caller has only the chosen ones");
  for (let t = 0; t < tokens; t++) {
    if (combination === 'sum') {
      weight.fill(1, t * k, (t + 1) * k);
    } else if (combination === 'paper') {
      weight.fill(E / k, t * k, (t + 1) * k);
    } else {
      // a softmax over the chosen logits, or over all E (the first chosen is the largest)
      let sum = 0;
      if (combination === 'softmax') for (let e = 0; e < E; e++) sum += Math.exp(logits![t * E + e]! - vals[t * k]!);
      else for (let j = 0; j < k; j++) sum += Math.exp(vals[t * k + j]! - vals[t * k]!);
      for (let j = 0; j < k; j++) weight[t * k + j] = Math.exp(vals[t * k + j]! - vals[t * k]!) / sum;
    }
  }
  return weight;
}
