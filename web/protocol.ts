// The messages between the page and the model worker. The page sends a Request with an id; the
// worker answers with any number of events for that id (progress, text pieces) and then exactly
// one `done` (with the request's result) or `error`. `stop` ends the streaming request it names.

import type { ChatMessage } from '../src/index.js';

/** Where bytes come from: a file the user dropped or picked, or a URL. */
export type Source = { kind: 'file'; file: File } | { kind: 'url'; url: string };

/** What the model card shows. */
export interface ModelCard {
  name: string;
  format: string;
  /** The architecture the file names (GGUF general.architecture), else the format's. */
  family: string;
  parameters: number;
  /** Tensor types in the file and how many tensors of each, e.g. { F32: 12, Q8_0: 35 }. */
  fileTypes: Record<string, number>;
  /** How the matrices run: f32 panels or Q8_0 groups. */
  runType: string;
  layers: number;
  dim: number;
  hiddenDim: number;
  vocabSize: number;
  context: number;
  /** The wasm memory the engine holds, in bytes. */
  memoryBytes: number;
  /** Bytes of weights one decoded token reads. */
  weightBytes: number;
  backend: string;
  threads: number;
  /** The model's own chat template, if it has one. */
  template: string | undefined;
  /** Set when the FFNs are FactorLLM experts: experts per layer and k. */
  routed: { experts: number; topK: number } | undefined;
}

/** The machine's bounds, measured once in the worker. */
export interface Bounds {
  /** Read bandwidth of one thread, GB/s (1e9 bytes/s), over a buffer larger than the caches. */
  bandwidth: number;
  /** Multiply-add peak of the best build on one thread, GFLOP/s. */
  peak: number;
  /** The bandwidth probe's buffer, bytes (weights smaller than a cache can be read faster). */
  probeBytes: number;
}

/** Prefill and decode, as measured in the worker. */
export interface Speed {
  prefillTokens: number;
  prefillSeconds: number;
  decodeTokens: number;
  decodeSeconds: number;
  /** Bytes of weights a decoded token reads (for the bandwidth bound). */
  weightBytes: number;
  /** Multiply-add flops of one token (for the compute bound of prefill). */
  flopsPerToken: number;
}

export interface SamplingSettings {
  maxTokens: number;
  temperature: number;
}

/** The FFN methods compared on one prompt and one text. */
export interface CompareSettings {
  prompt: string;
  maxTokens: number;
  factorized: { experts: number; topK: number; calibration: 'trained' | 'untrained'; calibrationUrl: string };
  skip: { threshold: number; warmup: number; coldStart: number; coldEnd: number };
}

export interface MethodResult {
  method: 'dense' | 'factorized' | 'skip';
  ppl: number;
  text: string;
  speed: Speed;
  /** Factorized: tokens per expert, per layer (of the perplexity text and the generation). */
  expertCounts?: number[][];
  /** Skipping: share of decode steps each layer skipped its FFN. */
  skipPerLayer?: number[];
  skipRatio?: number;
  note?: string;
}

export interface KernelRow {
  kernel: string;
  build: string;
  threads: number;
  value: number;
  unit: 'GFLOP/s' | 'GB/s';
  bound: number;
  boundName: string;
}

export type Request =
  | { type: 'load'; model: Source; tokenizer?: Source; threads: number }
  | { type: 'bounds' }
  | { type: 'complete'; prompt: string; settings: SamplingSettings }
  | { type: 'chat'; messages: ChatMessage[]; template: string | undefined; settings: SamplingSettings }
  | { type: 'compare'; settings: CompareSettings; text: string }
  | { type: 'kernels'; threads: number; seconds: number }
  | { type: 'kernelCheck' }
  | { type: 'stop'; target: number };

/** The result each request type ends with. */
export interface Results {
  load: ModelCard;
  bounds: Bounds;
  complete: { finish: string; speed: Speed };
  chat: { finish: string; speed: Speed };
  compare: MethodResult[];
  kernels: KernelRow[];
  kernelCheck: Record<string, number[]>;
  stop: null;
}

export type ProgressStage = 'read' | 'upload' | 'factorize' | 'evaluate' | 'generate' | 'kernel';

export type WorkerEvent =
  | { id: number; type: 'progress'; stage: ProgressStage; done: number; total: number; what?: string }
  | { id: number; type: 'piece'; text: string }
  | { id: number; type: 'row'; row: KernelRow }
  | { id: number; type: 'done'; result: unknown }
  | { id: number; type: 'error'; message: string; code?: string };

export type RequestOf<T extends Request['type']> = Extract<Request, { type: T }>;
