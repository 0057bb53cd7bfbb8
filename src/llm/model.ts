// A Llama-family decoder on the wasm kernels: token embedding, per layer RMSNorm -> fused QKV
// projection -> RoPE -> grouped-query attention over a KV cache -> output projection -> residual,
// RMSNorm -> FFN -> residual; final RMSNorm and classifier. The same code runs a prompt in blocks
// (GEMM on packed weights) and decodes one token at a time (the packed GEMV); both paths give the
// same logits up to float32 summation order.

import { FfnkitError } from '../errors.js';
import type { Engine } from '../runtime/engine.js';
import { createEngine, type EngineOptions } from '../runtime/engine.js';
import type { F32Buffer } from '../runtime/buffer.js';
import { ropeCosSin, type GemmWeights } from '../runtime/kernels.js';
import type { Tokenizer } from '../formats/tokenizer.js';
import type { ChatVocabulary } from '../formats/chat-vocabulary.js';
import type { ChatMessage } from '../text/chat-template.js';
import type { FfnSkip } from './skip.js';
import { RoutedLayerFfn } from './routed-ffn.js';
import { DenseLayerFfn, uploadMatrix, type LayerFfn } from './ffn.js';
import { generate, type FinishReason, type GenerateOptions } from './generate.js';
import { chat, type ChatOptions } from './chat.js';
import { modelMemoryBytes, weightTypes } from './memory.js';
import { type HostMatrix, type LlamaConfig, type LlamaLayer, type LlamaWeights, checkWeights, headDim, kvDim, matrixF32, matrixRowF32 } from '../model/weights.js';

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
}

interface DeviceLayer {
  attnNorm: F32Buffer;
  /** wq, wk and wv stacked: dim + 2*kvDim output features, one GEMV stream per token. */
  wqkv: GemmWeights;
  wo: GemmWeights;
  ffnNorm: F32Buffer;
  ffn: LayerFfn;
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
  /** The token at each position of the KV cache (the first `position` are valid). */
  private readonly cacheIds: Int32Array;
  /** What holds the model (a generation, between its tokens), for the E_BUSY message. */
  private holder: string | undefined;
  /** RoPE cos/sin rows by position, filled on first use (seq_len may be large). */
  private readonly rope: F32Buffer;
  private readonly ropeReady: Uint8Array;
  private readonly x: F32Buffer;
  private readonly xb: F32Buffer;
  private readonly xb2: F32Buffer;
  private readonly qkv: F32Buffer;
  private readonly logits: F32Buffer;

  private constructor(weights: LlamaWeights<HostMatrix>, engine: Engine, blockSize: number, classifier: GemmWeights, layers: DeviceLayer[]) {
    const c = weights.config;
    this.config = c;
    this.engine = engine;
    this.blockSize = blockSize;
    const kv = kvDim(c);
    this.classifier = classifier;
    this.layers = layers;
    this.tokenEmbedding = weights.tokenEmbedding;
    this.finalNorm = engine.upload(weights.finalNorm, 'final_norm');
    this.kCache = engine.alloc(c.nLayers * c.seqLen * kv, 'key cache');
    this.vCache = engine.alloc(c.nLayers * c.seqLen * kv, 'value cache');
    this.cacheIds = new Int32Array(c.seqLen);
    this.rope = engine.alloc(c.seqLen * headDim(c), 'rope table');
    this.ropeReady = new Uint8Array(c.seqLen);
    this.x = engine.alloc(blockSize * c.dim, 'residual stream');
    this.xb = engine.alloc(blockSize * c.dim, 'normed activations');
    this.xb2 = engine.alloc(blockSize * c.dim, 'block output');
    this.qkv = engine.alloc(blockSize * (c.dim + 2 * kv), 'qkv');
    this.logits = engine.alloc(blockSize * c.vocabSize, 'logits');
  }

