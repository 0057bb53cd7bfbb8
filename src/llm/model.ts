// A Llama-family decoder on the wasm kernels: token embedding, per layer RMSNorm -> fused QKV
// projection -> RoPE -> grouped-query attention over a KV cache -> output projection -> residual,
// RMSNorm -> FFN -> residual; final RMSNorm and classifier. The same code runs a prompt in blocks
// (GEMM on packed weights) and decodes one token at a time (the packed GEMV); both paths give the
// same logits up to float32 summation order.
//
// The other families are the same steps with the options their config turns on (see LlamaConfig):
// q/k/v biases (Qwen2), per-head q/k RMSNorm (Qwen3, Gemma 3), NEOX rotation, RoPE factors and
// scaling, GeGLU, an embedding scale, post-attention and post-FFN norms, soft-capped attention
// and logits, sliding-window layers with their own RoPE base (Gemma 2/3). Each step of a layer
// is one short method below; a family is data, not another copy of the pass.

import { FfnkitError } from '../errors.js';
import type { Engine } from '../runtime/engine.js';
import { createEngine, type EngineOptions } from '../runtime/engine.js';
import type { F32Buffer } from '../runtime/buffer.js';
import { weightBytes, type AttentionShape, type GemmWeights, type KvCache } from '../runtime/kernels.js';
import { isTokenizer, type Tokenizer } from '../formats/tokenizer.js';
import type { ChatVocabulary } from '../formats/chat-vocabulary.js';
import type { ChatMessage } from '../text/chat-template.js';
import type { FfnSkip } from './skip.js';
import { RoutedLayerFfn } from './routed-ffn.js';
import { DenseLayerFfn, uploadMatrix, uploadStacked, type LayerFfn } from './ffn.js';
import { generate, type FinishReason, type GenerateOptions } from './generate.js';
import { chat, type ChatOptions } from './chat.js';
import { kvCacheBytes, kvLayerFloats, modelMemoryBytes, weightTypes } from './memory.js';
import { checkOptions, parseKvCache, type OptionKind } from './options.js';
import { RopeTable, type RopeParams } from './rope.js';
import {
  type HostMatrix, type LlamaConfig, type LlamaLayer, type LlamaWeights, checkWeights, headDim, isSlidingLayer, kvDim, matrixRowF32, qDim, stackRows,
} from '../model/weights.js';

/**
 * The type of a model's matrices: 'f32', a ggml type in lowercase ('q8_0', 'q4_k'), or for mixed
 * weights the types joined by '+', most frequent first ('q4_k+q6_k').
 */
export type WeightType = string;

export interface ModelOptions extends EngineOptions {
  /** Run in this engine instead of creating one. */
  engine?: Engine;
  /** Tokens per prefill block (GEMM rows). Default 64. */
  blockSize?: number;
  /**
   * Called as the weights upload: after the classifier (`done` 1) and after each layer, of
   * `total` = layers + 1. With it, the upload yields to the event loop between layers, so a page
   * can repaint its progress (a 1.1B model in Q8_0 takes seconds to regroup).
   */
  onProgress?: (done: number, total: number) => void;
  /**
   * How the KV cache holds keys and values: 'f32' (default); 'f16', IEEE halves (half the
   * memory; the attention sums stay f32); 'f16-flash', halves summed as llama.cpp's CPU flash
   * attention sums its default f16 cache (the query rounded to halves, the output accumulated
   * in halves): llama.cpp's logits, at a little less accuracy than 'f16'.
   */
  kvCache?: KvCache;
}

/** The option keys of loadModel and LlamaModel.create, with their kinds (every key of ModelOptions: the compiler holds them together). */
export const MODEL_OPTION_KINDS = {
  backend: 'string', initialMiB: 'number', threads: 'integer', spinMs: 'number', threadTimeoutMs: 'number', integerDot: 'string',
  engine: 'object', blockSize: 'integer', onProgress: 'function', kvCache: 'string',
} as const satisfies Record<keyof ModelOptions, OptionKind>;

