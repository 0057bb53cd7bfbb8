// The tensors of a llama GGUF file, once: GGUF name, the weights field it fills, its dims and its
// role. The reader and the writer both walk this table, so a name or a shape is spelled in one
// place. Dims are GGUF's (dims[0] varies fastest: a weight [out, in] has dims [in, out]).

import type { GgmlType } from '../model/ggml-types.js';
import type { HostMatrix, LlamaWeights, RoutedFfnWeights } from '../model/weights.js';

/** The sizes the dims are made of. */
export interface TensorShape {
  dim: number;
  kv: number;
  hidden: number;
  vocab: number;
  experts: number;
  expertHidden: number;
}

/**
 * 'vector': norms, router and biases, read as float32 and stored as F32 (F16 and BF16 are read
 * too); 'matrix': weights, which may be in any ggml weight type.
 */
export type TensorRole = 'vector' | 'matrix';

interface Entry<F> {
  /** GGUF name; layer tensors get the prefix blk.{i}. */
  name: string;
  field: F;
  role: TensorRole;
  dims: (s: TensorShape) => number[];
  /** Absent from some files (the separate classifier, the router bias). */
  optional?: boolean;
}

/** Tensors written before the layers. */
export const HEAD_TENSORS: Entry<'tokenEmbedding'>[] = [
  { name: 'token_embd.weight', field: 'tokenEmbedding', role: 'matrix', dims: (s) => [s.dim, s.vocab] },
];

/** Tensors written after the layers; output.weight is absent when the classifier is the embedding. */
export const TAIL_TENSORS: Entry<'finalNorm' | 'classifier'>[] = [
  { name: 'output_norm.weight', field: 'finalNorm', role: 'vector', dims: (s) => [s.dim] },
  { name: 'output.weight', field: 'classifier', role: 'matrix', dims: (s) => [s.dim, s.vocab], optional: true },
];

/** Every layer's attention and norms. */
export const LAYER_TENSORS: Entry<'attnNorm' | 'wq' | 'wk' | 'wv' | 'wo' | 'ffnNorm'>[] = [
  { name: 'attn_norm.weight', field: 'attnNorm', role: 'vector', dims: (s) => [s.dim] },
  { name: 'attn_q.weight', field: 'wq', role: 'matrix', dims: (s) => [s.dim, s.dim] },
  { name: 'attn_k.weight', field: 'wk', role: 'matrix', dims: (s) => [s.dim, s.kv] },
  { name: 'attn_v.weight', field: 'wv', role: 'matrix', dims: (s) => [s.dim, s.kv] },
  { name: 'attn_output.weight', field: 'wo', role: 'matrix', dims: (s) => [s.dim, s.dim] },
  { name: 'ffn_norm.weight', field: 'ffnNorm', role: 'vector', dims: (s) => [s.dim] },
];

/** A dense layer's FFN. */
export const DENSE_FFN_TENSORS: Entry<'w1' | 'w2' | 'w3'>[] = [
  { name: 'ffn_gate.weight', field: 'w1', role: 'matrix', dims: (s) => [s.dim, s.hidden] },
  { name: 'ffn_down.weight', field: 'w2', role: 'matrix', dims: (s) => [s.hidden, s.dim] },
  { name: 'ffn_up.weight', field: 'w3', role: 'matrix', dims: (s) => [s.dim, s.hidden] },
];

/** A factorized (routed) layer's FFN: the router and the experts, [cols, rows per expert, E]. */
export const ROUTED_FFN_TENSORS: Entry<'router' | 'routerBias' | 'w1' | 'w3' | 'w2'>[] = [
  { name: 'ffn_gate_inp.weight', field: 'router', role: 'vector', dims: (s) => [s.dim, s.experts] },
  { name: 'ffn_gate_inp.bias', field: 'routerBias', role: 'vector', dims: (s) => [s.experts], optional: true },
  { name: 'ffn_gate_exps.weight', field: 'w1', role: 'matrix', dims: (s) => [s.dim, s.expertHidden, s.experts] },
  { name: 'ffn_up_exps.weight', field: 'w3', role: 'matrix', dims: (s) => [s.dim, s.expertHidden, s.experts] },
  { name: 'ffn_down_exps.weight', field: 'w2', role: 'matrix', dims: (s) => [s.expertHidden, s.dim, s.experts] },
];

/** One tensor of a model, named and shaped, with the data the writer stores. */
export interface NamedTensor {
  name: string;
  dims: number[];
  role: TensorRole;
  data: HostMatrix;
}

/** Whether a ggml type may hold a tensor of this role. */
export function typeAllowed(t: GgmlType, role: TensorRole): boolean {
  return role === 'vector' ? t.blockSize === 1 : t.weight;
}

/**
 * llama.cpp's llama graph has no router bias and combines experts as 'weighted' does: a file
 * without the bias is one it runs. Any other keeps the bias tensor, so llama.cpp refuses it
 * instead of computing a different model.
 */
function writesRouterBias(r: RoutedFfnWeights<HostMatrix>): boolean {
  return r.combination !== 'weighted' || r.routerBias.some((b) => b !== 0);
}

/** The tensors of `weights` in file order, from the tables above. */
export function namedTensors(weights: LlamaWeights<HostMatrix>, shape: TensorShape): NamedTensor[] {
  const out: NamedTensor[] = [];
  const add = (name: string, e: { role: TensorRole; dims: (s: TensorShape) => number[] }, data: HostMatrix | undefined) => {
    if (data !== undefined) out.push({ name, dims: e.dims(shape), role: e.role, data });
  };
  for (const e of HEAD_TENSORS) add(e.name, e, weights[e.field]);
  weights.layers.forEach((l, i) => {
    for (const e of LAYER_TENSORS) add(`blk.${i}.${e.name}`, e, l[e.field]);
    const r = l.routed;
    if (r) for (const e of ROUTED_FFN_TENSORS) add(`blk.${i}.${e.name}`, e, e.field === 'routerBias' && !writesRouterBias(r) ? undefined : r[e.field]);
    else for (const e of DENSE_FFN_TENSORS) add(`blk.${i}.${e.name}`, e, l[e.field]);
  });
  for (const e of TAIL_TENSORS) if (e.field !== 'classifier' || !weights.config.sharedClassifier) add(e.name, e, weights[e.field]);
  return out;
}
