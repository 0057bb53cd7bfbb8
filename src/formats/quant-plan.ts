// Which ggml type each tensor of a llama model gets when written as a llama.cpp file type (Q4_K_M,
// Q8_0, ...): llama.cpp's choice (src/llama-quant.cpp: tensor_allows_quantization,
// llama_tensor_get_type_impl, tensor_type_fallback) for the tensors a llama model has, so the same
// model gives the same per-tensor types as llama-quantize without an importance matrix.

import { FfnkitError } from '../errors.js';
import { GGML_TYPES, type GgmlTypeName } from '../model/ggml-types.js';
import type { TensorRole } from './gguf-families.js';

/** llama.cpp's file types (LLAMA_FTYPE_*): the type most matrices get, and the general.file_type id. */
export const FILE_TYPES = {
  F32: { id: 0, base: 'F32' }, F16: { id: 1, base: 'F16' }, BF16: { id: 32, base: 'BF16' },
  Q4_0: { id: 2, base: 'Q4_0' }, Q4_1: { id: 3, base: 'Q4_1' }, Q5_0: { id: 8, base: 'Q5_0' }, Q5_1: { id: 9, base: 'Q5_1' }, Q8_0: { id: 7, base: 'Q8_0' },
  Q2_K: { id: 10, base: 'Q2_K' }, Q3_K_S: { id: 11, base: 'Q3_K' }, Q3_K_M: { id: 12, base: 'Q3_K' }, Q3_K_L: { id: 13, base: 'Q3_K' },
  Q4_K_S: { id: 14, base: 'Q4_K' }, Q4_K_M: { id: 15, base: 'Q4_K' }, Q5_K_S: { id: 16, base: 'Q5_K' }, Q5_K_M: { id: 17, base: 'Q5_K' },
  Q6_K: { id: 18, base: 'Q6_K' }, IQ4_NL: { id: 25, base: 'IQ4_NL' }, IQ4_XS: { id: 30, base: 'IQ4_XS' },
} as const satisfies Record<string, { id: number; base: GgmlTypeName }>;

export type FileType = keyof typeof FILE_TYPES;

/** llama-quantize's short names for the medium k-quant mixes. */
const ALIASES: Record<string, FileType> = { Q3_K: 'Q3_K_M', Q4_K: 'Q4_K_M', Q5_K: 'Q5_K_M' };

/** The file type a name stands for (any case; Q3_K, Q4_K and Q5_K are the _M mixes), or undefined. */
export function fileTypeByName(name: string): FileType | undefined {
  const n = name.toUpperCase();
  return n in FILE_TYPES ? (n as FileType) : ALIASES[n];
}

/** What the plan needs of the model besides its tensors. */
export interface PlanModel {
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Routed experts per layer (0 or 1 for a dense model). */
  experts: number;
}

export interface PlannedTensor {
  name: string;
  dims: number[];
  role: TensorRole;
  /** The type it is stored in today ('F32' for float32 data). */
  source: GgmlTypeName;
}

export interface TensorPlan {
  type: GgmlTypeName;
  /** The type the mix chose, when the rows are not whole blocks of it and `type` is its fallback. */
  wanted?: GgmlTypeName;
  /** True when llama-quantize has no fallback for `wanted` and refuses the model (ffnkit takes F16). */
  beyondLlama?: boolean;
}

type Category = 'token_embd' | 'output' | 'attn_v' | 'attn_k' | 'attn_q' | 'attn_output' | 'ffn_up' | 'ffn_gate' | 'ffn_down' | 'other';

function category(name: string): Category {
  if (name === 'output.weight') return 'output';
  if (name === 'token_embd.weight') return 'token_embd';
  if (name.includes('attn_qkv.weight') || name.includes('attn_kv_b.weight') || name.includes('attn_v.weight')) return 'attn_v';
  if (name.includes('attn_k.weight')) return 'attn_k';
  if (name.includes('attn_q.weight')) return 'attn_q';
  if (name.includes('attn_output.weight')) return 'attn_output';
  if (name.includes('ffn_up')) return 'ffn_up';
  if (name.includes('ffn_gate')) return 'ffn_gate';
  if (name.includes('ffn_down')) return 'ffn_down';
  return 'other';
}

/** llama.cpp quantizes 2-D and 3-D weights, not norms nor the expert router. */
function allowsQuantization(t: PlannedTensor): boolean {
  return t.dims.length >= 2 && t.name.endsWith('weight') && !t.name.includes('_norm.weight') && !t.name.includes('ffn_gate_inp.weight');
}

/** The layers that get more bits in the _M mixes: the first and last eighth, and every third between. */
const useMoreBits = (i: number, n: number) => i < Math.floor(n / 8) || i >= Math.floor((7 * n) / 8) || (i - Math.floor(n / 8)) % 3 === 2;

