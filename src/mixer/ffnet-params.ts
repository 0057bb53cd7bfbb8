// FFNet parameters by their official state_dict names: the list a configuration needs, seeded
// random values for benchmarks and tests, and a PyTorch state_dict exported to safetensors:
//
//   from safetensors.torch import save_file
//   sd = {k: v for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}
//   save_file({k: v.contiguous() for k, v in sd.items()}, 'ffnet_1.safetensors')

import { FfnkitError } from '../errors.js';
import { parseSafetensors, safetensorsData } from '../formats/safetensors.js';
import { rng } from '../rng.js';
import type { FfnetConfig } from './ffnet-config.js';
import { type ParamSource, buildFfnetGraph } from './ffnet-graph.js';

/** Parameters by state_dict name. */
export type ParamMap = Map<string, Float32Array>;

/** Every parameter a configuration reads, with its PyTorch shape, in state_dict order. */
export function ffnetParameterShapes(config: FfnetConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  // the builder only needs values of the right length: views of one zero buffer, grown to the
  // largest parameter, instead of a copy of the whole model
  let zeros = new Float32Array(0);
  buildFfnetGraph(config, (name, shape) => {
    shapes.set(name, shape);
    const n = shape.reduce((a, b) => a * b, 1);
    if (n > zeros.length) zeros = new Float32Array(n);
    return zeros.subarray(0, n);
  }, { fused: false, height: 1, width: 1 });
  return shapes;
}

/** A ParamSource over a map that refuses unknown names and wrong sizes, naming the parameter. */
export function paramSource(params: ParamMap, source = 'parameters'): ParamSource {
  return (name, shape) => {
    const v = params.get(name);
    if (!v) throw new FfnkitError('E_FORMAT', `${source}: parameter ${name} is missing`);
    const n = shape.reduce((a, b) => a * b, 1);
    if (v.length !== n) throw new FfnkitError('E_SHAPE', `${source}: parameter ${name} has ${v.length} values, expected shape [${shape}] (${n})`);
    return v;
  };
}

function nameSeed(name: string, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Seeded random parameters (each from its own name and the seed, so any subset is reproducible):
 * conv and linear weights uniform with variance 1/fan_in, biases and BatchNorm shifts and means
 * small, BatchNorm scales and variances around 1, layer scales in [0.2, 1], so that fusing them
 * is exercised and activations stay of order 1 through the depth of the model.
 */
export function randomFfnetParams(config: FfnetConfig, seed = 1): ParamMap {
  const params: ParamMap = new Map();
  for (const [name, shape] of ffnetParameterShapes(config)) {
    const next = rng(nameSeed(name, seed));
    const n = shape.reduce((a, b) => a * b, 1);
    const u = (lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * next());
    let v: Float32Array;
    if (name.endsWith('running_var')) v = u(0.5, 1.5);
    else if (name.endsWith('running_mean')) v = u(-0.2, 0.2);
    else if (name.endsWith('layer_scale')) v = u(0.2, 1);
    else if (shape.length === 1 && /(\.bn|norm)\.weight$/.test(name)) v = u(0.6, 1.4);
    else if (shape.length === 1) v = u(-0.1, 0.1);
    else {
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      const r = Math.sqrt(3 / fanIn);
      v = u(-r, r);
    }
    params.set(name, v);
  }
  return params;
}

/**
 * Reads an FFNet state_dict from safetensors bytes (F32, F16 or BF16), checking it against the
 * configuration: a missing parameter, a parameter of the wrong shape and an unexpected parameter
 * are each an FfnkitError naming it. `num_batches_tracked` entries are ignored, and a `module.`
 * prefix (a DataParallel checkpoint) is dropped, as the official loader does.
 */
export function readFfnetSafetensors(bytes: Uint8Array, config: FfnetConfig, source = 'FFNet safetensors'): ParamMap {
  const file = parseSafetensors(bytes, source);
  const want = ffnetParameterShapes(config);
  const params: ParamMap = new Map();
  for (const [stored, entry] of file.tensors) {
    const name = stored.startsWith('module.') ? stored.slice(7) : stored;
    if (name.endsWith('num_batches_tracked')) continue;
    const shape = want.get(name);
    if (!shape) throw new FfnkitError('E_FORMAT', `${source}: unexpected parameter ${stored} (not part of this FFNet configuration)`);
    if (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i])) {
      throw new FfnkitError('E_SHAPE', `${source}: parameter ${name} has shape [${entry.shape}], expected [${shape}]`);
    }
    params.set(name, safetensorsData(file, bytes, stored, source));
  }
  for (const name of want.keys()) {
    if (!params.has(name)) throw new FfnkitError('E_FORMAT', `${source}: parameter ${name} is missing`);
  }
  return params;
}
