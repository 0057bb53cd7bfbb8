// What a model file says about chats: its Jinja chat template, the BOS/EOS tokens a template
// names, the tokens that end a reply, and the special tokens a rendered prompt spells out. Read
// from GGUF metadata (tokenizer.chat_template, tokenizer.ggml.*) or from a Hugging Face
// directory's tokenizer_config.json and generation_config.json, independently of the tokenizer,
// so it serves every vocabulary type.
//
// End-of-turn tokens follow llama.cpp's end-of-generation set: the EOS, EOT and EOM ids the
// metadata names, plus every token whose text is one of the end-of-turn markers below (llama.cpp
// finds them by text because converters often leave the ids out).

import { FfnkitError } from '../errors.js';
import type { MetaValue } from './gguf.js';

export interface SpecialToken {
  id: number;
  text: string;
}

export interface ChatVocabulary {
  /** The Jinja chat template stored with the model, if any. */
  template?: string;
  bos?: SpecialToken;
  eos?: SpecialToken;
  /** Token ids that end a reply (EOS, EOT, EOM, and the end-of-turn markers found by text), ascending. */
  endOfTurn: number[];
  /** Control and user-defined tokens by their text: a rendered prompt that spells one means that token. */
  special: Map<string, number>;
  /** Whether a prompt starts with BOS (the template may write it itself). */
  addBos: boolean;
}

/** Texts of tokens that end a turn in the families llama.cpp knows (Llama 3, ChatML, Phi-3, Gemma, DeepSeek, ...). */
export const END_OF_TURN_TEXTS: readonly string[] = [
  '<|eot_id|>', '<|eom_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>',
  '<EOT>', '_<EOT>', '<｜end▁of▁sentence｜>', '<end_of_utterance>', '<|return|>', '<|call|>',
];

/** GGUF token types (llama.cpp's llama_token_type). */
const TOKEN_TYPE = { unknown: 2, control: 3, userDefined: 4 } as const;

/** The SentencePiece convention llama2.c vocabularies follow: BOS 1 `<s>`, EOS 2 `</s>`, BOS first. */
export function sentencePieceChatVocabulary(): ChatVocabulary {
  return {
    bos: { id: 1, text: '<s>' },
    eos: { id: 2, text: '</s>' },
    endOfTurn: [2],
    special: new Map([['<s>', 1], ['</s>', 2]]),
    addBos: true,
  };
}

/** The chat vocabulary in a GGUF file's metadata; undefined when it stores no tokens. */
export function ggufChatVocabulary(metadata: Map<string, MetaValue>, source = 'GGUF file'): ChatVocabulary | undefined {
  const tokens = metadata.get('tokenizer.ggml.tokens');
  if (!Array.isArray(tokens)) return undefined;
  const types = metadata.get('tokenizer.ggml.token_type');
  const text = (id: number) => {
    const t = tokens[id];
    return typeof t === 'string' ? t : undefined;
  };
  const tokenOf = (key: string): SpecialToken | undefined => {
    const v = metadata.get(key);
    if (v === undefined) return undefined;
    const id = typeof v === 'bigint' ? Number(v) : v;
    if (typeof id !== 'number' || !Number.isInteger(id)) throw new FfnkitError('E_FORMAT', `${source}: metadata ${key} is not a token id (${String(v)})`);
    // llama.cpp writes -1 (as u32: 4294967295) for "none"
    if (id < 0 || id === 0xffffffff) return undefined;
    const t = text(id);
    if (t === undefined) throw new FfnkitError('E_FORMAT', `${source}: metadata ${key} = ${id} is outside the vocabulary of ${tokens.length}`);
    return { id, text: t };
  };
  const special = new Map<string, number>();
  if (Array.isArray(types)) {
    types.forEach((type, id) => {
      const t = text(id);
      if (t !== undefined && (type === TOKEN_TYPE.control || type === TOKEN_TYPE.userDefined) && !special.has(t)) special.set(t, id);
    });
  }
  const bos = tokenOf('tokenizer.ggml.bos_token_id');
  const eos = tokenOf('tokenizer.ggml.eos_token_id');
  const named = [eos, tokenOf('tokenizer.ggml.eot_token_id'), tokenOf('tokenizer.ggml.eom_token_id')];
  const endOfTurn = new Set<number>(named.filter((t): t is SpecialToken => t !== undefined).map((t) => t.id));
  const markers = new Set(END_OF_TURN_TEXTS);
  tokens.forEach((t, id) => {
    if (typeof t === 'string' && markers.has(t)) endOfTurn.add(id);
  });
  const template = metadata.get('tokenizer.chat_template');
  if (template !== undefined && typeof template !== 'string') throw new FfnkitError('E_FORMAT', `${source}: metadata tokenizer.chat_template is not a string`);
  const addBos = metadata.get('tokenizer.ggml.add_bos_token');
  const model = metadata.get('tokenizer.ggml.model');
  return {
    ...(template !== undefined ? { template } : {}),
    ...(bos ? { bos } : {}),
    ...(eos ? { eos } : {}),
    endOfTurn: [...endOfTurn].sort((a, b) => a - b),
    special,
    // SentencePiece vocabularies start prompts with BOS unless they say otherwise
    addBos: typeof addBos === 'boolean' ? addBos : model === undefined || model === 'llama',
  };
}

