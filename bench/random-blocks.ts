// Seeded random weights of a model shape straight in a llama.cpp file type's blocks (Q4_K_M:
// Q4_K with the Q6_K tensors llama-quantize's mix picks), for speed and memory measurements of
// models too large to quantize in JS in a benchmark's time. The tensors are those the family's
// GGUF table names (formats/gguf-families.ts), in a file's order; each gets the type llama.cpp's
// plan gives it (formats/quant-plan.ts); its bytes are random blocks with finite scales
// (testing/ggml-reference.ts). The values mean nothing: decoding them measures speed only.

import type { FileType, HostMatrix, LlamaConfig, LlamaLayer, LlamaWeights } from '../src/index.js';
import { FAMILIES, MODEL_TENSORS, familyShape, type ModelTensor } from '../src/formats/gguf-families.js';
import { planTensorTypes, type PlannedTensor } from '../src/formats/quant-plan.js';
import { randomBlocks, type RefType } from '../testing/ggml-reference.js';

export function randomMixWeights(c: LlamaConfig, fileType: FileType, seed = 1): LlamaWeights<HostMatrix> {
  const family = c.family ?? 'llama';
  const shape = familyShape(c);
  const tensors: (PlannedTensor & { field: string; layer?: number })[] = [];
  const whole = (t: ModelTensor<string>) => tensors.push({ name: t.name, dims: t.dims(shape), role: t.role, source: 'F32', field: t.field });
  whole(MODEL_TENSORS.embedding);
  for (let layer = 0; layer < c.nLayers; layer++) {
    for (const t of FAMILIES[family].layer.required) {
      // a fused tensor (Phi-3's attn_qkv) would have to be split into its fields again
      if (t.fields.length !== 1) throw new Error(`random blocks: ${family}'s ${t.name} fuses ${t.fields.join(', ')}; only unfused layers are made`);
      const [rows] = t.rows(shape) as [number];
      const cols = t.cols(shape);
      tensors.push({ name: `blk.${layer}.${t.name}`, dims: cols === 0 ? [rows] : [cols, rows], role: t.role, source: 'F32', field: t.fields[0]!, layer });
    }
  }
  whole(MODEL_TENSORS.finalNorm);
  if (!c.sharedClassifier) whole(MODEL_TENSORS.classifier);
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
  const embedding = field(MODEL_TENSORS.embedding.name);
  return {
    config: c,
    tokenEmbedding: embedding,
    layers,
    finalNorm: field(MODEL_TENSORS.finalNorm.name) as Float32Array,
    classifier: c.sharedClassifier ? embedding : field(MODEL_TENSORS.classifier.name),
  };
}
