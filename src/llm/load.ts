// Loading models from any of the supported formats, detected from the bytes: GGUF ("GGUF"),
// llama2.c v1 ("ak42") or v0 (a plausible header), Hugging Face (a directory, or { config,
// safetensors }, or { config, index, shards } for a sharded one); anything else is refused as
// such. The tokenizer, chat template and special tokens come along: GGUF metadata, or the
// directory's tokenizer.json, tokenizer_config.json and generation_config.json.

import { FfnkitError } from '../errors.js';
import { parseGguf, readGguf, type GgufMetadata, type ReadGgufOptions } from '../formats/gguf.js';
import { looksLikeLlama2c, readLlama2c } from '../formats/llama2c.js';
import { type ChatVocabulary, ggufChatVocabulary, hfChatVocabulary } from '../formats/chat-vocabulary.js';
import { hfTokenizer } from '../formats/hf-tokenizer.js';
import { readHfConfig, readHfLlama } from '../formats/safetensors.js';
import { readSafetensorsShards } from '../formats/safetensors-shards.js';
import type { Tokenizer } from '../formats/tokenizer.js';
import { type ByteSource, localFiles, readBytes, sourceName } from '../runtime/io.js';
import { LlamaModel, MODEL_OPTION_KINDS, type ModelOptions } from './model.js';
import { checkOptions } from './options.js';
import type { HostMatrix, LlamaWeights } from '../model/weights.js';

/**
 * A Hugging Face checkpoint given as its files: config.json and either model.safetensors or, for
 * a sharded checkpoint, model.safetensors.index.json with its shards.
 */
export interface HfSource {
  config: string | ByteSource;
  /** model.safetensors: the weights in one file. */
  safetensors?: ByteSource;
  /** model.safetensors.index.json (JSON text or a source), for weights in shards: give it instead of `safetensors`. */
  index?: string | ByteSource;
  /** The shards by the file names the index gives them (a browser's File objects, say); one not here is read beside `index` when that is a path or URL. */
  shards?: Record<string, ByteSource>;
  /** tokenizer.json (JSON text or bytes): the model's tokenizer, with tokenizer_config.json's BOS/EOS choices. */
  tokenizer?: string | ByteSource;
  /** tokenizer_config.json (JSON text or bytes), for the chat template and special tokens. */
  tokenizerConfig?: string | ByteSource;
  /** generation_config.json (JSON text or bytes), for the end-of-turn tokens. */
  generationConfig?: string | ByteSource;
  /** chat_template.jinja (text or bytes), which newer checkpoints keep beside tokenizer_config.json. */
  chatTemplate?: string | ByteSource;
}

export type ModelSource = ByteSource | HfSource;

export type ModelFormat = 'llama2c' | 'gguf' | 'safetensors';

export interface LoadedWeights<M extends HostMatrix = Float32Array> {
  weights: LlamaWeights<M>;
  format: ModelFormat;
  /** The vocabulary stored with the model (GGUF metadata, or a Hugging Face tokenizer.json), if any. */
  tokenizer?: Tokenizer;
  /** The chat template and special tokens stored with the model, if any. */
  chatVocabulary?: ChatVocabulary;
  /** A GGUF file's metadata, every key (what writeGguf's `metadata` option carries). */
  metadata?: GgufMetadata;
}

function isHfSource(s: ModelSource): s is HfSource {
  return typeof s === 'object' && s !== null && 'config' in s && ('safetensors' in s || 'index' in s);
}

/** True when the bytes start like a safetensors file: a plausible u64 header length, then '{'. */
function looksLikeSafetensors(b: Uint8Array): boolean {
  if (b.length < 10) return false;
  const n = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  return n > 1n && n < BigInt(b.length) && b[8] === 0x7b;
}

/** Options of `readWeights`: which of a GGUF file's matrices keep their ggml blocks (see ReadGgufOptions), and the source's name. */
export type ReadWeightsOptions = ReadGgufOptions & {
  /** The name errors give the source (default: its path, URL or file name; bytes have none). */
  name?: string;
};

