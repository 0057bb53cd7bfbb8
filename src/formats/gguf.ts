// GGUF (v2 and v3), read and written: the container of llama.cpp. Read defensively: every count,
// length and offset is checked against the file before it is used.
//
// Layout: "GGUF", u32 version, u64 tensor count, u64 metadata count; metadata as (string key,
// u32 type, value); tensor infos as (string name, u32 n_dims, u64 dims[n_dims] (dims[0] the
// fastest-varying, so a weight [out, in] has dims [in, out]), u32 ggml type, u64 offset); zero
// padding to `general.alignment` (default 32); tensor data, each at data start + offset.

import { FfnkitError } from '../errors.js';
import type { BlockMatrix, Combination, Family, HostMatrix, LlamaLayer, LlamaWeights, RoutedFfnWeights } from '../model/weights.js';
import { COMBINATIONS, checkConfig, checkWeights, headDim, matrixF32, matrixRows, withLazyDense } from '../model/weights.js';
import { reorderRopeRows } from './safetensors.js';
import { GGML_TYPES, firstBadScale, ggmlTypeById, ggmlTypeLabel, quantizeChecked, type GgmlType, type GgmlTypeName } from '../model/ggml-types.js';
import {
  EXPERT_TENSORS, FAMILIES, LLAMA_CPP_COMBINATION, MODEL_TENSORS, MOE_ARCHS, MOE_ARCH_EXTRAS, familyMetadata, familyOf, familyShape, metadataAsFamily, namedTensors, readFamilyConfig, typeAllowed, type LayerTensor,
  type TensorRole,
} from './gguf-families.js';
import { ByteReader, ByteWriter } from './bytes.js';
import { FILE_TYPES, planTensorTypes, type FileType } from './quant-plan.js';
import { tokenizerFromGguf } from './gguf-vocab.js';
import type { Tokenizer } from './tokenizer.js';

const MAGIC = 0x46554747; // "GGUF" little-endian
const DEFAULT_ALIGNMENT = 32;

/** GGUF metadata value types. */
const enum T {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
}

/** What a GGUF file's matrices may be written as: a llama.cpp file type (its mix of ggml types). */
export type TensorType = FileType;

export type MetaValue = number | bigint | boolean | string | MetaValue[];

/** The GGUF type of a scalar metadata value. */
export type GgufScalarType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'string' | 'u64' | 'i64' | 'f64';
/** A metadata value's GGUF type: a scalar, or an array of one ('string[]'); 'array[]' (arrays of arrays) is read, not written. */
export type GgufValueType = GgufScalarType | `${GgufScalarType | 'array'}[]`;
/** One metadata key's value with the GGUF type it is stored as (so it can be written back as it was). */
export interface GgufEntry {
  type: GgufValueType;
  value: MetaValue;
}
/** A GGUF file's metadata, key by key in file order. */
export type GgufMetadata = ReadonlyMap<string, GgufEntry>;

/** GGUF's value type ids by name, in id order (9 is the array). */
const TYPE_NAMES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'] as const;

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
  /** The GGUF type of each metadata value. */
  metadataTypes: Map<string, GgufValueType>;
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
  const metadataTypes = new Map<string, GgufValueType>();
  for (let i = 0; i < nMeta; i++) {
    const key = readString(r, `metadata key ${i}`);
    const type = r.u32(`type of ${key}`);
    const at = r.pos;
    metadata.set(key, readValue(r, type, key));
    // readValue has checked the type ids: an array's item type is the u32 after its own
    const name = TYPE_NAMES[type === T.ARRAY ? new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, true) : type]!;
    metadataTypes.set(key, (type === T.ARRAY ? `${name}[]` : name) as GgufValueType);
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
  return { version, metadata, metadataTypes, tensors, dataStart, alignment };
}

function elements(t: GgufTensorInfo): number {
  return t.dims.reduce((a, b) => a * b, 1);
}

/** A tensor's ggml type, which must be one ffnkit reads, with whole blocks per row. */
function tensorType(t: GgufTensorInfo, source: string): GgmlType {
  const type = ggmlTypeById(t.type);
  if (!type) {
    const label = ggmlTypeLabel(t.type);
    const code = label.startsWith('#') ? 'E_FORMAT' : 'E_UNSUPPORTED';
    throw new FfnkitError(code, `${source}: tensor ${t.name} has ggml type ${label} (${Object.keys(GGML_TYPES).join(', ')} are read)`);
  }
  // ggml's blocks run along rows (ne0): a row must be whole blocks
  if (t.dims[0]! % type.blockSize !== 0) {
    throw new FfnkitError('E_FORMAT', `${source}: tensor ${t.name}: ${type.name} needs rows of a multiple of ${type.blockSize} values, found ${t.dims[0]}`);
  }
  return type;
}

/** A tensor's bytes, checked to lie inside the file and to hold finite block scales. */
function tensorBlocks(file: GgufFile, bytes: Uint8Array, t: GgufTensorInfo, type: GgmlType, source: string): Uint8Array {
  const size = (elements(t) / type.blockSize) * type.blockBytes;
  const start = file.dataStart + t.offset;
  new ByteReader(bytes, source).need(size, `data of tensor ${t.name} (${type.name})`, start);
  const data = bytes.subarray(start, start + size);
  const bad = firstBadScale(type, data);
  if (bad >= 0) throw new FfnkitError('E_FORMAT', `${source}: tensor ${t.name} (${type.name}): block ${bad} has a NaN or infinite scale`);
  return data;
}

