// Safetensors, read and written, and Hugging Face checkpoints: a `config.json` with a
// `model.safetensors` (or its shards: safetensors-shards.ts) beside it (read for every family of
// hf-families.ts, written for Llama).
//
// Layout: u64 header length n, n bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__": {...}}, then the data; offsets are relative to the end of the header.
// Hugging Face Llama rotates (x[i], x[i + d/2]) in RoPE ("half"), and its q/k projection rows are
// permuted accordingly relative to Meta/llama2.c weights; reading keeps them as they are and sets
// ropeStyle 'half', writing interleaved weights applies that permutation.

import { FfnkitError } from '../errors.js';
import type { Family, LlamaConfig, LlamaLayer, LlamaWeights } from '../model/weights.js';
import { checkConfig, checkWeights, headDim, kvDim } from '../model/weights.js';
import { ByteReader, ByteWriter } from './bytes.js';
import { bf16ToFloat, floatToHalf, halfToFloat } from '../model/half.js';
import { FAMILIES, familyShape } from './gguf-families.js';
import { HF_FAMILIES, HF_MODEL_TYPES, readHfFamilyConfig } from './hf-families.js';

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

/** Hugging Face `config.json` fields every family has (the rest: hf-families.ts). */
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
  rope_scaling?: { rope_type: string; factor: number } | null;
}

/**
 * A checkpoint's tensors, whether in one safetensors file or in shards (safetensors-shards.ts):
 * names, shapes, and values as float32. `name` is the checkpoint's (its file, or its index file),
 * `fileOf` the file a tensor is in (for a name in none: `name`), for errors.
 */
export interface SafetensorsTensors {
  readonly name: string;
  names(): Iterable<string>;
  shape(name: string): number[] | undefined;
  /** The values as float32 (F16 and BF16 converted); an FfnkitError naming the file for a dtype not read. */
  data(name: string): Float32Array;
  fileOf(name: string): string;
}

/** The tensors of one safetensors file's bytes, converted when asked for. */
export function safetensorsTensors(bytes: Uint8Array, source = 'safetensors file'): SafetensorsTensors {
  const file = parseSafetensors(bytes, source);
  return {
    name: source,
    names: () => file.tensors.keys(),
    shape: (name) => file.tensors.get(name)?.shape,
    data: (name) => safetensorsData(file, bytes, name, source),
    fileOf: () => source,
  };
}

/**
 * A checkpoint's config.json read and checked (model_type, the keys its family reads or refuses,
 * the shape), given which tensors the checkpoint holds (`has`; `fileOf` names the file of one in
 * errors): readHfLlama's first step, and a sharded load's check before it reads any shard (the
 * index lists the tensors' names).
 */
export function readHfConfig(configJson: string, has: (name: string) => boolean, fileOf: (name: string) => string = () => 'model.safetensors'): { config: LlamaConfig; ropeFactors?: Float32Array; family: Family } {
  let hf: HfLlamaConfig;
  try {
    hf = JSON.parse(configJson) as HfLlamaConfig;
  } catch (e) {
    throw new FfnkitError('E_FORMAT', `config.json: not valid JSON (${(e as Error).message})`);
  }
  if (typeof hf !== 'object' || hf === null || Array.isArray(hf)) throw new FfnkitError('E_FORMAT', 'config.json: not a JSON object');
  const type = hf.model_type ?? 'llama';
  if (!Object.hasOwn(HF_MODEL_TYPES, type)) {
    throw new FfnkitError('E_UNSUPPORTED', `config.json: model_type '${String(type)}' (ffnkit reads ${Object.keys(HF_MODEL_TYPES).join(', ')})`);
  }
  const family = HF_MODEL_TYPES[type]!;
  const tied = FAMILIES[family].output === 'tied';
  if (tied && has('lm_head.weight')) throw new FfnkitError('E_UNSUPPORTED', `${fileOf('lm_head.weight')}: tensor lm_head.weight: ${family} ties its classifier to the embedding`);
  const { config, ropeFactors } = readHfFamilyConfig(family, hf as unknown as Record<string, unknown>, {
    dim: hf.hidden_size,
    hiddenDim: hf.intermediate_size,
    nLayers: hf.num_hidden_layers,
    nHeads: hf.num_attention_heads,
    nKvHeads: hf.num_key_value_heads ?? hf.num_attention_heads,
    vocabSize: hf.vocab_size,
    seqLen: hf.max_position_embeddings,
    normEps: hf.rms_norm_eps ?? 1e-6,
    ropeTheta: 10000,
    ropeStyle: 'half',
    sharedClassifier: tied || hf.tie_word_embeddings === true || !has('lm_head.weight'),
  });
  checkConfig(config, 'config.json');
  return { config, family, ...(ropeFactors ? { ropeFactors } : {}) };
}

