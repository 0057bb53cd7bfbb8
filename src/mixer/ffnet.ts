// FFNet image classifiers on the wasm kernels: the public entry of the MetaMixer vision models.

import { FfnkitError } from '../errors.js';
import type { Engine } from '../runtime/engine.js';
import { type FfnetConfig, type FfnetVariant, ffnetConfig } from './ffnet-config.js';
import { buildFfnetGraph } from './ffnet-graph.js';
import { type ParamMap, paramSource, randomFfnetParams, readFfnetSafetensors } from './ffnet-params.js';
import { type MixerGraph, type MixerOp, graphParameterCount } from './graph.js';
import { MixerRunner } from './runner.js';

/** Options of `FfnetModel.create`. */
export interface FfnetOptions {
  /** Which FFNet (default 'ffnet-1'). */
  variant?: FfnetVariant;
  /** Fields replacing the variant's (e.g. `{ classes: 10 }`). */
  config?: Partial<FfnetConfig>;
  /** A state_dict: safetensors bytes (see ffnet-params.ts for the export) or a map by name. Default: random. */
  weights?: Uint8Array | ParamMap;
  /** Seed of the random weights when none are given (default 1). */
  seed?: number;
  /** Run the re-parameterised network (default true) or every BatchNorm and branch as trained. */
  fused?: boolean;
  /** Input size (default 256 x 256). */
  height?: number;
  width?: number;
}

/** An FFNet ready to classify planar RGB images of one size. */
export class FfnetModel {
  readonly config: FfnetConfig;
  readonly graph: MixerGraph;
  readonly height: number;
  readonly width: number;
  private readonly runner: MixerRunner;

  private constructor(config: FfnetConfig, graph: MixerGraph, runner: MixerRunner, height: number, width: number) {
    this.config = config;
    this.graph = graph;
    this.runner = runner;
    this.height = height;
    this.width = width;
  }

  /** Builds the network on `engine`, with loaded or seeded random weights. */
  static create(engine: Engine, options: FfnetOptions = {}): FfnetModel {
    const config = ffnetConfig(options.variant ?? 'ffnet-1', options.config);
    const height = options.height ?? 256;
    const width = options.width ?? 256;
    let params: ParamMap;
    let source = 'parameters';
    if (options.weights instanceof Uint8Array) {
      params = readFfnetSafetensors(options.weights, config);
      source = 'FFNet safetensors';
    } else if (options.weights instanceof Map) {
      params = options.weights;
    } else if (options.weights === undefined) {
      params = randomFfnetParams(config, options.seed ?? 1);
    } else {
      throw new FfnkitError('E_ARG', 'weights: expected safetensors bytes (Uint8Array) or a Map of parameters');
    }
    const graph = buildFfnetGraph(config, paramSource(params, source), { fused: options.fused ?? true, height, width });
    return new FfnetModel(config, graph, new MixerRunner(engine, graph), height, width);
  }

  /** Values in the graph's parameters (13.66M for FFNet-1 fused). */
  get parameterCount(): number {
    return graphParameterCount(this.graph);
  }

  /** Bytes of wasm memory the network holds (weights and activation buffers). */
  get bytes(): number {
    return this.runner.bytes;
  }

  /**
   * Class logits of one image: 3 planes of height x width (normalised RGB, channels first).
   * `onOp`, when given, hears each graph op with the milliseconds it took.
   */
  forward(image: Float32Array, onOp?: (op: MixerOp, ms: number) => void): Float32Array {
    return this.runner.run(image, onOp);
  }

  /** Returns the network's wasm memory to the engine. */
  free(): void {
    this.runner.free();
  }
}
