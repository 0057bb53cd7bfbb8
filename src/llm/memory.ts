// What a model's weights take in wasm memory, per matrix and by the type it is uploaded in, so a
// model that cannot fit is refused before anything is allocated. Each matrix is counted as
// uploadMatrix / uploadStacked upload it (llm/ffn.ts): f32 panels, Q8_0's 4-row groups, every
// other block type's GGUF bytes as they are.

import { FfnkitError } from '../errors.js';
import { GGML_TYPES, ggmlTypeByName, type GgmlTypeName } from '../model/ggml-types.js';
import { ACTIVATION_BLOCK_BYTES, ggmlRepackedBytes, panelFloats, q8GroupFloats } from '../runtime/sizes.js';
import { GGML_KERNEL_TRAITS, kvValueBytes, type Activations, type GgmlBlockType, type KvCache } from '../runtime/kernels.js';
import { type HostMatrix, type LlamaConfig, type LlamaWeights, headDim, kvDim, qDim } from '../model/weights.js';

/** The ggml type of a host matrix ('F32' for float32 values). */
export function matrixType(m: HostMatrix): GgmlTypeName {
  return m instanceof Float32Array ? 'F32' : m.type;
}

/**
 * Bytes of wasm memory one matrix of `rows` x `cols` takes once uploaded as `type`: f32 panels for
 * float32, the 4-row layouts of Q8_0, Q4_0, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K, and for the other block types their
 * GGUF bytes (in whole floats).
 */
export function uploadedMatrixBytes(type: GgmlTypeName, rows: number, cols: number): number {
  const t = GGML_TYPES[type];
  if (type === 'F32') return panelFloats(rows, cols) * 4;
  if (!t.vecDot || cols % t.blockSize !== 0) throw new FfnkitError('E_ARG', `memory estimate: no kernel runs ${rows}x${cols} in ${type}`);
  if (type === 'Q8_0') return q8GroupFloats(rows, cols) * 4;
  const repacked = ggmlRepackedBytes(type, rows, cols);
  if (repacked !== undefined) return Math.ceil(repacked / 4) * 4;
  return Math.ceil((rows * (cols / t.blockSize) * t.blockBytes) / 4) * 4;
}

/** One layer's matrices by type; a routed FFN's by expert. */
interface LayerTypes {
  wq: GgmlTypeName;
  wk: GgmlTypeName;
  wv: GgmlTypeName;
  wo: GgmlTypeName;
  w1: GgmlTypeName;
  w3: GgmlTypeName;
  w2: GgmlTypeName;
  routed?: { experts: number; expertHidden: number };
}

function typesOf(c: LlamaConfig, weights: string | LlamaWeights<HostMatrix>): { classifier: GgmlTypeName; layers: LayerTypes[] } {
  if (typeof weights === 'string') {
    const t = weights === 'f32' ? GGML_TYPES.F32 : ggmlTypeByName(weights);
    if (!t || !t.weight) throw new FfnkitError('E_ARG', `memory estimate: unknown weight type '${weights}'`);
    const n = t.name;
    const layer = { wq: n, wk: n, wv: n, wo: n, w1: n, w3: n, w2: n };
    return { classifier: n, layers: Array.from({ length: c.nLayers }, () => layer) };
  }
  return {
    classifier: matrixType(weights.classifier),
    layers: weights.layers.map((l) => {
      const r = l.routed;
      const ffn = r
        ? { w1: matrixType(r.w1), w3: matrixType(r.w3), w2: matrixType(r.w2), routed: { experts: r.experts, expertHidden: r.expertHidden } }
        : { w1: matrixType(l.w1), w3: matrixType(l.w3), w2: matrixType(l.w2) };
      return { wq: matrixType(l.wq), wk: matrixType(l.wk), wv: matrixType(l.wv), wo: matrixType(l.wo), ...ffn };
    }),
  };
}

/** Floats of scratch per activation value for each layout the kernels quantize to (runtime/kernels/ggml.ts, q8.ts). */
const ACTIVATION_FLOATS: Record<Activations | 'f32', number> = {
  f32: 0,
  f16: 1,
  bf16: 1,
  // Q8_0's column pairs (int16 values and f32 scales); the column quads' blocks (q8_0_x4_u8) are smaller
  q8_0: 1 / 2 + 1 / 32,
  ...(Object.fromEntries(Object.entries(ACTIVATION_BLOCK_BYTES).map(([k, b]) => [k, b.bytes / b.values / 4])) as Record<keyof typeof ACTIVATION_BLOCK_BYTES, number>),
};

