// A model folder that transformers.js loads as a causal LM, from ffnkit's host weights and its
// llama2.c vocabulary: config.json, generation_config.json, tokenizer.json, tokenizer_config.json
// and onnx/model.onnx (dtype 'fp32') or onnx/model_quantized.onnx (dtype 'q8').
//
// tokenizer.json is SentencePiece BPE in the form Hugging Face writes Llama 2's: a normalizer that
// prepends '▁' and turns spaces into '▁', byte fallback, and merges derived from the piece scores
// (every split of a piece into two pieces, ordered by the merged piece's score, best first), which
// is the merge order llama2.c's run.c follows (the highest-scoring pair first).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tokenizer } from '../../src/index.js';
import { headDim, type HostMatrix, type LlamaWeights } from '../../src/model/weights.js';
import { llamaToOnnx } from './llama-onnx.js';

export type TransformersDtype = 'fp32' | 'q8';

const SPACE = '\u2581'; // SentencePiece's '▁'
const SPECIAL = ['<unk>', '<s>', '</s>'];

/** The pieces as tokenizer.json names them: '▁' for spaces, the three special tokens by their names. */
function hfPieces(tokenizer: Tokenizer): { pieces: string[]; scores: number[] } {
  const { model, pieces, scores } = tokenizer.vocabulary();
  if ((model ?? 'llama') !== 'llama' || !scores) throw new Error(`tokenizer.json: ${tokenizer.source} is not a SentencePiece vocabulary with scores`);
  // llama2.c's tokenizer.bin spells BOS and EOS as "\n<s>\n" and "\n</s>\n"
  return { pieces: pieces.map((p, i) => SPECIAL[i] ?? p.replaceAll(' ', SPACE)), scores };
}

/** tokenizer.json for a SentencePiece-BPE vocabulary. */
export function tokenizerJson(tokenizer: Tokenizer): object {
  const { pieces, scores } = hfPieces(tokenizer);
  const ids = new Map<string, number>();
  pieces.forEach((p, id) => {
    if (ids.has(p)) throw new Error(`tokenizer.json: piece ${JSON.stringify(p)} appears twice (ids ${ids.get(p)} and ${id})`);
    ids.set(p, id);
  });
  // every way to write a piece as two pieces; ordered by the piece's score (stable: ties keep id order)
  const merges: { left: string; right: string; score: number; ids: [number, number] }[] = [];
  pieces.forEach((p, id) => {
    if (id < SPECIAL.length) return;
    const chars = Array.from(p);
    const local: typeof merges = [];
    for (let cut = 1; cut < chars.length; cut++) {
      const left = chars.slice(0, cut).join('');
      const right = chars.slice(cut).join('');
      const l = ids.get(left);
      const r = ids.get(right);
      if (l !== undefined && r !== undefined) local.push({ left, right, score: scores[id]!, ids: [l, r] });
    }
    local.sort((a, b) => a.ids[0] - b.ids[0] || a.ids[1] - b.ids[1]);
    merges.push(...local);
  });
  merges.sort((a, b) => b.score - a.score);
  const special = (id: number) => ({ id, content: SPECIAL[id]!, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((_, id) => special(id)),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: SPACE }, { type: 'Replace', pattern: { String: ' ' }, content: SPACE }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPACE }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab: Object.fromEntries(ids), merges: merges.map((m) => [m.left, m.right]),
    },
  };
}

/** tokenizer_config.json of a Llama 2 tokenizer (BOS added, no EOS). */
export function tokenizerConfigJson(seqLen: number): object {
  return {
    tokenizer_class: 'LlamaTokenizer', add_bos_token: true, add_eos_token: false, legacy: true,
    bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', pad_token: null,
    clean_up_tokenization_spaces: false, model_max_length: seqLen,
  };
}

/** config.json of a LlamaForCausalLM. */
export function configJson(w: LlamaWeights<HostMatrix>): object {
  const c = w.config;
  return {
    architectures: ['LlamaForCausalLM'], model_type: 'llama',
    hidden_size: c.dim, intermediate_size: c.hiddenDim, num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads, num_key_value_heads: c.nKvHeads, head_dim: headDim(c),
    vocab_size: c.vocabSize, max_position_embeddings: c.seqLen, rms_norm_eps: c.normEps, rope_theta: c.ropeTheta,
    tie_word_embeddings: c.sharedClassifier, hidden_act: 'silu', bos_token_id: 1, eos_token_id: 2, torch_dtype: 'float32',
  };
}

const writeJson = (dir: string, file: string, value: object) => writeFileSync(join(dir, file), `${JSON.stringify(value, null, 1)}\n`);

/** tokenizer.json and tokenizer_config.json in `dir` (created if missing): all that AutoTokenizer reads. */
export function writeTokenizerFiles(dir: string, tokenizer: Tokenizer, seqLen: number): void {
  mkdirSync(dir, { recursive: true });
  writeJson(dir, 'tokenizer.json', tokenizerJson(tokenizer));
  writeJson(dir, 'tokenizer_config.json', tokenizerConfigJson(seqLen));
}

/**
 * Writes the folder `dir` (created if missing) with the model in `dtype` and the tokenizer files;
 * returns the ONNX file's size in bytes.
 */
export function writeTransformersModel(dir: string, w: LlamaWeights<HostMatrix>, tokenizer: Tokenizer, dtype: TransformersDtype): number {
  if (tokenizer.vocabSize !== w.config.vocabSize) {
    throw new Error(`transformers.js export: the tokenizer has ${tokenizer.vocabSize} pieces, the model ${w.config.vocabSize}`);
  }
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  writeJson(dir, 'config.json', configJson(w));
  writeJson(dir, 'generation_config.json', { bos_token_id: 1, eos_token_id: 2, max_length: w.config.seqLen });
  writeTokenizerFiles(dir, tokenizer, w.config.seqLen);
  const bytes = llamaToOnnx(w, { quantized: dtype === 'q8' });
  writeFileSync(join(dir, 'onnx', dtype === 'q8' ? 'model_quantized.onnx' : 'model.onnx'), bytes);
  return bytes.length;
}
