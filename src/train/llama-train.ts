// A model of any family LlamaModel runs, in training form: the forward of llm/model.ts over a
// batch of B sequences of S tokens (each from position 0, no KV cache), keeping each layer's
// activations, and the backward pass through every operation down to the token embedding:
//   embedding (x scale) -> per layer [RMSNorm -> q|k|v GEMM (+ bias) -> q/k head norms -> RoPE
//   -> causal GQA attention (scale, soft-cap, sliding window) -> output GEMM (-> post-norm)
//   -> residual; RMSNorm -> FFN (dense or routed experts; SwiGLU or GeGLU) (-> post-norm)
//   -> residual] -> RMSNorm -> classifier (-> soft-cap) -> softmax cross-entropy (mean over the
//   B*S predicted tokens)
// plus FactorLLM's per-layer PA and balance terms. Each family switches these steps on from its
// config and tensors as LlamaModel does. Matrix products and attention run in wasm (GEMMs on the
// 4x8 microkernel, see runtime/backward.ts); RoPE's backward is RoPE by -θ (with the same
// factors and scaling). Gradients accumulate into each trainable parameter's buffer, so
// micro-batches add up.

import { FfnkitError } from '../errors.js';
import type { LlamaConfig, LlamaWeights } from '../model/weights.js';
import { checkWeights, headDim, isSlidingLayer, kvDim, qDim } from '../model/weights.js';
import { BackwardKernels, type TrainAttentionShape } from '../runtime/backward.js';
import type { F32Buffer } from '../runtime/buffer.js';
import { createEngine, type Engine, type EngineOptions } from '../runtime/engine.js';
import { ropeCosSin, type RopeScaling } from '../runtime/kernels.js';
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

/** The rotations of one kind of layer: cos|sin rows by position, and the inverse rotation's. */
interface RopeRows {
  forward: F32Buffer;
  inverse: F32Buffer;
}

interface LayerState {
  attnNorm: DeviceParam;
  ffnNorm: DeviceParam;
  qkv: DeviceParam;
  /** bq|bk|bv in one parameter (Qwen2), packed with qkv. */
  qkvBias?: DeviceParam;
  qNorm?: DeviceParam;
  kNorm?: DeviceParam;
  wo: DeviceParam;
  postAttnNorm?: DeviceParam;
  postFfnNorm?: DeviceParam;
  qkvPacked: PackedPair;
  woPacked: PackedPair;
  ffn: TrainFfn;
  rope: RopeRows;
  attention: Pick<TrainAttentionShape, 'scale' | 'softcap' | 'window'>;
  // activations kept for the backward, [T, ...]
  xIn: F32Buffer;
  xa: F32Buffer;
  qkvOut: F32Buffer;
  /** q|k of each token before their head norms, when the family has them. */
  qkPre?: F32Buffer;
  att: F32Buffer;
  /** The attention and FFN outputs before their post-norms, when the family has them. */
  attnPre?: F32Buffer;
  ffnPre?: F32Buffer;
  xMid: F32Buffer;
  hn: F32Buffer;
}

/** The config fields training computes (every graph field LlamaModel runs). */
const TRAINED_CONFIG = new Set<string>([
  'dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'vocabSize', 'seqLen', 'normEps', 'ropeTheta', 'ropeStyle', 'sharedClassifier', 'family',
  'headDim', 'activation', 'embeddingScale', 'attentionScale', 'attentionSoftcap', 'finalSoftcap', 'ropeScale', 'slidingWindow', 'slidingPeriod',
  'ropeThetaSliding', 'ropeScaleSliding',
]);
/** The layer fields training computes. */
const TRAINED_LAYER = new Set<string>(['attnNorm', 'wq', 'wk', 'wv', 'wo', 'ffnNorm', 'w1', 'w2', 'w3', 'bq', 'bk', 'bv', 'qNorm', 'kNorm', 'postAttnNorm', 'postFfnNorm', 'routed']);
const TRAINED_MODEL = new Set<string>(['config', 'tokenEmbedding', 'layers', 'finalNorm', 'classifier', 'ropeFactors']);

/**
 * Throws E_UNSUPPORTED naming the family and the first part of the model that training does not
 * compute (a config field, layer tensor or model tensor it has no forward and backward for), so
 * nothing is trained wrongly; and E_ARG for matrices kept in ggml blocks (training is float32).
 */
