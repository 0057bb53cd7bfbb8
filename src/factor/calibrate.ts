// Calibration for FactorLLM: run the dense model on text and keep what each layer's FFN sees
// (its input, the post-attention RMSNorm output), so routers can be trained without running the
// model again, and neurons clustered by how they fire.

import { FfnkitError } from '../errors.js';
import type { Tokenizer } from '../formats/tokenizer.js';
import type { LayerFfn } from '../llm/ffn.js';
import { splitDocuments } from '../text/documents.js';
import type { LlamaModel } from '../llm/model.js';
import type { F32Buffer } from '../runtime/buffer.js';

export interface CalibrationData {
  tokens: number;
  dim: number;
  /** Per layer, [tokens, dim]: the FFN inputs in text order. */
  inputs: Float32Array[];
}

/** A layer's FFN as calibration runs it: y = FFN(x) for `tokens` rows, in text order. */
export type CalibrationFfn = (x: F32Buffer, y: F32Buffer, tokens: number) => void;

/**
 * Records the FFN inputs of every layer while `model` runs up to `maxTokens` tokens of `text`.
 * `ffnOf(layer)`, when given, runs in place of that layer's own FFN (to record more on the way).
 */
export function collectFfnInputs(
  model: LlamaModel, tokenizer: Tokenizer, text: string, maxTokens: number,
  onProgress?: (tokens: number, total: number) => void, ffnOf?: (layer: number) => CalibrationFfn,
): CalibrationData {
  model.checkTokenizer(tokenizer);
  const docs = splitDocuments(text);
  if (docs.length === 0) throw new FfnkitError('E_ARG', 'calibration text: no documents (it is empty or blank)');
  const dim = model.config.dim;
  const inputs = model.layers.map(() => new Float32Array(maxTokens * dim));
  let filled = 0;
  // rows recorded per layer: a document longer than the model's block reaches each FFN in blocks
  const recorded = model.layers.map(() => 0);
  const saved = model.layers.map((l) => l.ffn);
  model.layers.forEach((layer, i) => {
    const inner = saved[i]!;
    const run = ffnOf?.(i) ?? ((x: F32Buffer, y: F32Buffer, tokens: number) => inner.forward(x, y, tokens));
    const recorder: LayerFfn = {
      kind: inner.kind,
      forward(x: F32Buffer, y: F32Buffer, tokens: number) {
        const room = Math.min(tokens, maxTokens - recorded[i]!);
        if (room > 0) inputs[i]!.set(x.view().subarray(0, room * dim), recorded[i]! * dim);
        recorded[i]! += tokens;
        run(x, y, tokens);
      },
      bytesPerToken: () => inner.bytesPerToken(),
    };
    layer.ffn = recorder;
  });
  try {
    for (const doc of docs) {
      if (filled >= maxTokens) break;
      const ids = tokenizer.encode(doc).slice(0, Math.min(model.config.seqLen, maxTokens - filled));
      model.reset();
      model.forward(ids);
      filled += ids.length;
      onProgress?.(filled, maxTokens);
    }
  } finally {
    model.layers.forEach((layer, i) => (layer.ffn = saved[i]!));
  }
  if (filled === 0) throw new FfnkitError('E_ARG', 'calibration text: no tokens');
  return { tokens: filled, dim, inputs: inputs.map((a) => a.subarray(0, filled * dim)) };
}
