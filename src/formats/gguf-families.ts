// What each GGUF architecture holds and how it maps onto `LlamaWeights`: one table per family
// with its tensors (per layer and for the whole model), its metadata keys and the parts of its
// graph the architecture fixes. `readGguf` and `writeGguf` (gguf.ts) both run from these tables.
// A key under `{arch}.` or a tensor that the family's table does not name is refused with
// E_UNSUPPORTED: a file may carry something that changes the computation, and ffnkit does not
// guess. The graphs follow llama.cpp (src/models/*.cpp): NEOX rotation for all but llama; Gemma's
// norms are used as stored (llama.cpp's converter already wrote 1 + w into them).
// Each tensor has a role, which decides the ggml types it may be stored in (typeAllowed) and
// whether the writer's quantization plan (quant-plan.ts) may choose a block type for it.

import { FfnkitError } from '../errors.js';
import type { GgmlType } from '../model/ggml-types.js';
import type { Combination, Family, HostMatrix, LlamaConfig, LlamaWeights, RopeStyle, RoutedFfnWeights } from '../model/weights.js';
import { headDim, kvDim, matrixF32, qDim, stackRows } from '../model/weights.js';
import type { MetaValue } from './gguf.js';

/** The widths a family's tensors are made of. */
export interface Shape {
  dim: number;
  hidden: number;
  /** Query heads x head width. */
  q: number;
  kv: number;
  headDim: number;
  vocab: number;
  /** Routed experts per layer (1 for a dense model) and the hidden width of one. */
  experts: number;
  expertHidden: number;
}

/** The widths of a config's tensors; `experts` and `expertHidden` those of a routed (factorized) FFN. */
export function familyShape(c: LlamaConfig, experts = 1, expertHidden = c.hiddenDim): Shape {
  return { dim: c.dim, hidden: c.hiddenDim, q: qDim(c), kv: kvDim(c), headDim: headDim(c), vocab: c.vocabSize, experts, expertHidden };
}

/**
 * 'vector': norms, biases, the router and RoPE factors, read as float32 and stored as F32 (F16 and
 * BF16 are read too); 'matrix': weights, which may be in any ggml weight type.
 */
export type TensorRole = 'vector' | 'matrix';

/** Whether a ggml type may hold a tensor of this role. */
export function typeAllowed(t: GgmlType, role: TensorRole): boolean {
  return role === 'vector' ? t.blockSize === 1 : t.weight;
}

type LayerField = 'attnNorm' | 'wq' | 'wk' | 'wv' | 'wo' | 'ffnNorm' | 'w1' | 'w2' | 'w3' | 'bq' | 'bk' | 'bv' | 'qNorm' | 'kNorm' | 'postAttnNorm' | 'postFfnNorm';

/**
 * One GGUF tensor of a layer (`blk.N.` + name) and the LlamaLayer fields it fills: a vector
 * (cols 0), a matrix, or several matrices stacked by rows (Phi-3's fused attn_qkv and gate+up).
 */
export interface LayerTensor {
  name: string;
  fields: readonly LayerField[];
  /** Rows of each field (a vector: its length). */
  rows: (s: Shape) => number[];
  /** Columns (0 for a vector). */
  cols: (s: Shape) => number;
  role: TensorRole;
  /** Part of the FFN: replaced by the expert tensors in a factorized (routed) layer. */
  ffn?: boolean;
}

const vector = (name: string, field: LayerField, length: (s: Shape) => number): LayerTensor => ({ name, fields: [field], rows: (s) => [length(s)], cols: () => 0, role: 'vector' });
const matrix = (name: string, fields: LayerField[], rows: (s: Shape) => number[], cols: (s: Shape) => number, ffn = false): LayerTensor => ({
  name, fields, rows, cols, role: 'matrix', ...(ffn ? { ffn } : {}),
});

/** A tensor of the whole model, or of a routed layer's FFN (`blk.N.` + name), with its GGUF dims. */
export interface ModelTensor<F extends string> {
  name: string;
  field: F;
  role: TensorRole;
  /** GGUF's dims (dims[0] varies fastest: a weight [out, in] has dims [in, out]). */
  dims: (s: Shape) => number[];
}