/** The activation layout a type's kernel takes (the 4-row kernels their own). */
function activationsOfType(t: GgmlTypeName): Activations | 'f32' {
  const kernel = GGML_KERNEL_TRAITS[t.toLowerCase() as GgmlBlockType];
  if (kernel) return kernel.activations;
  return ((GGML_TYPES[t].vecDot ?? 'F32').toLowerCase()) as Activations | 'f32';
}

/** Floats of scratch per activation value the kernels for these types need: each layout its own buffer. */
function activationFloats(types: GgmlTypeName[]): number {
  const kinds = new Set(types.map(activationsOfType));
  return [...kinds].reduce((n, k) => n + ACTIVATION_FLOATS[k], 0);
}

/** Floats one layer's keys (or values) take in a KV cache of `cache` values: seq_len rows, halves two to a float. */
export function kvLayerFloats(c: LlamaConfig, cache: KvCache): number {
  return Math.ceil((c.seqLen * kvDim(c) * kvValueBytes(cache)) / 4);
}

/** Bytes of the whole KV cache: keys and values of every layer. */
export function kvCacheBytes(c: LlamaConfig, cache: KvCache): number {
  return 2 * c.nLayers * kvLayerFloats(c, cache) * 4;
}

/**
 * Wasm memory a model needs: its uploaded weights (each matrix in the type given: one type for all,
 * or the weights' own), KV cache (of `kvCache` values), RoPE tables (a second for sliding-window
 * layers), activations and the kernels' scratch.
 */
export function modelMemoryBytes(c: LlamaConfig, blockSize: number, weights: string | LlamaWeights<HostMatrix>, kvCache: KvCache = 'f32'): number {
  const kv = kvDim(c);
  const q = qDim(c);
  const types = typesOf(c, weights);
  const up = uploadedMatrixBytes;
  // norms, and the vectors some families add (biases, q/k norms, post-norms) as if all had them
  const vectors = 4 * c.dim + q + 2 * kv + 2 * headDim(c);
  let bytes = up(types.classifier, c.vocabSize, c.dim);
  const seen: GgmlTypeName[] = [types.classifier];
  for (const l of types.layers) {
    // wq, wk and wv go up as one matrix when they share a type, else as a stack of three
    const qkv = l.wq === l.wk && l.wq === l.wv ? up(l.wq, q + 2 * kv, c.dim) : up(l.wq, q, c.dim) + up(l.wk, kv, c.dim) + up(l.wv, kv, c.dim);
    const r = l.routed;
    const ffn = r
      ? panelFloats(r.experts, c.dim) * 4 + r.experts * (up(l.w1, r.expertHidden, c.dim) + up(l.w3, r.expertHidden, c.dim) + up(l.w2, c.dim, r.expertHidden))
      : up(l.w1, c.hiddenDim, c.dim) + up(l.w3, c.hiddenDim, c.dim) + up(l.w2, c.dim, c.hiddenDim);
    bytes += 4 * vectors + qkv + up(l.wo, c.dim, q) + ffn;
    seen.push(l.wq, l.wk, l.wv, l.wo, l.w1, l.w3, l.w2);
  }
  const widest = Math.max(c.dim, q, c.hiddenDim);
  const ropeTables = c.slidingWindow !== undefined ? 2 : 1;
  const floats = c.dim + kvCacheBytes(c, kvCache) / 4 + ropeTables * c.seqLen * headDim(c) +
    blockSize * (2 * c.dim + Math.max(c.dim, q) + q + 2 * kv + c.vocabSize + 2 * c.hiddenDim) +
    Math.ceil(activationFloats(seen) * blockSize * widest) + // quantized activations
    (1 << 20) + widest * 8; // packing staging buffer
  return bytes + floats * 4;
}

/** The matrices' types, most frequent first, lowercase and joined by '+': 'f32', 'q8_0', 'q4_k+q6_k'. */
export function weightTypes(w: LlamaWeights<HostMatrix>): string {
  const count = new Map<string, number>();
  const ffn = (l: LlamaWeights<HostMatrix>['layers'][number]) => (l.routed ? [l.routed.w1, l.routed.w2, l.routed.w3] : [l.w1, l.w2, l.w3]);
  for (const m of [w.classifier, ...w.layers.flatMap((l) => [l.wq, l.wk, l.wv, l.wo, ...ffn(l)])]) {
    const t = matrixType(m).toLowerCase();
    count.set(t, (count.get(t) ?? 0) + 1);
  }
  return [...count].sort((a, b) => b[1] - a[1]).map(([t]) => t).join('+');
}
