// Safetensors, read and written, and Hugging Face Llama checkpoints: a `config.json` with a
// `model.safetensors` beside it.
//
// Layout: u64 header length n, n bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__": {...}}, then the data; offsets are relative to the end of the header.
// Hugging Face Llama rotates (x[i], x[i + d/2]) in RoPE ("half"), and its q/k projection rows are
// permuted accordingly relative to Meta/llama2.c weights; reading keeps them as they are and sets
// ropeStyle 'half', writing interleaved weights applies that permutation.

import { FfnkitError } from '../errors.js';
import type { LlamaConfig, LlamaLayer, LlamaWeights } from '../model/weights.js';
import { checkConfig, checkWeights, headDim, kvDim } from '../model/weights.js';
import { ByteReader, ByteWriter } from './bytes.js';
import { bf16ToFloat, floatToHalf, halfToFloat } from '../model/half.js';

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  dataStart: number;
}

const MAX_HEADER = 100 << 20;
const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/** Parses the header of a safetensors file and checks every entry against the file. */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors file'): SafetensorsFile {
  const r = new ByteReader(bytes, source);
  const n = r.u64('header length');
  if (n > MAX_HEADER || n > r.remaining) throw r.fail(`header length ${n} is larger than the file allows`);
  let header: unknown;
  try {
    header = JSON.parse(r.utf8(n, 'header'));
  } catch (e) {
    if (e instanceof FfnkitError) throw e;
    throw r.fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw r.fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (v ?? {}) as Record<string, string>;
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null || typeof e.dtype !== 'string' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
      throw r.fail(`tensor ${name}: entry needs dtype, shape and data_offsets`);
    }
    const shape = e.shape as unknown[];
    if (!shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0 && (d as number) <= 0x7fffffff)) throw r.fail(`tensor ${name}: bad shape ${JSON.stringify(shape)}`);
    const [begin, end] = e.data_offsets as unknown[];
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || (begin as number) < 0 || (end as number) < (begin as number) || (end as number) > dataLength) {
      throw r.fail(`tensor ${name}: data_offsets ${JSON.stringify(e.data_offsets)} outside the ${dataLength} data bytes`);
    }
    tensors.set(name, { dtype: e.dtype, shape: shape as number[], begin: begin as number, end: end as number });
  }
  return { tensors, metadata, dataStart };
}

/** One tensor's values as float32 (F16 and BF16 converted). */
export function safetensorsData(file: SafetensorsFile, bytes: Uint8Array, name: string, source = 'safetensors file'): Float32Array {
  const e = file.tensors.get(name);
  if (!e) throw new FfnkitError('E_FORMAT', `${source}: tensor ${name} is missing`);
  const size = DTYPE_BYTES[e.dtype];
  if (size === undefined) throw new FfnkitError('E_UNSUPPORTED', `${source}: tensor ${name} has dtype ${e.dtype} (F32, F16 and BF16 are read)`);
  const n = e.shape.reduce((a, b) => a * b, 1);
  if (n * size !== e.end - e.begin) {
    throw new FfnkitError('E_FORMAT', `${source}: tensor ${name}: shape [${e.shape}] of ${e.dtype} needs ${n * size} bytes, data_offsets give ${e.end - e.begin}`);
  }
  const start = file.dataStart + e.begin;
  if (e.dtype === 'F32') return new ByteReader(bytes, source).f32s(n, name, start);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + start, n * 2);
  const out = new Float32Array(n);
  const conv = e.dtype === 'F16' ? halfToFloat : bf16ToFloat;
  for (let i = 0; i < n; i++) out[i] = conv(dv.getUint16(2 * i, true));
  return out;
}

/** Writes named float32 tensors as safetensors (dtype F32, or F16 / BF16 converted). */
export function writeSafetensors(tensors: { name: string; shape: number[]; data: Float32Array }[], dtype: 'F32' | 'F16' | 'BF16' = 'F32', metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const size = DTYPE_BYTES[dtype]!;
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new FfnkitError('E_SHAPE', `safetensors writer: tensor ${t.name}: shape [${t.shape}] holds ${n} values, data has ${t.data.length}`);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + n * size] };
    offset += n * size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8); // data 8-byte aligned
  const head = new TextEncoder().encode(json);
  const w = new ByteWriter().u64(head.length).bytes(head);
  for (const t of tensors) {
    if (dtype === 'F32') {
      w.f32s(t.data);
    } else {
      const u = new Uint16Array(t.data.length);
      const bits = new Uint32Array(Float32Array.from(t.data).buffer);
      for (let i = 0; i < u.length; i++) u[i] = dtype === 'F16' ? floatToHalf(t.data[i]!) : (bits[i]! + 0x7fff + ((bits[i]! >>> 16) & 1)) >>> 16;
      w.bytes(new Uint8Array(u.buffer));
    }
  }
  return w.result();
}

