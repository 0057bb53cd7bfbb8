// GGUF (v2 and v3), read and written: the container of llama.cpp. Read defensively: every count,
// length and offset is checked against the file before it is used.
//
// Layout: "GGUF", u32 version, u64 tensor count, u64 metadata count; metadata as (string key,
// u32 type, value); tensor infos as (string name, u32 n_dims, u64 dims[n_dims] (dims[0] the
// fastest-varying, so a weight [out, in] has dims [in, out]), u32 ggml type, u64 offset); zero
// padding to `general.alignment` (default 32); tensor data, each at data start + offset.

import { FfnkitError } from '../errors.js';
import type { Combination, Family, HostMatrix, LlamaLayer, LlamaWeights, RoutedFfnWeights } from '../model/weights.js';
import { checkConfig, checkWeights, denseOfRouted, headDim, kvDim, matrixF32, matrixRows, qDim, stackRows } from '../model/weights.js';
import { FAMILIES, type LayerTensor, type Shape, familyMetadata, familyOf, readFamilyConfig } from './gguf-families.js';
import { ByteReader, ByteWriter } from './bytes.js';
import { bf16ToFloat, floatToHalf, halfToFloat } from '../model/half.js';
import { decodeQ8_0, encodeQ8_0 } from '../model/q8.js';
import { Tokenizer } from './tokenizer.js';

const MAGIC = 0x46554747; // "GGUF" little-endian
const DEFAULT_ALIGNMENT = 32;

/** GGUF metadata value types. */
const enum T {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
}

/** ggml tensor types this reader understands (others are named in the error). */
export const GGML_TYPES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K',
  12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 30: 'BF16',
};
export type TensorType = 'F32' | 'F16' | 'Q8_0' | 'BF16';
const TYPE_IDS: Record<TensorType, number> = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 };

export type MetaValue = number | bigint | boolean | string | MetaValue[];

export interface GgufTensorInfo {
  name: string;
  /** dims[0] varies fastest (columns of a weight matrix). */
  dims: number[];
  type: number;
  /** Offset from the start of the data section. */
  offset: number;
}

export interface GgufFile {
  version: number;
  metadata: Map<string, MetaValue>;
  tensors: GgufTensorInfo[];
  dataStart: number;
  alignment: number;
}

/** Upper bounds that keep a hostile header from making us allocate or loop for ever. */
const MAX_COUNT = 1 << 24;

function readString(r: ByteReader, what: string): string {
  const n = r.u64(`${what} length`);
  if (n > r.remaining) throw r.fail(`${what}: length ${n} runs past the end of the file`);
  return r.utf8(n, what);
}

function readValue(r: ByteReader, type: number, what: string, depth = 0): MetaValue {
  switch (type) {
    case T.U8: return r.u8(what);
    case T.I8: return (r.u8(what) << 24) >> 24;
    case T.U16: return r.u16(what);
    case T.I16: return r.i16(what);
    case T.U32: return r.u32(what);
    case T.I32: return r.i32(what);
    case T.F32: return r.f32(what);
    case T.BOOL: return r.u8(what) !== 0;
    case T.STRING: return readString(r, what);
    case T.U64: return r.u64(what);
    case T.I64: return r.i64(what);
    case T.F64: return r.f64(what);
    case T.ARRAY: {
      if (depth > 2) throw r.fail(`${what}: arrays nested too deeply`);
      const itemType = r.u32(`${what} item type`);
      const n = r.u64(`${what} count`);
      // every item takes at least one byte: a count beyond the bytes left is a lie
      if (n > r.remaining || n > MAX_COUNT) throw r.fail(`${what}: ${n} items cannot fit in the ${r.remaining} bytes left`);
      const out: MetaValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue(r, itemType, `${what}[${i}]`, depth + 1);
      return out;
    }
    default:
      throw r.fail(`${what}: unknown metadata value type ${type}`);
  }
}

