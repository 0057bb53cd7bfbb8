// The one tokenizer type the rest of ffnkit uses, and loading one from wherever it is stored:
// a llama2.c `tokenizer.bin` (SentencePiece), a GGUF file's metadata (SentencePiece or GPT-2
// byte-level BPE), a Hugging Face `tokenizer.json` (+ `tokenizer_config.json`), or a Hugging
// Face model directory holding them. The algorithms live in spm.ts and bpe.ts.

import { FfnkitError } from '../errors.js';
import { type ByteSource, localFiles, readBytes, sourceName } from '../runtime/io.js';
import type { GgufVocabulary } from './gguf.js';
import { hfTokenizer } from './hf-tokenizer.js';
import { SpmTokenizer } from './spm.js';

export { BOS, EOS } from './spm.js';

export interface EncodeOptions {
  /** Prepend BOS. Default: the vocabulary's own choice (`addBos`; true for llama2.c files). */
  bos?: boolean;
  /** Append EOS. Default: the vocabulary's own choice (`addEos`, usually false). */
  eos?: boolean;
  /** Turn the text of control tokens (`<|im_start|>`, `<s>`) into those tokens. Default false, as llama.cpp's parse_special. */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Show control tokens as their text. Default false (they decode to nothing). */
  special?: boolean;
}

/** Decodes tokens arriving one at a time: `push` returns the text complete so far (whole UTF-8 characters). */
export interface StreamDecoder {
  push(id: number): string;
  flush(): string;
}

/** Whether `v` is a Tokenizer (any implementation: checked by the members generation uses). */
export function isTokenizer(v: unknown): v is Tokenizer {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as Partial<Tokenizer>;
  return typeof t.encode === 'function' && typeof t.streamDecoder === 'function' && typeof t.vocabSize === 'number';
}

export interface Tokenizer {
  /** SentencePiece (scores) or BPE (ranked merges). */
  readonly kind: 'spm' | 'bpe';
  /** Where the vocabulary came from, for error messages. */
  readonly source: string;
  readonly vocabSize: number;
  /** BOS, EOS and end-of-turn ids (-1 where the vocabulary has none). */
  readonly bosId: number;
  readonly eosId: number;
  readonly eotId: number;
  /** Whether encoding adds BOS / EOS unless told otherwise. */
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** Tokens that end generation. */
  readonly eogIds: number[];
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  /** The bytes one token stands for (control tokens included). */
  decodeToken(id: number): Uint8Array;
  streamDecoder(options?: DecodeOptions): StreamDecoder;
  /** A token's text as the vocabulary stores it ('Ġthe' in byte-level BPE; SentencePiece with ' ' for '▁'). */
  tokenText(id: number): string;
  /** The id of a special or added token given by its text, e.g. '<|im_end|>'. */
  specialId(text: string): number | undefined;
  /** Whether a token is a control (or unknown) token. */
  isControl(id: number): boolean;
  /** The vocabulary as GGUF metadata stores it, for writing a model back. */
  vocabulary(): GgufVocabulary;
}

/** Whether bytes look like a JSON object (a tokenizer.json). */
function isJson(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  if (bytes[i] !== 0x7b) return false;
  for (i++; i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09); i++);
  return bytes[i] === 0x22 || bytes[i] === 0x7d;
}

/** Reads a local file if it is there, else undefined. */
async function readIfPresent(path: string, what: string): Promise<Uint8Array | undefined> {
  try {
    return await readBytes(path, what);
  } catch {
    return undefined;
  }
}

export const Tokenizer = {
  /**
   * Loads a tokenizer from a llama2.c `tokenizer.bin`, a GGUF file, a Hugging Face
   * `tokenizer.json` (its `tokenizer_config.json` is read from beside a local file) or a local
   * Hugging Face directory; given as a path or URL, bytes, a Response or a File.
   */
  async load(source: ByteSource): Promise<Tokenizer> {
    const files = localFiles();
    if (typeof source === 'string' && files && (await files.isDirectory(source).catch(() => false))) {
      const json = await readIfPresent(files.join(source, 'tokenizer.json'), 'tokenizer.json');
      if (!json) throw new FfnkitError('E_ARG', `tokenizer: ${source} is a directory without a tokenizer.json`);
      const config = await readIfPresent(files.join(source, 'tokenizer_config.json'), 'tokenizer_config.json');
      return hfTokenizer(json, config, files.join(source, 'tokenizer.json'));
    }
    const bytes = await readBytes(source, 'tokenizer');
    const name = sourceName(source);
    if (String.fromCharCode(...bytes.subarray(0, 4)) === 'GGUF') {
      const { parseGguf, ggufTokenizer } = await import('./gguf.js');
      return ggufTokenizer(parseGguf(bytes, name), name);
    }
    if (isJson(bytes)) {
      const beside = typeof source === 'string' && files && /(^|[\\/])tokenizer\.json$/.test(source)
        ? await readIfPresent(source.replace(/tokenizer\.json$/, 'tokenizer_config.json'), 'tokenizer_config.json')
        : undefined;
      return hfTokenizer(bytes, beside, name);
    }
    return SpmTokenizer.fromLlama2c(bytes, name);
  },

  /** Reads a llama2.c `tokenizer.bin`. */
  fromLlama2c(bytes: Uint8Array, source = 'tokenizer.bin'): SpmTokenizer {
    return SpmTokenizer.fromLlama2c(bytes, source);
  },

  /** Builds a tokenizer from a Hugging Face tokenizer.json and (optionally) tokenizer_config.json, as bytes, text or parsed JSON. */
  fromHf(tokenizerJson: Uint8Array | string | object, config?: Uint8Array | string | object, source = 'tokenizer.json'): Tokenizer {
    return hfTokenizer(tokenizerJson, config, source);
  },
};
