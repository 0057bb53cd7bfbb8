// A model loaded in the worker: its file read with progress, its weights uploaded layer by layer
// with progress, and the model card. A new model replaces the old only once it has loaded, so a
// failed load leaves the previous one in use.

import { FfnkitError, LlamaModel, Tokenizer, parameterCount, parseGguf, readWeights, weightType, type HostMatrix, type LlamaWeights } from '../../src/index.js';
import { ggmlTypeById } from '../../src/model/ggml-types.js';
import { RoutedLayerFfn } from '../../src/entries/factor.js';
import type { ModelCard, ProgressStage, Source } from '../protocol.js';
import { readSource, sourceLabel } from './read-source.js';

export interface LoadedModel {
  model: LlamaModel;
  tokenizer: Tokenizer;
  /** The weights as read (Q8_0 matrices kept as blocks): what factorizing and dense copies start from. */
  weights: LlamaWeights<HostMatrix>;
  card: ModelCard;
}

export type Progress = (stage: ProgressStage, done: number, total: number, what?: string) => void;

/** Reads, checks and uploads a model (and, for llama2.c, its tokenizer). */
export async function loadModelFrom(source: Source, tokenizerSource: Source | undefined, threads: number, progress: Progress): Promise<LoadedModel> {
  const name = sourceLabel(source);
  const bytes = await readSource(source, 'model', (read, total) => progress('read', read, total, name));
  const { weights, format, tokenizer: stored, chatVocabulary } = await readWeights(bytes, { keepQ8: true, name });
  let tokenizer = stored;
  if (!tokenizer) {
    if (!tokenizerSource) {
      throw new FfnkitError('E_ARG', `${name} is a ${format} file without a vocabulary: give its tokenizer.bin as well`);
    }
    const tokName = sourceLabel(tokenizerSource);
    tokenizer = Tokenizer.fromLlama2c(await readSource(tokenizerSource, 'tokenizer', (read, total) => progress('read', read, total, tokName)), tokName);
  }
  const model = await LlamaModel.create(weights, { threads, onProgress: (done, total) => progress('upload', done, total) });
  try {
    model.checkTokenizer(tokenizer);
  } catch (e) {
    model.engine.close();
    throw e;
  }
  model.format = format;
  model.tokenizer = tokenizer;
  if (chatVocabulary) model.chatVocabulary = chatVocabulary;
  return { model, tokenizer, weights, card: modelCard(model, weights, bytes, name, format) };
}

function modelCard(model: LlamaModel, weights: LlamaWeights<HostMatrix>, bytes: Uint8Array, name: string, format: string): ModelCard {
  const c = model.config;
  const routed = model.ffns.find((f): f is RoutedLayerFfn => f instanceof RoutedLayerFfn);
  return {
    name,
    format,
    ...fileFacts(bytes, format, weights),
    parameters: parameterCount(weights),
    runType: weightType(weights),
    layers: c.nLayers,
    dim: c.dim,
    hiddenDim: c.hiddenDim,
    vocabSize: c.vocabSize,
    context: c.seqLen,
    memoryBytes: model.engine.memory.buffer.byteLength,
    weightBytes: model.weightBytes(),
    backend: model.engine.backend,
    threads: model.engine.threads,
    template: model.chatVocabulary?.template,
    routed: routed ? { experts: routed.experts, topK: routed.topK } : undefined,
  };
}

/** The family and tensor types the file states (GGUF metadata; llama2.c files are float32 Llamas). */
function fileFacts(bytes: Uint8Array, format: string, weights: LlamaWeights<HostMatrix>): { family: string; fileTypes: Record<string, number> } {
  if (format !== 'gguf') return { family: 'llama (llama2.c)', fileTypes: { F32: 2 + (weights.config.sharedClassifier ? 0 : 1) + weights.layers.length * 9 } };
  const file = parseGguf(bytes);
  const fileTypes: Record<string, number> = {};
  for (const t of file.tensors) {
    const type = ggmlTypeById(t.type)?.name ?? `type ${t.type}`;
    fileTypes[type] = (fileTypes[type] ?? 0) + 1;
  }
  const name = file.metadata.get('general.name');
  const arch = String(file.metadata.get('general.architecture') ?? 'unknown');
  return { family: typeof name === 'string' && name ? `${arch} (${name})` : arch, fileTypes };
}
