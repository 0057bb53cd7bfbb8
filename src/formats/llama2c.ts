// llama2.c checkpoints (Karpathy's run.c format), read and written.
//
// v0 (legacy): 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
//   a negative vocab_size means a separate classifier follows), then float32 tensors, each for all
//   layers at once: token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final,
//   freq_cis_real, freq_cis_imag (seq_len x head_size/2 each, unused), [wcls].
// v1: u32 magic "ak42" (0x616b3432), i32 version 1, the same 7 int32, u8 shared_classifier, zero
//   padding to 256 bytes, then: rms_att, rms_ffn, rms_final, token_embedding, wq, wk, wv, wo, w1,
//   w2, w3, [wcls].

import { FfnkitError } from '../errors.js';
import { type LlamaConfig, type LlamaLayer, type LlamaWeights, checkConfig, checkWeights, headDim, kvDim } from '../model/weights.js';
import { ByteReader, ByteWriter } from './bytes.js';

export const LLAMA2C_MAGIC = 0x616b3432;

/** Parses a llama2.c checkpoint (v0 or v1). `source` names the file in errors. */
export function readLlama2c(bytes: Uint8Array, source = 'llama2.c checkpoint'): LlamaWeights {
  const r = new ByteReader(bytes, source);
  let version = 0;
  if (bytes.length >= 4 && r.u32('magic') === LLAMA2C_MAGIC) {
    version = r.i32('version');
    if (version !== 1) {
      throw new FfnkitError('E_UNSUPPORTED', `${source}: llama2.c checkpoint version ${version} (only 0 and 1, float32, are read; version 2 is int8)`);
    }
  } else {
    r.pos = 0;
  }
  const dim = r.i32('dim');
  const hiddenDim = r.i32('hidden_dim');
  const nLayers = r.i32('n_layers');
  const nHeads = r.i32('n_heads');
  const nKvHeads = r.i32('n_kv_heads');
  const rawVocab = r.i32('vocab_size');
  const seqLen = r.i32('seq_len');
  let shared = rawVocab > 0;
  if (version === 1) {
    shared = r.u8('shared_classifier') !== 0;
    r.pos = 256;
  }
  const config: LlamaConfig = {
    dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(rawVocab), seqLen,
    normEps: 1e-5, ropeTheta: 10000, ropeStyle: 'interleaved', sharedClassifier: shared,
  };
  checkConfig(config, source);

  const c = config;
  const kv = kvDim(c);
  const L = c.nLayers;
  const floats =
    c.vocabSize * c.dim + 2 * L * c.dim + c.dim + L * (2 * c.dim * c.dim + 2 * kv * c.dim + 3 * c.hiddenDim * c.dim) +
    (version === 0 ? c.seqLen * headDim(c) : 0) + (shared ? 0 : c.vocabSize * c.dim);
  const expected = r.pos + floats * 4;
  if (expected !== bytes.length) {
    throw r.fail(
      `dim ${c.dim}, hidden ${c.hiddenDim}, ${L} layers, ${c.nHeads}/${c.nKvHeads} heads, vocab ${c.vocabSize}, seq_len ${c.seqLen}` +
        ` need ${expected} bytes, but the file has ${bytes.length}`,
    );
  }

  const take = (n: number, what: string) => {
    const a = r.f32s(n, what);
    r.pos += n * 4;
    return a;
  };
  const perLayer = (n: number, what: string) => Array.from({ length: L }, (_, i) => take(n, `${what} of layer ${i}`));

  let tokenEmbedding: Float32Array;
  let attnNorm: Float32Array[];
  let ffnNorm: Float32Array[];
  let finalNorm: Float32Array;
  if (version === 1) {
    attnNorm = perLayer(c.dim, 'rms_att');
    ffnNorm = perLayer(c.dim, 'rms_ffn');
    finalNorm = take(c.dim, 'rms_final');
    tokenEmbedding = take(c.vocabSize * c.dim, 'token_embedding');
  } else {
    tokenEmbedding = take(c.vocabSize * c.dim, 'token_embedding');
    attnNorm = perLayer(c.dim, 'rms_att');
    ffnNorm = []; // read after wo, below
    finalNorm = new Float32Array(0);
  }
  const wq = perLayer(c.dim * c.dim, 'wq');
  const wk = perLayer(kv * c.dim, 'wk');
  const wv = perLayer(kv * c.dim, 'wv');
  const wo = perLayer(c.dim * c.dim, 'wo');
  if (version === 0) ffnNorm = perLayer(c.dim, 'rms_ffn');
  const w1 = perLayer(c.hiddenDim * c.dim, 'w1');
  const w2 = perLayer(c.dim * c.hiddenDim, 'w2');
  const w3 = perLayer(c.hiddenDim * c.dim, 'w3');
  if (version === 0) {
    finalNorm = take(c.dim, 'rms_final');
    r.pos += c.seqLen * headDim(c) * 4; // freq_cis_real and freq_cis_imag: recomputed instead
  }
  const classifier = shared ? tokenEmbedding : take(c.vocabSize * c.dim, 'wcls');

  const layers: LlamaLayer[] = Array.from({ length: L }, (_, i) => ({
    attnNorm: attnNorm[i]!, wq: wq[i]!, wk: wk[i]!, wv: wv[i]!, wo: wo[i]!,
    ffnNorm: ffnNorm[i]!, w1: w1[i]!, w2: w2[i]!, w3: w3[i]!,
  }));
  const weights: LlamaWeights = { config, tokenEmbedding, layers, finalNorm, classifier };
  checkWeights(weights, source);
  return weights;
}

/** Writes a llama2.c checkpoint, v0 (legacy) or v1 (`ak42` header). RoPE must be interleaved. */
export function writeLlama2c(w: LlamaWeights, version: 0 | 1 = 1): Uint8Array {
  const c = w.config;
  checkWeights(w, 'llama2.c writer');
  if (w.layers.some((l) => l.routed)) throw new FfnkitError('E_UNSUPPORTED', 'llama2.c writer: this format has no routed (factorized) FFNs; write GGUF');
  if (c.ropeStyle !== 'interleaved') {
    throw new FfnkitError('E_UNSUPPORTED', 'llama2.c writer: the format implies interleaved RoPE; this model uses half-split');
  }
  const out = new ByteWriter();
  if (version === 1) out.u32(LLAMA2C_MAGIC).i32(1);
  const vocab = version === 0 && !c.sharedClassifier ? -c.vocabSize : c.vocabSize;
  for (const v of [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, vocab, c.seqLen]) out.i32(v);
  const all = (f: (l: LlamaLayer) => Float32Array) => w.layers.forEach((l) => out.f32s(f(l)));
  if (version === 1) {
    out.u8(c.sharedClassifier ? 1 : 0);
    while (out.length < 256) out.u8(0);
    all((l) => l.attnNorm);
    all((l) => l.ffnNorm);
    out.f32s(w.finalNorm);
    out.f32s(w.tokenEmbedding);
  } else {
    out.f32s(w.tokenEmbedding);
    all((l) => l.attnNorm);
  }
  all((l) => l.wq);
  all((l) => l.wk);
  all((l) => l.wv);
  all((l) => l.wo);
  if (version === 0) all((l) => l.ffnNorm);
  all((l) => l.w1);
  all((l) => l.w2);
  all((l) => l.w3);
  if (version === 0) {
    out.f32s(w.finalNorm);
    out.f32s(new Float32Array(c.seqLen * headDim(c))); // freq_cis, never read by run.c's forward
  }
  if (!c.sharedClassifier) out.f32s(w.classifier);
  return out.result();
}