interface DeviceLayer {
  attnNorm: F32Buffer;
  /** wq, wk and wv stacked: qDim + 2*kvDim output features, one GEMV stream per token. */
  wqkv: GemmWeights;
  /** bq, bk and bv stacked, when the family has them. */
  qkvBias?: F32Buffer;
  /** Per-head RMSNorm weights of q and k, when the family has them. */
  qNorm?: F32Buffer;
  kNorm?: F32Buffer;
  wo: GemmWeights;
  /** RMSNorm of the attention output before its residual add, when the family has it. */
  postAttnNorm?: F32Buffer;
  ffnNorm: F32Buffer;
  ffn: LayerFfn;
  postFfnNorm?: F32Buffer;
  /** The rotations of this layer's kind (sliding layers may have their own base). */
  rope: RopeTable;
  /** Scale, soft-cap and window of this layer's attention; empty for Llama's plain attention. */
  attention: Pick<AttentionShape, 'scale' | 'softcap' | 'window'>;
}

export interface ForwardOptions {
  /** Return the logits of every token (tokens x vocab) instead of only the last. */
  allLogits?: boolean;
}

export class LlamaModel {
  readonly config: LlamaConfig;
  readonly engine: Engine;
  /** Tokens per prefill block. */
  readonly blockSize: number;
  /** Position of the next token: how many tokens the KV cache holds. */
  position = 0;
  /** How the KV cache holds keys and values (see ModelOptions.kvCache). */
  readonly kvCache: KvCache;
  /** The file format the weights came from, when loaded with `loadModel`. */
  format?: string;
  /** The vocabulary stored with the model (GGUF), if any. */
  tokenizer?: Tokenizer;
  /** The chat template and special tokens stored with the model (GGUF metadata, tokenizer_config.json), if any. */
  chatVocabulary?: ChatVocabulary;
  /** FFN skipping consulted on decode steps (one token per forward call); prefill never skips. */
  skip: FfnSkip | undefined;
  /** Decode steps since the last reset (what a skip policy's warm-up counts). */
  decodeSteps = 0;
  readonly layers: DeviceLayer[];
  private readonly tokenEmbedding: HostMatrix;
  private readonly finalNorm: F32Buffer;
  private readonly classifier: GemmWeights;
  private readonly kCache: F32Buffer;
  private readonly vCache: F32Buffer;
  /** Floats of one layer's keys (or values) in kCache (vCache): seq_len rows, halves two to a float. */
  private readonly layerFloats: number;
  /** The token at each position of the KV cache (the first `position` are valid). */
  private readonly cacheIds: Int32Array;
  /** What holds the model (a generation, between its tokens), for the E_BUSY message. */
  private holder: string | undefined;
  private readonly x: F32Buffer;
  private readonly xb: F32Buffer;
  private readonly xb2: F32Buffer;
  private readonly qkv: F32Buffer;
  private readonly logits: F32Buffer;

  private constructor(weights: LlamaWeights<HostMatrix>, engine: Engine, blockSize: number, classifier: GemmWeights, layers: DeviceLayer[], kvCache: KvCache) {
    const c = weights.config;
    this.config = c;
    this.engine = engine;
    this.blockSize = blockSize;
    const kv = kvDim(c);
    this.classifier = classifier;
    this.layers = layers;
    this.tokenEmbedding = weights.tokenEmbedding;
    this.finalNorm = engine.upload(weights.finalNorm, 'final_norm');
    this.kvCache = kvCache;
    this.layerFloats = kvLayerFloats(c, kvCache);
    this.kCache = engine.alloc(c.nLayers * this.layerFloats, 'key cache');
    this.vCache = engine.alloc(c.nLayers * this.layerFloats, 'value cache');
    this.cacheIds = new Int32Array(c.seqLen);
    this.x = engine.alloc(blockSize * c.dim, 'residual stream');
    // the normed input, and then the attention output (qDim wide)
    this.xb = engine.alloc(blockSize * Math.max(c.dim, qDim(c)), 'normed activations');
    this.xb2 = engine.alloc(blockSize * c.dim, 'block output');
    this.qkv = engine.alloc(blockSize * (qDim(c) + 2 * kv), 'qkv');
    this.logits = engine.alloc(blockSize * c.vocabSize, 'logits');
  }