/** The values of one tensor as float32 (every type dequantized). */
export function tensorData(file: GgufFile, bytes: Uint8Array, t: GgufTensorInfo, source = 'GGUF file'): Float32Array {
  const type = tensorType(t, source);
  return type.dequantize(tensorBlocks(file, bytes, t, type, source), elements(t));
}

/** A parsed file's metadata with each value's type: what `writeGguf`'s `metadata` option carries. */
export function ggufMetadata(file: GgufFile): GgufMetadata {
  return new Map([...file.metadata].map(([k, value]) => [k, { type: file.metadataTypes.get(k)!, value }]));
}

/** The tokenizer in a GGUF file's metadata (SentencePiece or byte-level BPE; see gguf-vocab.ts). */
export function ggufTokenizer(file: GgufFile, source = 'GGUF file'): Tokenizer {
  return tokenizerFromGguf(file.metadata, source);
}

/** The expert metadata of a factorized (MoE) file, or undefined for a dense one. */
function expertMetadata(file: GgufFile, family: Family, arch: string, source: string): { experts: number; topK: number; combination: Combination; split?: string } | undefined {
  if (!file.metadata.has(`${family}.expert_count`)) return undefined;
  const experts = metaNumber(file, `${family}.expert_count`, source);
  const topK = metaNumber(file, `${family}.expert_used_count`, source);
  if (!Number.isInteger(experts) || experts < 2) throw new FfnkitError('E_FORMAT', `${source}: ${family}.expert_count ${experts} (at least 2)`);
  if (!Number.isInteger(topK) || topK < 1 || topK > experts) throw new FfnkitError('E_FORMAT', `${source}: ${family}.expert_used_count ${topK} is outside 1..${experts}`);
  // without ffnkit's key the file is llama.cpp's MoE, combined as llama.cpp's graph for it does
  const combination = file.metadata.get('ffnkit.combination') ?? LLAMA_CPP_COMBINATION[arch] ?? 'weighted';
  if (!COMBINATIONS.includes(combination as Combination)) {
    throw new FfnkitError('E_FORMAT', `${source}: ffnkit.combination '${String(combination)}' (${COMBINATIONS.join(', ')})`);
  }
  const split = file.metadata.get('ffnkit.split');
  return { experts, topK, combination: combination as Combination, ...(typeof split === 'string' ? { split } : {}) };
}

/** True when two tensors have the same type, dims and bytes. */
function sameTensor(file: GgufFile, bytes: Uint8Array, a: GgufTensorInfo, b: GgufTensorInfo): boolean {
  if (a.type !== b.type || a.dims.length !== b.dims.length || a.dims.some((d, i) => d !== b.dims[i])) return false;
  const type = ggmlTypeById(a.type);
  if (!type) return false;
  const size = (elements(a) / type.blockSize) * type.blockBytes;
  const pa = file.dataStart + a.offset;
  const pb = file.dataStart + b.offset;
  if (pa + size > bytes.length || pb + size > bytes.length) return false;
  for (let i = 0; i < size; i++) if (bytes[pa + i] !== bytes[pb + i]) return false;
  return true;
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
   * Which matrices keep their ggml blocks (views into `bytes`, not copies) instead of float32:
   * 'f32' none (the default: what training and factorization take), 'runnable' those of a type
   * ffnkit's kernels run (the traits' vecDot; the others are widened), 'all' every one.
   * Norms and the router are float32 whatever is asked.
   */
  blocks?: 'f32' | 'runnable' | 'all';
  /** The same as blocks: 'runnable' (its older name). */
  keepQ8?: boolean;
}

/** What `readGguf` returns: the weights, the tokenizer when the file has one, and every metadata key it holds. */
export interface GgufRead<M extends HostMatrix = HostMatrix> {
  weights: LlamaWeights<M>;
  tokenizer?: Tokenizer;
  /** The file's metadata as read (pass it to `writeGguf` to carry it: see WriteGgufOptions.metadata). */
  metadata: GgufMetadata;
}

/**
 * Reads a GGUF file of a family ffnkit runs (gguf-families.ts: llama, qwen2, qwen3, phi3, gemma,
 * gemma2, gemma3) into weights, and its tokenizer when present. A key or tensor the family's
 * table does not name is E_UNSUPPORTED; so is a tensor in a ggml type its role does not allow.
 */
