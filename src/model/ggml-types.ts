// The ggml tensor types ffnkit reads and writes, as one traits table (ggml's type_traits): GGUF type
// id, block of values, bytes per block, where the block keeps its scales, and the host codecs.
// The GGUF reader and writer, `ffnkit quantize`, the memory estimate and the kernels all look a
// type up here instead of spelling its numbers out.

import { FfnkitError } from '../errors.js';
import {
  dequantizeBF16, dequantizeF16, dequantizeF32, quantizeBF16, quantizeF16, quantizeF32,
} from './ggml/floats.js';
import { dequantizeIQ4_NL, dequantizeIQ4_XS, quantizeIQ4_NL, quantizeIQ4_XS } from './ggml/iquants.js';
import {
  dequantizeQ2_K, dequantizeQ3_K, dequantizeQ4_K, dequantizeQ5_K, dequantizeQ6_K, dequantizeQ8_K,
  quantizeQ2_K, quantizeQ3_K, quantizeQ4_K, quantizeQ5_K, quantizeQ6_K, quantizeQ8_K,
} from './ggml/kquants.js';
import {
  dequantizeQ4_0, dequantizeQ4_1, dequantizeQ5_0, dequantizeQ5_1, dequantizeQ8_0, dequantizeQ8_1,
  quantizeQ4_0, quantizeQ4_1, quantizeQ5_0, quantizeQ5_1, quantizeQ8_0, quantizeQ8_1,
} from './ggml/legacy.js';

export type GgmlTypeName =
  | 'F32' | 'F16' | 'BF16'
  | 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1' | 'Q8_0' | 'Q8_1'
  | 'Q2_K' | 'Q3_K' | 'Q4_K' | 'Q5_K' | 'Q6_K' | 'Q8_K'
  | 'IQ4_NL' | 'IQ4_XS';

/**
 * The activation format ffnkit's kernel for a weight type takes: Q8_0, Q8_1 or Q8_K blocks, or
 * the floats rounded to F16 / BF16, as ggml's vec_dot_type for that type (F32 for f32 weights).
 */
export type VecDotType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q8_1' | 'Q8_K';

export interface GgmlType {
  readonly name: GgmlTypeName;
  /** ggml / GGUF type id. */
  readonly id: number;
  /** Values per block (1 for the float types): a row must be whole blocks. */
  readonly blockSize: number;
  readonly blockBytes: number;
  /** Byte offsets in each block of its scales (f16, or f32 for Q8_K), which must be finite. */
  readonly scaleOffsets: readonly number[];
  readonly scaleFormat: 'f16' | 'f32';
  /** True for the types llama.cpp stores weights in (not Q8_1 / Q8_K, which only hold activations). */
  readonly weight: boolean;
  /**
   * The activations ffnkit's matrix kernels quantize to for this weight type (every weight type
   * runs in its own blocks); undefined for the activation-only types Q8_1 and Q8_K.
   */
  readonly vecDot?: VecDotType;
  /** n values (n a multiple of blockSize) from their bytes, into `out` if given. */
  dequantize(bytes: Uint8Array, n: number, out?: Float32Array): Float32Array;
  /** The bytes of x (its length a multiple of blockSize), rounded as ggml's quantizer does. */
  quantize(x: Float32Array): Uint8Array;
}

type Row = Omit<GgmlType, 'scaleFormat' | 'weight'> & Partial<Pick<GgmlType, 'scaleFormat' | 'weight'>>;