/**
 * Reads a Hugging Face checkpoint of any family ffnkit runs (config.json's model_type: llama,
 * mistral, qwen2, qwen3, phi3, gemma, gemma2, gemma3 / gemma3_text) from its config.json text and
 * model.safetensors bytes (or the tensors of its shards), as the weights its GGUF file would give.
 */
export function readHfLlama(configJson: string, bytes: Uint8Array | SafetensorsTensors, source = 'model.safetensors'): LlamaWeights {
  const file = bytes instanceof Uint8Array ? safetensorsTensors(bytes, source) : bytes;
  const { config, ropeFactors, family } = readHfConfig(configJson, (name) => file.shape(name) !== undefined, (name) => file.fileOf(name));
  const table = FAMILIES[family];
  const c = config;
  const shape = familyShape(c);
  const { layerNames, normPlusOne } = HF_FAMILIES[family];
  const get = (name: string, dims: number[]) => {
    const found = file.shape(name);
    if (!found) throw new FfnkitError('E_FORMAT', `${file.fileOf(name)}: tensor ${name} is missing`);
    if (found.length !== dims.length || found.some((d, i) => d !== dims[i])) {
      throw new FfnkitError('E_SHAPE', `${file.fileOf(name)}: tensor ${name}: expected shape [${dims}], found [${found}]`);
    }
    return file.data(name);
  };
  // Gemma's RMSNorm scales by (1 + w): stored as w + 1, as llama.cpp's converter writes it
  const norm = (data: Float32Array) => (normPlusOne ? data.map((v) => v + 1) : data);
  const read = new Set<string>();
  const layers: LlamaLayer[] = Array.from({ length: c.nLayers }, (_, i) => {
    const layer: Record<string, Float32Array> = {};
    for (const t of table.layer.required) {
      const name = `model.layers.${i}.${layerNames[t.name]!}`;
      read.add(name);
      const rows = t.rows(shape);
      const cols = t.cols(shape);
      if (cols === 0) {
        layer[t.fields[0]!] = t.name.endsWith('norm.weight') ? norm(get(name, rows)) : get(name, rows);
        continue;
      }
      // fused tensors (Phi-3's qkv_proj, gate_up_proj) hold their parts' rows one after another
      const data = get(name, [rows.reduce((a, b) => a + b, 0), cols]);
      let row = 0;
      t.fields.forEach((f, j) => {
        layer[f] = data.slice(row * cols, (row + rows[j]!) * cols);
        row += rows[j]!;
      });
    }
    return layer as unknown as LlamaLayer;
  });
  const tokenEmbedding = get('model.embed_tokens.weight', [c.vocabSize, c.dim]);
  const weights: LlamaWeights = {
    config,
    tokenEmbedding,
    layers,
    finalNorm: norm(get('model.norm.weight', [c.dim])),
    classifier: c.sharedClassifier ? tokenEmbedding : get('lm_head.weight', [c.vocabSize, c.dim]),
    ...(ropeFactors ? { ropeFactors } : {}),
  };
  // a tensor the graph does not read (a bias, say) would be ignored: refuse it (the stored RoPE
  // inverse frequencies of older checkpoints are what ropeTheta gives again; a tied checkpoint's
  // lm_head is the embedding)
  for (const name of ['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight']) read.add(name);
  const left = [...file.names()].find((name) => !read.has(name) && !name.endsWith('.rotary_emb.inv_freq'));
  if (left) throw new FfnkitError('E_UNSUPPORTED', `${file.fileOf(left)}: tensor ${left} is not part of the ${family} graph ffnkit computes`);
  checkWeights(weights, file.name);
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
  // the writer says a plain Llama: any other graph would read back as another model
  const beyond = (['family', 'headDim', 'activation', 'embeddingScale', 'attentionScale', 'attentionSoftcap', 'finalSoftcap', 'slidingWindow'] as const).find((f) => c[f] !== undefined && !(f === 'family' && c.family === 'llama'));
  const extra = beyond ?? (weights.ropeFactors ? 'ropeFactors' : weights.layers.some((l) => l.bq || l.qNorm || l.postAttnNorm) ? 'biases or extra norms' : undefined);
  if (extra) throw new FfnkitError('E_UNSUPPORTED', `safetensors writer: writes Llama checkpoints only; this model has ${extra}${beyond ? ` = ${String(c[beyond])}` : ''} (write GGUF)`);
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
    ...(c.ropeScale !== undefined ? { rope_scaling: { rope_type: 'linear', factor: 1 / c.ropeScale } } : {}),
  };
  return { configJson: JSON.stringify(hf, null, 2), safetensors: writeSafetensors(tensors, dtype, { format: 'pt' }) };
}
