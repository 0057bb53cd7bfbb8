// A Llama-family model in training form: the forward of llm/model.ts over a batch of B sequences
// of S tokens (each from position 0, no KV cache), keeping each layer's activations, and the
// backward pass through every operation down to the token embedding:
//   embedding -> per layer [RMSNorm -> q|k|v GEMM -> RoPE -> causal GQA attention -> output GEMM
//   -> residual; RMSNorm -> FFN (dense or routed experts) -> residual] -> RMSNorm -> classifier
//   -> softmax cross-entropy (mean over the B*S predicted tokens)
// plus FactorLLM's per-layer PA and balance terms. Matrix products and attention run in wasm
// (GEMMs on the 4x8 microkernel, see runtime/backward.ts); RoPE's backward is RoPE by -θ.
// Gradients accumulate into each trainable parameter's buffer, so micro-batches add up.

import { FfnkitError } from '../errors.js';
import type { LlamaConfig, LlamaWeights } from '../model/weights.js';
import { checkWeights, headDim, kvDim } from '../model/weights.js';
import { BackwardKernels } from '../runtime/backward.js';
import type { F32Buffer } from '../runtime/buffer.js';
import { createEngine, type Engine, type EngineOptions } from '../runtime/engine.js';
import { ropeCosSin } from '../runtime/kernels.js';
import { DeviceParams, type DeviceParam, type PackedPair } from './device-params.js';
import { type AuxWeights, TrainFfn } from './expert-ffn.js';
import { namedTensors } from './params.js';

export interface TrainModelOptions extends EngineOptions {
  engine?: Engine;
  /** Sequences per micro-batch. */
  batch: number;
  /** Tokens per sequence (predicted positions; each sequence holds seqLen + 1 tokens). */
  seqLen: number;
  /** Names (see params.ts) of the tensors that train; the rest are frozen. */
  trainable: Set<string>;
}

export interface LossTerms {
  /** Mean next-token cross-entropy (nats). */
  lm: number;
  /** PA loss summed over layers (each a mean over tokens). */
  pa: number;
  /** Balance term summed over layers. */
  balance: number;
  /** Distillation term KL(teacher || model), mean per token (0 without a teacher). */
  distill: number;
  /** (1 - a) lm + a distill + aux.pa * pa + aux.balance * balance, a the distillation weight. */
  total: number;
}

/** Soft targets for a micro-batch: the teacher's next-token probabilities [B*S, vocab] and their weight a in [0, 1]. */
export interface DistillTargets {
  probs: Float32Array;
  weight: number;
}

interface LayerState {
  attnNorm: DeviceParam;
  ffnNorm: DeviceParam;
  qkv: DeviceParam;
  wo: DeviceParam;
  qkvPacked: PackedPair;
  woPacked: PackedPair;
  ffn: TrainFfn;
  // activations kept for the backward, [T, ...]
  xIn: F32Buffer;
  xa: F32Buffer;
  qkvOut: F32Buffer;
  att: F32Buffer;
  xMid: F32Buffer;
  hn: F32Buffer;
}

/**
 * Throws E_UNSUPPORTED naming the first part of the graph that training does not compute yet:
 * its forward and backward are Llama 2's (with either RoPE layout), so another family's biases,
 * norms, activations, caps, windows and RoPE factors are refused rather than trained wrongly.
 */
export function checkTrainable(w: LlamaWeights): void {
  const c = w.config;
  const graph: (keyof LlamaConfig)[] = [
    'headDim', 'activation', 'embeddingScale', 'attentionScale', 'attentionSoftcap', 'finalSoftcap', 'ropeScale', 'slidingWindow', 'ropeThetaSliding', 'ropeScaleSliding',
  ];
  const field = graph.find((f) => c[f] !== undefined);
  const layer = w.layers.flatMap((l) => (['bq', 'qNorm', 'postAttnNorm'] as const).filter((f) => l[f] !== undefined))[0];
  const what = c.family !== undefined && c.family !== 'llama' ? `the ${c.family} family`
    : field ? `its ${field}` : layer ? `its ${layer} tensors` : w.ropeFactors ? 'its RoPE frequency factors' : undefined;
  if (what) throw new FfnkitError('E_UNSUPPORTED', `training: this model has ${what}; fine-tuning computes the Llama 2 graph only`);
}