  /**
   * Uploads checked weights into an engine (a new one unless `options.engine` is given): float32
   * matrices as f32 panels, block matrices (from `readWeights(..., { blocks: 'runnable' })`) in
   * their own ggml types (Q8_0 as int8 groups), never widened.
   */
  static async create(weights: LlamaWeights<HostMatrix>, options: ModelOptions = {}): Promise<LlamaModel> {
    checkOptions(options, MODEL_OPTION_KINDS, 'LlamaModel.create');
    checkWeights(weights, 'model');
    const blockSize = options.blockSize ?? 64;
    if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 4096) {
      throw new FfnkitError('E_ARG', `blockSize: expected an integer in 1..4096, found ${blockSize}`);
    }
    const kvCache = options.kvCache === undefined ? 'f32' : parseKvCache(options.kvCache, 'kvCache');
    const need = LlamaModel.memoryBytes(weights.config, blockSize, weights, kvCache);
    if (need > 4 * 2 ** 30) {
      const c = weights.config;
      const cache = kvCacheBytes(c, kvCache) / 2 ** 30;
      throw new FfnkitError(
        'E_MEMORY',
        `model: needs ${need.toLocaleString('en-US')} bytes (${(need / 2 ** 30).toFixed(2)} GiB) of wasm memory, of which the ${kvCache} KV cache for seq_len ${c.seqLen} ${cache.toFixed(2)} GiB; wasm32 holds 4 GiB`,
      );
    }
    const engine = options.engine ?? (await createEngine(options));
    const c = weights.config;
    const report = options.onProgress;
    const total = c.nLayers + 1;
    // the largest matrix first, while the memory is still one free run
    const classifier = uploadMatrix(engine.kernels, weights.classifier, c.vocabSize, c.dim, 'classifier');
    report?.(1, total);
    const ropes = ropeTables(engine, weights);
    const layers: DeviceLayer[] = [];
    for (const [i, l] of weights.layers.entries()) {
      if (report) await new Promise((resolve) => setTimeout(resolve, 0));
      layers.push(uploadLayer(engine, l, c, i, ropes));
      report?.(i + 2, total);
    }
    return new LlamaModel(weights, engine, blockSize, classifier, layers, kvCache);
  }

  /**
   * Wasm memory a model of this shape needs: its weights as uploaded (every matrix in one type, 'f32'
   * or a ggml type such as 'q8_0', or the given weights each in its own), KV cache (of `kvCache`
   * values: halves take half the bytes), RoPE table, activations.
   */
  static memoryBytes(c: LlamaConfig, blockSize = 64, weights: WeightType | LlamaWeights<HostMatrix> = 'f32', kvCache: KvCache = 'f32'): number {
    return modelMemoryBytes(c, blockSize, weights, parseKvCache(kvCache, 'kvCache'));
  }

  /**
   * Streams the continuation of `prompt` as text pieces (an async iterator), with the model's own
   * vocabulary or the tokenizer given first. Starts from an empty cache. Options: maxTokens,
   * temperature (0 = greedy), topP, topK, minP, penalties, seed, stop, signal, yield, onToken.
   */
  generate(prompt: string, options?: GenerateOptions): AsyncGenerator<string, FinishReason>;
  /** `tokenizer` undefined: the model's own (so `generate(model.tokenizer, ...)` type-checks). */
  generate(tokenizer: Tokenizer | undefined, prompt: string, options?: GenerateOptions): AsyncGenerator<string, FinishReason>;
  generate(first: Tokenizer | string | undefined, second?: string | GenerateOptions, third?: GenerateOptions): AsyncGenerator<string, FinishReason> {
    // (tokenizer, prompt, options) when a tokenizer or a prompt text says so; anything else is
    // (prompt, options), so that generate(5) or generate(undefined, options) is named as the prompt
    if (isTokenizer(first) || typeof second === 'string') return generate(this, first as Tokenizer | undefined, second as string, third);
    return generate(this, undefined, first as string, second as GenerateOptions | undefined);
  }

  /**
   * Streams the assistant's reply to `messages` (rendered with the model's chat template or
   * `options.template`). Reuses the KV cache up to the longest common prefix with what it holds,
   * so a conversation that grows by a turn prefills only the new tokens. A `ChatSession` keeps
   * the conversation for you.
   */
  chat(messages: readonly ChatMessage[], options?: ChatOptions): AsyncGenerator<string, FinishReason> {
    return chat(this, messages, options);
  }

  /**
   * Reserves the model for `what` (one generation at a time: they share the KV cache) until the
   * returned release is called. Throws E_BUSY while something else holds it.
   */
  reserve(what: string): () => void {
    if (this.holder !== undefined) {
      throw new FfnkitError('E_BUSY', `model: busy with ${this.holder}; one generation at a time per model (wait for it to end, or end it with its AbortSignal)`);
    }
    this.holder = what;
    let held = true;
    return () => {
      if (held) this.holder = undefined;
      held = false;
    };
  }

  /** True while a generation holds the model. */
  get busy(): boolean {
    return this.holder !== undefined;
  }

  /** The tokens the KV cache holds, in order (a copy). */
  cachedTokens(): Int32Array {
    return this.cacheIds.slice(0, this.position);
  }

  /** Keeps the first `length` tokens of the KV cache and forgets the rest: the next token is position `length`. */
  truncate(length: number): void {
    if (!Number.isInteger(length) || length < 0 || length > this.position) {
      throw new FfnkitError('E_ARG', `truncate: length must be an integer in 0..${this.position} (the cached tokens), found ${length}`);
    }
    this.position = length;
  }

  /** Bytes of weights (as uploaded: panels or blocks) a decoded token streams from memory (every matrix once; routed FFNs: the k experts used). */
  weightBytes(): number {
    let bytes = weightBytes(this.classifier);
    for (const l of this.layers) {
      bytes += weightBytes(l.wqkv) + weightBytes(l.wo) + 2 * 4 * l.attnNorm.length + l.ffn.bytesPerToken();
    }
    return bytes;
  }

  /**
   * Flops of the matrix products (2 per weight) for `tokens` tokens in one forward call: every
   * layer for each token, the classifier for the last one only (or for each with `allLogits`).
   */
  matmulFlops(tokens: number, allLogits = false): number {
    const c = this.config;
    const kv = kvDim(c);
    const layers = c.nLayers * (c.dim * (qDim(c) + 2 * kv) + c.dim * qDim(c) + 3 * c.dim * c.hiddenDim);
    return 2 * (tokens * layers + (allLogits ? tokens : 1) * c.vocabSize * c.dim);
  }

  /** Throws unless `tokenizer` has this model's vocabulary size. */
  checkTokenizer(tokenizer: Tokenizer): void {
    if (tokenizer.vocabSize !== this.config.vocabSize) {
      throw new FfnkitError('E_ARG', `tokenizer: ${tokenizer.source} has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${this.config.vocabSize}`);
    }
  }

  /** Empties the KV cache: the next token is position 0. */
  reset(): void {
    this.position = 0;
    this.decodeSteps = 0;
  }

  /** The FFN of each layer (swap one to change how that layer's FFN is computed). */
  get ffns(): LayerFfn[] {
    return this.layers.map((l) => l.ffn);
  }

  /**
   * Runs `tokens` at positions `position`, `position`+1, ... (appending to the KV cache) and
   * returns the logits of the last token, or of every token with `allLogits`. Throws E_ARG when
   * the tokens would pass the context length: the caller decides what to drop.
   */
  forward(tokens: ArrayLike<number>, options: ForwardOptions = {}): Float32Array {
    const c = this.config;
    const n = tokens.length;
    if (n === 0) throw new FfnkitError('E_ARG', 'tokens: expected at least one token');
    if (this.position + n > c.seqLen) {
      throw new FfnkitError('E_ARG', `context: ${this.position} cached + ${n} new tokens exceed the model's seq_len ${c.seqLen}`);
    }
    for (let i = 0; i < n; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) {
        throw new FfnkitError('E_ARG', `tokens[${i}]: ${t} is outside the vocabulary of ${c.vocabSize}`);
      }
    }
    const all = options.allLogits === true;
    const first = this.position;
    const out = new Float32Array((all ? n : 1) * c.vocabSize);
    for (let start = 0; start < n; start += this.blockSize) {
      const t = Math.min(this.blockSize, n - start);
      // logits of every block's tokens, or only of the last token of the last block
      const rows = all ? t : start + t === n ? 1 : 0;
      this.block(tokens, start, t, rows);
      if (rows > 0) out.set(this.logits.view().subarray(0, rows * c.vocabSize), all ? start * c.vocabSize : 0);
    }
    checkLogits(out, c.vocabSize, all ? first : first + n - 1, all ? tokens : [tokens[n - 1]!]);
    return out;
  }

  /** One block of t tokens; leaves the logits of its last `rows` tokens (0, 1 or t) in this.logits. */
  private block(tokens: ArrayLike<number>, start: number, t: number, rows: number): void {
    const x = this.x.sub(0, t * this.config.dim);
    this.embed(tokens, start, t, x);
    const skip = t === 1 ? this.skip : undefined;
    if (skip) skip.beginToken(this.decodeSteps++);
    this.layers.forEach((layer, l) => {
      this.attend(layer, l, x, t);
      if (skip && !skip.runs(l)) return; // FFN skipped: the residual stream passes unchanged
      this.feedForward(layer, l, x, t, skip);
    });
    this.position += t;
    if (rows > 0) this.classify(x, t, rows); // a prompt block before the last: no one reads its logits
  }

  /** x = the embeddings of tokens[start .. start+t-1], times the family's scale. */
  private embed(tokens: ArrayLike<number>, start: number, t: number, x: F32Buffer): void {
    const dim = this.config.dim;
    const xv = x.view();
    for (let i = 0; i < t; i++) {
      const id = tokens[start + i]!;
      this.cacheIds[this.position + i] = id;
      matrixRowF32(this.tokenEmbedding, dim, id, xv.subarray(i * dim, (i + 1) * dim));
    }
    if (this.config.embeddingScale !== undefined) this.engine.kernels.scale(x, this.config.embeddingScale, x);
  }

  /**
   * x += wo · attention(q, k, v) for t tokens at this.position (post-normed when the family says
   * so), q, k, v projected from RMSNorm(x); their k and v join layer l's cache.
   */
  private attend(layer: DeviceLayer, l: number, x: F32Buffer, t: number): void {
    const c = this.config;
    const k = this.engine.kernels;
    const kv = kvDim(c);
    const width = qDim(c) + 2 * kv;
    const qkv = this.qkv.sub(0, t * width);
    const xb = this.xb.sub(0, t * c.dim);
    k.rmsnorm(x, layer.attnNorm, xb, t, c.normEps);
    k.gemm(xb, layer.wqkv, qkv, t);
    if (layer.qkvBias) k.addRowBias(qkv, layer.qkvBias, t);
    for (let i = 0; i < t; i++) this.placeQkv(layer, l, qkv.sub(i * width, width), this.position + i);
    const halves = this.kvCache !== 'f32';
    const rows = (this.position + t) * kv;
    const cacheFloats = halves ? Math.ceil(rows / 2) : rows;
    const att = this.xb.sub(0, t * qDim(c));
    k.attention(qkv, this.kCache.sub(l * this.layerFloats, cacheFloats), this.vCache.sub(l * this.layerFloats, cacheFloats), att, {
      tokens: t, pos0: this.position, heads: c.nHeads, kvHeads: c.nKvHeads, headDim: headDim(c), qStride: width, ...layer.attention,
      ...(halves ? { cache: this.kvCache } : {}),
    });
    const out = this.xb2.sub(0, t * c.dim);
    k.gemm(att, layer.wo, out, t);
    if (layer.postAttnNorm) k.rmsnorm(out, layer.postAttnNorm, out, t, c.normEps);
    k.add(x, out, x);
  }

  /** One token's q|k|v row at `pos`: per-head q/k norms, RoPE, then k and v appended to layer l's cache. */
  private placeQkv(layer: DeviceLayer, l: number, row: F32Buffer, pos: number): void {
    const c = this.config;
    const k = this.engine.kernels;
    const hd = headDim(c);
    const qd = qDim(c);
    const kv = kvDim(c);
    const q = row.sub(0, qd);
    const key = row.sub(qd, kv);
    if (layer.qNorm && layer.kNorm) {
      k.rmsnorm(q, layer.qNorm, q, c.nHeads, c.normEps);
      k.rmsnorm(key, layer.kNorm, key, c.nKvHeads, c.normEps);
    }
    const cs = layer.rope.at(pos);
    const layout = c.ropeStyle === 'half' ? 'half' : 'interleaved';
    k.rope(q, c.nHeads, hd, cs, layout);
    k.rope(key, c.nKvHeads, hd, cs, layout);
    if (this.kvCache !== 'f32') {
      this.storeHalves(key, this.kCache, l, pos, 'key');
      this.storeHalves(row.sub(qd + kv, kv), this.vCache, l, pos, 'value');
      return;
    }
    const mem = this.engine.arena.f32();
    const src = row.ptr >>> 2;
    const at = l * this.layerFloats + pos * kv;
    mem.copyWithin((this.kCache.ptr >>> 2) + at, src + qd, src + qd + kv);
    mem.copyWithin((this.vCache.ptr >>> 2) + at, src + qd + kv, src + qd + 2 * kv);
  }

  /** One token's keys (or values) into layer l's rows of a cache of halves; refuses values a half cannot hold. */
  private storeHalves(src: F32Buffer, cache: F32Buffer, l: number, pos: number, what: string): void {
    const kv = kvDim(this.config);
    const layer = cache.sub(l * this.layerFloats, this.layerFloats);
    const bad = this.engine.kernels.toHalves(src, layer, pos * kv);
    if (bad > 0) {
      throw new FfnkitError('E_UNSUPPORTED', `kvCache '${this.kvCache}': ${bad} ${what}s of layer ${l} at position ${pos} are beyond a half's range (65504) or NaN; run with kvCache 'f32'`);
    }
  }

  /** x += FFN(RMSNorm(x)) (post-normed when the family says so); a monitoring skip policy sees the update. */
  private feedForward(layer: DeviceLayer, l: number, x: F32Buffer, t: number, skip: FfnSkip | undefined): void {
    const c = this.config;
    const k = this.engine.kernels;
    const xb = this.xb.sub(0, t * c.dim);
    const out = this.xb2.sub(0, t * c.dim);
    k.rmsnorm(x, layer.ffnNorm, xb, t, c.normEps);
    layer.ffn.forward(xb, out, t);
    if (layer.postFfnNorm) k.rmsnorm(out, layer.postFfnNorm, out, t, c.normEps);
    if (skip?.monitors) skip.observe(l, k.addCosine(x, out));
    else k.add(x, out, x);
  }

  /** The logits of the last `rows` of t tokens into this.logits: final RMSNorm, classifier, soft-cap. */
  private classify(x: F32Buffer, t: number, rows: number): void {
    const c = this.config;
    const k = this.engine.kernels;
    const last = x.sub((t - rows) * c.dim, rows * c.dim);
    const normed = this.xb.sub(0, rows * c.dim);
    const logits = this.logits.sub(0, rows * c.vocabSize);
    k.rmsnorm(last, this.finalNorm, normed, rows, c.normEps);
    k.gemm(normed, this.classifier, logits, rows);
    if (c.finalSoftcap !== undefined) k.softcap(logits, c.finalSoftcap, logits);
  }
}