/** Parses the header, metadata and tensor table of a GGUF file. */
export function parseGguf(bytes: Uint8Array, source = 'GGUF file'): GgufFile {
  const r = new ByteReader(bytes, source);
  if (bytes.length < 4 || r.u32('magic') !== MAGIC) throw r.fail('not a GGUF file (magic is not "GGUF")');
  const version = r.u32('version');
  if (version !== 2 && version !== 3) throw new FfnkitError('E_UNSUPPORTED', `${source}: GGUF version ${version} (2 and 3 are read)`);
  const nTensors = r.u64('tensor count');
  const nMeta = r.u64('metadata count');
  if (nTensors > MAX_COUNT || nTensors * 24 > r.remaining) throw r.fail(`tensor count ${nTensors} cannot fit in the file`);
  if (nMeta > MAX_COUNT || nMeta * 13 > r.remaining) throw r.fail(`metadata count ${nMeta} cannot fit in the file`);
  const metadata = new Map<string, MetaValue>();
  for (let i = 0; i < nMeta; i++) {
    const key = readString(r, `metadata key ${i}`);
    const type = r.u32(`type of ${key}`);
    metadata.set(key, readValue(r, type, key));
  }
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = readString(r, `name of tensor ${i}`);
    const nDims = r.u32(`n_dims of ${name}`);
    if (nDims < 1 || nDims > 4) throw r.fail(`tensor ${name}: ${nDims} dimensions (1 to 4 expected)`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const v = r.u64(`dim ${d} of ${name}`);
      if (v < 1 || v > 0x7fffffff) throw r.fail(`tensor ${name}: dimension ${d} is ${v}`);
      dims.push(v);
    }
    const type = r.u32(`type of ${name}`);
    const offset = r.u64(`offset of ${name}`);
    tensors.push({ name, dims, type, offset });
  }
  const alignValue = metadata.get('general.alignment');
  const alignment = typeof alignValue === 'number' ? alignValue : DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment < 1 || alignment > 1 << 16 || (alignment & (alignment - 1)) !== 0) {
    throw r.fail(`general.alignment ${alignment} is not a power of two`);
  }
  const dataStart = Math.ceil(r.pos / alignment) * alignment;
  return { version, metadata, tensors, dataStart, alignment };
}

function elements(t: GgufTensorInfo): number {
  return t.dims.reduce((a, b) => a * b, 1);
}

/** Bytes of a tensor of `n` values of ggml type `type`; undefined for types we cannot read. */
function tensorBytes(type: number, n: number, rowLength: number, name: string, source: string): number {
  switch (type) {
    case 0: return n * 4;
    case 1: case 30: return n * 2;
    case 8:
      // ggml's blocks run along rows (ne0): a row must be whole blocks
      if (rowLength % 32 !== 0) throw new FfnkitError('E_FORMAT', `${source}: tensor ${name}: Q8_0 needs rows of a multiple of 32 values, found ${rowLength}`);
      return (n / 32) * 34;
    default:
      throw new FfnkitError('E_UNSUPPORTED', `${source}: tensor ${name} has ggml type ${GGML_TYPES[type] ?? `#${type}`} (F32, F16, BF16 and Q8_0 are read)`);
  }
}

/** Where a tensor's data lies in the file, checked to be inside it: [start, size in bytes]. */
function tensorSpan(file: GgufFile, bytes: Uint8Array, t: GgufTensorInfo, source: string): [number, number] {
  const size = tensorBytes(t.type, elements(t), t.dims[0]!, t.name, source);
  const start = file.dataStart + t.offset;
  new ByteReader(bytes, source).need(size, `data of tensor ${t.name}`, start);
  return [start, size];
}

/** The values of one tensor as float32 (F16, BF16 and Q8_0 converted). */
export function tensorData(file: GgufFile, bytes: Uint8Array, t: GgufTensorInfo, source = 'GGUF file'): Float32Array {
  const n = elements(t);
  const [start, size] = tensorSpan(file, bytes, t, source);
  if (t.type === 0) return new ByteReader(bytes, source).f32s(n, t.name, start);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + start, size);
  const out = new Float32Array(n);
  if (t.type === 1) for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
  else if (t.type === 30) for (let i = 0; i < n; i++) out[i] = bf16ToFloat(dv.getUint16(2 * i, true));
  else {
    out.set(decodeQ8_0(bytes.subarray(start, start + size), n));
  }
  return out;
}