export function checkTrainable(w: LlamaWeights): void {
  const family = w.config.family ?? 'llama';
  const refuse = (what: string) => new FfnkitError('E_UNSUPPORTED', `training: this ${family} model has ${what}, which fine-tuning does not compute`);
  const field = Object.keys(w.config).find((f) => !TRAINED_CONFIG.has(f) && (w.config as unknown as Record<string, unknown>)[f] !== undefined);
  if (field) throw refuse(`the config field ${field}`);
  const model = Object.keys(w).find((f) => !TRAINED_MODEL.has(f) && (w as unknown as Record<string, unknown>)[f] !== undefined);
  if (model) throw refuse(`the tensor ${model}`);
  w.layers.forEach((l, i) => {
    const f = Object.keys(l).find((k) => !TRAINED_LAYER.has(k) && (l as unknown as Record<string, unknown>)[k] !== undefined);
    if (f) throw refuse(`blk.${i}'s ${f}`);
    // Qwen2-MoE's gating (softmax over every router logit) has no backward in the expert trainer
    if (l.routed?.combination === 'softmax') {
      throw new FfnkitError('E_UNSUPPORTED', `training: blk.${i}'s routed FFN uses the 'softmax' combination (Qwen2-MoE's gating, which factorize --llamacpp writes for qwen2 models), and fine-tuning has no router gradient for it: fine-tune the factorized model before writing it with --llamacpp, or factorize with another --combination`);
    }
  });
  const blocks = [...namedTensors(w)].find(([, a]) => !(a instanceof Float32Array));
  if (blocks) throw new FfnkitError('E_ARG', `training: tensor ${blocks[0]} is in ggml blocks; fine-tuning needs float32 weights (readWeights without blocks)`);
}