export class TrainableLlama {
  readonly config: LlamaConfig;
  readonly engine: Engine;
  readonly params: DeviceParams;
  readonly batch: number;
  readonly seqLen: number;
  private readonly bk: BackwardKernels;
  private readonly weights: LlamaWeights;
  private readonly layers: LayerState[];
  private readonly embedding: DeviceParam;
  private readonly finalNorm: DeviceParam;
  private readonly classifier: DeviceParam;
  private readonly classifierPacked: PackedPair;
  private readonly rope: F32Buffer; // [S, hd]: cos then sin of each position
  private readonly ropeBack: F32Buffer; // the same with -sin: the inverse rotation
  private readonly x: F32Buffer;
  private readonly tmp: F32Buffer;
  private readonly xFinal: F32Buffer;
  private readonly xf: F32Buffer;
  private readonly logits: F32Buffer;
  private readonly dx: F32Buffer;
  private readonly dtmp: F32Buffer;
  private readonly dqkv: F32Buffer;
  private tokens: Int32Array = new Int32Array(0);

  private constructor(weights: LlamaWeights, engine: Engine, o: TrainModelOptions) {
    const c = weights.config;
    this.config = c;
    this.engine = engine;
    this.weights = weights;
    this.batch = o.batch;
    this.seqLen = o.seqLen;
    this.bk = new BackwardKernels(engine);
    const P = new DeviceParams(engine, this.bk);
    this.params = P;
    const T = o.batch * o.seqLen;
    const kv = kvDim(c);
    const qw = c.dim + 2 * kv;
    const trains = (n: string) => o.trainable.has(n);
    this.embedding = P.add('token_embd', weights.tokenEmbedding, trains('token_embd'));
    this.classifier = c.sharedClassifier ? this.embedding : P.add('output', weights.classifier, trains('output'));
    this.classifierPacked = P.packed(this.classifier, c.vocabSize, c.dim);
    this.finalNorm = P.add('output_norm', weights.finalNorm, trains('output_norm'));
    this.layers = weights.layers.map((l, i) => {
      const b = `blk.${i}`;
      const qkvNames = [`${b}.attn_q`, `${b}.attn_k`, `${b}.attn_v`];
      const qkvTrains = qkvNames.filter(trains).length;
      if (qkvTrains !== 0 && qkvTrains !== 3) {
        throw new FfnkitError('E_UNSUPPORTED', `${b}: attn_q, attn_k and attn_v train together (one fused matrix); freeze all three or none`);
      }
      const fused = new Float32Array(qw * c.dim);
      fused.set(l.wq, 0);
      fused.set(l.wk, c.dim * c.dim);
      fused.set(l.wv, (c.dim + kv) * c.dim);
      const qkv = P.add(`${b}.attn_qkv`, fused, qkvTrains === 3);
      const wo = P.add(`${b}.attn_output`, l.wo, trains(`${b}.attn_output`));
      return {
        attnNorm: P.add(`${b}.attn_norm`, l.attnNorm, trains(`${b}.attn_norm`)),
        ffnNorm: P.add(`${b}.ffn_norm`, l.ffnNorm, trains(`${b}.ffn_norm`)),
        qkv,
        wo,
        qkvPacked: P.packed(qkv, qw, c.dim),
        woPacked: P.packed(wo, c.dim, c.dim),
        ffn: new TrainFfn(P, l, c.dim, T, b, o.trainable),
        xIn: engine.alloc(T * c.dim, `${b} input`),
        xa: engine.alloc(T * c.dim, `${b} attention input`),
        qkvOut: engine.alloc(T * qw, `${b} qkv`),
        att: engine.alloc(T * c.dim, `${b} attention output`),
        xMid: engine.alloc(T * c.dim, `${b} residual`),
        hn: engine.alloc(T * c.dim, `${b} FFN input`),
      };
    });
    const hd = headDim(c);
    this.rope = engine.alloc(o.seqLen * hd, 'rope table');
    this.ropeBack = engine.alloc(o.seqLen * hd, 'inverse rope table');
    for (let p = 0; p < o.seqLen; p++) {
      const cs = ropeCosSin(p, hd, c.ropeTheta);
      this.rope.set(cs, p * hd);
      for (let i = hd / 2; i < hd; i++) cs[i] = -cs[i]!;
      this.ropeBack.set(cs, p * hd);
    }
    this.x = engine.alloc(T * c.dim, 'residual stream');
    this.tmp = engine.alloc(T * c.dim, 'block output');
    this.xFinal = engine.alloc(T * c.dim, 'final residual');
    this.xf = engine.alloc(T * c.dim, 'final normed');
    this.logits = engine.alloc(T * c.vocabSize, 'logits');
    this.dx = engine.alloc(T * c.dim, 'residual gradient');
    this.dtmp = engine.alloc(T * Math.max(c.dim, qw), 'gradient scratch');
    this.dqkv = engine.alloc(T * qw, 'qkv gradient');
  }