/**
 * The RoPE tables a model's layers use: one for the global layers and, when sliding layers
 * rotate with another base or scale (Gemma 3), one for those.
 */
function ropeTables(engine: Engine, w: LlamaWeights<HostMatrix>): { global: RopeTable; sliding: RopeTable } {
  const c = w.config;
  const factors = w.ropeFactors ? { factors: w.ropeFactors } : {};
  const global: RopeParams = { theta: c.ropeTheta, ...(c.ropeScale !== undefined ? { scale: c.ropeScale } : {}), ...factors };
  const scale = c.ropeScaleSliding ?? c.ropeScale;
  const local: RopeParams = { theta: c.ropeThetaSliding ?? c.ropeTheta, ...(scale !== undefined ? { scale } : {}), ...factors };
  const table = new RopeTable(engine, c.seqLen, headDim(c), global);
  return { global: table, sliding: table.same(local) ? table : new RopeTable(engine, c.seqLen, headDim(c), local, 'sliding layers\' rope table') };
}

/** One layer's weights in the engine: norms, wq/wk/wv stacked (and their biases), wo, its dense or routed FFN. */
function uploadLayer(engine: Engine, l: LlamaLayer<HostMatrix>, c: LlamaConfig, i: number, ropes: { global: RopeTable; sliding: RopeTable }): DeviceLayer {
  const k = engine.kernels;
  const activation = c.activation ?? 'silu';
  const ffn: LayerFfn = l.routed
    ? new RoutedLayerFfn(engine, l.routed, c.dim, `layers.${i}`, activation)
    : new DenseLayerFfn(k, k.denseFfnFromPacked(
        uploadMatrix(k, l.w1, c.hiddenDim, c.dim, `layers.${i}.w1`),
        uploadMatrix(k, l.w3, c.hiddenDim, c.dim, `layers.${i}.w3`),
        uploadMatrix(k, l.w2, c.dim, c.hiddenDim, `layers.${i}.w2`),
        activation,
      ));
  const vector = (v: Float32Array | undefined, name: string) => (v ? { [name]: engine.upload(v, `layers.${i}.${name}`) } : {});
  const sliding = isSlidingLayer(c, i);
  const attention: DeviceLayer['attention'] = {
    ...(c.attentionScale !== undefined ? { scale: c.attentionScale } : {}),
    ...(c.attentionSoftcap !== undefined ? { softcap: c.attentionSoftcap } : {}),
    ...(sliding ? { window: c.slidingWindow } : {}),
  };
  return {
    attnNorm: engine.upload(l.attnNorm, `layers.${i}.attn_norm`),
    wqkv: uploadStacked(k, [l.wq, l.wk, l.wv], [qDim(c), kvDim(c), kvDim(c)], c.dim, `layers.${i}.wqkv`),
    ...(l.bq && l.bk && l.bv ? { qkvBias: engine.upload(stackRows([l.bq, l.bk, l.bv], 1) as Float32Array, `layers.${i}.qkv_bias`) } : {}),
    ...vector(l.qNorm, 'qNorm'),
    ...vector(l.kNorm, 'kNorm'),
    wo: uploadMatrix(k, l.wo, c.dim, qDim(c), `layers.${i}.wo`),
    ...vector(l.postAttnNorm, 'postAttnNorm'),
    ffnNorm: engine.upload(l.ffnNorm, `layers.${i}.ffn_norm`),
    ffn,
    ...vector(l.postFfnNorm, 'postFfnNorm'),
    rope: sliding ? ropes.sliding : ropes.global,
    attention,
  };
}

/** The type of the weights' matrices ('f32', 'q8_0', 'q4_k+q6_k'; see WeightType). */
export function weightType(w: LlamaWeights<HostMatrix>): WeightType {
  return weightTypes(w);
}

/**
 * Throws E_NUMERIC at the first logit that is NaN or infinite, naming its position: `logits` is
 * rows of `vocab`, the first at `position`, each the prediction after the token of `tokens` at
 * its index. Sampling or a perplexity would turn such a row into a token out of nowhere, a NaN or
 * invalid JSON. The weights are not scanned at load (a pass over gigabytes for a fault that is
 * rare), but a NaN or infinity in any weight a token touches reaches its logits, where this scan
 * costs a pass over the vocabulary per row, little beside the classifier's product that made it.
 */
function checkLogits(logits: Float32Array, vocab: number, position: number, tokens: ArrayLike<number>): void {
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v - v === 0) continue; // finite; NaN and infinities give NaN
    const row = Math.floor(i / vocab);
    throw new FfnkitError(
      'E_NUMERIC',
      `logits: ${v} at position ${position + row} (token ${tokens[row]}; logit ${i - row * vocab} of ${vocab}): the model's weights hold a NaN or an infinity, or its activations overflowed float32`,
    );
  }
}
