// A Llama-family decoder as the ONNX graph transformers.js runs for a causal LM, built with
// onnx-proto from ffnkit's host weights: inputs input_ids, attention_mask, position_ids,
// num_logits_to_keep and past_key_values.N.key|value ([batch, kv heads, past, head dim]); outputs
// logits and present.N.key|value. The graph is spelled in the plain opset-17 operators a PyTorch
// export gives (RMSNorm as Pow/ReduceMean/Add/Sqrt/Div/Mul, which onnxruntime fuses; RoPE with
// rotate_half; attention as MatMul/Softmax; SiLU as Sigmoid·x), so both onnxruntime builds run it
// as they run a downloaded model. Grouped-query attention folds the query heads of one KV head
// into the rows of one product instead of repeating K and V.
//
// 8-bit (`quantized`): every MatMul with a weight becomes what onnxruntime's dynamic quantizer
// (quantize_dynamic, as transformers.js's quantize.py calls it for dtype 'q8') writes:
// DynamicQuantizeLinear of the activations (uint8, per tensor), MatMulInteger against int8
// weights (symmetric, one scale per tensor), Cast and Mul by the two scales; the embedding is an
// int8 Gather followed by DequantizeLinear.

import onnxProto from 'onnx-proto';
import { onnxInt64s, onnxNode, onnxTensor, type OnnxNode, type OnnxTensor } from '../../src/formats/onnx.js';
import { headDim, kvDim, matrixF32, type HostMatrix, type LlamaWeights } from '../../src/model/weights.js';

const { onnx } = onnxProto;
const TYPE = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9 } as const;

export interface LlamaOnnxOptions {
  /** Dynamic int8 matmuls, as transformers.js's 'q8' files (model_quantized.onnx). */
  quantized?: boolean;
}

type Dim = number | string;

function valueInfo(name: string, elemType: number, dims: Dim[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType,
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) => onnx.TensorShapeProto.Dimension.create(typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        }),
      }),
    }),
  });
}

function int8Tensor(name: string, dims: number[], data: Int8Array): OnnxTensor {
  return onnx.TensorProto.create({ name, dims, dataType: TYPE.int8, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
}

function int64Scalar(name: string, v: number): OnnxTensor {
  return onnx.TensorProto.create({ name, dims: [], dataType: TYPE.int64, rawData: new Uint8Array(BigInt64Array.of(BigInt(v)).buffer) });
}

/** [rows, cols] row-major to [cols, rows]: ONNX's MatMul takes the weight as K x N. */
function transpose<T extends Float32Array | Int8Array>(a: T, rows: number, cols: number): T {
  const out = new (a.constructor as { new (n: number): T })(a.length);
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = a[row + c]!;
  }
  return out;
}

/** Symmetric per-tensor int8, as onnxruntime's quantizer does for QInt8 weights: scale max|w| / 127, zero point 0. */
export function quantizeInt8(w: Float32Array): { q: Int8Array; scale: number } {
  let amax = 0;
  for (let i = 0; i < w.length; i++) amax = Math.max(amax, Math.abs(w[i]!));
  const scale = Math.fround(amax / 127) || 1;
  const q = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(w[i]! / scale)));
  return { q, scale };
}

/** The HF row order of a q or k projection: llama2.c/GGUF pairs (2i, 2i+1) become (i, i + d/2) in each head. */
function interleavedToHalf(w: Float32Array, heads: number, hd: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < hd / 2; i++) {
      out.set(w.subarray((h * hd + 2 * i) * cols, (h * hd + 2 * i + 1) * cols), (h * hd + i) * cols);
      out.set(w.subarray((h * hd + 2 * i + 1) * cols, (h * hd + 2 * i + 2) * cols), (h * hd + hd / 2 + i) * cols);
    }
  }
  return out;
}