/** The tensors outside the layers, every family's; output.weight and rope_freqs.weight as the family allows. */
export const MODEL_TENSORS = {
  embedding: { name: 'token_embd.weight', field: 'tokenEmbedding', role: 'matrix', dims: (s) => [s.dim, s.vocab] },
  ropeFactors: { name: 'rope_freqs.weight', field: 'ropeFactors', role: 'vector', dims: (s) => [s.headDim / 2] },
  finalNorm: { name: 'output_norm.weight', field: 'finalNorm', role: 'vector', dims: (s) => [s.dim] },
  classifier: { name: 'output.weight', field: 'classifier', role: 'matrix', dims: (s) => [s.dim, s.vocab] },
} as const satisfies Record<string, ModelTensor<keyof LlamaWeights>>;

/**
 * A factorized (routed) layer's FFN in place of the family's FFN tensors: the router, its bias
 * (absent from llama.cpp's files) and the experts, [cols, rows per expert, E].
 */
export const EXPERT_TENSORS = [
  { name: 'ffn_gate_inp.weight', field: 'router', role: 'vector', dims: (s) => [s.dim, s.experts] },
  { name: 'ffn_gate_inp.bias', field: 'routerBias', role: 'vector', dims: (s) => [s.experts] },
  { name: 'ffn_gate_exps.weight', field: 'w1', role: 'matrix', dims: (s) => [s.dim, s.expertHidden, s.experts] },
  { name: 'ffn_up_exps.weight', field: 'w3', role: 'matrix', dims: (s) => [s.dim, s.expertHidden, s.experts] },
  { name: 'ffn_down_exps.weight', field: 'w2', role: 'matrix', dims: (s) => [s.expertHidden, s.dim, s.experts] },
] as const satisfies readonly ModelTensor<keyof RoutedFfnWeights>[];

/** The layer tensors of all families, by what they hold. */
const T = {
  attnNorm: vector('attn_norm.weight', 'attnNorm', (s) => s.dim),
  wq: matrix('attn_q.weight', ['wq'], (s) => [s.q], (s) => s.dim),
  wk: matrix('attn_k.weight', ['wk'], (s) => [s.kv], (s) => s.dim),
  wv: matrix('attn_v.weight', ['wv'], (s) => [s.kv], (s) => s.dim),
  wqkv: matrix('attn_qkv.weight', ['wq', 'wk', 'wv'], (s) => [s.q, s.kv, s.kv], (s) => s.dim),
  bq: vector('attn_q.bias', 'bq', (s) => s.q),
  bk: vector('attn_k.bias', 'bk', (s) => s.kv),
  bv: vector('attn_v.bias', 'bv', (s) => s.kv),
  qNorm: vector('attn_q_norm.weight', 'qNorm', (s) => s.headDim),
  kNorm: vector('attn_k_norm.weight', 'kNorm', (s) => s.headDim),
  wo: matrix('attn_output.weight', ['wo'], (s) => [s.dim], (s) => s.q),
  postAttnNorm: vector('post_attention_norm.weight', 'postAttnNorm', (s) => s.dim),
  ffnNorm: vector('ffn_norm.weight', 'ffnNorm', (s) => s.dim),
  gate: matrix('ffn_gate.weight', ['w1'], (s) => [s.hidden], (s) => s.dim, true),
  up: matrix('ffn_up.weight', ['w3'], (s) => [s.hidden], (s) => s.dim, true),
  gateUp: matrix('ffn_up.weight', ['w1', 'w3'], (s) => [s.hidden, s.hidden], (s) => s.dim, true),
  down: matrix('ffn_down.weight', ['w2'], (s) => [s.dim], (s) => s.hidden, true),
  postFfnNorm: vector('post_ffw_norm.weight', 'postFfnNorm', (s) => s.dim),
} satisfies Record<string, LayerTensor>;

/** A metadata key (after `{arch}.`) that sets one config field; `fallback` when the file has none. */
export interface KeySpec {
  key: string;
  field: keyof LlamaConfig;
  type: 'u32' | 'f32';
  fallback?: number;
}

/** Reads a family's metadata: numbers by key (after `{arch}.`), and which keys it holds. */
export interface MetaReader {
  has(key: string): boolean;
  number(key: string, fallback?: number): number;
}

