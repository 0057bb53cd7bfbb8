// The host-side form of a Llama-family model: hyper-parameters and tensors, whatever file format
// they came from. The loaders produce it, the writers consume it, and `LlamaModel` uploads it into
// an engine. For inference a GGUF file's matrices may stay in their ggml block types
// (`LlamaWeights<HostMatrix>`): training and factorization work on float32 only.

import { FfnkitError } from '../errors.js';
import { GGML_TYPES, type GgmlTypeName } from './ggml-types.js';

/**
 * A matrix kept in a ggml type as GGUF stores it: `rows` rows of cols / blockSize blocks (the
 * type's traits, in model/ggml-types.ts, give the block size and bytes).
 */
export interface BlockMatrix {
  readonly type: Exclude<GgmlTypeName, 'F32'>;
  readonly rows: number;
  readonly cols: number;
  readonly bytes: Uint8Array;
}

/** A matrix kept as Q8_0 blocks (34 bytes per 32 values: f16 scale, 32 int8). */
export type Q8Weights = BlockMatrix & { readonly type: 'Q8_0' };

/** A weight matrix on the host: float32 values (row-major), or blocks of a ggml type. */
export type HostMatrix = Float32Array | BlockMatrix;

/** How many values a host matrix holds. */
export function matrixSize(m: HostMatrix): number {
  return m instanceof Float32Array ? m.length : m.rows * m.cols;
}

/** Bytes of one row of a block matrix. */
function blockRowBytes(m: BlockMatrix): number {
  const t = GGML_TYPES[m.type];
  return (m.cols / t.blockSize) * t.blockBytes;
}

/**
 * How many values a host matrix holds, or undefined when it is not a well-formed one (not a
 * Float32Array, or blocks of an unknown type, of partial rows, or whose byte count disagrees
 * with rows x cols).
 */
function checkedSize(m: HostMatrix | undefined): number | undefined {
  if (m instanceof Float32Array) return m.length;
  if (typeof m !== 'object' || m === null || !(m.bytes instanceof Uint8Array)) return undefined;
  const t = (GGML_TYPES as Record<string, (typeof GGML_TYPES)[GgmlTypeName] | undefined>)[m.type];
  if (!t || (m.type as string) === 'F32' || !Number.isSafeInteger(m.rows) || !Number.isSafeInteger(m.cols) || m.cols % t.blockSize !== 0) return undefined;
  return m.bytes.length === m.rows * blockRowBytes(m) ? m.rows * m.cols : undefined;
}

/** A host matrix as float32 values (blocks dequantized; a Float32Array returned as it is). */
export function matrixF32(m: HostMatrix): Float32Array {
  return m instanceof Float32Array ? m : GGML_TYPES[m.type].dequantize(m.bytes, m.rows * m.cols);
}

/** Row `r` of a host matrix of `cols` columns, as float32 into `out` (cols values). */
export function matrixRowF32(m: HostMatrix, cols: number, r: number, out: Float32Array): Float32Array {
  if (m instanceof Float32Array) out.set(m.subarray(r * cols, (r + 1) * cols));
  else GGML_TYPES[m.type].dequantize(m.bytes.subarray(r * blockRowBytes(m), (r + 1) * blockRowBytes(m)), cols, out);
  return out;
}

/**
 * RoPE pair layout: llama2.c and GGUF's llama rotate (x[2i], x[2i+1]); Hugging Face, and GGUF's
 * NEOX-style families (Qwen, Phi-3, Gemma), rotate (x[i], x[i+d/2]).
 */
export type RopeStyle = 'interleaved' | 'half';

/** The graphs ffnkit runs, by GGUF `general.architecture`. */
export type Family = 'llama' | 'qwen2' | 'qwen3' | 'phi3' | 'gemma' | 'gemma2' | 'gemma3';

/** The FFN gate's activation: SiLU (SwiGLU, Llama) or GELU in its tanh form (GeGLU, Gemma). */
export type Activation = 'silu' | 'gelu-tanh';