export function readGguf(bytes: Uint8Array, source?: string, options?: { blocks?: 'f32'; keepQ8?: false }): GgufRead<Float32Array>;
export function readGguf(bytes: Uint8Array, source: string | undefined, options: ReadGgufOptions): GgufRead;
export function readGguf(bytes: Uint8Array, source = 'GGUF file', options: ReadGgufOptions = {}): GgufRead {
  const parsed = parseGguf(bytes, source);
  const arch = parsed.metadata.get('general.architecture');
  const family = familyOf(arch, source);
  // a family's MoE architecture (qwen3moe) is the family's graph with experts: one table reads both
  const file = { ...parsed, metadata: metadataAsFamily(parsed.metadata, arch as string, family) };
  const table = FAMILIES[family];
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  // every tensor read is ticked off; what is left at the end is something ffnkit would ignore
  const used = new Set<string>();
  const config = readFamilyConfig(family, file.metadata, source);
  // Gemma's classifier is the embedding whatever the file holds (an output.weight is then refused)
  config.sharedClassifier = table.output === 'tied' || !byName.has('output.weight');
  const emb = byName.get('token_embd.weight');
  if (!emb) throw new FfnkitError('E_FORMAT', `${source}: tensor token_embd.weight is missing`);
  config.vocabSize = emb.dims[1] ?? 0;
  // an architecture that requires output.weight (phimoe, qwen2moe) gets the embedding again from
  // a tied model: the same bytes are the shared classifier
  const output = byName.get('output.weight');
  if (output && MOE_ARCH_EXTRAS[arch as string]?.output && sameTensor(file, bytes, emb, output)) {
    config.sharedClassifier = true;
    used.add('output.weight');
  }
  const vocabKey = file.metadata.get(`${family}.vocab_size`);
  if (vocabKey !== undefined && vocabKey !== config.vocabSize) {
    throw new FfnkitError('E_FORMAT', `${source}: ${family}.vocab_size ${String(vocabKey)} disagrees with token_embd.weight's ${config.vocabSize} rows`);
  }
  checkConfig(config, source);
  const c = config;
  const moe = expertMetadata(file, family, arch as string, source);
  if (!moe && arch !== family) throw new FfnkitError('E_FORMAT', `${source}: a ${String(arch)} file without ${String(arch)}.expert_count`);
  // one expert's width: expert_feed_forward_length, else as llama.cpp takes it (llama's
  // feed_forward_length is one expert's; qwen3moe's is divided among the used experts)
  const expertHidden = moe ? metaNumber(file, `${family}.expert_feed_forward_length`, source, arch === family ? c.hiddenDim : Math.floor(c.hiddenDim / moe.topK)) : c.hiddenDim;
  const shape = familyShape(c, moe?.experts ?? 1, expertHidden);
  if (moe) c.hiddenDim = moe.experts * expertHidden;
  const blocks = options.blocks ?? (options.keepQ8 ? 'runnable' : 'f32');
  const keep = (t: GgmlType) => t.name !== 'F32' && (blocks === 'all' || (blocks === 'runnable' && t.vecDot !== undefined));

  /** One tensor of the table: present (unless optional), of the dims the metadata implies, of a type its role allows. */
  function read(name: string, role: TensorRole, dims: number[], optional: true): HostMatrix | undefined;
  function read(name: string, role: TensorRole, dims: number[], optional?: boolean): HostMatrix;
  function read(name: string, role: TensorRole, dims: number[], optional = false): HostMatrix | undefined {
    const t = byName.get(name);
    if (!t) {
      if (optional) return undefined;
      throw new FfnkitError('E_FORMAT', `${source}: tensor ${name} is missing`);
    }
    used.add(name);
    if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
      throw new FfnkitError('E_SHAPE', `${source}: tensor ${name}: dims [${t.dims}] disagree with the metadata, which implies [${dims}]`);
    }
    const type = tensorType(t, source);
    if (!typeAllowed(type, role)) {
      const allowed = role === 'vector' ? 'F32, F16 or BF16' : 'a weight type (not an activation type)';
      throw new FfnkitError('E_UNSUPPORTED', `${source}: tensor ${name} is ${type.name}; a ${role === 'vector' ? 'norm, bias or router' : 'matrix'} must be ${allowed}`);
    }
    const data = tensorBlocks(file, bytes, t, type, source);
    if (role === 'matrix' && keep(type)) {
      const m: BlockMatrix = { type: type.name as BlockMatrix['type'], rows: elements(t) / dims[0]!, cols: dims[0]!, bytes: data };
      return m;
    }
    return type.dequantize(data, elements(t));
  }
  const vector = (name: string, dims: number[]) => read(name, 'vector', dims) as Float32Array;

  // one table entry into the layer's fields: a vector, a matrix, or a fused matrix split by rows
  const readTensor = (layer: Partial<Record<keyof LlamaLayer, unknown>>, i: number, t: LayerTensor) => {
    const name = `blk.${i}.${t.name}`;
    const rows = t.rows(shape);
    const cols = t.cols(shape);
    if (t.role === 'vector') {
      layer[t.fields[0]!] = vector(name, [rows[0]!]);
      return;
    }
    const m = read(name, 'matrix', [cols, rows.reduce((a, b) => a + b, 0)]);
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
    const ffn: Partial<Record<(typeof EXPERT_TENSORS)[number]['field'], HostMatrix>> = {};
    for (const e of EXPERT_TENSORS) ffn[e.field] = read(`blk.${i}.${e.name}`, e.role, e.dims(shape), e.field === 'routerBias');
    const routed: RoutedFfnWeights<HostMatrix> = {
      experts: moe.experts,
      topK: moe.topK,
      combination: moe.combination,
      expertHidden: shape.expertHidden,
      router: ffn.router as Float32Array,
      routerBias: (ffn.routerBias as Float32Array | undefined) ?? new Float32Array(moe.experts),
      w1: ffn.w1!,
      w3: ffn.w3!,
      w2: ffn.w2!,
      ...(moe.split ? { split: moe.split } : {}),
    };
    // the dense FFN the experts stand for is built only if something asks for it
    return withLazyDense({ ...(layer as unknown as Omit<LlamaLayer<HostMatrix>, 'w1' | 'w2' | 'w3'>), routed }, c.dim);
  });
  const { embedding, finalNorm, classifier, ropeFactors } = MODEL_TENSORS;
  // a shared classifier is the embedding itself, in whatever type it is kept
  const tokenEmbedding = read(embedding.name, embedding.role, embedding.dims(shape));
  const weights: LlamaWeights<HostMatrix> = {
    config,
    tokenEmbedding,
    layers,
    finalNorm: vector(finalNorm.name, finalNorm.dims(shape)),
    classifier: c.sharedClassifier ? tokenEmbedding : read(classifier.name, classifier.role, classifier.dims(shape)),
  };
  if (table.ropeFactors && byName.has(ropeFactors.name)) weights.ropeFactors = vector(ropeFactors.name, ropeFactors.dims(shape));
  // what a MoE architecture adds (phimoe's biases, qwen2moe's shared expert) changes nothing when
  // it is zeros, as ffnkit writes it; qwen2moe's shared expert adds nothing when its down
  // projection is zero, whatever its gate and up hold
  for (const z of MOE_ARCH_EXTRAS[arch as string]?.zeros ?? []) {
    for (const name of z.layer ? layers.map((_, i) => `blk.${i}.${z.name}`) : [z.name]) {
      const t = byName.get(name);
      if (!t) continue;
      used.add(name);
      const mustBeZero = !name.includes('_shexp') || name.includes('ffn_down_shexp');
      if (mustBeZero && tensorData(file, bytes, t, source).some((v) => v !== 0)) {
        throw new FfnkitError('E_UNSUPPORTED', `${source}: tensor ${name} is not zero; ffnkit's ${family} graph has no place for it`);
      }
    }
  }
  const unknown = file.tensors.filter((t) => !used.has(t.name)).map((t) => t.name);
  if (unknown.length) {
    const names = `${unknown.slice(0, 4).join(', ')}${unknown.length > 4 ? ', ...' : ''}`;
    const tied = table.output === 'tied' ? ' (its classifier is always the embedding)' : '';
    throw new FfnkitError('E_UNSUPPORTED', `${source}: ${unknown.length > 1 ? `tensors ${names} are` : `tensor ${names} is`} not part of the ${family} graph ffnkit computes${tied}`);
  }
  checkWeights(weights, source);
  // more embedding rows than tokens (a padded vocabulary, as Qwen2.5's) is a model whose extra
  // ids the tokenizer never produces: they become pad tokens (padVocabulary); fewer rows than
  // tokens would leave ids the tokenizer produces without an embedding
  const tokens = file.metadata.get('tokenizer.ggml.tokens');
  if (Array.isArray(tokens) && tokens.length > c.vocabSize) {
    throw new FfnkitError('E_FORMAT', `${source}: the tokenizer has ${tokens.length} tokens but token_embd.weight only ${c.vocabSize} rows (ids ${c.vocabSize} and up would have no embedding)`);
  }
  const tokenizer = tokens !== undefined ? tokenizerFromGguf(file.metadata, source, c.vocabSize) : undefined;
  // the file's own keys (a qwen3moe file's under qwen3moe.)
  const metadata = ggufMetadata(parsed);
  return tokenizer ? { weights, tokenizer, metadata } : { weights, metadata };
}