/**
 * Reads the weights (and any embedded tokenizer) of a model, in whatever supported format: as
 * float32, or with `blocks` a GGUF file's matrices in their own ggml types ('runnable': those the
 * kernels run; 'all').
 */
export async function readWeights(source: ModelSource, options?: { blocks?: 'f32'; keepQ8?: false; name?: string }): Promise<LoadedWeights>;
export async function readWeights(source: ModelSource, options: ReadWeightsOptions): Promise<LoadedWeights<HostMatrix>>;
export async function readWeights(source: ModelSource, options: ReadWeightsOptions = {}): Promise<LoadedWeights<HostMatrix>> {
  if (isHfSource(source)) return readHf(source);
  const name = options.name ?? sourceName(source);
  const files = localFiles();
  if (typeof source === 'string' && files && (await files.isDirectory(source).catch(() => false))) {
    // the tokenizer and the files that describe chats, beside the weights when they are there
    const beside = (file: string) => files.read(files.join(source, file)).catch((e: { code?: string }) => {
      if (e.code === 'ENOENT') return undefined;
      throw new FfnkitError('E_ARG', `model: cannot read ${files.join(source, file)} (${(e as Error).message})`);
    });
    const [tokenizer, tokenizerConfig, generationConfig, chatTemplate] = await Promise.all(['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'chat_template.jinja'].map(beside));
    // one file when there is one, as Hugging Face's loaders choose (a directory may keep both)
    const single = files.join(source, 'model.safetensors');
    const index = files.join(source, 'model.safetensors.index.json');
    const present = (path: string) => files.exists(path).catch((e: Error) => {
      throw new FfnkitError('E_ARG', `model: cannot read ${path} (${e.message})`);
    });
    const hasSingle = await present(single);
    const sharded = !hasSingle && (await present(index));
    if (!hasSingle && !sharded) throw new FfnkitError('E_ARG', `model: the directory ${source} holds neither model.safetensors nor model.safetensors.index.json`);
    return readHf({
      config: files.join(source, 'config.json'),
      ...(sharded ? { index } : { safetensors: single }),
      ...(tokenizer ? { tokenizer } : {}),
      ...(tokenizerConfig ? { tokenizerConfig } : {}),
      ...(generationConfig ? { generationConfig } : {}),
      ...(chatTemplate ? { chatTemplate } : {}),
    }, files.join(source, 'tokenizer.json'));
  }
  const bytes = await readBytes(source, 'model');
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic === 'GGUF') {
    const { weights, tokenizer, metadata } = readGguf(bytes, name, options);
    const chatVocabulary = ggufChatVocabulary(parseGguf(bytes, name).metadata, name);
    return { weights, format: 'gguf', ...(tokenizer ? { tokenizer } : {}), ...(chatVocabulary ? { chatVocabulary } : {}), metadata };
  }
  if (looksLikeSafetensors(bytes)) {
    throw new FfnkitError('E_FORMAT', `${name}: a safetensors file needs its config.json: pass the model's directory, or { config, safetensors }`);
  }
  if (!looksLikeLlama2c(bytes)) {
    throw new FfnkitError('E_FORMAT', `${name}: not a GGUF, llama2.c or safetensors file (it starts with ${describeStart(bytes)})`);
  }
  return { weights: readLlama2c(bytes, name), format: 'llama2c' };
}

/** A Hugging Face checkpoint's weights, tokenizer and chat vocabulary; `tokenizerName` names its tokenizer.json in errors. */
async function readHf(source: HfSource, tokenizerName = typeof source.tokenizer === 'string' && !isJsonText(source.tokenizer) ? source.tokenizer : 'tokenizer.json'): Promise<LoadedWeights> {
  const config = await jsonText(source.config, 'config.json');
  if ((source.safetensors === undefined) === (source.index === undefined)) {
    throw new FfnkitError('E_ARG', `model: a Hugging Face checkpoint takes safetensors (one file) or index (shards), ${source.index === undefined ? 'and got neither' : 'not both'}`);
  }
  if (source.shards !== undefined && source.index === undefined) throw new FfnkitError('E_ARG', 'model: shards need their index (model.safetensors.index.json)');
  const weights = source.index !== undefined
    ? readHfLlama(config, await readSafetensorsShards(source.index, {
      ...(source.shards ? { shards: source.shards } : {}),
      ...(localFiles() ? { join: localFiles()!.join } : {}),
      // config.json checked against the index's names before gigabytes of shards are read
      check: (index, name) => readHfConfig(config, (t) => index.weightMap.has(t), (t) => index.weightMap.get(t) ?? name),
    }))
    : readHfLlama(config, await readBytes(source.safetensors!, 'model.safetensors'), sourceName(source.safetensors!));
  const tokenizerConfig = source.tokenizerConfig !== undefined ? await jsonText(source.tokenizerConfig, 'tokenizer_config.json') : undefined;
  const chatVocabulary = hfChatVocabulary({
    ...(tokenizerConfig !== undefined ? { tokenizerConfig } : {}),
    ...(source.generationConfig !== undefined ? { generationConfig: await jsonText(source.generationConfig, 'generation_config.json') } : {}),
    ...(source.chatTemplate !== undefined ? { chatTemplate: await text(source.chatTemplate, 'chat_template.jinja') } : {}),
  });
  // config.json's vocab_size may pass the tokenizer's tokens (Qwen2.5): the ids beyond are pads
  const json = source.tokenizer === undefined ? undefined : typeof source.tokenizer === 'string' && isJsonText(source.tokenizer) ? source.tokenizer : await readBytes(source.tokenizer, 'tokenizer.json');
  const tokenizer = json === undefined ? undefined : hfTokenizer(json, tokenizerConfig, tokenizerName, { rows: weights.config.vocabSize });
  return { weights, format: 'safetensors', ...(tokenizer ? { tokenizer } : {}), ...(chatVocabulary ? { chatVocabulary } : {}) };
}

/** The first bytes of a file, as text when they are printable, else in hex, for an error message. */
function describeStart(bytes: Uint8Array): string {
  const head = bytes.subarray(0, 16);
  if (head.length === 0) return 'nothing: it is empty';
  const printable = head.every((b) => (b >= 0x20 && b < 0x7f) || b === 0x0a || b === 0x0d || b === 0x09);
  return printable ? JSON.stringify(new TextDecoder().decode(head)) : Array.from(head, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** A JSON file given as its text, or as something to read. */
async function jsonText(source: string | ByteSource, what: string): Promise<string> {
  return typeof source === 'string' && isJsonText(source) ? source : text(source, what);
}

/** Whether a string is a JSON object's text rather than a path or URL. */
function isJsonText(s: string): boolean {
  return s.trimStart().startsWith('{');
}

/** A text file given as something to read (a string is a path or URL). */
async function text(source: string | ByteSource, what: string): Promise<string> {
  return new TextDecoder().decode(await readBytes(source, what));
}

/**
 * Loads a model into a new engine (or `options.engine`): a path or URL, bytes, a Response or
 * File, or a Hugging Face `{ config, safetensors }` (sharded: `{ config, index, shards }`). A tokenizer stored with it (GGUF metadata,
 * the directory's tokenizer.json) is kept as `model.tokenizer`. A GGUF file's matrices run in their own ggml type where a kernel runs
 * it (Q8_0: int8 kernels, a quarter of the f32 bytes); the others are widened to float32.
 */
export async function loadModel(source: ModelSource, options: ModelOptions = {}): Promise<LlamaModel> {
  checkOptions(options, MODEL_OPTION_KINDS, 'loadModel'); // before the file is read: a misspelt key is not ignored
  const { weights, format, tokenizer, chatVocabulary } = await readWeights(source, { blocks: 'runnable' });
  const model = await LlamaModel.create(weights, options);
  model.format = format;
  if (tokenizer) model.tokenizer = tokenizer;
  if (chatVocabulary) model.chatVocabulary = chatVocabulary;
  return model;
}
