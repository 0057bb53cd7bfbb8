// Chats: messages rendered by the model's chat template (or one given), tokenized with the special
// tokens the template spells out, and generated after the longest prefix the KV cache already
// holds, so a conversation that grows by a turn prefills only its new tokens. A ChatSession keeps
// the conversation. When the context fills, the oldest turns are dropped and the rest prefilled
// again (contextShift), or the generation fails with the sizes.

import { FfnkitError } from '../errors.js';
import { type ChatVocabulary, sentencePieceChatVocabulary } from '../formats/chat-vocabulary.js';
import type { Tokenizer } from '../formats/tokenizer.js';
import { type ChatMessage, type ChatTool, ChatTemplate, checkMessages } from '../text/chat-template.js';
import { type FinishReason, type GenerateOptions, GENERATE_OPTION_KINDS, type TokenRun, runTokens, streamText, tokenRun } from './generate.js';
import type { LlamaModel } from './model.js';
import { checkOptions } from './options.js';

export interface ChatOptions extends GenerateOptions {
  /** The chat template (Jinja text, or a parsed ChatTemplate) instead of the model's own. */
  template?: string | ChatTemplate;
  /** The vocabulary, instead of the model's own. */
  tokenizer?: Tokenizer;
  /** When the context fills, drop the oldest turns (keeping system messages) and prefill the rest again. Default false: an error. */
  contextShift?: boolean;
  /** The tools the model may call, passed to the template as `tools` (the reply is text: tool calls in the model's own syntax). */
  tools?: readonly ChatTool[];
  /** Further template variables: documents, date_string, enable_thinking, ... */
  variables?: Record<string, unknown>;
}

/**
 * How the errors of a full context end: the option that would have avoided them. A caller with
 * other names for its options (the command line's --context-shift) replaces this text.
 */
export const CONTEXT_SHIFT_REMEDY = 'pass contextShift: true to drop the oldest turns';

export const CHAT_OPTION_KINDS = {
  ...GENERATE_OPTION_KINDS, template: 'string|object', tokenizer: 'object', contextShift: 'boolean', tools: 'object', variables: 'object',
} as const;

/** What one reply cost: the prompt, how much of it the KV cache already held, and the reply. */
export interface TurnStats {
  /** Tokens of the rendered conversation (after any dropped turns). */
  promptTokens: number;
  /** Of those, the tokens the KV cache already held. */
  reusedTokens: number;
  /** Tokens run through the model before the first reply token (promptTokens - reusedTokens, plus any re-prefill after a context shift). */
  prefilledTokens: number;
  /** Reply tokens generated. */
  replyTokens: number;
  /** Messages left out of the prompt by context shifts. */
  droppedMessages: number;
  finish?: FinishReason;
}

/** Streams the assistant's reply to `messages`. */
export async function* chat(model: LlamaModel, messages: readonly ChatMessage[], options: ChatOptions = {}): AsyncGenerator<string, FinishReason> {
  return yield* chatTurn(model, messages, options);
}

/** `chat`, reporting the turn's figures into `stats` as they become known. */
export async function* chatTurn(model: LlamaModel, messages: readonly ChatMessage[], options: ChatOptions, stats?: TurnStats): AsyncGenerator<string, FinishReason> {
  checkOptions(options, CHAT_OPTION_KINDS, 'chat');
  checkMessages(messages);
  const format = await chatFormat(model, options);
  const run = tokenRun(model, options);
  const release = model.reserve('chat');
  try {
    const turn = stats ?? blankStats();
    // what a context shift leaves free for the reply
    const room = Math.max(1, Math.min(run.maxTokens, model.config.seqLen >> 2));
    const { kept, ids } = fitContext(model, format, messages, options, room, turn);
    const decoder = format.tokenizer.streamDecoder();
    for (const id of ids) decoder.push(id);
    ids.forEach((id) => run.onToken?.(id));
    const finish = yield* streamText(decoder, replyTokens(model, format, kept, options, ids, room, run, turn), options);
    turn.finish = finish;
    return finish;
  } finally {
    release();
  }
}

