// Experts in the block types of the dense FFN they were cut from, so a quantized model stays the
// size it was. An expert's rows of w1 (gate) and w3 (up) are whole rows of the source: their
// blocks are copied as they are (no second rounding). Its w2 (down) rows gather the group's
// columns: the same blocks again only when the group is a run of whole blocks, else the values
// (rounded once already) are quantized again, in the source type when the expert's rows are whole
// blocks of it and otherwise in the type llama-quantize falls back to for such rows (Q4_K ->
// Q5_0, Q6_K -> Q8_0). Such a second rounding is reported (`requantized`), never silent.

import { GGML_TYPES } from '../model/ggml-types.js';
import type { BlockMatrix, HostMatrix, LlamaLayer, RoutedFfnWeights } from '../model/weights.js';
import { rowFallback } from '../formats/quant-plan.js';

/**
 * `r` (experts cut in float32 from `layer` by `groups`) with each expert matrix in its source
 * matrix's type; float32 sources stay float32.
 */
export function expertsInSourceType(r: RoutedFfnWeights, groups: number[][], layer: Pick<LlamaLayer<HostMatrix>, 'w1' | 'w2' | 'w3'>, dim: number): RoutedFfnWeights<HostMatrix> {
  const he = r.expertHidden;
  const E = r.experts;
  const notes: string[] = [];
  const w1 = layer.w1 instanceof Float32Array ? r.w1 : gatherRows(layer.w1, groups, he);
  const w3 = layer.w3 instanceof Float32Array ? r.w3 : gatherRows(layer.w3, groups, he);
  let w2: HostMatrix = r.w2;
  if (!(layer.w2 instanceof Float32Array)) {
    const source = layer.w2;
    const kept = blockRuns(source, groups, he, dim);
    if (kept) {
      w2 = kept;
    } else {
      const type = GGML_TYPES[source.type].blockSize === 1 ? source.type : rowFallback(source.type, he).type;
      w2 = { type: type as BlockMatrix['type'], rows: E * dim, cols: he, bytes: GGML_TYPES[type].quantize(r.w2) };
      // float16 and bfloat16 values go back to the same bits; blocks are rounded again
      if (GGML_TYPES[source.type].blockSize > 1) notes.push(`ffn_down_exps ${source.type} -> ${type}`);
    }
  }
  const out: RoutedFfnWeights<HostMatrix> = { ...r, w1, w3, w2 };
  if (notes.length) out.requantized = notes.join(', ');
  else delete out.requantized;
  return out;
}

/** Rows of a block matrix by group, expert after expert, each group padded to `he` rows with zero rows. */
function gatherRows(m: BlockMatrix, groups: number[][], he: number): BlockMatrix {
  const t = GGML_TYPES[m.type];
  const rowBytes = (m.cols / t.blockSize) * t.blockBytes;
  const zero = t.quantize(new Float32Array(m.cols));
  const bytes = new Uint8Array(groups.length * he * rowBytes);
  groups.forEach((g, e) => {
    for (let j = 0; j < he; j++) {
      const at = (e * he + j) * rowBytes;
      if (j < g.length) bytes.set(m.bytes.subarray(g[j]! * rowBytes, (g[j]! + 1) * rowBytes), at);
      else bytes.set(zero, at);
    }
  });
  return { type: m.type, rows: groups.length * he, cols: m.cols, bytes };
}

/**
 * The experts' down projections as byte runs of the source's rows, when every group is an
 * ascending run of `he` neurons starting on a block boundary (a contiguous split whose experts are
 * whole blocks); undefined otherwise.
 */
function blockRuns(m: BlockMatrix, groups: number[][], he: number, dim: number): BlockMatrix | undefined {
  const t = GGML_TYPES[m.type];
  const aligned = he % t.blockSize === 0 && groups.every((g) => g.length === he && g[0]! % t.blockSize === 0 && g.every((n, j) => n === g[0]! + j));
  if (!aligned) return undefined;
  const rowBytes = (m.cols / t.blockSize) * t.blockBytes;
  const runBytes = (he / t.blockSize) * t.blockBytes;
  const bytes = new Uint8Array(groups.length * dim * runBytes);
  groups.forEach((g, e) => {
    const from = (g[0]! / t.blockSize) * t.blockBytes;
    for (let row = 0; row < dim; row++) bytes.set(m.bytes.subarray(row * rowBytes + from, row * rowBytes + from + runBytes), (e * dim + row) * runBytes);
  });
  return { type: m.type, rows: groups.length * dim, cols: he, bytes };
}