export interface LlamaConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** RMSNorm epsilon (llama2.c: 1e-5). */
  normEps: number;
  /** RoPE base (10000 for Llama 2). */
  ropeTheta: number;
  ropeStyle: RopeStyle;
  /** True when the classifier is the token embedding matrix (tied weights). */
  sharedClassifier: boolean;
  // ---- the graph beyond Llama 2's; each absent field means Llama's behaviour ----
  /** The architecture the file named ('llama' when absent); writers name it again. */
  family?: Family;
  /** Width of one attention head (GGUF attention.key_length); dim / nHeads when absent. */
  headDim?: number;
  /** The FFN gate's activation; 'silu' when absent. */
  activation?: Activation;
  /** Token embeddings are multiplied by this (Gemma: sqrt(dim)). */
  embeddingScale?: number;
  /** Attention score scale; 1/sqrt(headDim) when absent. */
  attentionScale?: number;
  /** Attention scores soft-capped to cap * tanh(score / cap) (Gemma 2). */
  attentionSoftcap?: number;
  /** Logits soft-capped to cap * tanh(logit / cap) (Gemma 2). */
  finalSoftcap?: number;
  /** RoPE positions multiplied by this (linear scaling: 1 / factor); 1 when absent. */
  ropeScale?: number;
  /** Keys a query of a sliding layer sees: itself and the window - 1 before it. */
  slidingWindow?: number;
  /**
   * Which layers slide (with slidingWindow), as llama.cpp's pattern: with period p, layer i
   * slides when i % p < p - 1; 0: every layer slides. Absent: every layer (when slidingWindow is set).
   */
  slidingPeriod?: number;
  /** RoPE base and position scale of sliding layers (Gemma 3: 10000 and 1); the global ones when absent. */
  ropeThetaSliding?: number;
  ropeScaleSliding?: number;
}

/**
 * How a routed FFN combines its selected experts' outputs: `sum` adds them, `paper` scales that
 * sum by E/k, `weighted` by a softmax over the chosen router logits, `softmax` by each chosen
 * expert's probability under a softmax over all E logits (not renormalised: Qwen2-MoE's gating).
 */
export type Combination = 'paper' | 'weighted' | 'sum' | 'softmax';

/** Every combination, in the order the errors list them. */
export const COMBINATIONS: readonly Combination[] = ['paper', 'weighted', 'sum', 'softmax'];

/**
 * A factorized (FactorLLM) FFN: E experts of `expertHidden` neurons each (padded with zero rows
 * when the hidden size does not divide), a linear router with bias, top-k selection.
 */
export interface RoutedFfnWeights<M extends HostMatrix = Float32Array> {
  experts: number;
  topK: number;
  combination: Combination;
  expertHidden: number;
  /** [E, dim] and [E]. */
  router: Float32Array;
  routerBias: Float32Array;
  /** Gate and up rows, expert after expert: [E * expertHidden, dim]. */
  w1: M;
  w3: M;
  /** Down projections, expert after expert, each [dim, expertHidden]: [E * dim, expertHidden]. */
  w2: M;
  /** How the neurons were split (metadata only). */
  split?: string;
  /**
   * The experts' matrices whose blocks were rounded a second time when cut, with the type each
   * went from and to, e.g. 'ffn_down_exps Q4_K -> Q5_0' (metadata only).
   */
  requantized?: string;
}