/** What fuses, trains or freezes as one: q|k|v and their biases; each group all or nothing. */
function trainsTogether(trains: (n: string) => boolean, names: string[], what: string): boolean {
  const n = names.filter(trains).length;
  if (n !== 0 && n !== names.length) throw new FfnkitError('E_UNSUPPORTED', `${names.join(', ')} train together (${what}); freeze all ${names.length} or none`);
  return n === names.length;
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
  private readonly x: F32Buffer;
  private readonly tmp: F32Buffer;
  private readonly xFinal: F32Buffer;
  private readonly xf: F32Buffer;
  private readonly logits: F32Buffer;
  /** The soft-capped logits, kept for the cap's backward (final soft-cap only). */
  private readonly capped: F32Buffer | undefined;
  private readonly dx: F32Buffer;
  private readonly dtmp: F32Buffer;
  private readonly dpost: F32Buffer;
  private readonly dqkv: F32Buffer;
  private readonly dhead: F32Buffer;
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
    const d = c.dim;
    const qd = qDim(c);
    const kv = kvDim(c);
    const qw = qd + 2 * kv;
    const trains = (n: string) => o.trainable.has(n);
    this.embedding = P.add('token_embd', weights.tokenEmbedding, trains('token_embd'));
    this.classifier = c.sharedClassifier ? this.embedding : P.add('output', weights.classifier, trains('output'));
    this.classifierPacked = P.packed(this.classifier, c.vocabSize, d);
    this.finalNorm = P.add('output_norm', weights.finalNorm, trains('output_norm'));
    const ropes = ropeRows(engine, weights, o.seqLen);
    const optional = (name: string, v: Float32Array | undefined) => (v ? P.add(name, v, trains(name)) : undefined);
    const saved = (n: number, what: string, when: unknown) => (when ? engine.alloc(n, what) : undefined);
    this.layers = weights.layers.map((l, i) => {
      const b = `blk.${i}`;
      const qkvTrains = trainsTogether(trains, [`${b}.attn_q`, `${b}.attn_k`, `${b}.attn_v`], 'one fused matrix');
      const qkv = P.add(`${b}.attn_qkv`, fuse([l.wq, l.wk, l.wv]), qkvTrains);
      const qkvBias = l.bq && l.bk && l.bv
        ? P.add(`${b}.attn_qkv.bias`, fuse([l.bq, l.bk, l.bv]), trainsTogether(trains, [`${b}.attn_q.bias`, `${b}.attn_k.bias`, `${b}.attn_v.bias`], 'one fused bias'))
        : undefined;
      const wo = P.add(`${b}.attn_output`, l.wo, trains(`${b}.attn_output`));
      const sliding = isSlidingLayer(c, i);
      const L: LayerState = {
        attnNorm: P.add(`${b}.attn_norm`, l.attnNorm, trains(`${b}.attn_norm`)),
        ffnNorm: P.add(`${b}.ffn_norm`, l.ffnNorm, trains(`${b}.ffn_norm`)),
        qkv,
        wo,
        qkvPacked: P.packed(qkv, qw, d, 0, qkvBias),
        woPacked: P.packed(wo, d, qd),
        ffn: new TrainFfn(P, l, d, T, b, o.trainable, c.activation ?? 'silu'),
        rope: sliding ? ropes.sliding : ropes.global,
        attention: {
          ...(c.attentionScale !== undefined ? { scale: c.attentionScale } : {}),
          ...(c.attentionSoftcap !== undefined ? { softcap: c.attentionSoftcap } : {}),
          ...(sliding ? { window: c.slidingWindow } : {}),
        },
        xIn: engine.alloc(T * d, `${b} input`),
        xa: engine.alloc(T * d, `${b} attention input`),
        qkvOut: engine.alloc(T * qw, `${b} qkv`),
        att: engine.alloc(T * qd, `${b} attention output`),
        xMid: engine.alloc(T * d, `${b} residual`),
        hn: engine.alloc(T * d, `${b} FFN input`),
      };
      const qNorm = optional(`${b}.attn_q_norm`, l.qNorm);
      const kNorm = optional(`${b}.attn_k_norm`, l.kNorm);
      const postAttnNorm = optional(`${b}.post_attention_norm`, l.postAttnNorm);
      const postFfnNorm = optional(`${b}.post_ffw_norm`, l.postFfnNorm);
      const qkPre = saved(T * (qd + kv), `${b} q and k before their norms`, qNorm);
      const attnPre = saved(T * d, `${b} attention output before its norm`, postAttnNorm);
      const ffnPre = saved(T * d, `${b} FFN output before its norm`, postFfnNorm);
      return {
        ...L, ...(qkvBias ? { qkvBias } : {}), ...(qNorm && kNorm && qkPre ? { qNorm, kNorm, qkPre } : {}),
        ...(postAttnNorm && attnPre ? { postAttnNorm, attnPre } : {}), ...(postFfnNorm && ffnPre ? { postFfnNorm, ffnPre } : {}),
      };
    });
    const wide = Math.max(d, qd);
    this.x = engine.alloc(T * d, 'residual stream');
    this.tmp = engine.alloc(T * wide, 'block output');
    this.xFinal = engine.alloc(T * d, 'final residual');
    this.xf = engine.alloc(T * d, 'final normed');
    this.logits = engine.alloc(T * c.vocabSize, 'logits');
    this.capped = c.finalSoftcap !== undefined ? engine.alloc(T * c.vocabSize, 'soft-capped logits') : undefined;
    this.dx = engine.alloc(T * d, 'residual gradient');
    this.dtmp = engine.alloc(T * Math.max(d, qw), 'gradient scratch');
    this.dpost = engine.alloc(T * d, 'post-norm gradient');
    this.dqkv = engine.alloc(T * qw, 'qkv gradient');
    this.dhead = engine.alloc(qd, 'head norm gradient');
  }

  /** Uploads `weights` for training batches of `batch` x `seqLen` tokens. */
  static async create(weights: LlamaWeights, options: TrainModelOptions): Promise<TrainableLlama> {
    checkWeights(weights, 'model');
    checkTrainable(weights);
    const { batch, seqLen } = options;
    if (!Number.isInteger(batch) || batch < 1) throw new FfnkitError('E_ARG', `batch: expected an integer >= 1, found ${batch}`);
    if (!Number.isInteger(seqLen) || seqLen < 1 || seqLen > weights.config.seqLen) {
      throw new FfnkitError('E_ARG', `seqLen: expected an integer in 1..${weights.config.seqLen} (the model's context), found ${seqLen}`);
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
    this.run(tokens);
    const T = this.batch * this.seqLen;
    this.engine.kernels.softmax(this.logits, this.logits, T);
    return this.logits.sub(0, T * this.config.vocabSize).toArray();
  }

  /** The logits [batch * seqLen, vocab] of each input position of `tokens` (as `probabilities`): what LlamaModel's forward gives. */
  logitsOf(tokens: Int32Array): Float32Array {
    this.run(tokens);
    return this.logits.sub(0, this.batch * this.seqLen * this.config.vocabSize).toArray();
  }

  private run(tokens: Int32Array): void {
    this.checkTokens(tokens);
    this.tokens = tokens;
    this.forward({ pa: 0, balance: 0 }, 1);
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
    const x = this.x.sub(0, T * d);
    const emb = this.embedding.data.view();
    const xv = x.view();
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++) {
        const id = this.tokens[b * (S + 1) + s]!;
        xv.set(emb.subarray(id * d, (id + 1) * d), (b * S + s) * d);
      }
    }
    if (c.embeddingScale !== undefined) k.scale(x, c.embeddingScale, x);
    let pa = 0;
    let balance = 0;
    const out = this.tmp.sub(0, T * d);
    for (const L of this.layers) {
      L.xIn.set(x.view());
      this.attend(L, x, out);
      if (L.postAttnNorm) {
        L.attnPre!.set(out.view());
        k.rmsnorm(out, L.postAttnNorm.data, out, T, c.normEps);
      }
      k.add(x, out, x);
      L.xMid.set(x.view());
      k.rmsnorm(x, L.ffnNorm.data, L.hn, T, c.normEps);
      const terms = L.ffn.forward(L.hn, out, T, aux, scale);
      pa += terms.pa;
      balance += terms.balance;
      if (L.postFfnNorm) {
        L.ffnPre!.set(out.view());
        k.rmsnorm(out, L.postFfnNorm.data, out, T, c.normEps);
      }
      k.add(x, out, x);
    }
    this.xFinal.set(x.view());
    k.rmsnorm(x, this.finalNorm.data, this.xf, T, c.normEps);
    this.classifierPacked.refresh();
    const logits = this.logits.sub(0, T * c.vocabSize);
    k.gemm(this.xf, this.classifierPacked.forward, logits, T);
    if (this.capped) {
      k.softcap(logits, c.finalSoftcap!, logits);
      this.capped.set(logits.view());
    }
    return { pa, balance };
  }

  /** out[T, d] = wo · attention(q, k, v), q|k|v from RMSNorm(x) (biased, head-normed, rotated) kept in L.qkvOut. */
  private attend(L: LayerState, x: F32Buffer, out: F32Buffer): void {
    const c = this.config;
    const k = this.engine.kernels;
    const S = this.seqLen;
    const T = this.batch * S;
    const qd = qDim(c);
    const kv = kvDim(c);
    const qw = qd + 2 * kv;
    const hd = headDim(c);
    const layout = c.ropeStyle === 'half' ? 'half' : 'interleaved';
    L.qkvPacked.refresh();
    L.woPacked.refresh();
    k.rmsnorm(x, L.attnNorm.data, L.xa, T, c.normEps);
    k.gemm(L.xa, L.qkvPacked.forward, L.qkvOut, T);
    for (let t = 0; t < T; t++) {
      const row = L.qkvOut.sub(t * qw, qw);
      const q = row.sub(0, qd);
      const key = row.sub(qd, kv);
      if (L.qNorm && L.kNorm) {
        L.qkPre!.set(row.view().subarray(0, qd + kv), t * (qd + kv));
        k.rmsnorm(q, L.qNorm.data, q, c.nHeads, c.normEps);
        k.rmsnorm(key, L.kNorm.data, key, c.nKvHeads, c.normEps);
      }
      const cs = L.rope.forward.sub((t % S) * hd, hd);
      k.rope(q, c.nHeads, hd, cs, layout);
      k.rope(key, c.nKvHeads, hd, cs, layout);
    }
    this.bk.attentionSequence(L.qkvOut, L.att, this.attentionShape(L), this.batch);
    k.gemm(L.att, L.woPacked.forward, out, T);
  }

  private attentionShape(L: LayerState): TrainAttentionShape {
    const c = this.config;
    return { tokens: this.seqLen, heads: c.nHeads, kvHeads: c.nKvHeads, headDim: headDim(c), qkvStride: qDim(c) + 2 * kvDim(c), ...L.attention };
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
    const a = teacher ? teacher.weight : 0;
    // the loss from log-softmax, log p_i = z_i - lse, exact where a probability underflows: lse
    // from the softmax's largest probability (lse = z_max - log p_max, p_max >= 1/V), or in
    // float64 over the row where the teacher's KL needs every log p_i
    const z = this.logits.view();
    const targetLogit = new Float64Array(T);
    const maxAt = new Int32Array(T);
    const maxLogit = new Float64Array(T);
    let kl = 0;
    for (let t = 0; t < T; t++) {
      const row = z.subarray(t * V, (t + 1) * V);
      let m = 0;
      for (let i = 1; i < V; i++) if (row[i]! > row[m]!) m = i;
      maxAt[t] = m;
      maxLogit[t] = row[m]!;
      targetLogit[t] = row[this.tokens[Math.floor(t / S) * (S + 1) + (t % S) + 1]!]!;
      if (teacher) {
        let sum = 0;
        for (let i = 0; i < V; i++) sum += Math.exp(row[i]! - row[m]!);
        const lse = row[m]! + Math.log(sum);
        const q = teacher.probs.subarray(t * V, (t + 1) * V);
        for (let i = 0; i < V; i++) if (q[i]! > 0) kl += q[i]! * (Math.log(q[i]!) - (row[i]! - lse));
      }
    }
    k.softmax(this.logits, this.logits, T);
    const p = this.logits.view();
    let nll = 0;
    for (let t = 0; t < T; t++) nll += maxLogit[t]! - Math.log(p[t * V + maxAt[t]!]!) - targetLogit[t]!;
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++) {
        const t = b * S + s;
        if (teacher) {
          const q = teacher.probs;
          for (let i = 0; i < V; i++) p[t * V + i]! -= a * q[t * V + i]!;
        }
        p[t * V + this.tokens[b * (S + 1) + s + 1]!]! -= 1 - a;
      }
    }
    k.scale(this.logits, scale / T, this.logits);
    if (this.capped) {
      // through the soft-cap y = cap tanh(z / cap): dz = dy (1 - (y / cap)^2)
      const y = this.capped.view();
      const inv = 1 / c.finalSoftcap!;
      for (let i = 0; i < T * V; i++) {
        const r = y[i]! * inv;
        p[i]! *= 1 - r * r;
      }
    }
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
    const dx = this.dx.sub(0, T * d);
    const dt = this.dtmp.sub(0, T * d);
    const dpost = this.dpost.sub(0, T * d);
    // classifier and final norm
    k.gemm(this.logits, this.classifierPacked.backward, dt, T);
    if (this.classifier.grad) bk.weightGradient(this.logits, this.xf, T, V, d, this.classifier.grad);
    bk.rmsnormBackward(this.xFinal, this.finalNorm.data, dt, dx, this.finalNorm.grad, T, c.normEps);
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const L = this.layers[l]!;
      // x_out = xMid + post(FFN(rmsnorm(xMid)))
      let dy = dx;
      if (L.postFfnNorm) {
        bk.rmsnormBackward(L.ffnPre!, L.postFfnNorm.data, dx, dpost, L.postFfnNorm.grad, T, c.normEps);
        dy = dpost;
      }
      const dhn = this.tmp.sub(0, T * d);
      L.ffn.backward(L.hn, dy, dhn);
      bk.rmsnormBackward(L.xMid, L.ffnNorm.data, dhn, dt, L.ffnNorm.grad, T, c.normEps);
      k.add(dx, dt, dx);
      // xMid = xIn + post(attention(rmsnorm(xIn)) · woᵀ)
      dy = dx;
      if (L.postAttnNorm) {
        bk.rmsnormBackward(L.attnPre!, L.postAttnNorm.data, dx, dpost, L.postAttnNorm.grad, T, c.normEps);
        dy = dpost;
      }
      this.attendBackward(L, dy, dt);
      k.add(dx, dt, dx);
    }
    if (this.embedding.grad) {
      if (c.embeddingScale !== undefined) k.scale(dx, c.embeddingScale, dx);
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

  /** From dy[T, d], the gradient of `attend`'s output, writes dxIn[T, d] and adds the layer's attention gradients. */
  private attendBackward(L: LayerState, dy: F32Buffer, dxIn: F32Buffer): void {
    const c = this.config;
    const k = this.engine.kernels;
    const bk = this.bk;
    const S = this.seqLen;
    const T = this.batch * S;
    const d = c.dim;
    const qd = qDim(c);
    const kv = kvDim(c);
    const qw = qd + 2 * kv;
    const hd = headDim(c);
    const layout = c.ropeStyle === 'half' ? 'half' : 'interleaved';
    const datt = this.tmp.sub(0, T * qd);
    k.gemm(dy, L.woPacked.backward, datt, T);
    if (L.wo.grad) bk.weightGradient(dy, L.att, T, d, qd, L.wo.grad);
    const dqkv = this.dqkv.sub(0, T * qw);
    dqkv.view().fill(0);
    bk.attentionBackward(L.qkvOut, L.att, datt, dqkv, this.attentionShape(L), this.batch);
    for (let t = 0; t < T; t++) {
      const row = dqkv.sub(t * qw, qw);
      const cs = L.rope.inverse.sub((t % S) * hd, hd);
      const dq = row.sub(0, qd);
      const dk = row.sub(qd, kv);
      k.rope(dq, c.nHeads, hd, cs, layout);
      k.rope(dk, c.nKvHeads, hd, cs, layout);
      if (L.qNorm && L.kNorm) {
        const pre = L.qkPre!.sub(t * (qd + kv), qd + kv);
        const g = this.dhead;
        bk.rmsnormBackward(pre.sub(0, qd), L.qNorm.data, dq, g.sub(0, qd), L.qNorm.grad, c.nHeads, c.normEps);
        dq.set(g.view().subarray(0, qd));
        bk.rmsnormBackward(pre.sub(qd, kv), L.kNorm.data, dk, g.sub(0, kv), L.kNorm.grad, c.nKvHeads, c.normEps);
        dk.set(g.view().subarray(0, kv));
      }
    }
    if (L.qkvBias?.grad) {
      const gb = L.qkvBias.grad.view();
      const g = dqkv.view();
      for (let t = 0; t < T; t++) for (let i = 0; i < qw; i++) gb[i]! += g[t * qw + i]!;
    }
    if (L.qkv.grad) bk.weightGradient(dqkv, L.xa, T, qw, d, L.qkv.grad);
    const dxa = this.tmp.sub(0, T * d);
    k.gemm(dqkv, L.qkvPacked.backward, dxa, T);
    bk.rmsnormBackward(L.xIn, L.attnNorm.data, dxa, dxIn, L.attnNorm.grad, T, c.normEps);
  }

  /**
   * Copies the device parameters back into the weights the model was created from, and returns
   * them. A routed layer's dense w1/w2/w3 are left as they were: the dense FFN it was factorized
   * from (the teacher of a further run), no longer the sum of its fine-tuned experts.
   */
  toWeights(): LlamaWeights {
    const host = namedTensors(this.weights);
    for (const p of this.params.all()) {
      const v = p.data.view();
      const m = /^blk\.(\d+)\.attn_qkv(\.bias)?$/.exec(p.name);
      if (m) {
        const l = this.weights.layers[Number(m[1])]!;
        unfuse(v, m[2] ? [l.bq!, l.bk!, l.bv!] : [l.wq, l.wk, l.wv]);
      } else {
        host.get(p.name)!.set(v);
      }
    }
    return this.weights;
  }
}

