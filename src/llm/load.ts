// Loading models from any of the supported formats, detected from the bytes: GGUF ("GGUF"),
// llama2.c v1 ("ak42"), Hugging Face (a directory, or { config, safetensors }), else llama2.c v0.

import { FfnkitError } from '../errors.js';
import { readGguf } from '../formats/gguf.js';
import { readLlama2c } from '../formats/llama2c.js';
import { readHfLlama } from '../formats/safetensors.js';
import type { Tokenizer } from '../formats/tokenizer.js';
import { type ByteSource, localFiles, readBytes, sourceName } from '../runtime/io.js';
import { LlamaModel, type ModelOptions } from './model.js';
import type { HostMatrix, LlamaWeights } from '../model/weights.js';

/** A Hugging Face checkpoint given as its two files. */
export interface HfSource {
  config: string | ByteSource;
  safetensors: ByteSource;
}

export type ModelSource = ByteSource | HfSource;

export type ModelFormat = 'llama2c' | 'gguf' | 'safetensors';

export interface LoadedWeights<M extends HostMatrix = Float32Array> {
  weights: LlamaWeights<M>;
  format: ModelFormat;
  /** The vocabulary stored with the model (GGUF), if any. */
  tokenizer?: Tokenizer;
}

function isHfSource(s: ModelSource): s is HfSource {
  return typeof s === 'object' && s !== null && 'safetensors' in s && 'config' in s;
}

/** True when the bytes start like a safetensors file: a plausible u64 header length, then '{'. */
function looksLikeSafetensors(b: Uint8Array): boolean {
  if (b.length < 10) return false;
  const n = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  return n > 1n && n < BigInt(b.length) && b[8] === 0x7b;
}

/** Options of `readWeights`. */
export interface ReadWeightsOptions {
  /** Keep a GGUF file's Q8_0 matrices as their blocks (for inference) instead of float32. */
  keepQ8?: boolean;
}

/**
 * Reads the weights (and any embedded tokenizer) of a model, in whatever supported format: as
 * float32, or with `keepQ8` a GGUF file's Q8_0 matrices as they are stored.
 */
export async function readWeights(source: ModelSource, options?: { keepQ8?: false }): Promise<LoadedWeights>;
export async function readWeights(source: ModelSource, options: ReadWeightsOptions): Promise<LoadedWeights<HostMatrix>>;
export async function readWeights(source: ModelSource, options: ReadWeightsOptions = {}): Promise<LoadedWeights<HostMatrix>> {
  if (isHfSource(source)) {
    const config = typeof source.config === 'string' && source.config.trimStart().startsWith('{')
      ? source.config
      : new TextDecoder().decode(await readBytes(source.config, 'config.json'));
    const bytes = await readBytes(source.safetensors, 'model.safetensors');
    return { weights: readHfLlama(config, bytes, sourceName(source.safetensors)), format: 'safetensors' };
  }
  const name = sourceName(source);
  const files = localFiles();
  if (typeof source === 'string' && files && (await files.isDirectory(source).catch(() => false))) {
    return readWeights({ config: files.join(source, 'config.json'), safetensors: files.join(source, 'model.safetensors') }, options);
  }
  const bytes = await readBytes(source, 'model');
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic === 'GGUF') {
    const { weights, tokenizer } = readGguf(bytes, name, options);
    return tokenizer ? { weights, format: 'gguf', tokenizer } : { weights, format: 'gguf' };
  }
  if (looksLikeSafetensors(bytes)) {
    throw new FfnkitError('E_FORMAT', `${name}: a safetensors file needs its config.json: pass the model's directory, or { config, safetensors }`);
  }
  return { weights: readLlama2c(bytes, name), format: 'llama2c' };
}

/**
 * Loads a model into a new engine (or `options.engine`): a path or URL, bytes, a Response or
 * File, or a Hugging Face `{ config, safetensors }`. A tokenizer stored in the file (GGUF) is
 * kept as `model.tokenizer`. A GGUF file's Q8_0 matrices run as Q8_0 (int8 kernels, a quarter of
 * the f32 bytes); other types are converted to float32.
 */
export async function loadModel(source: ModelSource, options: ModelOptions = {}): Promise<LlamaModel> {
  const { weights, format, tokenizer } = await readWeights(source, { keepQ8: true });
  const model = await LlamaModel.create(weights, options);
  model.format = format;
  if (tokenizer) model.tokenizer = tokenizer;
  return model;
}
