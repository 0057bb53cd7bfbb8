// Chat templates: the Jinja program a model ships (GGUF tokenizer.chat_template, tokenizer_config
// .json's chat_template) that turns a list of messages into the prompt text the model was trained
// on. Rendered by @huggingface/jinja, the engine transformers.js uses, with the variables
// transformers passes: messages, bos_token, eos_token, add_generation_prompt, and whatever else a
// template reads (tools, documents, date_string, ...). A template's raise_exception(...) and any
// other failure while rendering become an FfnkitError carrying the template's own message.
//
// The engine is imported on first use, not with the library: a page or a worker without a
// bundler loads ffnkit without resolving the package (a page that chats maps it in an import map).

import type { Template } from '@huggingface/jinja';
import { FfnkitError } from '../errors.js';
import { checkOptions, describeValue } from '../options.js';

let engine: Promise<typeof import('@huggingface/jinja')> | undefined;

function templateEngine(): Promise<typeof import('@huggingface/jinja')> {
  engine ??= import('@huggingface/jinja').catch((e: unknown) => {
    engine = undefined;
    throw new FfnkitError('E_UNSUPPORTED', `chat templates need the package @huggingface/jinja, which did not load (${(e as Error).message}); without a bundler, map it in an import map`);
  });
  return engine;
}

/** One message of a conversation. */
export interface ChatMessage {
  /** 'system', 'user', 'assistant', or any role the template knows (e.g. 'tool'). */
  role: string;
  /**
   * The text, or OpenAI's text parts (`[{ type: 'text', text }]`, which the template sees joined
   * by newlines, as llama.cpp joins them); null (or left out) only on an assistant message that
   * carries `tool_calls` instead, as in OpenAI's format.
   */
  content: string | ChatTextPart[] | null;
  /** Further fields a template may read (name, tool_calls, tool_call_id, ...), passed through as they are. */
  [field: string]: unknown;
}

/** One part of a message's content in OpenAI's form; text is the only kind a language model reads. */
export interface ChatTextPart {
  type: 'text';
  text: string;
}

/**
 * A tool the model may call, as transformers' `apply_chat_template(tools=...)` and OpenAI's API
 * take it: `{ type: 'function', function: { name, description, parameters } }`, or the function
 * object itself. Templates read the fields they know (most, `parameters.properties`).
 */
export interface ChatTool {
  type?: string;
  function?: { name: string; description?: string; parameters?: unknown; [field: string]: unknown };
  name?: string;
  [field: string]: unknown;
}

export interface RenderOptions {
  /** The text of the model's BOS token (templates write it themselves). Default ''. */
  bosToken?: string;
  /** The text of the model's EOS token. Default ''. */
  eosToken?: string;
  /** End with the header of an assistant turn, so the model writes the reply. Default true. */
  addGenerationPrompt?: boolean;
  /** The tools the model may call, passed to the template as `tools`. */
  tools?: readonly ChatTool[];
  /** Further template variables: documents, date_string, enable_thinking, ... */
  variables?: Record<string, unknown>;
}

/** Variables a render sets itself (not overridable through `variables`). */
const RESERVED = ['messages', 'bos_token', 'eos_token', 'add_generation_prompt'];

const RENDER_OPTION_KINDS = { bosToken: 'string', eosToken: 'string', addGenerationPrompt: 'boolean', tools: 'object', variables: 'object' } as const;

/**
 * A conversation with one tool call whose arguments are OpenAI's JSON string: rendered once per
 * template, it shows whether the template quotes a string it is given (then it expects the
 * object, as llama.cpp's minja probes), by the escaped quotes around the argument's name.
 */
const PROBE_ARGUMENT = 'ffnkit_probe_argument';
const PROBE: readonly ChatMessage[] = [
  { role: 'user', content: 'x' },
  { role: 'assistant', content: '', tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'ffnkit_probe', arguments: `{"${PROBE_ARGUMENT}": 1}` } }] },
  { role: 'tool', content: 'y', tool_call_id: 'call_0' },
];
const PROBE_TOOLS = [{ type: 'function', function: { name: 'ffnkit_probe', description: 'probe', parameters: { type: 'object', properties: {} } } }];

export class ChatTemplate {
  /** The template's Jinja source. */
  readonly text: string;
  /** What the template is called in error messages. */
  readonly name: string;
  private readonly program: Template;
  /** Whether the template wants tool-call arguments as objects (found by the probe on first need). */
  private objectArguments: boolean | undefined;

  private constructor(text: string, name: string, program: Template) {
    this.text = text;
    this.name = name;
    this.program = program;
  }

  /** Parses `text`; a syntax error is an E_FORMAT FfnkitError naming `name`. */
  static async parse(text: string, name = 'chat template'): Promise<ChatTemplate> {
    if (typeof text !== 'string') throw new FfnkitError('E_ARG', `${name}: expected the template's text (a string), found ${typeof text}`);
    const { Template } = await templateEngine();
    try {
      return new ChatTemplate(text, name, new Template(text));
    } catch (e) {
      throw new FfnkitError('E_FORMAT', `${name}: not a Jinja template the renderer reads (${parseProblem(e as Error)})`);
    }
  }