/** One decoder layer; `M` is the matrices' host form (float32 unless read for inference). */
export interface LlamaLayer<M extends HostMatrix = Float32Array> {
  attnNorm: Float32Array; // [dim]
  wq: M; // [dim, dim]
  wk: M; // [kvDim, dim]
  wv: M; // [kvDim, dim]
  wo: M; // [dim, dim]
  ffnNorm: Float32Array; // [dim]
  w1: M; // [hidden, dim] gate
  w2: M; // [dim, hidden] down
  w3: M; // [hidden, dim] up
  /** Biases of q, k and v ([qDim], [kvDim], [kvDim]: Qwen2), all three or none. */
  bq?: Float32Array;
  bk?: Float32Array;
  bv?: Float32Array;
  /** RMSNorm weights of each q and k head ([headDim]: Qwen3, Gemma 3), both or none. */
  qNorm?: Float32Array;
  kNorm?: Float32Array;
  /** RMSNorms of the attention and FFN outputs before their residual adds ([dim]: Gemma 2/3), both or none. */
  postAttnNorm?: Float32Array;
  postFfnNorm?: Float32Array;
  /**
   * Present when the FFN is factorized: then w1/w2/w3 hold the dense FFN it was made from (the
   * experts' sum until fine-tuning changes the experts; a GGUF file keeps only the experts, and
   * readGguf builds the dense FFN from them only when something reads it: withLazyDense).
   */
  routed?: RoutedFfnWeights<M>;
}

export interface LlamaWeights<M extends HostMatrix = Float32Array> {
  config: LlamaConfig;
  /** [vocab, dim]; one row is read (and dequantized) per token. */
  tokenEmbedding: M;
  layers: LlamaLayer<M>[];
  finalNorm: Float32Array; // [dim]
  /** [vocab, dim]; when the classifier is shared, the same matrix as tokenEmbedding. */
  classifier: M;
  /** RoPE frequency factors ([headDim / 2]: each pair's frequency divided by its factor; Llama 3.1). */
  ropeFactors?: Float32Array;
}

export const headDim = (c: LlamaConfig): number => c.headDim ?? c.dim / c.nHeads;
export const kvDim = (c: LlamaConfig): number => headDim(c) * c.nKvHeads;
/** Width of all query heads (dim unless the head width is set apart from it). */
export const qDim = (c: LlamaConfig): number => headDim(c) * c.nHeads;

/** True when layer `i` attends over a sliding window (see LlamaConfig.slidingPeriod). */
export function isSlidingLayer(c: LlamaConfig, i: number): boolean {
  if (c.slidingWindow === undefined) return false;
  const p = c.slidingPeriod ?? 0;
  return p === 0 || i % p < p - 1;
}

/** Checks hyper-parameters that the forward pass relies on; `source` names the file in errors. */
export function checkConfig(c: LlamaConfig, source: string): void {
  const fields: [keyof LlamaConfig, number][] = [
    ['dim', 1], ['hiddenDim', 1], ['nLayers', 1], ['nHeads', 1], ['nKvHeads', 1], ['vocabSize', 1], ['seqLen', 1],
  ];
  for (const [name, min] of fields) {
    const v = c[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > 0x7fffffff) {
      throw new FfnkitError('E_FORMAT', `${source}: ${name} must be a positive integer, found ${String(v)}`);
    }
  }
  if (c.headDim === undefined && c.dim % c.nHeads !== 0) throw new FfnkitError('E_FORMAT', `${source}: dim ${c.dim} is not a multiple of n_heads ${c.nHeads}`);
  if (c.headDim !== undefined && !(Number.isSafeInteger(c.headDim) && c.headDim >= 2 && c.headDim <= 0xffff)) {
    throw new FfnkitError('E_FORMAT', `${source}: head size must be a positive integer, found ${String(c.headDim)}`);
  }
  if (headDim(c) % 2 !== 0) throw new FfnkitError('E_FORMAT', `${source}: head size ${headDim(c)} must be even for RoPE`);
  if (c.nHeads % c.nKvHeads !== 0) throw new FfnkitError('E_FORMAT', `${source}: n_heads ${c.nHeads} is not a multiple of n_kv_heads ${c.nKvHeads}`);
  if (!(c.normEps > 0 && c.normEps < 1)) throw new FfnkitError('E_FORMAT', `${source}: norm epsilon must be in (0, 1), found ${c.normEps}`);
  if (!(c.ropeTheta > 1 && Number.isFinite(c.ropeTheta))) throw new FfnkitError('E_FORMAT', `${source}: rope theta must be > 1, found ${c.ropeTheta}`);
  checkGraph(c, source);
}