/** The tokenizer in a GGUF file's metadata (SentencePiece pieces, '▁' for spaces). */
export function ggufTokenizer(file: GgufFile, source = 'GGUF file'): Tokenizer {
  const model = file.metadata.get('tokenizer.ggml.model');
  if (model !== undefined && model !== 'llama') {
    throw new FfnkitError('E_UNSUPPORTED', `${source}: tokenizer.ggml.model '${String(model)}' (only SentencePiece 'llama' is read)`);
  }
  const tokens = file.metadata.get('tokenizer.ggml.tokens');
  const scores = file.metadata.get('tokenizer.ggml.scores');
  const types = file.metadata.get('tokenizer.ggml.token_type');
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string')) throw new FfnkitError('E_FORMAT', `${source}: no tokenizer.ggml.tokens string array`);
  if (!Array.isArray(scores) || scores.length !== tokens.length || !scores.every((s) => typeof s === 'number')) {
    throw new FfnkitError('E_FORMAT', `${source}: tokenizer.ggml.scores must hold one number per token (${tokens.length})`);
  }
  const enc = new TextEncoder();
  const pieces = (tokens as string[]).map((t) => enc.encode(t.replace(/\u2581/g, ' ')));
  const control = (id: number) => Array.isArray(types) && (types[id] === 3 || types[id] === 2);
  return new Tokenizer(pieces, scores as number[], source, (id) => !control(id));
}

/** The expert metadata of a factorized (MoE) file, or undefined for a dense one. */
function expertMetadata(file: GgufFile, family: Family, source: string): { experts: number; topK: number; combination: Combination; split?: string } | undefined {
  if (!file.metadata.has(`${family}.expert_count`)) return undefined;
  const experts = metaNumber(file, `${family}.expert_count`, source);
  const topK = metaNumber(file, `${family}.expert_used_count`, source);
  if (!Number.isInteger(experts) || experts < 2) throw new FfnkitError('E_FORMAT', `${source}: ${family}.expert_count ${experts} (at least 2)`);
  if (!Number.isInteger(topK) || topK < 1 || topK > experts) throw new FfnkitError('E_FORMAT', `${source}: ${family}.expert_used_count ${topK} is outside 1..${experts}`);
  // without ffnkit's key the file is llama.cpp's MoE, whose llama graph weights the chosen
  // experts by a softmax over their router logits
  const combination = file.metadata.get('ffnkit.combination') ?? 'weighted';
  if (combination !== 'paper' && combination !== 'weighted' && combination !== 'sum') {
    throw new FfnkitError('E_FORMAT', `${source}: ffnkit.combination '${String(combination)}' (paper, weighted or sum)`);
  }
  const split = file.metadata.get('ffnkit.split');
  return { experts, topK, combination, ...(typeof split === 'string' ? { split } : {}) };
}

function metaNumber(file: GgufFile, key: string, source: string, fallback?: number): number {
  const v = file.metadata.get(key);
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number') throw new FfnkitError('E_FORMAT', `${source}: metadata ${key} is ${v === undefined ? 'missing' : `not a number (${typeof v})`}`);
  return v;
}

/** Options of `readGguf`. */
export interface ReadGgufOptions {
  /**
   * Keep Q8_0 matrices as their blocks (views into `bytes`, not copied) instead of float32, for
   * inference; the token embedding is dequantized all the same. Default false.
   */
  keepQ8?: boolean;
}

/**
 * Reads a GGUF file of a family ffnkit runs (gguf-families.ts: llama, qwen2, qwen3, phi3, gemma,
 * gemma2, gemma3) into weights, and its tokenizer when present. A key or tensor the family's
 * table does not name is E_UNSUPPORTED.
 */
