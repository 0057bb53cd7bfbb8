// Seeded random weights of a model shape straight in a llama.cpp file type's blocks (Q4_K_M:
// Q4_K with the Q6_K tensors llama-quantize's mix picks), for speed and memory measurements of
// models too large to quantize in JS in a benchmark's time. Each tensor gets the type
// llama.cpp's plan gives it (formats/quant-plan.ts); its bytes are random blocks with finite
// scales (testing/ggml-reference.ts). The values mean nothing: decoding them measures speed only.

import type { FileType, HostMatrix, LlamaConfig, LlamaLayer, LlamaWeights } from '../src/index.js';
import { planTensorTypes, type PlannedTensor } from '../src/formats/quant-plan.js';
import { kvDim } from '../src/model/weights.js';
import { randomBlocks, type RefType } from '../testing/ggml-reference.js';

export function randomMixWeights(c: LlamaConfig, fileType: FileType, seed = 1): LlamaWeights<HostMatrix> {
  const kv = kvDim(c);
  // the llama graph's tensors: [name, field, cols, rows, role]
  type Row = [string, string, number, number, 'vector' | 'matrix'];
  const layer: Row[] = [
    ['attn_norm.weight', 'attnNorm', c.dim, 1, 'vector'], ['attn_q.weight', 'wq', c.dim, c.dim, 'matrix'], ['attn_k.weight', 'wk', c.dim, kv, 'matrix'],
    ['attn_v.weight', 'wv', c.dim, kv, 'matrix'], ['attn_output.weight', 'wo', c.dim, c.dim, 'matrix'], ['ffn_norm.weight', 'ffnNorm', c.dim, 1, 'vector'],
    ['ffn_gate.weight', 'w1', c.dim, c.hiddenDim, 'matrix'], ['ffn_down.weight', 'w2', c.hiddenDim, c.dim, 'matrix'], ['ffn_up.weight', 'w3', c.dim, c.hiddenDim, 'matrix'],
  ];
  const tensors: (PlannedTensor & { field: string; layer?: number })[] = [];
  const push = ([name, field, cols, rows, role]: Row, layer?: number) =>
    tensors.push({ name: layer === undefined ? name : `blk.${layer}.${name}`, dims: rows === 1 ? [cols] : [cols, rows], role, source: 'F32', field, ...(layer === undefined ? {} : { layer }) });
  push(['token_embd.weight', 'tokenEmbedding', c.dim, c.vocabSize, 'matrix']);
  for (let i = 0; i < c.nLayers; i++) for (const r of layer) push(r, i);
  push(['output_norm.weight', 'finalNorm', c.dim, 1, 'vector']);
  if (!c.sharedClassifier) push(['output.weight', 'classifier', c.dim, c.vocabSize, 'matrix']);
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