/** Checks the optional graph fields of a config (see LlamaConfig): each absent, or in its range. */
function checkGraph(c: LlamaConfig, source: string): void {
  const families: Family[] = ['llama', 'qwen2', 'qwen3', 'phi3', 'gemma', 'gemma2', 'gemma3'];
  if (c.family !== undefined && !families.includes(c.family)) throw new FfnkitError('E_FORMAT', `${source}: family '${String(c.family)}' (${families.join(', ')})`);
  if (c.activation !== undefined && c.activation !== 'silu' && c.activation !== 'gelu-tanh') {
    throw new FfnkitError('E_FORMAT', `${source}: activation '${String(c.activation)}' (silu or gelu-tanh)`);
  }
  const positive: (keyof LlamaConfig)[] = ['embeddingScale', 'attentionScale', 'attentionSoftcap', 'finalSoftcap', 'ropeScale', 'ropeScaleSliding'];
  for (const name of positive) {
    const v = c[name];
    if (v !== undefined && !(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new FfnkitError('E_FORMAT', `${source}: ${name} must be a positive number, found ${String(v)}`);
  }
  if (c.ropeThetaSliding !== undefined && !(c.ropeThetaSliding > 1 && Number.isFinite(c.ropeThetaSliding))) {
    throw new FfnkitError('E_FORMAT', `${source}: sliding layers' rope theta must be > 1, found ${c.ropeThetaSliding}`);
  }
  for (const name of ['slidingWindow', 'slidingPeriod'] as const) {
    const v = c[name];
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= (name === 'slidingWindow' ? 1 : 0) && v <= 0x7fffffff)) {
      throw new FfnkitError('E_FORMAT', `${source}: ${name} must be a ${name === 'slidingWindow' ? 'positive' : 'non-negative'} integer, found ${String(v)}`);
    }
  }
}