/** The model bytes (onnx/model.onnx, or with `quantized` onnx/model_quantized.onnx). */
export function llamaToOnnx(w: LlamaWeights<HostMatrix>, options: LlamaOnnxOptions = {}): Uint8Array {
  const c = w.config;
  const hd = headDim(c);
  const kv = kvDim(c);
  const rep = c.nHeads / c.nKvHeads;
  const nodes: OnnxNode[] = [];
  const inits: OnnxTensor[] = [];
  const node = (op: string, inputs: string[], output: string, attrs?: Record<string, number | number[]>) => {
    nodes.push(onnxNode(op, inputs, [output], attrs));
    return output;
  };
  const constants = new Map<string, string>();
  /** A shared constant initializer (float scalar, int64 list or int64 scalar). */
  const constant = (kind: 'f' | 'i' | 'is', v: number | number[]) => {
    const key = `${kind}:${String(v)}`;
    let name = constants.get(key);
    if (!name) {
      name = `const_${constants.size}`;
      constants.set(key, name);
      inits.push(kind === 'f' ? onnxTensor(name, [], [v as number]) : kind === 'i' ? onnxInt64s(name, v as number[]) : int64Scalar(name, v as number));
    }
    return name;
  };
  const quantized = options.quantized === true;

  /** y = x · Wᵀ for W [n, k] row-major (ffnkit's layout). */
  const linear = (x: string, name: string, m: HostMatrix | Float32Array, n: number, k: number, y: string) => {
    const f = matrixF32(m);
    if (!quantized) {
      inits.push(onnxTensor(name, [k, n], transpose(f, n, k)));
      return node('MatMul', [x, name], y);
    }
    const { q, scale } = quantizeInt8(f);
    inits.push(int8Tensor(`${name}_quantized`, [k, n], transpose(q, n, k)));
    inits.push(onnxTensor(`${name}_scale`, [], [scale]));
    inits.push(int8Tensor(`${name}_zero_point`, [], new Int8Array(1)));
    nodes.push(onnxNode('DynamicQuantizeLinear', [x], [`${y}_xq`, `${y}_xscale`, `${y}_xzp`]));
    node('Mul', [`${y}_xscale`, `${name}_scale`], `${y}_scale`);
    node('MatMulInteger', [`${y}_xq`, `${name}_quantized`, `${y}_xzp`, `${name}_zero_point`], `${y}_int32`);
    node('Cast', [`${y}_int32`], `${y}_float`, { to: TYPE.float });
    return node('Mul', [`${y}_float`, `${y}_scale`], y);
  };
  const rmsnorm = (x: string, weight: Float32Array, name: string, y: string) => {
    inits.push(onnxTensor(name, [c.dim], weight));
    node('Pow', [x, constant('f', 2)], `${y}_sq`);
    node('ReduceMean', [`${y}_sq`], `${y}_mean`, { axes: [-1], keepdims: 1 });
    node('Add', [`${y}_mean`, constant('f', c.normEps)], `${y}_eps`);
    node('Sqrt', [`${y}_eps`], `${y}_rms`);
    node('Div', [x, `${y}_rms`], `${y}_normed`);
    return node('Mul', [`${y}_normed`, name], y);
  };

  // embedding
  const embedding = matrixF32(w.tokenEmbedding);
  if (quantized) {
    const { q, scale } = quantizeInt8(embedding);
    inits.push(int8Tensor('embed_tokens_quantized', [c.vocabSize, c.dim], q), onnxTensor('embed_tokens_scale', [], [scale]), int8Tensor('embed_tokens_zero_point', [], new Int8Array(1)));
    node('Gather', ['embed_tokens_quantized', 'input_ids'], 'embed_int8', { axis: 0 });
    node('DequantizeLinear', ['embed_int8', 'embed_tokens_scale', 'embed_tokens_zero_point'], 'hidden_0');
  } else {
    inits.push(onnxTensor('embed_tokens', [c.vocabSize, c.dim], embedding));
    node('Gather', ['embed_tokens', 'input_ids'], 'hidden_0', { axis: 0 });
  }

  // RoPE angles from position_ids, [batch, seq, 1, head dim] (the same float32 frequencies as ffnkit's table)
  const invFreq = new Float32Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) invFreq[i] = Math.fround(1 / Math.fround(Math.pow(c.ropeTheta, Math.fround(Math.fround(2 * i) / hd))));
  inits.push(onnxTensor('rope_inv_freq', [hd / 2], invFreq));
  node('Cast', ['position_ids'], 'positions', { to: TYPE.float });
  node('Unsqueeze', ['positions', constant('i', [2])], 'positions_3d');
  node('Mul', ['positions_3d', 'rope_inv_freq'], 'rope_freqs');
  node('Concat', ['rope_freqs', 'rope_freqs'], 'rope_angles', { axis: -1 });
  node('Cos', ['rope_angles'], 'rope_cos_3d');
  node('Sin', ['rope_angles'], 'rope_sin_3d');
  node('Unsqueeze', ['rope_cos_3d', constant('i', [2])], 'rope_cos');
  node('Unsqueeze', ['rope_sin_3d', constant('i', [2])], 'rope_sin');

  // the additive mask [batch, 1, rep * seq, total]: causal over past + new positions, and the attention mask
  node('Shape', ['attention_mask'], 'total_1d', { start: 1, end: 2 });
  node('Shape', ['input_ids'], 'seq_1d', { start: 1, end: 2 });
  node('Squeeze', ['total_1d'], 'total');
  node('Sub', ['total_1d', 'seq_1d'], 'past_1d');
  node('Squeeze', ['past_1d'], 'past');
  node('Range', [constant('is', 0), 'total', constant('is', 1)], 'key_positions');
  node('Range', ['past', 'total', constant('is', 1)], 'query_positions');
  node('Unsqueeze', ['key_positions', constant('i', [0])], 'key_positions_row');
  node('Unsqueeze', ['query_positions', constant('i', [1])], 'query_positions_col');
  node('LessOrEqual', ['key_positions_row', 'query_positions_col'], 'causal');
  node('Cast', ['attention_mask'], 'mask_bool', { to: TYPE.bool });
  node('Unsqueeze', ['mask_bool', constant('i', [1, 2])], 'mask_4d');
  node('And', ['causal', 'mask_4d'], 'allowed');
  node('Where', ['allowed', constant('f', 0), constant('f', -1e30)], 'mask_bias');
  node('Tile', ['mask_bias', constant('i', [1, 1, rep, 1])], 'attention_bias');

  const rope = (x: string, y: string) => {
    nodes.push(onnxNode('Split', [x, constant('i', [hd / 2, hd / 2])], [`${y}_x1`, `${y}_x2`], { axis: 3 }));
    node('Neg', [`${y}_x2`], `${y}_neg_x2`);
    node('Concat', [`${y}_neg_x2`, `${y}_x1`], `${y}_rotated`, { axis: 3 });
    node('Mul', [x, 'rope_cos'], `${y}_cos`);
    node('Mul', [`${y}_rotated`, 'rope_sin'], `${y}_sin`);
    return node('Add', [`${y}_cos`, `${y}_sin`], y);
  };

  const interleaved = c.ropeStyle !== 'half';
  let x = 'hidden_0';
  w.layers.forEach((l, i) => {
    const p = `layers.${i}`;
    const h = rmsnorm(x, l.attnNorm, `${p}.input_layernorm.weight`, `${p}.attn_in`);
    const wq = interleaved ? interleavedToHalf(matrixF32(l.wq), c.nHeads, hd, c.dim) : l.wq;
    const wk = interleaved ? interleavedToHalf(matrixF32(l.wk), c.nKvHeads, hd, c.dim) : l.wk;
    linear(h, `${p}.self_attn.q_proj.weight`, wq, c.dim, c.dim, `${p}.q`);
    linear(h, `${p}.self_attn.k_proj.weight`, wk, kv, c.dim, `${p}.k`);
    linear(h, `${p}.self_attn.v_proj.weight`, l.wv, kv, c.dim, `${p}.v`);
    node('Reshape', [`${p}.q`, constant('i', [0, 0, c.nHeads, hd])], `${p}.q_heads`);
    node('Reshape', [`${p}.k`, constant('i', [0, 0, c.nKvHeads, hd])], `${p}.k_heads`);
    node('Reshape', [`${p}.v`, constant('i', [0, 0, c.nKvHeads, hd])], `${p}.v_heads`);
    rope(`${p}.q_heads`, `${p}.q_rope`);
    rope(`${p}.k_heads`, `${p}.k_rope`);
    node('Transpose', [`${p}.q_rope`], `${p}.q_t`, { perm: [0, 2, 1, 3] });
    node('Transpose', [`${p}.k_rope`], `${p}.k_t`, { perm: [0, 2, 1, 3] });
    node('Transpose', [`${p}.v_heads`], `${p}.v_t`, { perm: [0, 2, 1, 3] });
    node('Concat', [`past_key_values.${i}.key`, `${p}.k_t`], `present.${i}.key`, { axis: 2 });
    node('Concat', [`past_key_values.${i}.value`, `${p}.v_t`], `present.${i}.value`, { axis: 2 });
    // [batch, heads, seq, hd] -> [batch, kv heads, rep * seq, hd]: the query heads that share a KV head, stacked
    node('Reshape', [`${p}.q_t`, constant('i', [0, c.nKvHeads, -1, hd])], `${p}.q_grouped`);
    node('Mul', [`${p}.q_grouped`, constant('f', 1 / Math.sqrt(hd))], `${p}.q_scaled`);
    node('Transpose', [`present.${i}.key`], `${p}.k_for_scores`, { perm: [0, 1, 3, 2] });
    node('MatMul', [`${p}.q_scaled`, `${p}.k_for_scores`], `${p}.scores`);
    node('Add', [`${p}.scores`, 'attention_bias'], `${p}.scores_masked`);
    node('Softmax', [`${p}.scores_masked`], `${p}.probs`, { axis: -1 });
    node('MatMul', [`${p}.probs`, `present.${i}.value`], `${p}.context_grouped`);
    node('Reshape', [`${p}.context_grouped`, constant('i', [0, c.nHeads, -1, hd])], `${p}.context_heads`);
    node('Transpose', [`${p}.context_heads`], `${p}.context_t`, { perm: [0, 2, 1, 3] });
    node('Reshape', [`${p}.context_t`, constant('i', [0, 0, c.dim])], `${p}.context`);
    linear(`${p}.context`, `${p}.self_attn.o_proj.weight`, l.wo, c.dim, c.dim, `${p}.attn_out`);
    node('Add', [x, `${p}.attn_out`], `${p}.resid`);
    const h2 = rmsnorm(`${p}.resid`, l.ffnNorm, `${p}.post_attention_layernorm.weight`, `${p}.ffn_in`);
    linear(h2, `${p}.mlp.gate_proj.weight`, l.w1, c.hiddenDim, c.dim, `${p}.gate`);
    linear(h2, `${p}.mlp.up_proj.weight`, l.w3, c.hiddenDim, c.dim, `${p}.up`);
    node('Sigmoid', [`${p}.gate`], `${p}.gate_sigmoid`);
    node('Mul', [`${p}.gate`, `${p}.gate_sigmoid`], `${p}.gate_silu`);
    node('Mul', [`${p}.gate_silu`, `${p}.up`], `${p}.ffn_hidden`);
    linear(`${p}.ffn_hidden`, `${p}.mlp.down_proj.weight`, l.w2, c.dim, c.hiddenDim, `${p}.ffn_out`);
    x = node('Add', [`${p}.resid`, `${p}.ffn_out`], `hidden_${i + 1}`);
  });

  // the last num_logits_to_keep positions (0: all), as transformers.js asks for 1 while generating
  node('Neg', ['num_logits_to_keep'], 'keep_start');
  node('Unsqueeze', ['keep_start', constant('i', [0])], 'keep_start_1d');
  node('Slice', [x, 'keep_start_1d', constant('i', [2 ** 31 - 1]), constant('i', [1])], 'hidden_kept');
  const final = rmsnorm('hidden_kept', w.finalNorm, 'norm.weight', 'final');
  linear(final, 'lm_head.weight', w.classifier, c.vocabSize, c.dim, 'logits');

  const cache = (name: string) => valueInfo(name, TYPE.float, ['batch_size', c.nKvHeads, name.startsWith('past') ? 'past_sequence_length' : 'total_sequence_length', hd]);
  const layers = w.layers.map((_, i) => i);
  const graph = onnx.GraphProto.create({
    name: 'ffnkit-llama',
    node: nodes,
    initializer: inits,
    input: [
      valueInfo('input_ids', TYPE.int64, ['batch_size', 'sequence_length']),
      valueInfo('attention_mask', TYPE.int64, ['batch_size', 'total_sequence_length']),
      valueInfo('position_ids', TYPE.int64, ['batch_size', 'sequence_length']),
      valueInfo('num_logits_to_keep', TYPE.int64, []),
      ...layers.flatMap((i) => [cache(`past_key_values.${i}.key`), cache(`past_key_values.${i}.value`)]),
    ],
    output: [
      valueInfo('logits', TYPE.float, ['batch_size', 'logits_length', c.vocabSize]),
      ...layers.flatMap((i) => [cache(`present.${i}.key`), cache(`present.${i}.value`)]),
    ],
  });
  const model = onnx.ModelProto.create({ irVersion: 8, producerName: 'ffnkit bench peers', opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 17 })], graph });
  return onnx.ModelProto.encode(model).finish();
}