export function readGguf(bytes: Uint8Array, source?: string, options?: ReadGgufOptions & { keepQ8?: false }): { weights: LlamaWeights; tokenizer?: Tokenizer };
export function readGguf(bytes: Uint8Array, source: string | undefined, options: ReadGgufOptions): { weights: LlamaWeights<HostMatrix>; tokenizer?: Tokenizer };
export function readGguf(bytes: Uint8Array, source = 'GGUF file', options: ReadGgufOptions = {}): { weights: LlamaWeights<HostMatrix>; tokenizer?: Tokenizer } {
  const file = parseGguf(bytes, source);
  const family = familyOf(file.metadata.get('general.architecture'), source);
  const table = FAMILIES[family];
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  const config = readFamilyConfig(family, file.metadata, source);
  // Gemma's classifier is the embedding whatever the file holds (an output.weight is then refused)
  config.sharedClassifier = table.output === 'tied' || !byName.has('output.weight');
  const emb = byName.get('token_embd.weight');
  if (!emb) throw new FfnkitError('E_FORMAT', `${source}: tensor token_embd.weight is missing`);
  config.vocabSize = emb.dims[1] ?? 0;
  const vocabKey = file.metadata.get(`${family}.vocab_size`);
  if (vocabKey !== undefined && vocabKey !== config.vocabSize) {
    throw new FfnkitError('E_FORMAT', `${source}: ${family}.vocab_size ${String(vocabKey)} disagrees with token_embd.weight's ${config.vocabSize} rows`);
  }
  checkConfig(config, source);
  // every tensor read is ticked off; what is left at the end is something ffnkit would ignore
  const read = new Set<string>();
  const info = (name: string, cols: number, rows: number): GgufTensorInfo => {
    const t = byName.get(name);
    if (!t) throw new FfnkitError('E_FORMAT', `${source}: tensor ${name} is missing`);
    const want = rows === 1 ? [cols] : [cols, rows];
    if (t.dims.length !== want.length || t.dims.some((d, i) => d !== want[i])) {
      throw new FfnkitError('E_SHAPE', `${source}: tensor ${name}: expected dims [${want}], found [${t.dims}]`);
    }
    read.add(name);
    return t;
  };
  const get = (name: string, cols: number, rows: number): Float32Array => tensorData(file, bytes, info(name, cols, rows), source);
  // a Q8_0 tensor's blocks as they are (a view of the file) when asked to keep them
  const keptQ8 = (t: GgufTensorInfo, cols: number, rows: number): HostMatrix | undefined => {
    if (!options.keepQ8 || t.type !== 8) return undefined;
    const [start, size] = tensorSpan(file, bytes, t, source);
    return { type: 'q8_0', rows, cols, bytes: bytes.subarray(start, start + size) };
  };
  // a matrix: Q8_0 kept when asked, else float32
  const mat = (name: string, cols: number, rows: number): HostMatrix => {
    const t = info(name, cols, rows);
    return keptQ8(t, cols, rows) ?? tensorData(file, bytes, t, source);
  };
  const c = config;
  const moe = expertMetadata(file, family, source);
  if (moe) c.hiddenDim = moe.experts * c.hiddenDim; // feed_forward_length is one expert's, as in llama.cpp
  const info3 = (name: string, dims: number[]): GgufTensorInfo => {
    const t = byName.get(name);
    if (!t) throw new FfnkitError('E_FORMAT', `${source}: tensor ${name} is missing`);
    if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
      throw new FfnkitError('E_SHAPE', `${source}: tensor ${name}: dims [${t.dims}] disagree with the metadata, which implies [${dims}]`);
    }
    read.add(name);
    return t;
  };
  const get3 = (name: string, dims: number[]): Float32Array => tensorData(file, bytes, info3(name, dims), source);
  // expert tensors [cols, rows per expert, E]: Q8_0 kept as blocks when asked, like `mat`
  const mat3 = (name: string, dims: number[]): HostMatrix => {
    const t = info3(name, dims);
    const rows = dims.slice(1).reduce((a, b) => a * b, 1);
    return keptQ8(t, dims[0]!, rows) ?? tensorData(file, bytes, t, source);
  };
  const shape = familyShape(c);
  // one table entry into the layer's fields: a vector, a matrix, or a fused matrix split by rows
  const readTensor = (layer: Partial<Record<keyof LlamaLayer, unknown>>, i: number, t: LayerTensor) => {
    const name = `blk.${i}.${t.name}`;
    const rows = t.rows(shape);
    const cols = t.cols(shape);
    if (cols === 0) {
      layer[t.fields[0]!] = get(name, rows[0]!, 1);
      return;
    }
    const m = mat(name, cols, rows.reduce((a, b) => a + b, 0));
    let r0 = 0;
    t.fields.forEach((field, j) => {
      layer[field] = t.fields.length === 1 ? m : matrixRows(m, cols, r0, r0 + rows[j]!);
      r0 += rows[j]!;
    });
  };
  const layers: LlamaLayer<HostMatrix>[] = Array.from({ length: c.nLayers }, (_, i) => {
    const layer: Partial<Record<keyof LlamaLayer, unknown>> = {};
    for (const t of table.layer.required) if (!(moe && t.ffn)) readTensor(layer, i, t);
    // an optional group is read whole when any of it is there (a missing member is then an error)
    for (const group of table.layer.optional) {
      if (group.some((t) => byName.has(`blk.${i}.${t.name}`))) for (const t of group) readTensor(layer, i, t);
    }
    if (!moe) return layer as unknown as LlamaLayer<HostMatrix>;
    const E = moe.experts;
    const he = c.hiddenDim / E;
    const routed: RoutedFfnWeights<HostMatrix> = {
      experts: E,
      topK: moe.topK,
      combination: moe.combination,
      expertHidden: he,
      router: get3(`blk.${i}.ffn_gate_inp.weight`, [c.dim, E]),
      routerBias: byName.has(`blk.${i}.ffn_gate_inp.bias`) ? get3(`blk.${i}.ffn_gate_inp.bias`, [E]) : new Float32Array(E),
      w1: mat3(`blk.${i}.ffn_gate_exps.weight`, [c.dim, he, E]),
      w3: mat3(`blk.${i}.ffn_up_exps.weight`, [c.dim, he, E]),
      w2: mat3(`blk.${i}.ffn_down_exps.weight`, [he, c.dim, E]),
      ...(moe.split ? { split: moe.split } : {}),
    };
    const dense = denseOfRouted(routed, c.dim);
    return { ...(layer as unknown as LlamaLayer<HostMatrix>), w1: dense.w1, w3: dense.w3, w2: dense.w2, routed };
  });
  // a shared classifier in Q8_0 keeps the embedding's blocks; the lookup gets their float values
  const embedding = mat('token_embd.weight', c.dim, c.vocabSize);
  const tokenEmbedding = matrixF32(embedding);
  const weights: LlamaWeights<HostMatrix> = {
    config,
    tokenEmbedding,
    layers,
    finalNorm: get('output_norm.weight', c.dim, 1),
    classifier: c.sharedClassifier ? (embedding instanceof Float32Array ? tokenEmbedding : embedding) : mat('output.weight', c.dim, c.vocabSize),
  };
  if (table.ropeFactors && byName.has('rope_freqs.weight')) weights.ropeFactors = get('rope_freqs.weight', shape.headDim / 2, 1);
  const left = file.tensors.find((t) => !read.has(t.name));
  if (left) {
    throw new FfnkitError('E_UNSUPPORTED', `${source}: tensor ${left.name} is not part of the ${family} graph ffnkit computes${family === 'gemma' || family === 'gemma2' || family === 'gemma3' ? ' (its classifier is always the embedding)' : ''}`);
  }
  checkWeights(weights, source);
  const tokenizer = file.metadata.has('tokenizer.ggml.tokens') ? ggufTokenizer(file, source) : undefined;
  if (tokenizer && tokenizer.vocabSize !== c.vocabSize) {
    throw new FfnkitError('E_FORMAT', `${source}: the tokenizer has ${tokenizer.vocabSize} tokens but the model ${c.vocabSize}`);
  }
  return tokenizer ? { weights, tokenizer } : { weights };
}