export interface GgufFamily {
  ropeStyle: RopeStyle;
  /** Per layer: the tensors every layer has, and groups it has all of or none of. */
  layer: { required: readonly LayerTensor[]; optional: readonly (readonly LayerTensor[])[] };
  /** `output.weight`: may be there (else the classifier is the embedding), or never (always tied). */
  output: 'optional' | 'tied';
  /** `rope_freqs.weight` (Llama 3.1's RoPE frequency factors) may be there. */
  ropeFactors: boolean;
  /** Keys beyond the common ones that set config fields. */
  keys: readonly KeySpec[];
  /** The graph values the architecture implies (from the shape and the keys already read). */
  derive(c: LlamaConfig): Partial<LlamaConfig>;
}

/** Keys every family reads (after `{arch}.`); see readFamilyConfig for what each does. */
export const COMMON_KEYS = [
  'context_length', 'embedding_length', 'block_count', 'feed_forward_length', 'attention.head_count', 'attention.head_count_kv',
  'attention.layer_norm_rms_epsilon', 'rope.freq_base', 'rope.dimension_count', 'attention.key_length', 'attention.value_length',
  'vocab_size', 'rope.scaling.type', 'rope.scaling.factor', 'rope.scale_linear', 'rope.scaling.attn_factor',
  'rope.scaling.original_context_length', 'rope.scaling.finetuned', 'expert_count', 'expert_used_count', 'expert_feed_forward_length',
  'expert_shared_feed_forward_length',
] as const;

const LLAMA_LAYER = [T.attnNorm, T.wq, T.wk, T.wv, T.wo, T.ffnNorm, T.gate, T.down, T.up];
const f32 = Math.fround;

/** Gemma's attention scale: 1/sqrt(head width), but 1/sqrt(dim/heads) for the 27B models (llama.cpp picks them by depth). */
const gemmaScale = (c: LlamaConfig, depth27b: number): Partial<LlamaConfig> =>
  c.nLayers === depth27b && c.dim / c.nHeads !== (c.headDim ?? c.dim / c.nHeads) ? { attentionScale: f32(1 / f32(Math.sqrt(c.dim / c.nHeads))) } : {};

const gemmaGraph = (c: LlamaConfig): Partial<LlamaConfig> => ({ activation: 'gelu-tanh', embeddingScale: f32(Math.sqrt(c.dim)) });

export const FAMILIES: Record<Family, GgufFamily> = {
  llama: {
    ropeStyle: 'interleaved',
    layer: { required: LLAMA_LAYER, optional: [[T.bq, T.bk, T.bv]] },
    output: 'optional',
    ropeFactors: true,
    keys: [],
    derive: () => ({}),
  },
  qwen2: {
    ropeStyle: 'half',
    layer: { required: [...LLAMA_LAYER, T.bq, T.bk, T.bv], optional: [] },
    output: 'optional',
    ropeFactors: false,
    keys: [],
    derive: () => ({}),
  },
  qwen3: {
    ropeStyle: 'half',
    layer: { required: [...LLAMA_LAYER, T.qNorm, T.kNorm], optional: [] },
    output: 'optional',
    ropeFactors: false,
    keys: [],
    derive: () => ({}),
  },
  phi3: {
    ropeStyle: 'half',
    layer: { required: [T.attnNorm, T.wqkv, T.wo, T.ffnNorm, T.down, T.gateUp], optional: [] },
    output: 'optional',
    ropeFactors: false,
    // llama.cpp reads phi3.attention.sliding_window and does not apply it (its converters do
    // not say which layers slide); ffnkit computes what llama.cpp computes
    keys: [{ key: 'attention.sliding_window', field: 'slidingWindow', type: 'u32' }],
    derive: () => ({ slidingWindow: undefined }),
  },
  gemma: {
    ropeStyle: 'half',
    layer: { required: LLAMA_LAYER, optional: [] },
    output: 'tied',
    ropeFactors: false,
    keys: [],
    derive: gemmaGraph,
  },
  gemma2: {
    ropeStyle: 'half',
    layer: { required: [...LLAMA_LAYER, T.postAttnNorm, T.postFfnNorm], optional: [] },
    output: 'tied',
    ropeFactors: false,
    // llama.cpp's defaults when a key is absent: Gemma 2's window, pattern and caps
    keys: [
      { key: 'attention.sliding_window', field: 'slidingWindow', type: 'u32', fallback: 4096 },
      { key: 'attention.sliding_window_pattern', field: 'slidingPeriod', type: 'u32', fallback: 2 },
      { key: 'attn_logit_softcapping', field: 'attentionSoftcap', type: 'f32', fallback: 50 },
      { key: 'final_logit_softcapping', field: 'finalSoftcap', type: 'f32', fallback: 30 },
      { key: 'rope.freq_base_swa', field: 'ropeThetaSliding', type: 'f32' },
    ],
    derive: (c) => ({ ...gemmaGraph(c), ...gemmaScale(c, 46) }),
  },
  gemma3: {
    ropeStyle: 'half',
    layer: { required: [...LLAMA_LAYER, T.qNorm, T.kNorm, T.postAttnNorm, T.postFfnNorm], optional: [] },
    output: 'tied',
    ropeFactors: false,
    keys: [
      { key: 'attention.sliding_window', field: 'slidingWindow', type: 'u32' },
      { key: 'attention.sliding_window_pattern', field: 'slidingPeriod', type: 'u32', fallback: 6 },
      { key: 'final_logit_softcapping', field: 'finalSoftcap', type: 'f32' },
    ],
    // sliding layers rotate with base 10000 and no scaling whatever the global layers do
    derive: (c) => ({
      ...gemmaGraph(c), ...gemmaScale(c, 62),
      ...(c.slidingWindow !== undefined ? { ropeThetaSliding: 10000, ropeScaleSliding: 1 } : { slidingPeriod: undefined }),
    }),
  },
};