// ---- writing -------------------------------------------------------------------------------

export interface GgufVocabulary {
  /** SentencePiece ('llama', the default) or byte-level BPE ('gpt2'). */
  model?: 'llama' | 'gpt2';
  /** Token strings: SentencePiece pieces with ' ' for spaces (written as '▁'; user-defined ones, matched in raw text, as they are); BPE tokens as they are. */
  pieces: string[];
  /** SentencePiece merge scores. */
  scores?: number[];
  /** GGUF token types (default for SentencePiece: <unk>, BOS, EOS, byte pieces by position and text). */
  types?: number[];
  /** BPE merges, "a b" in rank order, and the pre-tokenizer's name. */
  merges?: string[];
  pre?: string;
  bosId?: number;
  eosId?: number;
  eotId?: number;
  /** The unknown token (written when given). */
  unkId?: number;
  addBos?: boolean;
  addEos?: boolean;
  /** SentencePiece's dummy prefix (written only when false). */
  addSpacePrefix?: boolean;
}

/**
 * Refuses a vocabulary with more tokens than the embedding has rows: readGguf refuses such a file
 * (ids past the rows would have no embedding), so writing it would only move the error to the
 * reader. Fewer tokens are fine: the reader pads them (padVocabulary).
 */
function checkVocabularyRows(v: GgufVocabulary, rows: number): void {
  if (v.pieces.length > rows) {
    throw new FfnkitError('E_SHAPE', `GGUF writer: the vocabulary has ${v.pieces.length} tokens but token_embd.weight only ${rows} rows (ids ${rows} and up would have no embedding)`);
  }
}