/** Hugging Face `config.json` fields for a Llama model. */
export interface HfLlamaConfig {
  architectures?: string[];
  model_type?: string;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  vocab_size: number;
  max_position_embeddings: number;
  rms_norm_eps?: number;
  rope_theta?: number;
  tie_word_embeddings?: boolean;
}

/** Reads a Hugging Face Llama checkpoint from its config.json text and model.safetensors bytes. */
export function readHfLlama(configJson: string, bytes: Uint8Array, source = 'model.safetensors'): LlamaWeights {
  let hf: HfLlamaConfig;
  try {
    hf = JSON.parse(configJson) as HfLlamaConfig;
  } catch (e) {
    throw new FfnkitError('E_FORMAT', `config.json: not valid JSON (${(e as Error).message})`);
  }
  if (hf.model_type !== undefined && hf.model_type !== 'llama') {
    throw new FfnkitError('E_UNSUPPORTED', `config.json: model_type '${hf.model_type}' (only 'llama' is read)`);
  }
  // fields of a Llama config.json that change the graph: refused, not ignored (GGUF files of the
  // same models carry them in a form ffnkit reads: rope_freqs.weight, rope.scaling.*)
  const raw = hf as unknown as Record<string, unknown>;
  const changes: [string, boolean][] = [
    ['rope_scaling', raw.rope_scaling !== undefined && raw.rope_scaling !== null],
    ['head_dim', raw.head_dim !== undefined && raw.head_dim !== null && raw.head_dim !== hf.hidden_size / hf.num_attention_heads],
    ['attention_bias', raw.attention_bias === true],
    ['mlp_bias', raw.mlp_bias === true],
  ];
  const changed = changes.find(([, yes]) => yes);
  if (changed) throw new FfnkitError('E_UNSUPPORTED', `config.json: ${changed[0]} ${JSON.stringify(raw[changed[0]])} changes the Llama graph in a way ffnkit does not read from Hugging Face files (the model's GGUF file says it in a form ffnkit reads)`);
  const file = parseSafetensors(bytes, source);
  const config: LlamaConfig = {
    dim: hf.hidden_size,
    hiddenDim: hf.intermediate_size,
    nLayers: hf.num_hidden_layers,
    nHeads: hf.num_attention_heads,
    nKvHeads: hf.num_key_value_heads ?? hf.num_attention_heads,
    vocabSize: hf.vocab_size,
    seqLen: hf.max_position_embeddings,
    normEps: hf.rms_norm_eps ?? 1e-6,
    ropeTheta: hf.rope_theta ?? 10000,
    ropeStyle: 'half',
    sharedClassifier: hf.tie_word_embeddings === true || !file.tensors.has('lm_head.weight'),
  };
  checkConfig(config, 'config.json');
  const c = config;
  const kv = kvDim(c);
  const get = (name: string, shape: number[]) => {
    const e = file.tensors.get(name);
    if (!e) throw new FfnkitError('E_FORMAT', `${source}: tensor ${name} is missing`);
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw new FfnkitError('E_SHAPE', `${source}: tensor ${name}: expected shape [${shape}], found [${e.shape}]`);
    }
    return safetensorsData(file, bytes, name, source);
  };
  const p = (i: number) => `model.layers.${i}`;
  const layers: LlamaLayer[] = Array.from({ length: c.nLayers }, (_, i) => ({
    attnNorm: get(`${p(i)}.input_layernorm.weight`, [c.dim]),
    wq: get(`${p(i)}.self_attn.q_proj.weight`, [c.dim, c.dim]),
    wk: get(`${p(i)}.self_attn.k_proj.weight`, [kv, c.dim]),
    wv: get(`${p(i)}.self_attn.v_proj.weight`, [kv, c.dim]),
    wo: get(`${p(i)}.self_attn.o_proj.weight`, [c.dim, c.dim]),
    ffnNorm: get(`${p(i)}.post_attention_layernorm.weight`, [c.dim]),
    w1: get(`${p(i)}.mlp.gate_proj.weight`, [c.hiddenDim, c.dim]),
    w2: get(`${p(i)}.mlp.down_proj.weight`, [c.dim, c.hiddenDim]),
    w3: get(`${p(i)}.mlp.up_proj.weight`, [c.hiddenDim, c.dim]),
  }));
  const tokenEmbedding = get('model.embed_tokens.weight', [c.vocabSize, c.dim]);
  const weights: LlamaWeights = {
    config,
    tokenEmbedding,
    layers,
    finalNorm: get('model.norm.weight', [c.dim]),
    classifier: c.sharedClassifier ? tokenEmbedding : get('lm_head.weight', [c.vocabSize, c.dim]),
  };
  // a tensor the graph does not read (a bias, say) would be ignored: refuse it (the stored RoPE
  // inverse frequencies of older checkpoints are what ropeTheta gives again)
  const read = new Set([...Array.from({ length: c.nLayers }, (_, i) => ['input_layernorm', 'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'post_attention_layernorm', 'mlp.gate_proj', 'mlp.down_proj', 'mlp.up_proj'].map((n) => `${p(i)}.${n}.weight`)).flat(),
    'model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight']);
  const left = [...file.tensors.keys()].find((name) => !read.has(name) && !name.endsWith('.rotary_emb.inv_freq') && name !== '__metadata__');
  if (left) throw new FfnkitError('E_UNSUPPORTED', `${source}: tensor ${left} is not part of the Llama graph ffnkit computes`);
  checkWeights(weights, source);
  return weights;
}

/**
 * Rows of a q or k projection (or its bias, cols 1) reordered between interleaved-RoPE order
 * (Meta, llama2.c, GGUF llama files) and Hugging Face's half-split order: within each head, HF
 * row (half * d/2 + i) is Meta row (2i + half).
 */
export function reorderRopeRows(w: Float32Array, heads: number, d: number, cols: number, to: 'half' | 'interleaved'): Float32Array {
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let half = 0; half < 2; half++) {
      for (let i = 0; i < d / 2; i++) {
        const meta = (h * d + 2 * i + half) * cols;
        const hf = (h * d + half * (d / 2) + i) * cols;
        const [src, dst] = to === 'half' ? [meta, hf] : [hf, meta];
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

/** Writes weights as a Hugging Face Llama checkpoint: config.json text and model.safetensors bytes. */
export function writeHfLlama(weights: LlamaWeights, dtype: 'F32' | 'F16' | 'BF16' = 'F32'): { configJson: string; safetensors: Uint8Array } {
  const c = weights.config;
  checkWeights(weights, 'safetensors writer');
  if (weights.layers.some((l) => l.routed)) throw new FfnkitError('E_UNSUPPORTED', 'safetensors writer: this format has no routed (factorized) FFNs; write GGUF');
  const kv = kvDim(c);
  const d = headDim(c);
  const permute = (w: Float32Array, heads: number) => (c.ropeStyle === 'half' ? w : reorderRopeRows(w, heads, d, c.dim, 'half'));
  const tensors: { name: string; shape: number[]; data: Float32Array }[] = [
    { name: 'model.embed_tokens.weight', shape: [c.vocabSize, c.dim], data: weights.tokenEmbedding },
  ];
  weights.layers.forEach((l, i) => {
    const p = `model.layers.${i}`;
    tensors.push(
      { name: `${p}.input_layernorm.weight`, shape: [c.dim], data: l.attnNorm },
      { name: `${p}.self_attn.q_proj.weight`, shape: [c.dim, c.dim], data: permute(l.wq, c.nHeads) },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, c.dim], data: permute(l.wk, c.nKvHeads) },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, c.dim], data: l.wv },
      { name: `${p}.self_attn.o_proj.weight`, shape: [c.dim, c.dim], data: l.wo },
      { name: `${p}.post_attention_layernorm.weight`, shape: [c.dim], data: l.ffnNorm },
      { name: `${p}.mlp.gate_proj.weight`, shape: [c.hiddenDim, c.dim], data: l.w1 },
      { name: `${p}.mlp.down_proj.weight`, shape: [c.dim, c.hiddenDim], data: l.w2 },
      { name: `${p}.mlp.up_proj.weight`, shape: [c.hiddenDim, c.dim], data: l.w3 },
    );
  });
  tensors.push({ name: 'model.norm.weight', shape: [c.dim], data: weights.finalNorm });
  if (!c.sharedClassifier) tensors.push({ name: 'lm_head.weight', shape: [c.vocabSize, c.dim], data: weights.classifier });
  const hf: HfLlamaConfig = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.seqLen,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    tie_word_embeddings: c.sharedClassifier,
  };
  return { configJson: JSON.stringify(hf, null, 2), safetensors: writeSafetensors(tensors, dtype, { format: 'pt' }) };
}