/**
 * `c` made a model of `family`: its RoPE style, the defaults its keys fall back to for fields `c`
 * leaves unset (Gemma 2's window and caps), and what the architecture implies (GeGLU, the
 * embedding scale, Gemma 3's sliding RoPE base). What `writeGguf` then writes reads back as `c`.
 */
export function familyConfig(family: Family, c: LlamaConfig): LlamaConfig {
  const f = FAMILIES[family];
  const out: LlamaConfig = { ...c, ropeStyle: f.ropeStyle };
  if (family === 'llama') delete out.family;
  else out.family = family;
  for (const k of f.keys) if (out[k.field] === undefined && k.fallback !== undefined) (out as unknown as Record<string, number>)[k.field] = k.fallback;
  for (const [field, value] of Object.entries(f.derive(out))) {
    if (value === undefined) delete (out as unknown as Record<string, unknown>)[field];
    else (out as unknown as Record<string, unknown>)[field] = value;
  }
  return out;
}

/**
 * The architecture a factorized (routed) model of each family is written as: llama.cpp's MoE
 * architecture for the family where its graph is the family's with experts weighted as `weighted`
 * does (softmax over the chosen experts' router logits). llama's own graph takes experts; Qwen3's
 * is qwen3moe. The others are written under the family's name, files only ffnkit reads (see
 * LLAMA_CPP_MOE_GAPS).
 */
export const MOE_ARCHS: Record<Family, string> = {
  llama: 'llama', qwen3: 'qwen3moe', qwen2: 'qwen2moe', phi3: 'phimoe', gemma: 'gemma', gemma2: 'gemma2', gemma3: 'gemma3',
};

/**
 * How llama.cpp's graph of each MoE architecture combines the chosen experts: a softmax over all
 * router logits, the top k kept and renormalised (`weighted`), or not renormalised (`softmax`:
 * qwen2moe). A file of another combination keeps its router bias, which llama.cpp refuses.
 */
export const LLAMA_CPP_COMBINATION: Record<string, Combination> = { llama: 'weighted', qwen3moe: 'weighted', phimoe: 'weighted', qwen2moe: 'softmax' };

/** The width ffnkit gives qwen2moe's (all-zero) shared expert. */
const SHARED_EXPERT_WIDTH = 32;

/**
 * What a MoE architecture requires beyond its family's tensors: tensors ffnkit's graph of the
 * family has no place for (phimoe's norm, attention-output and classifier biases; qwen2moe's
 * shared expert, whose output is zero when its down projection is), written as zeros (but for
 * `fill`), which add nothing, and read only when they are zeros; the keys that size them; and whether
 * output.weight must be there (it is then the embedding again for a tied model).
 */