/** The widths of a config's tensors, as the family tables take them. */
function familyShape(c: LlamaWeights['config']): Shape {
  return { dim: c.dim, hidden: c.hiddenDim, q: qDim(c), kv: kvDim(c), headDim: headDim(c) };
}

// ---- writing -------------------------------------------------------------------------------

export interface GgufVocabulary {
  /** Piece strings with ' ' for spaces (written as '▁'). */
  pieces: string[];
  scores: number[];
}

function writeString(w: ByteWriter, s: string): void {
  const b = new TextEncoder().encode(s);
  w.u64(b.length).bytes(b);
}

function writeMeta(w: ByteWriter, key: string, value: MetaValue, type: T, itemType?: T): void {
  writeString(w, key);
  w.u32(type);
  const one = (v: MetaValue, t: T) => {
    if (t === T.STRING) writeString(w, v as string);
    else if (t === T.U32) w.u32(v as number);
    else if (t === T.I32) w.i32(v as number);
    else if (t === T.F32) w.f32(v as number);
    else throw new FfnkitError('E_ARG', `GGUF writer: value type ${t} not supported`);
  };
  if (type === T.ARRAY) {
    const arr = value as MetaValue[];
    w.u32(itemType!).u64(arr.length);
    for (const v of arr) one(v, itemType!);
  } else {
    one(value, type);
  }
}

