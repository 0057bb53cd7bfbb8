// Sharded Hugging Face checkpoints: `model.safetensors.index.json` ({"metadata": {"total_size":
// N}, "weight_map": {tensor: shard file}}) and the shards it names (model-00001-of-0000N...).
//
// The shards are read one after another, each converted to float32 and let go before the next,
// so memory peaks at the float32 weights plus one shard: never more than one file of the same
// tensors needs (that file's bytes stay whole until every tensor is read). The index and the
// shards must agree exactly: every tensor of the index in the shard it names, every tensor of a
// shard in the index under that shard, no tensor in two shards, and total_size the tensors' data
// bytes (a download that mixes two revisions, or lost a file, is refused rather than half-read).

import { FfnkitError } from '../errors.js';
import { type ByteSource, readBytes, sourceName } from '../runtime/io.js';
import { type SafetensorsTensors, parseSafetensors, safetensorsData } from './safetensors.js';

export interface SafetensorsIndex {
  /** tensor name -> shard file name, as the index gives them */
  weightMap: Map<string, string>;
  /** the shard file names, sorted */
  shards: string[];
  /** metadata.total_size when it is a number: the tensors' data bytes over every shard */
  totalSize?: number;
}

/**
 * Whether a shard name stays inside the checkpoint's directory: a relative path of plain
 * segments (no '..', '.', empty segments, backslashes, drive letters or NULs).
 */