export const MOE_ARCH_EXTRAS: Record<string, { zeros: { name: string; layer: boolean; dims: (s: Shape) => number[]; fill?: number }[]; keys?: [string, number][]; output: boolean }> = {
  qwen2moe: {
    zeros: [
      // llama.cpp computes the shared expert's sigmoid gate as silu(g)/g, which is NaN at g = 0
      // exactly: ones make g the sum of the normed input, not zero for a zero vector's sake
      { name: 'ffn_gate_inp_shexp.weight', layer: true, dims: (s) => [s.dim], fill: 1 },
      { name: 'ffn_gate_shexp.weight', layer: true, dims: (s) => [s.dim, SHARED_EXPERT_WIDTH] },
      { name: 'ffn_up_shexp.weight', layer: true, dims: (s) => [s.dim, SHARED_EXPERT_WIDTH] },
      { name: 'ffn_down_shexp.weight', layer: true, dims: (s) => [SHARED_EXPERT_WIDTH, s.dim] },
    ],
    keys: [['expert_shared_feed_forward_length', SHARED_EXPERT_WIDTH]],
    output: true,
  },
  phimoe: {
    zeros: [
      { name: 'attn_norm.bias', layer: true, dims: (s) => [s.dim] },
      { name: 'attn_output.bias', layer: true, dims: (s) => [s.dim] },
      { name: 'ffn_norm.bias', layer: true, dims: (s) => [s.dim] },
      { name: 'output_norm.bias', layer: false, dims: (s) => [s.dim] },
      { name: 'output.bias', layer: false, dims: (s) => [s.vocab] },
    ],
    output: true,
  },
};

/** Why llama.cpp cannot run a factorized model of a family (src/models/*.cpp, as node-llama-cpp builds it). */
export const LLAMA_CPP_MOE_GAPS: Partial<Record<Family, string>> = {
  gemma: 'llama.cpp has no MoE graph for gemma (its gemma graph has no experts)',
  gemma2: 'llama.cpp has no MoE graph for gemma2 (its gemma2 graph has no experts)',
  gemma3: 'llama.cpp has no MoE graph for gemma3 (its gemma3 graph has no experts)',
};

/** The family of a GGUF `general.architecture` (a family's MoE architecture names it too), or E_UNSUPPORTED naming it. */
export function familyOf(arch: MetaValue | undefined, source: string): Family {
  if (typeof arch === 'string' && Object.hasOwn(FAMILIES, arch)) return arch as Family;
  const moe = (Object.keys(MOE_ARCHS) as Family[]).find((f) => MOE_ARCHS[f] === arch);
  if (moe) return moe;
  const archs = [...new Set([...Object.keys(FAMILIES), ...Object.values(MOE_ARCHS)])];
  throw new FfnkitError('E_UNSUPPORTED', `${source}: general.architecture is '${String(arch)}' (ffnkit runs ${archs.join(', ')})`);
}

/**
 * The metadata of a file of architecture `arch` with its keys under the family's name (a
 * qwen3moe file's `qwen3moe.*` read as `qwen3.*`), so one table reads both.
 */
export function metadataAsFamily(metadata: Map<string, MetaValue>, arch: string, family: Family): Map<string, MetaValue> {
  if (arch === family) return metadata;
  return new Map([...metadata].map(([k, v]) => [k.startsWith(`${arch}.`) ? `${family}.${k.slice(arch.length + 1)}` : k, v]));
}

/** The keys (full names) and tensor names (`blk.N.` for each layer's) a family's files may hold. */
export function familyReads(family: Family): { keys: string[]; tensors: string[]; layerTensors: string[] } {
  const f = FAMILIES[family];
  const layer = [...f.layer.required, ...f.layer.optional.flat()].map((t) => `blk.N.${t.name}`);
  const experts = EXPERT_TENSORS.map((t) => `blk.N.${t.name}`);
  const m = MODEL_TENSORS;
  return {
    keys: [...COMMON_KEYS, ...f.keys.map((k) => k.key)].map((k) => `${family}.${k}`),
    tensors: [m.embedding.name, m.finalNorm.name, ...(f.output === 'optional' ? [m.classifier.name] : []), ...(f.ropeFactors ? [m.ropeFactors.name] : [])],
    layerTensors: [...new Set([...layer, ...experts])],
  };
}