/** The layer of a tensor named blk.N.*. */
function layerOf(name: string): number {
  const m = /^blk\.(\d+)\./.exec(name);
  if (!m) throw new FfnkitError('E_ARG', `quantize: tensor ${name} has no layer number`);
  return Number(m[1]);
}

/**
 * llama.cpp's mix rule for one tensor (llama_tensor_get_type_impl), for the file types above and a
 * llama model without an importance matrix.
 */
function mixType(ft: FileType, base: GgmlTypeName, t: PlannedTensor, m: PlanModel, tied: boolean): GgmlTypeName {
  const cat = category(t.name);
  const gqa = m.nHeads / m.nKvHeads;
  const is70B = m.nLayers === 80 && m.nHeads !== m.nKvHeads;
  const n = m.nLayers;
  if (cat === 'output' || (tied && cat === 'token_embd')) {
    if (t.dims[0]! % GGML_TYPES[base].blockSize !== 0) return 'Q8_0';
    return base === 'Q8_0' ? base : 'Q6_K';
  }
  if (cat === 'token_embd') return base;
  const i = cat === 'other' ? 0 : layerOf(t.name);
  if (cat === 'attn_v') {
    let type = base;
    if (ft === 'Q2_K') type = gqa >= 4 ? 'Q4_K' : 'Q3_K';
    else if (ft === 'Q3_K_M') type = i < 2 ? 'Q5_K' : 'Q4_K';
    else if (ft === 'Q3_K_L') type = 'Q5_K';
    else if ((ft === 'IQ4_NL' || ft === 'IQ4_XS') && gqa >= 4) type = 'Q5_K';
    else if ((ft === 'Q4_K_M' || ft === 'Q5_K_M') && useMoreBits(i, n)) type = 'Q6_K';
    else if (ft === 'Q4_K_S' && i < 4) type = 'Q5_K';
    if (is70B && (type === 'Q3_K' || type === 'Q4_K')) type = 'Q5_K';
    return m.experts === 8 ? 'Q8_0' : type;
  }
  if (cat === 'attn_k') return m.experts === 8 ? 'Q8_0' : base;
  if (cat === 'ffn_down') {
    if (ft === 'Q2_K') return 'Q3_K';
    if (ft === 'Q3_K_M') return i < Math.floor(n / 16) ? 'Q5_K' : 'Q4_K';
    if (ft === 'Q3_K_L') return 'Q5_K';
    if (ft === 'Q4_K_M') return useMoreBits(i, n) ? 'Q6_K' : base;
    if (i < Math.floor(n / 8) && (ft === 'IQ4_NL' || ft === 'IQ4_XS')) return 'Q5_K';
    if (ft === 'Q5_K_M' && useMoreBits(i, n)) return 'Q6_K';
    if (ft === 'Q4_K_S' && i < Math.floor(n / 8)) return 'Q5_K';
    return base;
  }
  if (cat === 'attn_output') {
    if (m.experts === 8) return ['Q2_K', 'Q3_K_S', 'Q3_K_M', 'IQ4_NL', 'Q4_K_S', 'Q4_K_M', 'IQ4_XS'].includes(ft) ? 'Q5_K' : base;
    if (ft === 'Q2_K') return 'Q3_K';
    if (ft === 'Q3_K_M') return 'Q4_K';
    if (ft === 'Q3_K_L') return 'Q5_K';
  }
  return base;
}

/**
 * The type for rows that are not whole blocks of `type` (tensor_type_fallback): a 32-value type
 * near it, else F16. Where llama.cpp has no fallback (its 32-value types), ffnkit takes F16, its
 * last resort, instead of refusing the model.
 */
export function rowFallback(type: GgmlTypeName, cols: number): TensorPlan {
  if (cols % GGML_TYPES[type].blockSize === 0) return { type };
  const near: Partial<Record<GgmlTypeName, GgmlTypeName>> = { IQ4_XS: 'IQ4_NL', Q2_K: 'Q4_0', Q3_K: 'Q4_0', Q4_K: 'Q5_0', Q5_K: 'Q5_1', Q6_K: 'Q8_0' };
  const next = near[type];
  if (!next) return { type: 'F16', wanted: type, beyondLlama: true };
  return { type: cols % GGML_TYPES[next].blockSize === 0 ? next : 'F16', wanted: type };
}

/**
 * Each tensor's type for file type `ft`; with `pure`, every quantized tensor gets the base type
 * (llama-quantize --pure), still with the row fallbacks.
 */
export function planTensorTypes(tensors: PlannedTensor[], ft: FileType, m: PlanModel, pure = false): TensorPlan[] {
  const base = FILE_TYPES[ft].base;
  const tied = !tensors.some((t) => t.name === 'output.weight');
  const quantized = GGML_TYPES[base].blockSize > 1;
  return tensors.map((t) => {
    if (!allowsQuantization(t)) return { type: t.source };
    if (!quantized) return { type: base };
    return rowFallback(pure ? base : mixType(ft, base, t, m, tied), t.dims[0]!);
  });
}