  /** Uploads `weights` for training batches of `batch` x `seqLen` tokens. */
  static async create(weights: LlamaWeights, options: TrainModelOptions): Promise<TrainableLlama> {
    checkWeights(weights, 'model');
    checkTrainable(weights);
    const { batch, seqLen } = options;
    if (!Number.isInteger(batch) || batch < 1) throw new FfnkitError('E_ARG', `batch: expected an integer >= 1, found ${batch}`);
    if (!Number.isInteger(seqLen) || seqLen < 1 || seqLen > weights.config.seqLen) {
      throw new FfnkitError('E_ARG', `seq-len: expected an integer in 1..${weights.config.seqLen} (the model's context), found ${seqLen}`);
    }
    const engine = options.engine ?? (await createEngine(options));
    return new TrainableLlama(weights, engine, options);
  }

  /**
   * Loss of one micro-batch `tokens` (batch rows of seqLen + 1 ids: inputs and, shifted by one,
   * targets) and, added into the trainable parameters' gradients, its gradient times `scale`.
   */
  step(tokens: Int32Array, aux: AuxWeights, scale = 1, teacher?: DistillTargets): LossTerms {
    const c = this.config;
    const S = this.seqLen;
    this.checkTokens(tokens);
    if (teacher && (teacher.probs.length !== this.batch * S * c.vocabSize || !(teacher.weight >= 0 && teacher.weight <= 1))) {
      throw new FfnkitError('E_SHAPE', `teacher: expected ${this.batch * S} x ${c.vocabSize} probabilities and a weight in [0, 1]`);
    }
    this.tokens = tokens;
    const { pa, balance } = this.forward(aux, scale);
    const terms = this.loss(aux, pa, balance, scale, teacher);
    this.backward();
    return terms;
  }

  /** Next-token probabilities [batch * seqLen, vocab] of each input position of `tokens` (batch rows of seqLen + 1 ids; the last id of each row is not read). */
  probabilities(tokens: Int32Array): Float32Array {
    this.checkTokens(tokens);
    this.tokens = tokens;
    this.forward({ pa: 0, balance: 0 }, 1);
    const T = this.batch * this.seqLen;
    this.engine.kernels.softmax(this.logits, this.logits, T);
    return this.logits.sub(0, T * this.config.vocabSize).toArray();
  }