/**
 * The config a family's metadata describes (vocabSize and sharedClassifier left for the caller,
 * who knows the tensors): the common keys, the family's own, then what the architecture implies.
 * Keys under `{family}.` that no table names, and values ffnkit does not compute (YaRN and
 * LongRoPE scaling, a partial rotary width, value heads of another width, an attention factor),
 * are E_UNSUPPORTED errors naming the key.
 */
export function readFamilyConfig(family: Family, metadata: Map<string, MetaValue>, source: string): LlamaConfig {
  const f = FAMILIES[family];
  const known = new Set(familyReads(family).keys);
  for (const key of metadata.keys()) {
    if (key.startsWith(`${family}.`) && !known.has(key)) {
      throw new FfnkitError('E_UNSUPPORTED', `${source}: metadata ${key} is not something ffnkit computes for ${family} (it reads ${[...known].join(', ')})`);
    }
  }
  const m = metaReader(family, metadata, source);
  const unsupported = (key: string, what: string) => new FfnkitError('E_UNSUPPORTED', `${source}: metadata ${family}.${key} ${what}`);
  const nHeads = m.number('attention.head_count');
  const dim = m.number('embedding_length');
  const c: LlamaConfig = {
    dim,
    hiddenDim: m.number('feed_forward_length'),
    nLayers: m.number('block_count'),
    nHeads,
    nKvHeads: m.number('attention.head_count_kv', nHeads),
    vocabSize: 0,
    seqLen: m.number('context_length'),
    normEps: m.number('attention.layer_norm_rms_epsilon', 1e-5),
    ropeTheta: m.number('rope.freq_base', 10000),
    ropeStyle: f.ropeStyle,
    sharedClassifier: false,
  };
  if (m.has('attention.key_length')) {
    const hd = m.number('attention.key_length');
    if (hd !== dim / nHeads) c.headDim = hd;
  }
  const hd = c.headDim ?? dim / nHeads;
  if (m.has('attention.value_length') && m.number('attention.value_length') !== hd) {
    throw unsupported('attention.value_length', `${m.number('attention.value_length')}: value heads wider or narrower than the key heads (${hd})`);
  }
  if (m.has('rope.dimension_count') && m.number('rope.dimension_count') !== hd) {
    throw unsupported('rope.dimension_count', `${m.number('rope.dimension_count')}: RoPE on part of each head (of ${hd})`);
  }
  if (m.has('rope.scaling.attn_factor') && m.number('rope.scaling.attn_factor') !== 1) {
    throw unsupported('rope.scaling.attn_factor', `${m.number('rope.scaling.attn_factor')}: RoPE attention factors other than 1`);
  }
  const scaling = metadata.get(`${family}.rope.scaling.type`) ?? 'linear';
  if (scaling !== 'linear' && scaling !== 'none') throw unsupported('rope.scaling.type', `'${String(scaling)}' (ffnkit computes none and linear)`);
  const factor = m.has('rope.scaling.factor') ? m.number('rope.scaling.factor') : m.number('rope.scale_linear', 0);
  // as llama.cpp: a factor of 0 (or none given) means no scaling, and type 'none' ignores any factor
  if (scaling === 'linear' && factor !== 0 && factor !== 1) {
    if (!(factor > 0 && Number.isFinite(factor))) throw new FfnkitError('E_FORMAT', `${source}: metadata ${family}.rope.scaling.factor ${factor} must be positive`);
    c.ropeScale = f32(1 / factor);
  }
  for (const k of f.keys) {
    if (m.has(k.key) || k.fallback !== undefined) (c as unknown as Record<string, number>)[k.field] = m.number(k.key, k.fallback);
  }
  return familyConfig(family, c);
}

/**
 * The metadata a family's file carries for `c` (besides general.* and the expert keys), or
 * E_UNSUPPORTED when `c` is not a graph this family's files can say (it would read back as
 * another model).
 */
