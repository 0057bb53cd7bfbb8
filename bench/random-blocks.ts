// Seeded random weights of a model shape straight in a llama.cpp file type's blocks (Q4_K_M:
// Q4_K with the Q6_K tensors llama-quantize's mix picks), for speed and memory measurements of
// models too large to quantize in JS in a benchmark's time. Each tensor gets the type
// llama.cpp's plan gives it (formats/quant-plan.ts); its bytes are random blocks with finite
// scales (testing/ggml-reference.ts). The values mean nothing: decoding them measures speed only.

import type { FileType, HostMatrix, LlamaConfig, LlamaLayer, LlamaWeights } from '../src/index.js';
import { planTensorTypes, type PlannedTensor } from '../src/formats/quant-plan.js';
import { DENSE_FFN_TENSORS, HEAD_TENSORS, LAYER_TENSORS, TAIL_TENSORS, type TensorShape } from '../src/formats/gguf-tensors.js';
import { kvDim } from '../src/model/weights.js';
import { randomBlocks, type RefType } from '../testing/ggml-reference.js';

export function randomMixWeights(c: LlamaConfig, fileType: FileType, seed = 1): LlamaWeights<HostMatrix> {
  const shape: TensorShape = { dim: c.dim, kv: kvDim(c), hidden: c.hiddenDim, vocab: c.vocabSize, experts: 1, expertHidden: c.hiddenDim };
  const tensors: (PlannedTensor & { field: string; layer?: number })[] = [];
  for (const e of HEAD_TENSORS) tensors.push({ name: e.name, dims: e.dims(shape), role: e.role, source: 'F32', field: e.field });
  for (let i = 0; i < c.nLayers; i++) {
    for (const e of [...LAYER_TENSORS, ...DENSE_FFN_TENSORS]) tensors.push({ name: `blk.${i}.${e.name}`, dims: e.dims(shape), role: e.role, source: 'F32', field: e.field, layer: i });
  }
  for (const e of TAIL_TENSORS) if (!(c.sharedClassifier && e.field === 'classifier')) tensors.push({ name: e.name, dims: e.dims(shape), role: e.role, source: 'F32', field: e.field });
  const plan = planTensorTypes(tensors, fileType, { nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads, experts: 0 });
  let n = 0;
  const data = tensors.map((t, i): HostMatrix => {
    const [cols, rows = 1] = t.dims as [number, number?];
    const type = plan[i]!.type;
    if (t.role === 'vector') return new Float32Array(cols).fill(1);
    return { type: type as Exclude<typeof type, 'F32'>, rows, cols, bytes: randomBlocks(type.toLowerCase() as RefType, rows, cols, seed + n++) };
  });
  const field = (name: string) => data[tensors.findIndex((t) => t.name === name)]!;
  const layers = Array.from({ length: c.nLayers }, (_, i) => {
    const l: Record<string, HostMatrix> = {};
    tensors.forEach((t, j) => {
      if (t.layer === i) l[t.field] = data[j]!;
    });
    return l as unknown as LlamaLayer<HostMatrix>;
  });
  const embedding = field('token_embd.weight');
  return {
    config: c,
    tokenEmbedding: embedding,
    layers,
    finalNorm: field('output_norm.weight') as Float32Array,
    classifier: c.sharedClassifier ? embedding : field('output.weight'),
  };
}
