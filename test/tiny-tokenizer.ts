// A small valid byte-level BPE tokenizer.json (the 256 byte characters, four merges, a control
// and a user-defined token) and GGUF files holding a vocabulary: what the bad-input and fuzz
// tests start from.

import { writeGguf, type GgufVocabulary } from '../src/node/index.js';
import { llamaConfig, randomLlamaWeights } from '../src/llm/random.js';

/** A small valid byte-level BPE tokenizer.json: the 256 byte characters, a few merges, two specials. */
export function tinyJson(): Record<string, any> {
  const bytes = Array.from({ length: 256 }, (_, b) => b);
  const chars = new BpeAlphabet().chars;
  const vocab: Record<string, number> = {};
  bytes.forEach((b) => (vocab[chars[b]!] = b));
  const merges = [['h', 'e'], ['l', 'l'], ['he', 'll'], ['Ġ', 'w']];
  merges.forEach(([a, b]) => (vocab[a! + b!] = Object.keys(vocab).length));
  const n = Object.keys(vocab).length;
  return {
    version: '1.0',
    added_tokens: [
      { id: n, content: '<|end|>', special: true, lstrip: false, rstrip: false, normalized: false, single_word: false },
      { id: n + 1, content: '<tool>', special: false, lstrip: false, rstrip: false, normalized: false, single_word: false },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, fuse_unk: false, byte_fallback: false, vocab, merges: merges.map((m) => m.join(' ')) },
  };
}

/** GPT-2's byte alphabet, written out here independently of src/formats/byte-level.ts. */
class BpeAlphabet {
  readonly chars: string[] = [];
  constructor() {
    const direct = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    let extra = 0;
    for (let b = 0; b < 256; b++) this.chars.push(String.fromCharCode(direct(b) ? b : 256 + extra++));
  }
}

/** A GGUF file (tiny random weights) holding `vocab`, as ffnkit writes it. */
export function ggufWith(vocab: GgufVocabulary): Uint8Array {
  const c = llamaConfig({ dim: 8, hiddenDim: 8, nLayers: 1, nHeads: 1, nKvHeads: 1, vocabSize: vocab.pieces.length, seqLen: 8 });
  return writeGguf(randomLlamaWeights(c, 1), vocab);
}