  /** The prompt text for `messages`. */
  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    checkOptions(options, RENDER_OPTION_KINDS, 'render');
    checkMessages(messages);
    const variables = options.variables ?? {};
    checkVariables(variables);
    if (options.tools !== undefined) {
      checkTools(options.tools);
      if ('tools' in variables) throw new FfnkitError('E_ARG', 'variables.tools: given twice, also as the tools option (pass one)');
    }
    const objects = messages.some((m) => m.tool_calls !== undefined) && this.wantsObjectArguments(variables);
    const context = {
      ...variables,
      ...(options.tools !== undefined ? { tools: options.tools } : {}),
      messages: messages.map((m) => asRendered(m, objects)),
      bos_token: options.bosToken ?? '',
      eos_token: options.eosToken ?? '',
      add_generation_prompt: options.addGenerationPrompt ?? true,
    };
    let out: unknown;
    try {
      out = this.program.render(context);
    } catch (e) {
      // raise_exception(message) throws an Error with exactly the template's message
      const missing = options.tools === undefined && !('tools' in variables) && this.renders({ ...context, tools: [] }) ? ' (the template needs tools, and none were given)' : '';
      throw new FfnkitError('E_ARG', `${this.name}: ${(e as Error).message}${missing}`);
    }
    if (typeof out !== 'string') throw new FfnkitError('E_FORMAT', `${this.name}: rendered to ${typeof out}, not text`);
    // a template that never shows a tool would leave it out: the model would not know it
    const unseen = options.tools?.map(toolName).find((name) => !out.includes(name));
    if (unseen !== undefined) {
      throw new FfnkitError('E_ARG', `${this.name}: the prompt does not show the tool ${unseen}, so the model would not see it (the template does not read tools; one that takes them under another name, such as functions, takes them in variables)`);
    }
    return out;
  }

  /** Whether rendering `context` succeeds. */
  private renders(context: Record<string, unknown>): boolean {
    try {
      this.program.render(context);
      return true;
    } catch {
      return false;
    }
  }

  private wantsObjectArguments(variables: Record<string, unknown>): boolean {
    if (this.objectArguments === undefined) {
      let probe = '';
      try {
        probe = String(this.program.render({ ...variables, tools: PROBE_TOOLS, messages: PROBE, bos_token: '', eos_token: '', add_generation_prompt: true }));
      } catch {
        // a template that cannot render the probe gets the arguments as they are
      }
      this.objectArguments = probe.includes(`\\"${PROBE_ARGUMENT}\\"`);
    }
    return this.objectArguments;
  }
}

function toolName(t: ChatTool): string {
  return (t.function?.name ?? t.name)!;
}

/**
 * What a parse failure says. The renderer's parser reads past its last token when the text ends
 * inside `{{`, `{%` or an `{% if %}`/`{% for %}` block, and fails with a TypeError about that
 * token ("Cannot read properties of undefined (reading 'type')"), which says nothing to the
 * template's author; its own errors ("Unexpected token: CloseStatement") are kept as they are.
 */
function parseProblem(e: Error): string {
  if (e instanceof TypeError) return `it ends inside a tag or block that is not closed: {{ }}, {% %}, {% if %}...{% endif %}, {% for %}...{% endfor %}`;
  return e.message;
}

/**
 * Throws unless `messages` is an array of { role: string, content: string or text parts }; an
 * assistant message with a `tool_calls` array may have content null or none. Parts of another
 * kind (images, audio) are E_UNSUPPORTED.
 */
export function checkMessages(messages: unknown): asserts messages is ChatMessage[] {
  if (!Array.isArray(messages)) throw new FfnkitError('E_ARG', `messages: expected an array of { role, content }, found ${typeof messages}`);
  messages.forEach((m: unknown, i) => {
    if (typeof m !== 'object' || m === null) throw new FfnkitError('E_ARG', `messages[${i}]: expected { role, content }, found ${m === null ? 'null' : typeof m}`);
    const { role, content, tool_calls: calls } = m as { role?: unknown; content?: unknown; tool_calls?: unknown };
    if (typeof role !== 'string' || role === '') throw new FfnkitError('E_ARG', `messages[${i}].role: expected a non-empty string, found ${JSON.stringify(role) ?? 'undefined'}`);
    if (calls !== undefined && !Array.isArray(calls)) throw new FfnkitError('E_ARG', `messages[${i}].tool_calls: expected an array, found ${describeValue(calls)}`);
    if (Array.isArray(calls)) calls.forEach((c: unknown, j) => checkToolCall(c, `messages[${i}].tool_calls[${j}]`));
    if (typeof content === 'string' || (Array.isArray(calls) && content == null)) return;
    if (Array.isArray(content)) {
      content.forEach((part: unknown, j) => checkTextPart(part, `messages[${i}].content[${j}]`));
      return;
    }
    const why = calls === undefined ? '' : ' (or null, with tool_calls)';
    throw new FfnkitError('E_ARG', `messages[${i}].content: expected a string or an array of { type: 'text', text }${why}, found ${content === null ? 'null' : typeof content}`);
  });
}