/** The parts one after another in one array. */
function fuse(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The inverse of fuse: `v` copied back into the parts. */
function unfuse(v: Float32Array, parts: Float32Array[]): void {
  let at = 0;
  for (const p of parts) {
    p.set(v.subarray(at, at + p.length));
    at += p.length;
  }
}

/**
 * The rotations of the global layers and, when sliding layers rotate with another base or scale
 * (Gemma 3), of those: as LlamaModel's RoPE tables (frequency factors and linear scaling), each
 * with its inverse (the sines negated) for the backward.
 */
function ropeRows(engine: Engine, w: LlamaWeights, seqLen: number): { global: RopeRows; sliding: RopeRows } {
  const c = w.config;
  const hd = headDim(c);
  const factors = w.ropeFactors ? { factors: w.ropeFactors } : {};
  const table = (theta: number, scale: number | undefined, what: string): RopeRows => {
    const scaling: RopeScaling = { ...(scale !== undefined ? { scale } : {}), ...factors };
    const forward = engine.alloc(seqLen * hd, what);
    const inverse = engine.alloc(seqLen * hd, `inverse ${what}`);
    for (let p = 0; p < seqLen; p++) {
      const cs = ropeCosSin(p, hd, theta, scaling);
      forward.set(cs, p * hd);
      for (let i = hd / 2; i < hd; i++) cs[i] = -cs[i]!;
      inverse.set(cs, p * hd);
    }
    return { forward, inverse };
  };
  const global = table(c.ropeTheta, c.ropeScale, 'rope table');
  const theta = c.ropeThetaSliding ?? c.ropeTheta;
  const scale = c.ropeScaleSliding ?? c.ropeScale;
  const same = theta === c.ropeTheta && scale === c.ropeScale;
  return { global, sliding: same ? global : table(theta, scale, "sliding layers' rope table") };
}