/** The parts of a Hugging Face directory that describe chats (file texts; absent files undefined). */
export interface HfChatFiles {
  tokenizerConfig?: string;
  generationConfig?: string;
  /** A separate `chat_template.jinja` (newer checkpoints), which takes precedence. */
  chatTemplate?: string;
}

/** The chat vocabulary of a Hugging Face checkpoint; undefined when it has no tokenizer_config.json. */
export function hfChatVocabulary(files: HfChatFiles, source = 'tokenizer_config.json'): ChatVocabulary | undefined {
  if (files.tokenizerConfig === undefined) return undefined;
  const config = parseObject(files.tokenizerConfig, source);
  const generation = files.generationConfig === undefined ? {} : parseObject(files.generationConfig, 'generation_config.json');
  const special = new Map<string, number>();
  const added = config.added_tokens_decoder;
  if (added !== undefined) {
    if (typeof added !== 'object' || added === null) throw new FfnkitError('E_FORMAT', `${source}: added_tokens_decoder is not an object`);
    for (const [key, entry] of Object.entries(added as Record<string, unknown>)) {
      const id = Number(key);
      const content = (entry as { content?: unknown } | null)?.content;
      if (!Number.isInteger(id) || id < 0 || typeof content !== 'string') {
        throw new FfnkitError('E_FORMAT', `${source}: added_tokens_decoder["${key}"] needs an integer id and a string content`);
      }
      if (!special.has(content)) special.set(content, id);
    }
  }
  const tokenNamed = (key: string): SpecialToken | undefined => {
    const v = config[key];
    if (v === undefined || v === null) return undefined;
    const text = typeof v === 'string' ? v : (v as { content?: unknown }).content;
    if (typeof text !== 'string') throw new FfnkitError('E_FORMAT', `${source}: ${key} is neither a string nor { content }`);
    const id = special.get(text);
    return id === undefined ? undefined : { id, text };
  };
  const bos = tokenNamed('bos_token');
  const eos = tokenNamed('eos_token');
  const endOfTurn = new Set<number>();
  if (eos) endOfTurn.add(eos.id);
  const genEos = generation.eos_token_id;
  for (const id of Array.isArray(genEos) ? genEos : genEos === undefined || genEos === null ? [] : [genEos]) {
    if (!Number.isInteger(id) || (id as number) < 0) throw new FfnkitError('E_FORMAT', `generation_config.json: eos_token_id ${String(id)} is not a token id`);
    endOfTurn.add(id as number);
  }
  for (const marker of END_OF_TURN_TEXTS) {
    const id = special.get(marker);
    if (id !== undefined) endOfTurn.add(id);
  }
  const template = files.chatTemplate ?? templateOf(config.chat_template, source);
  const addBos = config.add_bos_token;
  return {
    ...(template !== undefined ? { template } : {}),
    ...(bos ? { bos } : {}),
    ...(eos ? { eos } : {}),
    endOfTurn: [...endOfTurn].sort((a, b) => a - b),
    special,
    addBos: typeof addBos === 'boolean' ? addBos : false,
  };
}

/** tokenizer_config.json's chat_template: a string, or a list of named templates (the "default" one). */
function templateOf(v: unknown, source: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const named = v.find((t) => (t as { name?: unknown })?.name === 'default') as { template?: unknown } | undefined;
    if (named === undefined) return undefined;
    if (typeof named.template === 'string') return named.template;
  }
  throw new FfnkitError('E_FORMAT', `${source}: chat_template is neither a string nor a list of { name, template }`);
}

function parseObject(text: string, source: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new FfnkitError('E_FORMAT', `${source}: not JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FfnkitError('E_FORMAT', `${source}: expected a JSON object`);
  return v as Record<string, unknown>;
}