/** Checks every tensor's length against the config; the error names the tensor. */
export function checkWeights(w: LlamaWeights<HostMatrix>, source: string): void {
  const c = w.config;
  checkConfig(c, source);
  const kv = kvDim(c);
  const q = qDim(c);
  const hd = headDim(c);
  const expect = (name: string, a: HostMatrix | undefined, n: number) => {
    if (a instanceof Float32Array) {
      if (a.length !== n) throw new FfnkitError('E_SHAPE', `${source}: tensor ${name}: expected ${n} values, found ${a.length}`);
      return;
    }
    if (typeof a !== 'object' || a === null || typeof a.type !== 'string') throw new FfnkitError('E_FORMAT', `${source}: tensor ${name} is missing`);
    if (checkedSize(a) !== n) {
      throw new FfnkitError('E_SHAPE', `${source}: tensor ${name}: expected ${n} values, found ${a.rows}x${a.cols} ${String(a.type)} in ${a.bytes?.length} bytes`);
    }
  };
  expect('token_embedding', w.tokenEmbedding, c.vocabSize * c.dim);
  expect('final_norm', w.finalNorm, c.dim);
  expect('classifier', w.classifier, c.vocabSize * c.dim);
  if (w.layers.length !== c.nLayers) throw new FfnkitError('E_SHAPE', `${source}: expected ${c.nLayers} layers, found ${w.layers.length}`);
  w.layers.forEach((l, i) => {
    expect(`layers.${i}.attn_norm`, l.attnNorm, c.dim);
    expect(`layers.${i}.wq`, l.wq, q * c.dim);
    expect(`layers.${i}.wk`, l.wk, kv * c.dim);
    expect(`layers.${i}.wv`, l.wv, kv * c.dim);
    expect(`layers.${i}.wo`, l.wo, c.dim * q);
    expect(`layers.${i}.ffn_norm`, l.ffnNorm, c.dim);
    // a routed layer runs its experts; its dense fields are what they stand for (and may be built
    // only when asked: withLazyDense), not something to check
    if (l.routed) {
      checkRouted(l.routed, c, `${source}: layers.${i}`);
    } else {
      expect(`layers.${i}.w1`, l.w1, c.hiddenDim * c.dim);
      expect(`layers.${i}.w2`, l.w2, c.dim * c.hiddenDim);
      expect(`layers.${i}.w3`, l.w3, c.hiddenDim * c.dim);
    }
    const optional: [string, [keyof LlamaLayer, number][]][] = [
      ['q/k/v biases', [['bq', q], ['bk', kv], ['bv', kv]]],
      ['q/k norms', [['qNorm', hd], ['kNorm', hd]]],
      ['post-norms', [['postAttnNorm', c.dim], ['postFfnNorm', c.dim]]],
    ];
    for (const [group, fields] of optional) {
      const present = fields.filter(([f]) => l[f] !== undefined).length;
      if (present === 0) continue;
      if (present !== fields.length) throw new FfnkitError('E_FORMAT', `${source}: layers.${i}: ${group} must be all present or all absent`);
      for (const [f, n] of fields) {
        if (!(l[f] instanceof Float32Array)) throw new FfnkitError('E_FORMAT', `${source}: tensor layers.${i}.${f} must be float32`);
        expect(`layers.${i}.${f}`, l[f] as Float32Array, n);
      }
    }
  });
  if (w.ropeFactors !== undefined) {
    if (!(w.ropeFactors instanceof Float32Array)) throw new FfnkitError('E_FORMAT', `${source}: tensor rope_factors must be float32`);
    expect('rope_factors', w.ropeFactors, hd / 2);
    if (!w.ropeFactors.every((f) => f > 0 && Number.isFinite(f))) throw new FfnkitError('E_FORMAT', `${source}: tensor rope_factors: every factor must be a positive number`);
  }
}

/** Parameter count (the shared classifier counted once). */
export function parameterCount(w: LlamaWeights<HostMatrix>): number {
  let n = matrixSize(w.tokenEmbedding) + w.finalNorm.length + (w.config.sharedClassifier ? 0 : matrixSize(w.classifier));
  for (const l of w.layers) {
    n += l.attnNorm.length + matrixSize(l.wq) + matrixSize(l.wk) + matrixSize(l.wv) + matrixSize(l.wo);
    // a routed layer's experts hold as many values as the dense FFN they stand for
    const ffn = l.routed ?? l;
    n += l.ffnNorm.length + matrixSize(ffn.w1) + matrixSize(ffn.w2) + matrixSize(ffn.w3);
    for (const extra of [l.bq, l.bk, l.bv, l.qNorm, l.kNorm, l.postAttnNorm, l.postFfnNorm]) n += extra?.length ?? 0;
  }
  return n;
}

/** Checks a routed FFN's sizes; `where` names the layer in errors. */
export function checkRouted(r: RoutedFfnWeights<HostMatrix>, c: LlamaConfig, where: string): void {
  const e = r.experts;
  if (!Number.isInteger(e) || e < 2) throw new FfnkitError('E_FORMAT', `${where}: expert count must be at least 2, found ${e}`);
  if (!Number.isInteger(r.topK) || r.topK < 1 || r.topK > e) throw new FfnkitError('E_FORMAT', `${where}: top-k must be in 1..${e}, found ${r.topK}`);
  if (!COMBINATIONS.includes(r.combination)) throw new FfnkitError('E_FORMAT', `${where}: combination '${String(r.combination)}' (${COMBINATIONS.join(', ')})`);
  if (!Number.isInteger(r.expertHidden) || r.expertHidden < 1) throw new FfnkitError('E_FORMAT', `${where}: expert size ${r.expertHidden}`);
  const want: [string, HostMatrix, number][] = [
    ['router', r.router, e * c.dim], ['router bias', r.routerBias, e], ['expert w1', r.w1, e * r.expertHidden * c.dim],
    ['expert w3', r.w3, e * r.expertHidden * c.dim], ['expert w2', r.w2, e * c.dim * r.expertHidden],
  ];
  for (const [name, a, n] of want) {
    const found = checkedSize(a);
    if (found !== n) throw new FfnkitError('E_SHAPE', `${where}: ${name}: expected ${n} values, found ${found ?? 'a malformed tensor'}`);
  }
}

