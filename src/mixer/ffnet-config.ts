// The FFNet family of MetaMixer (arXiv 2406.02021), with the hyper-parameters of the official
// models/ffnet.py: four stages of FFBlocks after a two-conv stem, PatchMerging between stages.

import { FfnkitError } from '../errors.js';

/** The shape of one FFNet. */
export interface FfnetConfig {
  /** Blocks per stage. */
  depths: readonly number[];
  /** Channels per stage. */
  dims: readonly number[];
  /** Channels after the stem's first conv. */
  inDim: number;
  /** Channel mixer depthwise kernel per stage (7 is a RepVGGDW pair 7x7 + 3x3). */
  kernelSizes: readonly number[];
  /** Token mixer first / second depthwise kernel per stage (7: RepVGGDW, else a plain conv). */
  kernelSizes1: readonly number[];
  kernelSizes2: readonly number[];
  /** Channel mixer hidden width / dim. */
  expansion: number;
  /** Residual branches multiplied by a learned per-channel scale (FFNet-3 and -4). */
  layerScale: boolean;
  /** Classifier outputs. */
  classes: number;
}

const common = { inDim: 64, kernelSizes1: [3, 3, 7, 7], kernelSizes2: [3, 3, 7, 7], expansion: 3, classes: 1000 };

/** FFNet-1 to -4 as models/ffnet.py registers them (ffnet_1 .. ffnet_4). */
export const FFNET_VARIANTS = {
  'ffnet-1': { ...common, depths: [2, 2, 8, 2], dims: [80, 160, 320, 640], kernelSizes: [3, 3, 3, 3], layerScale: false },
  'ffnet-2': { ...common, depths: [3, 3, 15, 3], dims: [88, 176, 352, 704], kernelSizes: [7, 7, 7, 7], layerScale: false },
  'ffnet-3': { ...common, depths: [4, 4, 22, 5], dims: [96, 192, 384, 768], kernelSizes: [7, 7, 7, 7], layerScale: true },
  'ffnet-4': { ...common, depths: [4, 4, 27, 3], dims: [128, 256, 512, 1024], kernelSizes: [7, 7, 7, 7], layerScale: true },
} as const satisfies Record<string, FfnetConfig>;

export type FfnetVariant = keyof typeof FFNET_VARIANTS;

/** The configuration of a named variant, optionally with fields replaced (e.g. fewer classes). */
export function ffnetConfig(variant: FfnetVariant | string, overrides: Partial<FfnetConfig> = {}): FfnetConfig {
  const base = (FFNET_VARIANTS as Record<string, FfnetConfig>)[variant];
  if (!base) throw new FfnkitError('E_ARG', `variant: expected one of ${Object.keys(FFNET_VARIANTS).join(', ')}, found '${variant}'`);
  return checkFfnetConfig({ ...base, ...overrides });
}

/** Checks a configuration, naming the first bad field. */
export function checkFfnetConfig(c: FfnetConfig): FfnetConfig {
  const stages = c.dims.length;
  if (stages < 1) throw new FfnkitError('E_ARG', 'dims: expected at least one stage');
  for (const [name, v] of [['depths', c.depths], ['kernelSizes', c.kernelSizes], ['kernelSizes1', c.kernelSizes1], ['kernelSizes2', c.kernelSizes2]] as const) {
    if (v.length !== stages) throw new FfnkitError('E_ARG', `${name}: expected ${stages} stages like dims, found ${v.length}`);
  }
  for (const [name, v] of [['kernelSizes', c.kernelSizes], ['kernelSizes1', c.kernelSizes1], ['kernelSizes2', c.kernelSizes2]] as const) {
    for (const k of v) if (!Number.isInteger(k) || k < 3 || k > 31 || k % 2 === 0) throw new FfnkitError('E_ARG', `${name}: expected odd kernel sizes in 3..31, found ${k}`);
  }
  for (let i = 1; i < stages; i++) {
    if (c.dims[i] !== 2 * c.dims[i - 1]!) throw new FfnkitError('E_ARG', `dims: PatchMerging doubles the channels, so dims[${i}] must be ${2 * c.dims[i - 1]!}, found ${c.dims[i]}`);
  }
  for (const [name, v] of [['dims', c.dims], ['depths', c.depths]] as const) {
    for (const d of v) if (!Number.isInteger(d) || d < 1) throw new FfnkitError('E_ARG', `${name}: expected positive integers, found ${d}`);
  }
  for (const [name, v] of [['inDim', c.inDim], ['expansion', c.expansion], ['classes', c.classes]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new FfnkitError('E_ARG', `${name}: expected a positive integer, found ${v}`);
  }
  return c;
}