function encodeTensor(m: HostMatrix, type: TensorType): Uint8Array {
  // Q8_0 blocks written as Q8_0 go out as they are (no second rounding)
  if (!(m instanceof Float32Array) && type === 'Q8_0') return m.bytes;
  const data = matrixF32(m);
  if (type === 'F32') return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  if (type === 'F16' || type === 'BF16') {
    const out = new Uint16Array(data.length);
    const u32 = new Uint32Array(Float32Array.from(data).buffer);
    for (let i = 0; i < data.length; i++) {
      // BF16: round to nearest even on the upper half
      out[i] = type === 'F16' ? floatToHalf(data[i]!) : (u32[i]! + 0x7fff + ((u32[i]! >>> 16) & 1)) >>> 16;
    }
    return new Uint8Array(out.buffer);
  }
  return encodeQ8_0(data);
}

/**
 * Writes weights (and optionally a vocabulary) as GGUF v3 with llama.cpp's tensor names for the
 * model's family (gguf-families.ts; 'llama' when the config names none). Matrices are stored as
 * `type` (1-D tensors stay F32, as llama.cpp does; Q8_0 matrices written as Q8_0 keep their
 * blocks); the RoPE style must be the family's (interleaved for llama), and a graph the family's
 * keys cannot say is E_UNSUPPORTED.
 */