  /**
   * Uploads checked weights into an engine (a new one unless `options.engine` is given): float32
   * matrices as f32 panels, Q8_0 ones (from `readWeights(..., { blocks: 'runnable' })`) as int8 groups.
   */
  static async create(weights: LlamaWeights<HostMatrix>, options: ModelOptions = {}): Promise<LlamaModel> {
    checkWeights(weights, 'model');
    const blockSize = options.blockSize ?? 64;
    if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 4096) {
      throw new FfnkitError('E_ARG', `blockSize: expected an integer in 1..4096, found ${blockSize}`);
    }
    const need = LlamaModel.memoryBytes(weights.config, blockSize, weights);
    if (need > 4 * 2 ** 30) {
      const c = weights.config;
      const cache = (2 * c.nLayers * c.seqLen * kvDim(c) * 4) / 2 ** 30;
      throw new FfnkitError(
        'E_MEMORY',
        `model: needs ${(need / 2 ** 30).toFixed(2)} GiB of wasm memory (of which the KV cache for seq_len ${c.seqLen}: ${cache.toFixed(2)} GiB); wasm32 holds 4 GiB`,
      );
    }
    const engine = options.engine ?? (await createEngine(options));
    const c = weights.config;
    const report = options.onProgress;
    const total = c.nLayers + 1;
    // the largest matrix first, while the memory is still one free run
    const classifier = uploadMatrix(engine.kernels, weights.classifier, c.vocabSize, c.dim, 'classifier');
    report?.(1, total);
    const layers: DeviceLayer[] = [];
    for (const [i, l] of weights.layers.entries()) {
      if (report) await new Promise((resolve) => setTimeout(resolve, 0));
      layers.push(uploadLayer(engine, l, c, i));
      report?.(i + 2, total);
    }
    return new LlamaModel(weights, engine, blockSize, classifier, layers);
  }

  /**
   * Wasm memory a model of this shape needs: its weights as uploaded (every matrix in one type, 'f32'
   * or a ggml type such as 'q8_0', or the given weights each in its own), KV cache, RoPE table,
   * activations.
   */
  static memoryBytes(c: LlamaConfig, blockSize = 64, weights: WeightType | LlamaWeights<HostMatrix> = 'f32'): number {
    return modelMemoryBytes(c, blockSize, weights);
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
    if (typeof first === 'string') return generate(this, undefined, first, second as GenerateOptions | undefined);
    return generate(this, first, second as string, third);
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

  /** Bytes of packed (or Q8_0) weights a decoded token streams from memory (every matrix once; routed FFNs: the k experts used). */
  weightBytes(): number {
    let floats = this.classifier.data.length;
    for (const l of this.layers) {
      floats += l.wqkv.data.length + l.wo.data.length + 2 * l.attnNorm.length;
    }
    return floats * 4 + this.layers.reduce((bytes, l) => bytes + l.ffn.bytesPerToken(), 0);
  }

  /**
   * Flops of the matrix products (2 per weight) for `tokens` tokens in one forward call: every
   * layer for each token, the classifier for the last one only (or for each with `allLogits`).
   */
  matmulFlops(tokens: number, allLogits = false): number {
    const c = this.config;
    const kv = kvDim(c);
    const layers = c.nLayers * (c.dim * (c.dim + 2 * kv) + c.dim * c.dim + 3 * c.dim * c.hiddenDim);
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
    const out = new Float32Array((all ? n : 1) * c.vocabSize);
    for (let start = 0; start < n; start += this.blockSize) {
      const t = Math.min(this.blockSize, n - start);
      // logits of every block's tokens, or only of the last token of the last block
      const rows = all ? t : start + t === n ? 1 : 0;
      this.block(tokens, start, t, rows);
      if (rows > 0) out.set(this.logits.view().subarray(0, rows * c.vocabSize), all ? start * c.vocabSize : 0);
    }
    return out;
  }

  /** One block of t tokens; leaves the logits of its last `rows` tokens (0, 1 or t) in this.logits. */
  private block(tokens: ArrayLike<number>, start: number, t: number, rows: number): void {
    const c = this.config;
    const k = this.engine.kernels;
    const kv = kvDim(c);
    const hd = headDim(c);
    const qkvWidth = c.dim + 2 * kv;
    const p0 = this.position;
    const x = this.x.sub(0, t * c.dim);
    const xb = this.xb.sub(0, t * c.dim);
    const xb2 = this.xb2.sub(0, t * c.dim);
    const qkv = this.qkv.sub(0, t * qkvWidth);

    const xv = x.view();
    for (let i = 0; i < t; i++) {
      const id = tokens[start + i]!;
      this.cacheIds[p0 + i] = id;
      matrixRowF32(this.tokenEmbedding, c.dim, id, xv.subarray(i * c.dim, (i + 1) * c.dim));
    }
    const layout = c.ropeStyle === 'half' ? 'half' : 'interleaved';
    const skip = t === 1 ? this.skip : undefined;
    if (skip) skip.beginToken(this.decodeSteps++);
    const cacheStride = c.seqLen * kv;
    this.layers.forEach((layer, l) => {
      k.rmsnorm(x, layer.attnNorm, xb, t, c.normEps);
      k.gemm(xb, layer.wqkv, qkv, t);
      const mem = this.engine.arena.f32();
      for (let i = 0; i < t; i++) {
        const pos = p0 + i;
        const row = qkv.sub(i * qkvWidth, qkvWidth);
        const cs = this.rope.sub(pos * hd, hd);
        if (!this.ropeReady[pos]) {
          cs.set(ropeCosSin(pos, hd, c.ropeTheta));
          this.ropeReady[pos] = 1;
        }
        k.rope(row.sub(0, c.dim), c.nHeads, hd, cs, layout);
        k.rope(row.sub(c.dim, kv), c.nKvHeads, hd, cs, layout);
        // append this position's k and v to the layer's cache
        const src = row.ptr >>> 2;
        const at = l * cacheStride + pos * kv;
        mem.copyWithin((this.kCache.ptr >>> 2) + at, src + c.dim, src + c.dim + kv);
        mem.copyWithin((this.vCache.ptr >>> 2) + at, src + c.dim + kv, src + c.dim + 2 * kv);
      }
      const cacheRows = (p0 + t) * kv;
      k.attention(qkv, this.kCache.sub(l * cacheStride, cacheRows), this.vCache.sub(l * cacheStride, cacheRows), xb, {
        tokens: t, pos0: p0, heads: c.nHeads, kvHeads: c.nKvHeads, headDim: hd, qStride: qkvWidth,
      });
      k.gemm(xb, layer.wo, xb2, t);
      k.add(x, xb2, x);
      if (skip && !skip.runs(l)) return; // FFN skipped: the residual stream passes unchanged
      k.rmsnorm(x, layer.ffnNorm, xb, t, c.normEps);
      layer.ffn.forward(xb, xb2, t);
      if (skip?.monitors) skip.observe(l, k.addCosine(x, xb2));
      else k.add(x, xb2, x);
    });
    this.position = p0 + t;
    if (rows === 0) return; // a prompt block before the last: no one reads its logits
    const last = x.sub((t - rows) * c.dim, rows * c.dim);
    const normed = xb.sub(0, rows * c.dim);
    k.rmsnorm(last, this.finalNorm, normed, rows, c.normEps);
    k.gemm(normed, this.classifier, this.logits.sub(0, rows * c.vocabSize), rows);
  }
}