function blankStats(): TurnStats {
  return { promptTokens: 0, reusedTokens: 0, prefilledTokens: 0, replyTokens: 0, droppedMessages: 0 };
}

/** How messages become tokens for this model: template, vocabulary, special tokens. */
interface ChatFormat {
  template: ChatTemplate;
  tokenizer: Tokenizer;
  vocabulary: ChatVocabulary;
}

const modelTemplates = new WeakMap<LlamaModel, ChatTemplate>();

async function chatFormat(model: LlamaModel, options: ChatOptions): Promise<ChatFormat> {
  const tokenizer = options.tokenizer ?? model.tokenizer;
  if (!tokenizer) {
    throw new FfnkitError('E_ARG', `chat: the model (${model.format ?? 'in memory'}) stores no vocabulary: pass one as the tokenizer option`);
  }
  model.checkTokenizer(tokenizer);
  const vocabulary = vocabularyOf(model);
  return { template: await templateOf(model, vocabulary, options.template), tokenizer, vocabulary };
}

function vocabularyOf(model: LlamaModel): ChatVocabulary {
  // a llama2.c model has no metadata: its vocabulary follows the SentencePiece convention
  return model.chatVocabulary ?? sentencePieceChatVocabulary();
}

/** Where a model's files keep its chat template, for the messages that say it has none. */
export const CHAT_TEMPLATE_KEYS = 'GGUF tokenizer.chat_template, tokenizer_config.json chat_template';

/** The chat template the model's files carry, if any (without one, a chat needs the `template` option). */
export function storedChatTemplate(model: LlamaModel): string | undefined {
  return vocabularyOf(model).template;
}

async function templateOf(model: LlamaModel, vocabulary: ChatVocabulary, given: string | ChatTemplate | undefined): Promise<ChatTemplate> {
  if (given instanceof ChatTemplate) return given;
  if (typeof given === 'string') return ChatTemplate.parse(given, 'template option');
  if (given !== undefined) throw new FfnkitError('E_ARG', 'chat: option \'template\' must be the Jinja text or a ChatTemplate');
  if (vocabulary.template === undefined) {
    throw new FfnkitError('E_ARG', `chat: the model (${model.format ?? 'in memory'}) has no chat template (${CHAT_TEMPLATE_KEYS}): pass one as the 'template' option (the Jinja text or a ChatTemplate)`);
  }
  let t = modelTemplates.get(model);
  if (!t || t.text !== vocabulary.template) {
    t = await ChatTemplate.parse(vocabulary.template, "the model's chat template");
    modelTemplates.set(model, t);
  }
  return t;
}

/** The prompt text of `messages` under `format`, ending with the assistant's header. */
function render(format: ChatFormat, messages: readonly ChatMessage[], options: ChatOptions): string {
  const v = format.vocabulary;
  return format.template.render(messages, {
    bosToken: v.bos?.text ?? '', eosToken: v.eos?.text ?? '', addGenerationPrompt: true,
    ...(options.tools ? { tools: options.tools } : {}), ...(options.variables ? { variables: options.variables } : {}),
  });
}

/**
 * Token ids of a rendered prompt: the special tokens it spells out (`<|im_start|>`) become their
 * ids and the text between them is tokenized, as llama.cpp tokenizes with special parsing on;
 * BOS first when the vocabulary asks for it and the template did not write it.
 */
export function encodePrompt(tokenizer: Tokenizer, vocabulary: ChatVocabulary, text: string): number[] {
  const ids: number[] = [];
  const specials = specialPattern(vocabulary);
  let at = 0;
  if (specials) {
    for (const m of text.matchAll(specials)) {
      if (m.index > at) ids.push(...tokenizer.encode(text.slice(at, m.index), { bos: false }));
      ids.push(vocabulary.special.get(m[0])!);
      at = m.index + m[0].length;
    }
  }
  if (at < text.length) ids.push(...tokenizer.encode(text.slice(at), { bos: false }));
  const bos = vocabulary.bos?.id;
  if (vocabulary.addBos && bos !== undefined && ids[0] !== bos) ids.unshift(bos);
  return ids;
}

const patterns = new WeakMap<ChatVocabulary, RegExp | null>();