function isInside(name: string): boolean {
  if (name === '' || name.startsWith('/') || /[\\:\0]/.test(name)) return false;
  return name.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/** Parses and checks a model.safetensors.index.json (its text or bytes); `source` names it in errors. */
export function parseSafetensorsIndex(json: string | Uint8Array, source = 'model.safetensors.index.json'): SafetensorsIndex {
  let index: unknown;
  try {
    index = JSON.parse(typeof json === 'string' ? json : new TextDecoder().decode(json));
  } catch (e) {
    throw new FfnkitError('E_FORMAT', `${source}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof index !== 'object' || index === null || Array.isArray(index)) throw new FfnkitError('E_FORMAT', `${source}: not a JSON object`);
  const map = (index as { weight_map?: unknown }).weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new FfnkitError('E_FORMAT', `${source}: no weight_map object (found ${map === undefined ? 'none' : JSON.stringify(map).slice(0, 40)}): not a sharded safetensors index`);
  }
  const weightMap = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string') throw new FfnkitError('E_FORMAT', `${source}: weight_map's ${tensor} is ${JSON.stringify(shard)}, not a shard file name`);
    if (!isInside(shard)) throw new FfnkitError('E_FORMAT', `${source}: weight_map's ${tensor} names shard ${JSON.stringify(shard)}, which is outside the checkpoint's directory`);
    weightMap.set(tensor, shard);
  }
  if (weightMap.size === 0) throw new FfnkitError('E_FORMAT', `${source}: weight_map names no tensors`);
  // total_size is informative (Hugging Face's loaders ignore it, some tools leave it out): checked when it is a number
  const totalSize = (index as { metadata?: { total_size?: unknown } }).metadata?.total_size;
  return { weightMap, shards: [...new Set(weightMap.values())].sort(), ...(typeof totalSize === 'number' ? { totalSize } : {}) };
}

interface ReadTensor {
  shard: string;
  shape: number[];
  data: Float32Array;
}

/**
 * Collects a sharded checkpoint's tensors shard by shard: `add` checks a shard against the index
 * and keeps its tensors as float32 (the bytes are not kept), `finish` checks that every shard came
 * and the sizes add up, and gives the tensors to readHfLlama.
 */
export class SafetensorsShards {
  private readonly tensors = new Map<string, ReadTensor>();
  private readonly added = new Set<string>();
  private dataBytes = 0;

  constructor(readonly index: SafetensorsIndex, readonly source = 'model.safetensors.index.json') {}

  /** Adds shard `shard` (a name of the index) from its bytes; `file` names it in errors (default: the shard's name). */
  add(shard: string, bytes: Uint8Array, file = shard): void {
    if (!this.index.shards.includes(shard)) throw new FfnkitError('E_ARG', `${this.source}: ${shard} is not one of its shards (${this.index.shards.join(', ')})`);
    if (this.added.has(shard)) throw new FfnkitError('E_ARG', `${this.source}: shard ${shard} given twice`);
    this.added.add(shard);
    const parsed = parseSafetensors(bytes, file);
    for (const [name, entry] of parsed.tensors) {
      const mapped = this.index.weightMap.get(name);
      const earlier = this.tensors.get(name);
      if (earlier) throw new FfnkitError('E_FORMAT', `${file}: tensor ${name} is also in shard ${earlier.shard}: an inconsistent download`);
      if (mapped === undefined) throw new FfnkitError('E_FORMAT', `${file}: tensor ${name} is not in ${this.source}: an inconsistent download`);
      if (mapped !== shard) throw new FfnkitError('E_FORMAT', `${file}: tensor ${name} is here, but ${this.source} puts it in shard ${mapped}: an inconsistent download`);
      this.tensors.set(name, { shard, shape: entry.shape, data: safetensorsData(parsed, bytes, name, file) });
      this.dataBytes += entry.end - entry.begin;
    }
    for (const [name, mapped] of this.index.weightMap) {
      if (mapped === shard && !parsed.tensors.has(name)) throw new FfnkitError('E_FORMAT', `${file}: tensor ${name} is missing (${this.source} puts it in this shard)`);
    }
  }

  /** The tensors of every shard, once all have been added. */
  finish(): SafetensorsTensors {
    const missing = this.index.shards.find((s) => !this.added.has(s));
    if (missing) throw new FfnkitError('E_ARG', `${this.source}: shard ${missing} was not read`);
    const { totalSize } = this.index;
    if (totalSize !== undefined && totalSize !== this.dataBytes) {
      throw new FfnkitError('E_FORMAT', `${this.source}: metadata.total_size is ${totalSize} bytes, the shards' tensors hold ${this.dataBytes}: an incomplete or mixed download`);
    }
    const tensors = this.tensors;
    const source = this.source;
    return {
      name: source,
      names: () => tensors.keys(),
      shape: (name) => tensors.get(name)?.shape,
      data: (name) => {
        const t = tensors.get(name);
        if (!t) throw new FfnkitError('E_FORMAT', `${source}: tensor ${name} is missing`);
        return t.data;
      },
      fileOf: (name) => {
        const t = tensors.get(name);
        return t ? t.shard : source;
      },
    };
  }
}

export interface ReadShardsOptions {
  /** The shards by the index's file names; one not here is read beside the index (a path or URL). */
  shards?: Record<string, ByteSource>;
  /** Joins a directory and a shard name (local paths: node:path's join). */
  join?: (dir: string, name: string) => string;
  /** Called with the index (and its name) before any shard is read: to refuse a checkpoint early, on its tensors' names. */
  check?: (index: SafetensorsIndex, name: string) => void;
}

/**
 * Reads a sharded checkpoint: its index (JSON text, or a source) and its shards, each from
 * `shards[name]` when given, else beside the index (a path or URL); one shard at a time.
 */
export async function readSafetensorsShards(index: string | ByteSource, options: ReadShardsOptions = {}): Promise<SafetensorsTensors> {
  const { shards = {}, join, check } = options;
  const isText = typeof index === 'string' && index.trimStart().startsWith('{');
  const indexName = isText ? 'model.safetensors.index.json' : sourceName(index);
  const parsed = parseSafetensorsIndex(isText ? index : await readBytes(index, 'model.safetensors.index.json'), indexName);
  check?.(parsed, indexName);
  const collected = new SafetensorsShards(parsed, indexName);
  for (const shard of parsed.shards) {
    const where = Object.hasOwn(shards, shard) ? shards[shard]! : isText ? undefined : beside(index, shard, join);
    if (where === undefined) throw new FfnkitError('E_ARG', `${indexName}: shard ${describeShard(parsed, shard)} was not given: pass it in shards, by that name`);
    let bytes: Uint8Array;
    try {
      bytes = await readBytes(where, shard);
    } catch (e) {
      if (!(e instanceof FfnkitError)) throw e;
      throw new FfnkitError(e.code, `${indexName}: shard ${describeShard(parsed, shard)} cannot be read: ${e.message}`);
    }
    collected.add(shard, bytes, typeof where === 'string' || where instanceof URL ? sourceName(where) : shard);
  }
  return collected.finish();
}

/** "model-00002-of-00002.safetensors (120 tensors, model.layers.14.mlp.down_proj.weight first)": a shard as errors name it. */
function describeShard(index: SafetensorsIndex, shard: string): string {
  const names = [...index.weightMap].filter(([, s]) => s === shard).map(([name]) => name);
  return `${shard} (${names.length} tensors, ${names[0]} first)`;
}

/** Where a shard is when the index was given as a path or URL: beside it; undefined for bytes, a Response or a Blob. */
function beside(index: ByteSource, shard: string, join?: (dir: string, name: string) => string): ByteSource | undefined {
  if (index instanceof URL) return new URL(shard, index);
  if (typeof index !== 'string') return undefined;
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(index)) return new URL(shard, index).href;
  const cut = Math.max(index.lastIndexOf('/'), index.lastIndexOf('\\'));
  const dir = cut < 0 ? '.' : cut === 0 ? index[0]! : index.slice(0, cut);
  return join ? join(dir, shard) : `${dir}/${shard}`;
}