const ROWS: Row[] = [
  { name: 'F32', id: 0, blockSize: 1, blockBytes: 4, scaleOffsets: [], vecDot: 'F32', dequantize: dequantizeF32, quantize: quantizeF32 },
  { name: 'F16', id: 1, blockSize: 1, blockBytes: 2, scaleOffsets: [], vecDot: 'F16', dequantize: dequantizeF16, quantize: quantizeF16 },
  { name: 'Q4_0', id: 2, blockSize: 32, blockBytes: 18, scaleOffsets: [0], vecDot: 'Q8_1', dequantize: dequantizeQ4_0, quantize: quantizeQ4_0 },
  { name: 'Q4_1', id: 3, blockSize: 32, blockBytes: 20, scaleOffsets: [0, 2], vecDot: 'Q8_1', dequantize: dequantizeQ4_1, quantize: quantizeQ4_1 },
  { name: 'Q5_0', id: 6, blockSize: 32, blockBytes: 22, scaleOffsets: [0], vecDot: 'Q8_1', dequantize: dequantizeQ5_0, quantize: quantizeQ5_0 },
  { name: 'Q5_1', id: 7, blockSize: 32, blockBytes: 24, scaleOffsets: [0, 2], vecDot: 'Q8_1', dequantize: dequantizeQ5_1, quantize: quantizeQ5_1 },
  { name: 'Q8_0', id: 8, blockSize: 32, blockBytes: 34, scaleOffsets: [0], vecDot: 'Q8_0', dequantize: dequantizeQ8_0, quantize: quantizeQ8_0 },
  { name: 'Q8_1', id: 9, blockSize: 32, blockBytes: 36, scaleOffsets: [0, 2], weight: false, dequantize: dequantizeQ8_1, quantize: quantizeQ8_1 },
  { name: 'Q2_K', id: 10, blockSize: 256, blockBytes: 84, scaleOffsets: [80, 82], vecDot: 'Q8_K', dequantize: dequantizeQ2_K, quantize: quantizeQ2_K },
  { name: 'Q3_K', id: 11, blockSize: 256, blockBytes: 110, scaleOffsets: [108], vecDot: 'Q8_K', dequantize: dequantizeQ3_K, quantize: quantizeQ3_K },
  { name: 'Q4_K', id: 12, blockSize: 256, blockBytes: 144, scaleOffsets: [0, 2], vecDot: 'Q8_K', dequantize: dequantizeQ4_K, quantize: quantizeQ4_K },
  { name: 'Q5_K', id: 13, blockSize: 256, blockBytes: 176, scaleOffsets: [0, 2], vecDot: 'Q8_K', dequantize: dequantizeQ5_K, quantize: quantizeQ5_K },
  { name: 'Q6_K', id: 14, blockSize: 256, blockBytes: 210, scaleOffsets: [208], vecDot: 'Q8_K', dequantize: dequantizeQ6_K, quantize: quantizeQ6_K },
  { name: 'Q8_K', id: 15, blockSize: 256, blockBytes: 292, scaleOffsets: [0], scaleFormat: 'f32', weight: false, dequantize: dequantizeQ8_K, quantize: quantizeQ8_K },
  { name: 'IQ4_NL', id: 20, blockSize: 32, blockBytes: 18, scaleOffsets: [0], vecDot: 'Q8_1', dequantize: dequantizeIQ4_NL, quantize: quantizeIQ4_NL },
  { name: 'IQ4_XS', id: 23, blockSize: 256, blockBytes: 136, scaleOffsets: [0], vecDot: 'Q8_K', dequantize: dequantizeIQ4_XS, quantize: quantizeIQ4_XS },
  { name: 'BF16', id: 30, blockSize: 1, blockBytes: 2, scaleOffsets: [], vecDot: 'BF16', dequantize: dequantizeBF16, quantize: quantizeBF16 },
];

/** Every type, by name. */
export const GGML_TYPES: Readonly<Record<GgmlTypeName, GgmlType>> = Object.freeze(
  Object.fromEntries(ROWS.map((r) => [r.name, Object.freeze({ scaleFormat: 'f16', weight: true, ...r })])) as Record<GgmlTypeName, GgmlType>,
);

const BY_ID = new Map(Object.values(GGML_TYPES).map((t) => [t.id, t]));

/** ggml's names of the type ids ffnkit does not read, for error messages. */
const OTHER_NAMES: Record<number, string> = {
  16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 21: 'IQ3_S', 22: 'IQ2_S', 24: 'I8', 25: 'I16', 26: 'I32',
  27: 'I64', 28: 'F64', 29: 'IQ1_M', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4',
};

/** The name of a type id for messages: 'Q4_K', 'IQ2_XXS', or '#77' for an id ggml does not define. */
export function ggmlTypeLabel(id: number): string {
  return BY_ID.get(id)?.name ?? OTHER_NAMES[id] ?? `#${id}`;
}

/** The traits of a type id, or undefined for one ffnkit does not read. */
export function ggmlTypeById(id: number): GgmlType | undefined {
  return BY_ID.get(id);
}

/** The traits of a type by name (any case: 'q4_k', 'Q4_K'), or undefined. */
export function ggmlTypeByName(name: string): GgmlType | undefined {
  return (GGML_TYPES as Record<string, GgmlType>)[name.toUpperCase()];
}

/** Bytes of one row of `cols` values; throws (naming `what`) unless cols is whole blocks. */
export function rowBytes(t: GgmlType, cols: number, what = 'tensor'): number {
  if (!Number.isSafeInteger(cols) || cols < 1 || cols % t.blockSize !== 0) {
    throw new FfnkitError('E_SHAPE', `${what}: ${t.name} needs rows of a multiple of ${t.blockSize} values, found ${cols}`);
  }
  return (cols / t.blockSize) * t.blockBytes;
}

/**
 * The index of the first block of `bytes` whose scale is NaN or infinite, or -1. Float types hold
 * values, not scales, and are not checked.
 */
export function firstBadScale(t: GgmlType, bytes: Uint8Array): number {
  if (t.scaleOffsets.length === 0) return -1;
  const blocks = Math.floor(bytes.length / t.blockBytes);
  for (let b = 0, o = 0; b < blocks; b++, o += t.blockBytes) {
    for (const s of t.scaleOffsets) {
      // an f16 or f32 with an all-ones exponent is Inf or NaN
      const bad = t.scaleFormat === 'f16' ? ((bytes[o + s + 1]! >> 2) & 0x1f) === 0x1f : (bytes[o + s + 3]! & 0x7f) === 0x7f && bytes[o + s + 2]! >= 0x80;
      if (bad) return b;
    }
  }
  return -1;
}

/** x in type t; throws unless x is finite and whole blocks (`what` names it in the error). */
export function quantizeChecked(t: GgmlType, x: Float32Array, what: string): Uint8Array {
  if (x.length % t.blockSize !== 0) throw new FfnkitError('E_SHAPE', `${what}: ${t.name} needs a multiple of ${t.blockSize} values, found ${x.length}`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) throw new FfnkitError('E_ARG', `${what}: value ${i} is ${x[i]}; ${t.name} can only hold finite values`);
  }
  return t.quantize(x);
}
