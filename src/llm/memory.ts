// What a model's weights take in wasm memory, per matrix and by the type it is uploaded in, so a
// model that cannot fit is refused before anything is allocated. A kernel that adds a weight type
// gives its packed size here (uploadedMatrixBytes) next to the traits' vecDot it sets.

import { FfnkitError } from '../errors.js';
import { GGML_TYPES, ggmlTypeByName, type GgmlTypeName } from '../model/ggml-types.js';
import { panelFloats, q8GroupFloats } from '../runtime/sizes.js';
import { type HostMatrix, type LlamaConfig, type LlamaWeights, kvDim } from '../model/weights.js';

/** The ggml type of a host matrix ('F32' for float32 values). */
export function matrixType(m: HostMatrix): GgmlTypeName {
  return m instanceof Float32Array ? 'F32' : m.type;
}

/**
 * Bytes of wasm memory one matrix of `rows` x `cols` takes once uploaded as `type`: f32 panels for
 * float32 and for every type no kernel runs yet (they are widened at load), Q8_0's 4-row groups,
 * and for a type whose kernel reads its GGUF blocks as they are, those bytes.
 */
export function uploadedMatrixBytes(type: GgmlTypeName, rows: number, cols: number): number {
  const t = GGML_TYPES[type];
  if (type === 'F32' || !t.vecDot || cols % t.blockSize !== 0) return panelFloats(rows, cols) * 4;
  if (type === 'Q8_0') return q8GroupFloats(rows, cols) * 4;
  return rows * (cols / t.blockSize) * t.blockBytes;
}

/** The upload type of each matrix a model keeps in the engine: wq/wk/wv stack into one only when they share a type. */
interface MatrixTypes {
  classifier: GgmlTypeName;
  layers: { wqkv: GgmlTypeName; wo: GgmlTypeName; w1: GgmlTypeName; w3: GgmlTypeName; w2: GgmlTypeName }[];
}

function typesOf(c: LlamaConfig, weights: string | LlamaWeights<HostMatrix>): MatrixTypes {
  if (typeof weights === 'string') {
    const t = weights === 'f32' ? GGML_TYPES.F32 : ggmlTypeByName(weights);
    if (!t || !t.weight) throw new FfnkitError('E_ARG', `memory estimate: unknown weight type '${weights}'`);
    const layer = { wqkv: t.name, wo: t.name, w1: t.name, w3: t.name, w2: t.name };
    return { classifier: t.name, layers: Array.from({ length: c.nLayers }, () => layer) };
  }
  return {
    classifier: matrixType(weights.classifier),
    layers: weights.layers.map((l) => {
      const q = matrixType(l.wq);
      return { wqkv: q === matrixType(l.wk) && q === matrixType(l.wv) ? q : 'F32', wo: matrixType(l.wo), w1: matrixType(l.w1), w3: matrixType(l.w3), w2: matrixType(l.w2) };
    }),
  };
}

/**
 * Wasm memory a model needs: its uploaded weights (each matrix in the type given: one type for all,
 * or the weights' own), KV cache, RoPE table and activations.
 */
export function modelMemoryBytes(c: LlamaConfig, blockSize: number, weights: string | LlamaWeights<HostMatrix>): number {
  const kv = kvDim(c);
  const types = typesOf(c, weights);
  let bytes = uploadedMatrixBytes(types.classifier, c.vocabSize, c.dim);
  for (const l of types.layers) {
    bytes += 4 * 2 * c.dim + uploadedMatrixBytes(l.wqkv, c.dim + 2 * kv, c.dim) + uploadedMatrixBytes(l.wo, c.dim, c.dim) +
      uploadedMatrixBytes(l.w1, c.hiddenDim, c.dim) + uploadedMatrixBytes(l.w3, c.hiddenDim, c.dim) + uploadedMatrixBytes(l.w2, c.dim, c.hiddenDim);
  }
  const floats = c.dim + 2 * c.nLayers * c.seqLen * kv + c.seqLen * (c.dim / c.nHeads) +
    blockSize * (3 * c.dim + c.dim + 2 * kv + c.vocabSize + 2 * c.hiddenDim) +
    (1 << 20) + Math.max(c.dim, c.hiddenDim) * 8; // packing staging buffer
  return bytes + floats * 4;
}

/** The matrices' types, most frequent first, lowercase and joined by '+': 'f32', 'q8_0', 'q4_k+q6_k'. */
export function weightTypes(w: LlamaWeights<HostMatrix>): string {
  const count = new Map<string, number>();
  for (const m of [w.classifier, ...w.layers.flatMap((l) => [l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3])]) {
    const t = matrixType(m).toLowerCase();
    count.set(t, (count.get(t) ?? 0) + 1);
  }
  return [...count].sort((a, b) => b[1] - a[1]).map(([t]) => t).join('+');
}