/** The tokenizer.ggml.* metadata of a vocabulary. */
function vocabularyMetadata(v: GgufVocabulary): [string, MetaValue, T, T?][] {
  const bpe = v.model === 'gpt2';
  if (bpe ? !v.merges || v.pre === undefined : !v.scores) {
    throw new FfnkitError('E_ARG', `GGUF writer: a ${bpe ? 'BPE vocabulary needs merges and pre' : 'SentencePiece vocabulary needs scores'}`);
  }
  const types = v.types ?? v.pieces.map((p, id) => (id === 0 ? 2 : id === 1 || id === 2 ? 3 : /^<0x[0-9A-F]{2}>$/.test(p) ? 6 : 1));
  const meta: [string, MetaValue, T, T?][] = bpe
    ? [
        ['tokenizer.ggml.model', 'gpt2', T.STRING],
        ['tokenizer.ggml.pre', v.pre!, T.STRING],
        ['tokenizer.ggml.tokens', v.pieces, T.ARRAY, T.STRING],
        ['tokenizer.ggml.merges', v.merges!, T.ARRAY, T.STRING],
      ]
    : [
        ['tokenizer.ggml.model', 'llama', T.STRING],
        // user-defined tokens are matched in the raw text, so they are written as they are (llama.cpp's converter writes their spaces as spaces)
        ['tokenizer.ggml.tokens', v.pieces.map((p, id) => (types[id] === 4 ? p : p.replace(/ /g, '\u2581'))), T.ARRAY, T.STRING],
        ['tokenizer.ggml.scores', v.scores!, T.ARRAY, T.F32],
      ];
  meta.push(['tokenizer.ggml.token_type', types, T.ARRAY, T.I32]);
  const bos = v.bosId ?? (bpe ? -1 : 1);
  const eos = v.eosId ?? (bpe ? -1 : 2);
  if (bos >= 0) meta.push(['tokenizer.ggml.bos_token_id', bos, T.U32]);
  if (eos >= 0) meta.push(['tokenizer.ggml.eos_token_id', eos, T.U32]);
  if (v.eotId !== undefined && v.eotId >= 0) meta.push(['tokenizer.ggml.eot_token_id', v.eotId, T.U32]);
  if (v.unkId !== undefined && v.unkId >= 0) meta.push(['tokenizer.ggml.unknown_token_id', v.unkId, T.U32]);
  if (v.addBos !== undefined) meta.push(['tokenizer.ggml.add_bos_token', v.addBos, T.BOOL]);
  if (v.addEos !== undefined) meta.push(['tokenizer.ggml.add_eos_token', v.addEos, T.BOOL]);
  if (v.addSpacePrefix === false) meta.push(['tokenizer.ggml.add_space_prefix', false, T.BOOL]);
  return meta;
}

function writeString(w: ByteWriter, s: string): void {
  const b = new TextEncoder().encode(s);
  w.u64(b.length).bytes(b);
}

/** The range of each integer type (64-bit ones as far as a JavaScript number is exact, or any bigint that fits). */
const INTEGER_RANGES: Partial<Record<T, [number, number]>> = {
  [T.U8]: [0, 0xff], [T.I8]: [-0x80, 0x7f], [T.U16]: [0, 0xffff], [T.I16]: [-0x8000, 0x7fff],
  [T.U32]: [0, 0xffffffff], [T.I32]: [-0x80000000, 0x7fffffff], [T.U64]: [0, Number.MAX_SAFE_INTEGER], [T.I64]: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/** Little-endian bytes of one fixed-size value. */
function fixedBytes(size: number, set: (d: DataView) => void): Uint8Array {
  const b = new Uint8Array(size);
  set(new DataView(b.buffer));
  return b;
}

/** Writes one metadata key; a value that is not of its type is E_ARG naming the key (carried metadata may be anyone's). */
function writeMeta(w: ByteWriter, key: string, value: MetaValue, type: T, itemType?: T): void {
  const bad = (v: MetaValue, t: T) => new FfnkitError('E_ARG', `GGUF writer: metadata ${key}: ${typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : String(v)} is not a ${TYPE_NAMES[t] ?? `type ${t}`}`);
  const one = (v: MetaValue, t: T) => {
    const range = INTEGER_RANGES[t];
    if (range) {
      if ((t === T.U64 || t === T.I64) && typeof v === 'bigint') {
        if (t === T.U64 ? v < 0n || v >= 1n << 64n : v < -(1n << 63n) || v >= 1n << 63n) throw bad(v, t);
      } else if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) {
        throw bad(v, t);
      }
    }
    if (t === T.F32 || t === T.F64) {
      if (typeof v !== 'number') throw bad(v, t);
    }
    switch (t) {
      case T.STRING:
        if (typeof v !== 'string') throw bad(v, t);
        writeString(w, v);
        return;
      case T.BOOL:
        if (typeof v !== 'boolean') throw bad(v, t);
        w.u8(v ? 1 : 0);
        return;
      case T.U8: w.u8(v as number); return;
      case T.I8: w.bytes(fixedBytes(1, (d) => d.setInt8(0, v as number))); return;
      case T.U16: w.bytes(fixedBytes(2, (d) => d.setUint16(0, v as number, true))); return;
      case T.I16: w.bytes(fixedBytes(2, (d) => d.setInt16(0, v as number, true))); return;
      case T.U32: w.u32(v as number); return;
      case T.I32: w.i32(v as number); return;
      case T.U64: w.bytes(fixedBytes(8, (d) => d.setBigUint64(0, BigInt(v as number), true))); return;
      case T.I64: w.bytes(fixedBytes(8, (d) => d.setBigInt64(0, BigInt(v as number), true))); return;
      case T.F32: w.f32(v as number); return;
      case T.F64: w.bytes(fixedBytes(8, (d) => d.setFloat64(0, v as number, true))); return;
      default:
        // llama.cpp's reader refuses arrays of arrays too
        throw new FfnkitError('E_UNSUPPORTED', `GGUF writer: metadata ${key} is of GGUF type ${TYPE_NAMES[t] === 'array' ? 'array of arrays' : `id ${t}`}, which is not written`);
    }
  };
  if (type === T.ARRAY && !Array.isArray(value)) throw new FfnkitError('E_ARG', `GGUF writer: metadata ${key}: ${String(value)} is not an array`);
  writeString(w, key);
  w.u32(type);
  if (type === T.ARRAY) {
    const arr = value as MetaValue[];
    w.u32(itemType!).u64(arr.length);
    for (const v of arr) one(v, itemType!);
  } else {
    one(value, type);
  }
}