/** A message's content as the template sees it: text parts joined by newlines (as llama.cpp joins them), null as ''. */
export function messageText(m: ChatMessage): string {
  return Array.isArray(m.content) ? m.content.map((p) => p.text).join('\n') : (m.content ?? '');
}

/** Throws unless `part` is { type: 'text', text: string }; a part of another type is not implemented. */
function checkTextPart(part: unknown, where: string): void {
  if (typeof part !== 'object' || part === null || Array.isArray(part)) throw new FfnkitError('E_ARG', `${where}: expected { type: 'text', text }, found ${describeValue(part)}`);
  const { type, text } = part as { type?: unknown; text?: unknown };
  if (typeof type !== 'string') throw new FfnkitError('E_ARG', `${where}.type: expected 'text', found ${describeValue(type)}`);
  if (type !== 'text') throw new FfnkitError('E_UNSUPPORTED', `${where}.type: ${JSON.stringify(type)} parts are not implemented (a language model reads text parts only)`);
  if (typeof text !== 'string') throw new FfnkitError('E_ARG', `${where}.text: expected a string, found ${describeValue(text)}`);
}

/** Throws unless `variables` is an object of template variables that leaves the renderer's own (messages, ...) alone. */
export function checkVariables(variables: unknown): asserts variables is Record<string, unknown> {
  if (typeof variables !== 'object' || variables === null || Array.isArray(variables)) {
    throw new FfnkitError('E_ARG', `variables: expected an object of template variables, found ${describeValue(variables)}`);
  }
  for (const key of RESERVED) {
    if (key in variables) throw new FfnkitError('E_ARG', `variables: ${key} is set by the renderer itself, not a variable`);
  }
}

/** Throws unless `tools` is an array of tool objects, each with a name (its own or its `function`'s). */
export function checkTools(tools: unknown): asserts tools is ChatTool[] {
  if (!Array.isArray(tools)) throw new FfnkitError('E_ARG', `tools: expected an array of { type: 'function', function: { name, description, parameters } }, found ${describeValue(tools)}`);
  tools.forEach((t: unknown, i) => checkNamed(t, `tools[${i}]`, 'an object', '{ name, description, parameters }'));
}

/** Throws unless `call` is { function: { name, arguments } } (or the function itself), the name a non-empty string. */
function checkToolCall(call: unknown, where: string): void {
  checkNamed(call, where, "{ type: 'function', function: { name, arguments } }", '{ name, arguments }');
}

/**
 * Throws unless `entry` (a tool, or a tool call) is an object that names its function: in its
 * `function` object (`fn`, what that must look like) or, without one, itself.
 */
function checkNamed(entry: unknown, where: string, shape: string, fn: string): void {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new FfnkitError('E_ARG', `${where}: expected ${shape}, found ${describeValue(entry)}`);
  const given = (entry as { function?: unknown }).function;
  if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given))) throw new FfnkitError('E_ARG', `${where}.function: expected ${fn}, found ${describeValue(given)}`);
  const at = given !== undefined ? `${where}.function` : where;
  const name = ((given ?? entry) as { name?: unknown }).name;
  if (typeof name !== 'string' || name === '') throw new FfnkitError('E_ARG', `${at}.name: expected the tool's name (a non-empty string), found ${JSON.stringify(name) ?? 'undefined'}`);
}

/** OpenAI's arguments string as the object it encodes; anything else (not JSON, not an object) as it is. */
function argumentsObject(text: string): unknown {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : text;
  } catch {
    return text;
  }
}

/**
 * A message as templates are written to read it, as llama.cpp hands it to them: content null
 * (a tool call's) as '', text parts joined by newlines, and, for a template that would quote a string again (`arguments |
 * tojson`: `objects`), each call's arguments, which OpenAI's format sends as a JSON string, as the
 * object they encode.
 */
function asRendered(m: ChatMessage, objects: boolean): ChatMessage {
  const calls = m.tool_calls as unknown[] | undefined;
  if (typeof m.content === 'string' && (calls === undefined || !objects)) return m;
  return {
    ...m,
    content: messageText(m),
    ...(calls !== undefined && objects ? { tool_calls: calls.map(parsedArguments) } : {}),
  };
}

function parsedArguments(call: unknown): unknown {
  const c = call as { function?: { arguments?: unknown } };
  if (c.function && typeof c.function.arguments === 'string') return { ...c, function: { ...c.function, arguments: argumentsObject(c.function.arguments) } };
  const bare = call as { arguments?: unknown };
  return typeof bare.arguments === 'string' ? { ...bare, arguments: argumentsObject(bare.arguments) } : call;
}