export function familyMetadata(family: Family, c: LlamaConfig, source: string): [string, number | string, 'u32' | 'f32' | 'string'][] {
  const f = FAMILIES[family];
  if (c.ropeStyle !== f.ropeStyle) {
    throw new FfnkitError('E_UNSUPPORTED', `${source}: ${family} files rotate with ${f.ropeStyle === 'half' ? 'NEOX (half-split)' : 'interleaved'} RoPE; this model uses ${c.ropeStyle}`);
  }
  const hd = c.headDim ?? c.dim / c.nHeads;
  const out: [string, number | string, 'u32' | 'f32' | 'string'][] = [
    ['context_length', c.seqLen, 'u32'],
    ['embedding_length', c.dim, 'u32'],
    ['block_count', c.nLayers, 'u32'],
    ['feed_forward_length', c.hiddenDim, 'u32'],
    ['rope.dimension_count', hd, 'u32'],
    ['attention.head_count', c.nHeads, 'u32'],
    ['attention.head_count_kv', c.nKvHeads, 'u32'],
    ['attention.layer_norm_rms_epsilon', c.normEps, 'f32'],
    ['rope.freq_base', c.ropeTheta, 'f32'],
  ];
  if (c.headDim !== undefined) out.push(['attention.key_length', hd, 'u32'], ['attention.value_length', hd, 'u32']);
  if (c.ropeScale !== undefined) out.push(['rope.scaling.type', 'linear', 'string'], ['rope.scaling.factor', 1 / c.ropeScale, 'f32']);
  for (const k of f.keys) {
    const v = c[k.field];
    if (typeof v === 'number') out.push([k.key, v, k.type]);
  }
  // what the reader derives must be what the config holds, or the file would be another model
  const back = readFamilyConfig(family, new Map(out.map(([k, v]) => [`${family}.${k}`, v])), source);
  const graphFields: (keyof LlamaConfig)[] = [
    'headDim', 'activation', 'embeddingScale', 'attentionScale', 'attentionSoftcap', 'finalSoftcap', 'ropeScale', 'slidingWindow',
    'slidingPeriod', 'ropeThetaSliding', 'ropeScaleSliding',
  ];
  for (const field of graphFields) {
    const want = c[field];
    const got = back[field];
    const same = typeof want === 'number' && typeof got === 'number' ? f32(want) === f32(got) : want === got;
    if (!same) throw new FfnkitError('E_UNSUPPORTED', `${source}: a ${family} file cannot say ${field} = ${String(want)} (it would read back as ${String(got)})`);
  }
  return out.map(([k, v, t]) => [`${family}.${k}`, v, t]);
}

function metaReader(family: Family, metadata: Map<string, MetaValue>, source: string): MetaReader {
  return {
    has: (key) => metadata.has(`${family}.${key}`),
    number(key, fallback) {
      const full = `${family}.${key}`;
      const v = metadata.get(full);
      if (v === undefined && fallback !== undefined) return fallback;
      if (typeof v !== 'number') throw new FfnkitError('E_FORMAT', `${source}: metadata ${full} is ${v === undefined ? 'missing' : `not a number (${typeof v})`}`);
      return v;
    },
  };
}

/** One tensor of a model, named and shaped, with the data the writer stores. */
export interface NamedTensor {
  name: string;
  dims: number[];
  role: TensorRole;
  data: HostMatrix;
}

/**
 * llama.cpp's graphs have no router bias and combine experts as LLAMA_CPP_COMBINATION says: a
 * file without the bias is one it runs. Any other keeps the bias tensor, so llama.cpp refuses it
 * instead of computing a different model.
 */
function writesRouterBias(r: RoutedFfnWeights<HostMatrix>, arch: string): boolean {
  return r.combination !== LLAMA_CPP_COMBINATION[arch] || r.routerBias.some((b) => b !== 0);
}

/**
 * The tensors of `weights` in file order with the names of its family's table (fused tensors
 * stacked by rows), or E_UNSUPPORTED when the model has something the family's files cannot hold.
 */