/** One regular expression matching any special token's text, the longest first. */
function specialPattern(v: ChatVocabulary): RegExp | null {
  let p = patterns.get(v);
  if (p === undefined) {
    const texts = [...v.special.keys()].filter((t) => t !== '').sort((a, b) => b.length - a.length);
    p = texts.length ? new RegExp(texts.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g') : null;
    patterns.set(v, p);
  }
  return p;
}

/**
 * The prompt tokens of `messages`, leaving at least `room` tokens for the reply: with
 * contextShift the oldest turns are left out until they fit; without it, an error with the sizes.
 */
function fitContext(
  model: LlamaModel, format: ChatFormat, messages: readonly ChatMessage[], options: ChatOptions, room: number, stats: TurnStats,
): { kept: ChatMessage[]; ids: number[] } {
  const seqLen = model.config.seqLen;
  const ids = encodePrompt(format.tokenizer, format.vocabulary, render(format, messages, options));
  if (ids.length + 1 > seqLen && !options.contextShift) {
    throw new FfnkitError('E_ARG', `context: the conversation is ${ids.length} tokens and the model's context ${seqLen} (the reply needs room too); drop messages, or ${CONTEXT_SHIFT_REMEDY}`);
  }
  const fitted = options.contextShift && ids.length + room > seqLen ? shiftContext(format, messages, [], options, room, seqLen, stats) : { kept: [...messages], ids };
  stats.promptTokens = fitted.ids.length;
  return fitted;
}

/**
 * Drops the oldest turns of `messages` until their prompt and the reply so far leave `room`
 * tokens of the context free; an error with the sizes when only the last turn is left.
 */
function shiftContext(
  format: ChatFormat, messages: readonly ChatMessage[], reply: readonly number[], options: ChatOptions, room: number, seqLen: number, stats: TurnStats,
): { kept: ChatMessage[]; ids: number[] } {
  let kept = [...messages];
  for (;;) {
    const shorter = dropOldestTurn(kept);
    if (!shorter) {
      const ids = encodePrompt(format.tokenizer, format.vocabulary, render(format, kept, options));
      throw new FfnkitError('E_ARG', `context: the last turn alone is ${ids.length} tokens${reply.length ? ` and the reply ${reply.length}` : ''}, and the model's context of ${seqLen} must leave ${room} free for the reply`);
    }
    stats.droppedMessages += kept.length - shorter.length;
    kept = shorter;
    const ids = [...encodePrompt(format.tokenizer, format.vocabulary, render(format, kept, options)), ...reply];
    if (ids.length + room <= seqLen) return { kept, ids };
  }
}

/**
 * `messages` without its oldest turn: the first non-system message and what follows it up to the
 * next user message. Undefined when only the last turn (and system messages) are left.
 */
export function dropOldestTurn(messages: readonly ChatMessage[]): ChatMessage[] | undefined {
  const first = messages.findIndex((m) => m.role !== 'system');
  if (first < 0) return undefined;
  let end = first + 1;
  while (end < messages.length && messages[end]!.role !== 'user') end++;
  if (end >= messages.length) return undefined; // that was the last turn
  return [...messages.slice(0, first), ...messages.slice(end)];
}

/** Length of the common prefix of two id sequences. */
function commonPrefix(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * The reply's tokens: after the cached prefix of `prompt`; when the context fills mid-reply
 * (contextShift), the oldest turns are dropped and the shorter conversation plus the reply so
 * far prefilled again.
 */
function* replyTokens(
  model: LlamaModel, format: ChatFormat, messages: ChatMessage[], options: ChatOptions, prompt: number[], room: number, run: TokenRun, stats: TurnStats,
): Generator<number, FinishReason> {
  const reply: number[] = [];
  let kept = messages;
  let ids = prompt;
  let promptLength = prompt.length;
  for (;;) {
    const reuse = Math.min(commonPrefix(model.cachedTokens(), ids), ids.length - 1);
    if (reply.length === 0) stats.reusedTokens = reuse;
    stats.prefilledTokens += ids.length - reuse;
    const tokens = runTokens(model, ids, reuse, { ...run, maxTokens: run.maxTokens - reply.length });
    let step = tokens.next();
    try {
      for (; !step.done; step = tokens.next()) {
        reply.push(step.value);
        stats.replyTokens = reply.length;
        yield step.value;
      }
    } finally {
      tokens.return('abort'); // a consumer that stops early ends the loop too (it restores the model's skip policy)
    }
    if (step.value !== 'context') return step.value;
    const seqLen = model.config.seqLen;
    if (!options.contextShift) {
      throw new FfnkitError('E_ARG', `context: the conversation filled the model's context of ${seqLen} tokens (prompt ${promptLength} + reply ${reply.length}); ${CONTEXT_SHIFT_REMEDY}`);
    }
    const shifted = shiftContext(format, kept, reply, options, room, seqLen, stats);
    kept = shifted.kept;
    ids = shifted.ids;
    promptLength = ids.length - reply.length;
  }
}

export interface ChatSessionOptions extends ChatOptions {
  /** A system message to start the conversation with (and to keep across `reset`). */
  system?: string;
}

/**
 * A conversation with a model: each `send` adds the user's message, streams the reply and adds
 * it too. The KV cache keeps the conversation, so a turn prefills only what is new (unless
 * something else ran on the model in between: then it prefills what differs).
 */
export class ChatSession {
  readonly model: LlamaModel;
  /** The conversation so far; may be edited between turns. */
  messages: ChatMessage[];
  /** Figures of the last turn. */
  lastTurn: TurnStats | undefined;
  private readonly options: ChatOptions;
  private readonly system: ChatMessage[];

  constructor(model: LlamaModel, options: ChatSessionOptions = {}) {
    checkOptions(options, { ...CHAT_OPTION_KINDS, system: 'string' }, 'ChatSession');
    const { system, ...rest } = options;
    this.model = model;
    this.options = rest;
    this.system = system !== undefined ? [{ role: 'system', content: system }] : [];
    this.messages = [...this.system];
  }

  /**
   * Streams the reply to `content` (a user message, or any message). The message and the reply,
   * as far as it got (stop, abort, error), join the conversation once the reply has started.
   */
  send(content: string | ChatMessage, options: ChatOptions = {}): AsyncGenerator<string, FinishReason> {
    return this.turn([typeof content === 'string' ? { role: 'user', content } : content], options);
  }

  /** Streams the assistant's reply to the conversation as it stands (e.g. one loaded with a user message last). */
  reply(options: ChatOptions = {}): AsyncGenerator<string, FinishReason> {
    return this.turn([], options);
  }

  private async *turn(added: ChatMessage[], options: ChatOptions): AsyncGenerator<string, FinishReason> {
    const turn = blankStats();
    this.lastTurn = turn;
    let reply = '';
    try {
      // a template given as text is parsed once for the session
      if (typeof this.options.template === 'string') this.options.template = await ChatTemplate.parse(this.options.template, 'template option');
      const finish = yield* tap(chatTurn(this.model, [...this.messages, ...added], { ...this.options, ...options }, turn), (piece) => {
        reply += piece;
      });
      return finish;
    } finally {
      if (turn.promptTokens > 0) this.messages.push(...added, { role: 'assistant', content: reply });
    }
  }

  /** The prompt text the next turn would start with (the conversation and the assistant's header). */
  async prompt(options: ChatOptions = {}): Promise<string> {
    const merged = { ...this.options, ...options };
    return render(await chatFormat(this.model, merged), this.messages, merged);
  }

  /** Forgets the conversation (keeping the system message). */
  reset(): void {
    this.messages = [...this.system];
  }
}

/** The pieces of `stream`, each also handed to `see`; ending early ends `stream` too. */
async function* tap<R>(stream: AsyncGenerator<string, R>, see: (piece: string) => void): AsyncGenerator<string, R> {
  let done = false;
  try {
    for (;;) {
      const r = await stream.next();
      if (r.done) {
        done = true;
        return r.value;
      }
      see(r.value);
      yield r.value;
    }
  } finally {
    if (!done) await stream.return(undefined as R);
  }
}