/** One layer's weights in the engine: norms, wq/wk/wv stacked, wo, and its dense or routed FFN. */
function uploadLayer(engine: Engine, l: LlamaLayer<HostMatrix>, c: LlamaConfig, i: number): DeviceLayer {
  const k = engine.kernels;
  const ffn: LayerFfn = l.routed
    ? new RoutedLayerFfn(engine, l.routed, c.dim, `layers.${i}`)
    : new DenseLayerFfn(k, k.denseFfnFromPacked(
        uploadMatrix(k, l.w1, c.hiddenDim, c.dim, `layers.${i}.w1`),
        uploadMatrix(k, l.w3, c.hiddenDim, c.dim, `layers.${i}.w3`),
        uploadMatrix(k, l.w2, c.dim, c.hiddenDim, `layers.${i}.w2`),
      ));
  return {
    attnNorm: engine.upload(l.attnNorm, `layers.${i}.attn_norm`),
    wqkv: uploadMatrix(k, stackRows([l.wq, l.wk, l.wv], c.dim), c.dim + 2 * kvDim(c), c.dim, `layers.${i}.wqkv`),
    wo: uploadMatrix(k, l.wo, c.dim, c.dim, `layers.${i}.wo`),
    ffnNorm: engine.upload(l.ffnNorm, `layers.${i}.ffn_norm`),
    ffn,
  };
}

/** The type of the weights' matrices ('f32', 'q8_0', 'q4_k+q6_k'; see WeightType). */
export function weightType(w: LlamaWeights<HostMatrix>): WeightType {
  return weightTypes(w);
}

/**
 * Matrices of `cols` columns stacked by rows into one (wq, wk, wv: one GEMV stream per token):
 * blocks when all share one block type (their rows are byte runs), else float32.
 */
function stackRows(parts: HostMatrix[], cols: number): HostMatrix {
  const first = parts[0]!;
  if (!(first instanceof Float32Array) && parts.every((p) => !(p instanceof Float32Array) && p.type === first.type)) {
    const q = parts as Exclude<HostMatrix, Float32Array>[];
    const bytes = new Uint8Array(q.reduce((n, p) => n + p.bytes.length, 0));
    let at = 0;
    for (const p of q) {
      bytes.set(p.bytes, at);
      at += p.bytes.length;
    }
    return { type: first.type, rows: q.reduce((n, p) => n + p.rows, 0), cols, bytes };
  }
  const f = parts.map(matrixF32);
  const out = new Float32Array(f.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of f) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