export function namedTensors(weights: LlamaWeights<HostMatrix>, source: string): NamedTensor[] {
  const c = weights.config;
  const family = c.family ?? 'llama';
  const table = FAMILIES[family];
  if (!c.sharedClassifier && table.output === 'tied') throw new FfnkitError('E_UNSUPPORTED', `${source}: ${family} files have no classifier of their own (output.weight); this model has one`);
  if (weights.ropeFactors && !table.ropeFactors) throw new FfnkitError('E_UNSUPPORTED', `${source}: ${family} files carry no RoPE factors (rope_freqs.weight); this model has them`);
  const routed = weights.layers[0]?.routed;
  const shape = familyShape(c, routed?.experts ?? 1, routed?.expertHidden ?? c.hiddenDim);
  const out: NamedTensor[] = [];
  const add = (name: string, t: { role: TensorRole; dims: (s: Shape) => number[] }, data: HostMatrix) => out.push({ name, dims: t.dims(shape), role: t.role, data });
  // what the family's MoE architecture requires beyond the model's own tensors
  const extras = routed ? MOE_ARCH_EXTRAS[MOE_ARCHS[family]] : undefined;
  const zero = (name: string, dims: (s: Shape) => number[], fill = 0) => {
    const d = dims(shape);
    out.push({ name, dims: d, role: d.length === 1 ? 'vector' : 'matrix', data: new Float32Array(d.reduce((a, b) => a * b, 1)).fill(fill) });
  };
  const m = MODEL_TENSORS;
  // a shared classifier kept in blocks is the embedding's own blocks
  add(m.embedding.name, m.embedding, c.sharedClassifier && !(weights.classifier instanceof Float32Array) ? weights.classifier : weights.tokenEmbedding);
  if (weights.ropeFactors) add(m.ropeFactors.name, m.ropeFactors, weights.ropeFactors);
  weights.layers.forEach((l, i) => {
    const fields = l as unknown as Record<string, HostMatrix | undefined>;
    // one table entry out of the layer's fields (fused ones stacked by rows)
    const write = (t: LayerTensor) => {
      const rows = t.rows(shape);
      const cols = t.cols(shape);
      const parts = t.fields.map((f) => fields[f]);
      const missing = t.fields.find((f, j) => parts[j] === undefined);
      if (missing) throw new FfnkitError('E_UNSUPPORTED', `${source}: ${family} files need blk.${i}.${t.name}; this model has no ${missing}`);
      const dims = cols === 0 ? [rows[0]!] : [cols, rows.reduce((a, b) => a + b, 0)];
      out.push({ name: `blk.${i}.${t.name}`, dims, role: t.role, data: parts.length === 1 ? parts[0]! : (stackRows(parts as HostMatrix[], cols) ?? stackRows((parts as HostMatrix[]).map(matrixF32), cols)!) });
    };
    const r = l.routed;
    let expertsWritten = false;
    for (const t of table.layer.required) {
      if (!(r && t.ffn)) write(t);
      else if (!expertsWritten) {
        // the experts take the place of the dense FFN's tensors
        expertsWritten = true;
        for (const e of EXPERT_TENSORS) if (e.field !== 'routerBias' || writesRouterBias(r, MOE_ARCHS[family])) add(`blk.${i}.${e.name}`, e, r[e.field]);
      }
    }
    for (const group of table.layer.optional) if (group.every((t) => t.fields.every((f) => fields[f] !== undefined))) group.forEach(write);
    for (const z of extras?.zeros ?? []) if (z.layer) zero(`blk.${i}.${z.name}`, z.dims, z.fill);
  });
  // a tensor of the model that the family's table has no name for would be lost
  const named = new Set([...table.layer.required, ...table.layer.optional.flat()].flatMap((t) => t.fields));
  const stray = weights.layers.flatMap((l) => (['bq', 'bk', 'bv', 'qNorm', 'kNorm', 'postAttnNorm', 'postFfnNorm'] as const).filter((f) => l[f] !== undefined && !named.has(f)))[0];
  if (stray) throw new FfnkitError('E_UNSUPPORTED', `${source}: ${family} files have no tensor for this model's ${stray}`);
  add(m.finalNorm.name, m.finalNorm, weights.finalNorm);
  if (!c.sharedClassifier || extras?.output) add(m.classifier.name, m.classifier, weights.classifier);
  for (const z of extras?.zeros ?? []) if (!z.layer) zero(z.name, z.dims, z.fill);
  return out;
}