/** A metadata entry as writeMeta's (value, type, item type); a type name GGUF has not is E_ARG naming the key. */
function entryMeta(key: string, e: GgufEntry): [string, MetaValue, T, T?] {
  const id = (name: string) => {
    const t = (TYPE_NAMES as readonly string[]).indexOf(name);
    if (t < 0) throw new FfnkitError('E_ARG', `GGUF writer: metadata ${key} has type '${String(e.type)}' (${TYPE_NAMES.filter((n) => n !== 'array').join(', ')}, or one of them followed by [])`);
    return t as T;
  };
  const type = String(e.type);
  return type.endsWith('[]') ? [key, e.value, T.ARRAY, id(type.slice(0, -2))] : [key, e.value, id(type)];
}

/** Every tokenizer.ggml.* key a written vocabulary decides, also those it leaves out for their default (vocabularyMetadata). */
const VOCABULARY_KEYS = new Set(['model', 'pre', 'tokens', 'scores', 'merges', 'token_type', 'bos_token_id', 'eos_token_id', 'eot_token_id', 'add_bos_token', 'add_eos_token', 'add_space_prefix'].map((k) => `tokenizer.ggml.${k}`));

const sameValue = (a: MetaValue | undefined, b: MetaValue | undefined): boolean =>
  Array.isArray(a) && Array.isArray(b) ? a.length === b.length && a.every((x, i) => sameValue(x, b[i])) : a === b;

/**
 * The source keys `writeGguf` carries, in the source's order: all but those the writer computes
 * and those that described something the write changed (which would be stale).
 * - Computed, the new file's own: general.architecture, general.alignment, general.file_type,
 *   general.quantization_version, every key of the source's and the written architecture
 *   (`<arch>.*`: shapes, RoPE, experts; whatever ffnkit read of them is in the config), ffnkit.*.
 * - The vocabulary's: with a vocabulary written, the keys it decides; and every other tokenizer.*
 *   key (padding, eom, unknown ids, tokenizer.huggingface.json, ...) only when the source's token
 *   list is the one written (or its start, padded), as they would name the ids of another
 *   vocabulary. The chat templates (tokenizer.chat_template, tokenizer.chat_template.NAME) are
 *   text about the model's conversations, not ids, and are always carried.
 * - Stale: general.quantized_by (these tensors were written by ffnkit; see `quantizedBy`),
 *   quantize.* (llama-quantize's importance-matrix record of the source's blocks), split.* (one
 *   file is written), and general.size_label when the shape changed (a written architecture key
 *   differs from the source's, or experts came or went).
 */
function carriedMetadata(source: GgufMetadata, written: ReadonlyMap<string, MetaValue>, family: string, vocabulary: boolean, arch = family): [string, MetaValue, T, T?][] {
  const sourceArch = source.get('general.architecture')?.value;
  // the written architecture's keys (a factorized qwen3 model's qwen3moe.*), the family's and the source's
  const archPrefixes = [`${arch}.`, `${family}.`, ...(typeof sourceArch === 'string' ? [`${sourceArch}.`] : [])];
  const computed = new Set(['general.architecture', 'general.alignment', 'general.file_type', 'general.quantization_version', 'general.quantized_by']);
  // the written tokens may pad the source's (padVocabulary): its ids still name the same tokens
  const sourceTokens = source.get('tokenizer.ggml.tokens')?.value;
  const writtenTokens = written.get('tokenizer.ggml.tokens');
  const sameVocabulary = Array.isArray(sourceTokens) && Array.isArray(writtenTokens) && sameValue(sourceTokens, writtenTokens.slice(0, sourceTokens.length));
  const reshaped = [...written].some(([k, v]) => k.startsWith(`${arch}.`) && source.has(k) && !sameValue(source.get(k)!.value, v))
    || written.has(`${arch}.expert_count`) !== source.has(`${arch}.expert_count`);
  const dropped = (key: string) =>
    written.has(key) || computed.has(key) || archPrefixes.some((p) => key.startsWith(p)) || /^(ffnkit|quantize|split)\./.test(key)
    || (key === 'general.size_label' && reshaped)
    || (key.startsWith('tokenizer.') && !/^tokenizer\.chat_template(\.|$)/.test(key) && ((vocabulary && VOCABULARY_KEYS.has(key)) || !sameVocabulary));
  return [...source].filter(([k]) => !dropped(k)).map(([k, e]) => entryMeta(k, e));
}