  private checkTokens(tokens: Int32Array): void {
    const c = this.config;
    const S = this.seqLen;
    if (tokens.length !== this.batch * (S + 1)) {
      throw new FfnkitError('E_SHAPE', `tokens: expected ${this.batch} x ${S + 1} = ${this.batch * (S + 1)} ids, found ${tokens.length}`);
    }
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) throw new FfnkitError('E_ARG', `tokens[${i}]: ${t} is outside the vocabulary of ${c.vocabSize}`);
    }
  }

  /** The layers, final norm and classifier: leaves the logits in this.logits; returns the summed PA and balance terms. */
  private forward(aux: AuxWeights, scale: number): { pa: number; balance: number } {
    const c = this.config;
    const k = this.engine.kernels;
    const S = this.seqLen;
    const B = this.batch;
    const T = B * S;
    const d = c.dim;
    const kv = kvDim(c);
    const qw = d + 2 * kv;
    const hd = headDim(c);
    const layout = c.ropeStyle === 'half' ? 'half' : 'interleaved';
    const x = this.x.sub(0, T * d);
    const emb = this.embedding.data.view();
    const xv = x.view();
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++) {
        const id = this.tokens[b * (S + 1) + s]!;
        xv.set(emb.subarray(id * d, (id + 1) * d), (b * S + s) * d);
      }
    }
    let pa = 0;
    let balance = 0;
    for (const L of this.layers) {
      L.qkvPacked.refresh();
      L.woPacked.refresh();
      L.xIn.set(x.view());
      k.rmsnorm(x, L.attnNorm.data, L.xa, T, c.normEps);
      k.gemm(L.xa, L.qkvPacked.forward, L.qkvOut, T);
      for (let t = 0; t < T; t++) {
        const row = L.qkvOut.sub(t * qw, qw);
        const cs = this.rope.sub((t % S) * hd, hd);
        k.rope(row.sub(0, d), c.nHeads, hd, cs, layout);
        k.rope(row.sub(d, kv), c.nKvHeads, hd, cs, layout);
      }
      this.bk.attentionSequence(L.qkvOut, L.att, { tokens: S, heads: c.nHeads, kvHeads: c.nKvHeads, headDim: hd, qkvStride: qw }, B);
      k.gemm(L.att, L.woPacked.forward, this.tmp, T);
      k.add(x, this.tmp, x);
      L.xMid.set(x.view());
      k.rmsnorm(x, L.ffnNorm.data, L.hn, T, c.normEps);
      const terms = L.ffn.forward(L.hn, this.tmp, T, aux, scale);
      pa += terms.pa;
      balance += terms.balance;
      k.add(x, this.tmp, x);
    }
    this.xFinal.set(x.view());
    k.rmsnorm(x, this.finalNorm.data, this.xf, T, c.normEps);
    this.classifierPacked.refresh();
    k.gemm(this.xf, this.classifierPacked.forward, this.logits, T);
    return { pa, balance };
  }

  /** Softmax cross-entropy of the logits; turns them into their gradient for `backward`. */
  private loss(aux: AuxWeights, pa: number, balance: number, scale: number, teacher: DistillTargets | undefined): LossTerms {
    const k = this.engine.kernels;
    const c = this.config;
    const S = this.seqLen;
    const B = this.batch;
    const T = B * S;
    // softmax cross-entropy against (1 - a) onehot + a teacher: the logits become their gradient
    // (p - target) * scale / T
    const V = c.vocabSize;
    k.softmax(this.logits, this.logits, T);
    const p = this.logits.view();
    const a = teacher ? teacher.weight : 0;
    let nll = 0;
    let kl = 0;
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++) {
        const t = b * S + s;
        const target = this.tokens[b * (S + 1) + s + 1]!;
        nll -= Math.log(Math.max(p[t * V + target]!, 1e-30));
        if (teacher) {
          const q = teacher.probs;
          for (let i = 0; i < V; i++) {
            const qi = q[t * V + i]!;
            if (qi > 0) kl += qi * Math.log(qi / Math.max(p[t * V + i]!, 1e-30));
            p[t * V + i]! -= a * qi;
          }
        }
        p[t * V + target]! -= 1 - a;
      }
    }
    k.scale(this.logits, scale / T, this.logits);
    const lm = nll / T;
    const distill = kl / T;
    return { lm, pa, balance, distill, total: (1 - a) * lm + a * distill + aux.pa * pa + aux.balance * balance };
  }

  private backward(): void {
    const c = this.config;
    const k = this.engine.kernels;
    const bk = this.bk;
    const S = this.seqLen;
    const B = this.batch;
    const T = B * S;
    const d = c.dim;
    const V = c.vocabSize;
    const kv = kvDim(c);
    const qw = d + 2 * kv;
    const hd = headDim(c);
    const layout = c.ropeStyle === 'half' ? 'half' : 'interleaved';
    const dx = this.dx.sub(0, T * d);
    const dt = this.dtmp.sub(0, T * d);
    // classifier and final norm
    k.gemm(this.logits, this.classifierPacked.backward, dt, T);
    if (this.classifier.grad) bk.weightGradient(this.logits, this.xf, T, V, d, this.classifier.grad);
    bk.rmsnormBackward(this.xFinal, this.finalNorm.data, dt, dx, this.finalNorm.grad, T, c.normEps);
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const L = this.layers[l]!;
      // x_out = xMid + FFN(rmsnorm(xMid))
      const dhn = this.tmp;
      L.ffn.backward(L.hn, dx, dhn);
      bk.rmsnormBackward(L.xMid, L.ffnNorm.data, dhn, dt, L.ffnNorm.grad, T, c.normEps);
      k.add(dx, dt, dx);
      // xMid = xIn + attention(rmsnorm(xIn)) · woᵀ
      const datt = this.tmp;
      k.gemm(dx, L.woPacked.backward, datt, T);
      if (L.wo.grad) bk.weightGradient(dx, L.att, T, d, d, L.wo.grad);
      const dqkv = this.dqkv.sub(0, T * qw);
      dqkv.view().fill(0);
      bk.attentionBackward(L.qkvOut, L.att, datt, dqkv, { tokens: S, heads: c.nHeads, kvHeads: c.nKvHeads, headDim: hd, qkvStride: qw }, B);
      for (let t = 0; t < T; t++) {
        const row = dqkv.sub(t * qw, qw);
        const cs = this.ropeBack.sub((t % S) * hd, hd);
        k.rope(row.sub(0, d), c.nHeads, hd, cs, layout);
        k.rope(row.sub(d, kv), c.nKvHeads, hd, cs, layout);
      }
      if (L.qkv.grad) bk.weightGradient(dqkv, L.xa, T, qw, d, L.qkv.grad);
      const dxa = this.tmp;
      k.gemm(dqkv, L.qkvPacked.backward, dxa, T);
      bk.rmsnormBackward(L.xIn, L.attnNorm.data, dxa, dt, L.attnNorm.grad, T, c.normEps);
      k.add(dx, dt, dx);
    }
    if (this.embedding.grad) {
      const g = this.embedding.grad.view();
      const dv = dx.view();
      for (let b = 0; b < B; b++) {
        for (let s = 0; s < S; s++) {
          const id = this.tokens[b * (S + 1) + s]!;
          const from = (b * S + s) * d;
          for (let i = 0; i < d; i++) g[id * d + i]! += dv[from + i]!;
        }
      }
    }
  }

  /**
   * Copies the device parameters back into the weights the model was created from, and returns
   * them. A routed layer's dense w1/w2/w3 are left as they were: the dense FFN it was factorized
   * from (the teacher of a further run), no longer the sum of its fine-tuned experts.
   */
  toWeights(): LlamaWeights {
    const c = this.config;
    const kv = kvDim(c);
    const host = namedTensors(this.weights);
    for (const p of this.params.all()) {
      const v = p.data.view();
      const m = /^blk\.(\d+)\.attn_qkv$/.exec(p.name);
      if (m) {
        const l = this.weights.layers[Number(m[1])]!;
        l.wq.set(v.subarray(0, c.dim * c.dim));
        l.wk.set(v.subarray(c.dim * c.dim, (c.dim + kv) * c.dim));
        l.wv.set(v.subarray((c.dim + kv) * c.dim));
      } else {
        host.get(p.name)!.set(v);
      }
    }
    return this.weights;
  }
}