/** The dense weights a routed FFN stands for (hidden = E * expertHidden, padding included), float32. */
export function denseOfRouted(r: RoutedFfnWeights<HostMatrix>, dim: number): { w1: Float32Array; w3: Float32Array; w2: Float32Array; hidden: number } {
  const he = r.expertHidden;
  const hidden = r.experts * he;
  const experts = matrixF32(r.w2);
  const w2 = new Float32Array(dim * hidden);
  for (let e = 0; e < r.experts; e++) {
    for (let row = 0; row < dim; row++) {
      w2.set(experts.subarray((e * dim + row) * he, (e * dim + row + 1) * he), row * hidden + e * he);
    }
  }
  return { w1: matrixF32(r.w1), w3: matrixF32(r.w3), w2, hidden };
}

/**
 * `layer` with dense fields w1, w2 and w3 that are built from its experts (denseOfRouted) the
 * first time something reads one of them, then kept; until then the host holds the experts only.
 * The fields are enumerable, so spreading the layer reads them (and builds them); assigning one
 * replaces it.
 */
export function withLazyDense<M extends HostMatrix>(layer: Omit<LlamaLayer<M>, 'w1' | 'w2' | 'w3'> & { routed: RoutedFfnWeights<M> }, dim: number): LlamaLayer<HostMatrix> {
  let dense: { w1: HostMatrix; w2: HostMatrix; w3: HostMatrix } | undefined;
  const out = { ...layer } as unknown as LlamaLayer<HostMatrix>;
  for (const field of ['w1', 'w2', 'w3'] as const) {
    Object.defineProperty(out, field, {
      enumerable: true,
      configurable: true,
      get: () => (dense ??= denseOfRouted(layer.routed, dim))[field],
      set: (m: HostMatrix) => {
        dense ??= denseOfRouted(layer.routed, dim);
        dense[field] = m;
      },
    });
  }
  return out;
}

/** Rows r0 .. r1-1 of a host matrix of `cols` columns (a view: block rows are byte runs). */
export function matrixRows(m: HostMatrix, cols: number, r0: number, r1: number): HostMatrix {
  if (m instanceof Float32Array) return m.subarray(r0 * cols, r1 * cols);
  const rowBytes = blockRowBytes(m);
  return { type: m.type, rows: r1 - r0, cols, bytes: m.bytes.subarray(r0 * rowBytes, r1 * rowBytes) };
}

/**
 * Matrices of `cols` columns stacked by rows into one: float32 when all are, blocks when all share
 * one block type (their rows are byte runs), undefined when their types differ (no type is
 * widened to another: see uploadStacked).
 */
export function stackRows(parts: HostMatrix[], cols: number): HostMatrix | undefined {
  const first = parts[0];
  if (first === undefined) return undefined;
  if (parts.every((p) => p instanceof Float32Array)) {
    const f = parts as Float32Array[];
    const out = new Float32Array(f.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of f) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
  if (first instanceof Float32Array || !parts.every((p) => !(p instanceof Float32Array) && p.type === first.type)) return undefined;
  const q = parts as BlockMatrix[];
  const bytes = new Uint8Array(q.reduce((n, p) => n + p.bytes.length, 0));
  let at = 0;
  for (const p of q) {
    bytes.set(p.bytes, at);
    at += p.bytes.length;
  }
  return { type: first.type, rows: q.reduce((n, p) => n + p.rows, 0), cols, bytes };
}