/** Options of `writeGguf`. */
export interface WriteGgufOptions {
  /** The llama.cpp file type: its mix of ggml types over the tensors (default F32). */
  type?: TensorType;
  /** Every quantized tensor in the file type's base type, without the mix (llama-quantize --pure). */
  pure?: boolean;
  /** Requantize matrices that are in another block type already (refused otherwise, as by llama-quantize). */
  allowRequantize?: boolean;
  /**
   * Every tensor in the type it is held in (blocks as they are, float32 as F32), whatever the
   * file type's mix would choose; `type` then only names general.file_type.
   */
  keepTypes?: boolean;
  /**
   * The source's metadata to carry (readGguf's `metadata`, or entries of your own): each key is
   * written with its type, except those the writer computes (the architecture's keys, file type,
   * vocabulary: the file never contradicts its tensors) and those the write made stale (see
   * carriedMetadata below). As llama-quantize copies its input's keys, this keeps the chat template,
   * general.name and the other provenance keys. A value not of its type is E_ARG naming the key;
   * an array of arrays E_UNSUPPORTED.
   */
  metadata?: GgufMetadata;
  /** general.quantized_by, GGUF's key for who quantized the file (the source's is not carried). */
  quantizedBy?: string;
}

/** A tensor to write, with the type the plan gives it (and the type the mix wanted, when its rows forced a fallback). */
export interface GgufTensorPlan {
  name: string;
  dims: number[];
  type: GgmlTypeName;
  wanted?: GgmlTypeName;
  /** llama-quantize refuses these rows for `wanted` (ffnkit takes F16, its last resort). */
  beyondLlama?: boolean;
  /** The block type the tensor is held in, when it is requantized from it into `type` (with allowRequantize). */
  requantizedFrom?: GgmlTypeName;
  data: HostMatrix;
}

/**
 * A llama-family model that rotates half-split (a Hugging Face checkpoint's) in the interleaved
 * RoPE order llama files use: q/k rows (and biases) permuted per head, as llama.cpp's converter
 * permutes them; the same model. Other models as they are.
 */
function inFileRopeOrder(weights: LlamaWeights<HostMatrix>): LlamaWeights<HostMatrix> {
  const c = weights.config;
  if ((c.family ?? 'llama') !== 'llama' || c.ropeStyle !== 'half') return weights;
  const d = headDim(c);
  const permute = <M extends HostMatrix | undefined>(m: M, heads: number, cols: number): M => (m instanceof Float32Array ? reorderRopeRows(m, heads, d, cols, 'interleaved') as M : m);
  return {
    ...weights,
    config: { ...c, ropeStyle: 'interleaved' },
    layers: weights.layers.map((l) => {
      if (!(l.wq instanceof Float32Array && l.wk instanceof Float32Array)) throw new FfnkitError('E_UNSUPPORTED', 'GGUF writer: llama files rotate interleaved; this half-split model\'s q/k are quantized already, so their rows cannot be reordered');
      return { ...l, wq: permute(l.wq, c.nHeads, c.dim), wk: permute(l.wk, c.nKvHeads, c.dim), ...(l.bq ? { bq: permute(l.bq, c.nHeads, 1) } : {}), ...(l.bk ? { bk: permute(l.bk, c.nKvHeads, 1) } : {}) };
    }),
  };
}

/** The tensors `writeGguf` writes, in order, each with its ggml type as llama-quantize would choose it. */
export function planGguf(given: LlamaWeights<HostMatrix>, options: TensorType | WriteGgufOptions = 'F32'): GgufTensorPlan[] {
  const weights = inFileRopeOrder(given);
  const o = typeof options === 'string' ? { type: options } : options;
  const ft = o.type ?? 'F32';
  if (!(ft in FILE_TYPES)) throw new FfnkitError('E_ARG', `GGUF writer: unknown file type '${String(ft)}' (${Object.keys(FILE_TYPES).join(', ')})`);
  const c = weights.config;
  checkWeights(weights, 'GGUF writer');
  // the RoPE style and graph must be what the family's keys say (E_UNSUPPORTED otherwise)
  familyMetadata(c.family ?? 'llama', c, 'GGUF writer');
  const routed = weights.layers[0]?.routed;
  if (weights.layers.some((l) => Boolean(l.routed) !== Boolean(routed) || (l.routed && (l.routed.experts !== routed!.experts || l.routed.expertHidden !== routed!.expertHidden)))) {
    throw new FfnkitError('E_UNSUPPORTED', 'GGUF writer: every layer must be dense, or routed with the same expert count and size');
  }
  const tensors = namedTensors(weights, 'GGUF writer');
  const source = (m: HostMatrix): GgmlTypeName => (m instanceof Float32Array ? 'F32' : m.type);
  const plan = o.keepTypes
    ? tensors.map((t) => ({ type: source(t.data) }) as ReturnType<typeof planTensorTypes>[number])
    : planTensorTypes(
        tensors.map((t) => ({ name: t.name, dims: t.dims, role: t.role, source: source(t.data) })),
        ft,
        { nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads, experts: routed?.experts ?? 0 },
        o.pure,
      );
  return tensors.map((t, i) => {
    const { type, wanted, beyondLlama } = plan[i]!;
    const from = source(t.data);
    // widening to F32 is exact; any other change of block type rounds the values a second time
    const requantized = from !== type && type !== 'F32' && GGML_TYPES[from].blockSize > 1;
    if (requantized && !o.allowRequantize) {
      throw new FfnkitError('E_ARG', `GGUF writer: tensor ${t.name} is ${from} already; requantizing it to ${type} loses accuracy twice (allowRequantize: true does it anyway)`);
    }
    return {
      name: t.name, dims: t.dims, type, ...(wanted ? { wanted } : {}), ...(beyondLlama ? { beyondLlama } : {}), ...(requantized ? { requantizedFrom: from } : {}), data: t.data,
    };
  });
}