export function writeGguf(weights: LlamaWeights<HostMatrix>, vocab?: GgufVocabulary, type: TensorType = 'F32'): Uint8Array {
  const c = weights.config;
  checkWeights(weights, 'GGUF writer');
  const family = c.family ?? 'llama';
  const table = FAMILIES[family];
  const familyMeta = familyMetadata(family, c, 'GGUF writer');
  if (!c.sharedClassifier && table.output === 'tied') throw new FfnkitError('E_UNSUPPORTED', `GGUF writer: ${family} files have no classifier of their own (output.weight); this model has one`);
  if (weights.ropeFactors && !table.ropeFactors) throw new FfnkitError('E_UNSUPPORTED', `GGUF writer: ${family} files carry no RoPE factors (rope_freqs.weight); this model has them`);
  const tensors: { name: string; dims: number[]; data: HostMatrix; matrix: boolean }[] = [];
  const add = (name: string, data: HostMatrix, cols: number, rows = 1) => tensors.push({ name, dims: rows === 1 ? [cols] : [cols, rows], data, matrix: rows > 1 });
  const routed = weights.layers[0]?.routed;
  if (weights.layers.some((l) => Boolean(l.routed) !== Boolean(routed) || (l.routed && (l.routed.experts !== routed!.experts || l.routed.expertHidden !== routed!.expertHidden)))) {
    throw new FfnkitError('E_UNSUPPORTED', 'GGUF writer: every layer must be dense, or routed with the same expert count and size');
  }
  const shape = familyShape(c);
  // a shared classifier kept in Q8_0 holds the embedding's own blocks
  const embedding = c.sharedClassifier && !(weights.classifier instanceof Float32Array) ? weights.classifier : weights.tokenEmbedding;
  add('token_embd.weight', embedding, c.dim, c.vocabSize);
  if (weights.ropeFactors) add('rope_freqs.weight', weights.ropeFactors, shape.headDim / 2);
  weights.layers.forEach((l, i) => {
    const fields = l as unknown as Record<string, HostMatrix | undefined>;
    // one table entry out of the layer's fields (fused ones stacked by rows)
    const write = (t: LayerTensor) => {
      const rows = t.rows(shape);
      const cols = t.cols(shape);
      const parts = t.fields.map((f) => fields[f]);
      const missing = t.fields.find((f, j) => parts[j] === undefined);
      if (missing) throw new FfnkitError('E_UNSUPPORTED', `GGUF writer: ${family} files need blk.${i}.${t.name}; this model has no ${missing}`);
      if (cols === 0) add(`blk.${i}.${t.name}`, parts[0]!, rows[0]!);
      else add(`blk.${i}.${t.name}`, parts.length === 1 ? parts[0]! : stackRows(parts as HostMatrix[], cols), cols, rows.reduce((a, b) => a + b, 0));
    };
    const r = l.routed;
    let expertsWritten = false;
    for (const t of table.layer.required) {
      if (!(r && t.ffn)) {
        write(t);
        continue;
      }
      if (expertsWritten) continue;
      expertsWritten = true;
      // the experts take the place of the dense FFN's tensors
      const he = r.expertHidden;
      add(`blk.${i}.ffn_gate_inp.weight`, r.router, c.dim, r.experts);
      // llama.cpp's graphs have no router bias and combine experts as 'weighted' does: such a
      // file is one it runs. Any other file keeps the bias tensor, so llama.cpp refuses it
      // instead of computing a different model.
      if (r.combination !== 'weighted' || r.routerBias.some((b) => b !== 0)) add(`blk.${i}.ffn_gate_inp.bias`, r.routerBias, r.experts);
      tensors.push({ name: `blk.${i}.ffn_gate_exps.weight`, dims: [c.dim, he, r.experts], data: r.w1, matrix: true });
      tensors.push({ name: `blk.${i}.ffn_up_exps.weight`, dims: [c.dim, he, r.experts], data: r.w3, matrix: true });
      tensors.push({ name: `blk.${i}.ffn_down_exps.weight`, dims: [he, c.dim, r.experts], data: r.w2, matrix: true });
    }
    for (const group of table.layer.optional) if (group.every((t) => t.fields.every((f) => fields[f] !== undefined))) group.forEach(write);
  });
  // a tensor of the model that the family's table has no name for would be lost
  const named = new Set([...table.layer.required, ...table.layer.optional.flat()].flatMap((t) => t.fields));
  const stray = weights.layers.flatMap((l) => (['bq', 'bk', 'bv', 'qNorm', 'kNorm', 'postAttnNorm', 'postFfnNorm'] as const).filter((f) => l[f] !== undefined && !named.has(f)))[0];
  if (stray) throw new FfnkitError('E_UNSUPPORTED', `GGUF writer: ${family} files have no tensor for this model's ${stray}`);
  add('output_norm.weight', weights.finalNorm, c.dim);
  if (!c.sharedClassifier) add('output.weight', weights.classifier, c.dim, c.vocabSize);

  const w = new ByteWriter();
  const metaType = { u32: T.U32, f32: T.F32, string: T.STRING } as const;
  const meta: [string, MetaValue, T, T?][] = [
    ['general.architecture', family, T.STRING],
    ['general.alignment', DEFAULT_ALIGNMENT, T.U32],
    // feed_forward_length is one expert's in a factorized file, as in llama.cpp
    ...familyMeta.map(([k, v, t]): [string, MetaValue, T] => [k, k === `${family}.feed_forward_length` && routed ? routed.expertHidden : v, metaType[t]]),
  ];
  if (routed) {
    meta.push(
      [`${family}.expert_count`, routed.experts, T.U32],
      [`${family}.expert_used_count`, routed.topK, T.U32],
      ['ffnkit.combination', routed.combination, T.STRING],
    );
    if (routed.split) meta.push(['ffnkit.split', routed.split, T.STRING]);
  }
  if (vocab) {
    const types = vocab.pieces.map((p, id) => (id === 0 ? 2 : id === 1 || id === 2 ? 3 : /^<0x[0-9A-F]{2}>$/.test(p) ? 6 : 1));
    meta.push(
      ['tokenizer.ggml.model', 'llama', T.STRING],
      ['tokenizer.ggml.tokens', vocab.pieces.map((p) => p.replace(/ /g, '\u2581')), T.ARRAY, T.STRING],
      ['tokenizer.ggml.scores', vocab.scores, T.ARRAY, T.F32],
      ['tokenizer.ggml.token_type', types, T.ARRAY, T.I32],
      ['tokenizer.ggml.bos_token_id', 1, T.U32],
      ['tokenizer.ggml.eos_token_id', 2, T.U32],
    );
  }
  // ggml quantizes along rows (ne0): a matrix whose rows are not whole 32-value blocks stays F32,
  // as llama.cpp's quantizer falls back too
  const typeOf = (t: (typeof tensors)[number]): TensorType => (!t.matrix || (type === 'Q8_0' && t.dims[0]! % 32 !== 0) ? 'F32' : type);
  const encoded = tensors.map((t) => encodeTensor(t.data, typeOf(t)));
  w.u32(MAGIC).u32(3).u64(tensors.length).u64(meta.length);
  for (const [k, v, t, it] of meta) writeMeta(w, k, v, t, it);
  let offset = 0;
  tensors.forEach((t, i) => {
    writeString(w, t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(TYPE_IDS[typeOf(t)]);
    w.u64(offset);
    offset += Math.ceil(encoded[i]!.length / DEFAULT_ALIGNMENT) * DEFAULT_ALIGNMENT;
  });
  w.pad(DEFAULT_ALIGNMENT);
  for (const e of encoded) w.bytes(e).pad(DEFAULT_ALIGNMENT);
  return w.result();
}