/** A tensor's bytes in `type`: blocks already of that type go out as they are (no second rounding). */
function encodeTensor(t: GgufTensorPlan): Uint8Array {
  if (!(t.data instanceof Float32Array) && t.data.type === t.type) return t.data.bytes;
  return quantizeChecked(GGML_TYPES[t.type], matrixF32(t.data), `GGUF writer: tensor ${t.name}`);
}

/**
 * Writes weights (and optionally a vocabulary) as GGUF v3 with llama.cpp's tensor names and keys
 * for the model's family (gguf-families.ts; 'llama' when the config names none), each tensor in
 * the type llama-quantize gives it for the file type (norms, biases and the router stay F32; rows
 * that are not whole blocks fall back as llama.cpp's do). The RoPE style must be the family's (a
 * half-split llama model, as read from Hugging Face, is reordered to llama's interleaved one), and
 * a graph the family's keys cannot say is E_UNSUPPORTED.
 */
export function writeGguf(given: LlamaWeights<HostMatrix>, vocab?: GgufVocabulary, options: TensorType | WriteGgufOptions = 'F32'): Uint8Array {
  const weights = inFileRopeOrder(given);
  const tensors = planGguf(weights, options);
  const ft = (typeof options === 'string' ? options : options.type) ?? 'F32';
  const c = weights.config;
  const routed = weights.layers[0]?.routed;
  const family = c.family ?? 'llama';
  // a factorized model is written as its family's MoE architecture (qwen3 as qwen3moe), keys and all
  const arch = routed ? MOE_ARCHS[family] : family;
  const key = (k: string) => `${arch}.${k.slice(family.length + 1)}`;

  const w = new ByteWriter();
  const metaType = { u32: T.U32, f32: T.F32, string: T.STRING } as const;
  const meta: [string, MetaValue, T, T?][] = [
    ['general.architecture', arch, T.STRING],
    ['general.alignment', DEFAULT_ALIGNMENT, T.U32],
    // feed_forward_length is one expert's in a factorized file, as in llama.cpp
    ...familyMetadata(family, c, 'GGUF writer').map(([k, v, t]): [string, MetaValue, T] => [key(k), k === `${family}.feed_forward_length` && routed ? routed.expertHidden : v, metaType[t]]),
    ['general.file_type', FILE_TYPES[ft].id, T.U32],
  ];
  const quantized = tensors.some((t) => GGML_TYPES[t.type].blockSize > 1);
  if (quantized) meta.push(['general.quantization_version', 2, T.U32]);
  if (routed) {
    meta.push(
      [`${arch}.expert_count`, routed.experts, T.U32],
      [`${arch}.expert_used_count`, routed.topK, T.U32],
      // qwen3moe reads one expert's width here (feed_forward_length divided by k otherwise)
      [`${arch}.expert_feed_forward_length`, routed.expertHidden, T.U32],
      ['ffnkit.combination', routed.combination, T.STRING],
    );
    for (const [k, v] of MOE_ARCH_EXTRAS[arch]?.keys ?? []) meta.push([`${arch}.${k}`, v, T.U32]);
    if (routed.split) meta.push(['ffnkit.split', routed.split, T.STRING]);
    // which experts' blocks were rounded a second time when they were cut, layer by layer
    const requantized = weights.layers.flatMap((l, i) => (l.routed?.requantized ? [`blk.${i}: ${l.routed.requantized}`] : []));
    if (requantized.length) meta.push(['ffnkit.requantized', requantized, T.ARRAY, T.STRING]);
  }
  if (vocab) {
    checkVocabularyRows(vocab, c.vocabSize);
    meta.push(...vocabularyMetadata(vocab));
  }
  if (typeof options !== 'string') {
    if (options.quantizedBy !== undefined) meta.push(['general.quantized_by', options.quantizedBy, T.STRING]);
    if (options.metadata) meta.push(...carriedMetadata(options.metadata, new Map(meta.map(([k, v]) => [k, v])), family, vocab !== undefined, arch));
  }
  const encoded = tensors.map(encodeTensor);
  w.u32(MAGIC).u32(3).u64(tensors.length).u64(meta.length);
  for (const [k, v, t, it] of meta) writeMeta(w, k, v, t, it);
  let offset = 0;
  tensors.forEach((t, i) => {
    writeString(w, t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(GGML_TYPES[t.type].id);
    w.u64(offset);
    offset += Math.ceil(encoded[i]!.length / DEFAULT_ALIGNMENT) * DEFAULT_ALIGNMENT;
  });
  w.pad(DEFAULT_ALIGNMENT);
  for (const e of encoded) w.bytes(e).pad(DEFAULT_ALIGNMENT);
  return w.result();
}
