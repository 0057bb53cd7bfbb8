// `ffnkit chat`: a conversation with a model through its chat template (or --template). On a
// terminal, interactive: replies stream, /reset clears the conversation, /exit (or Ctrl-C at the
// prompt) quits, Ctrl-C during a reply ends the reply. From a pipe, each line of stdin is a user
// turn. With --messages it prints one reply to the conversation in the file; with --print-prompt
// it prints the rendered prompt exactly, and nothing else. Figures go to stderr.

import { createInterface } from 'node:readline';
import { Command, Option } from 'commander';
import { ChatSession, ChatTemplate, FfnkitError, checkMessages, checkTools, checkVariables, type TurnStats } from '../node/index.js';
import { CHAT_TEMPLATE_KEYS, CONTEXT_SHIFT_REMEDY, storedChatTemplate } from '../llm/chat.js';
import { freshSeed } from '../llm/sampler.js';
import { applyTopK, asFlag, backendOption, expertsOption, integerDotOption, loadWithTokenizer, kvCacheOption, skipOption, skipPolicy, threadsOption, readTextOption } from './common.js';
import { TOKENIZER_SOURCES } from './help-texts.js';
import type { IntegerDot, KvCache } from '../node/index.js';
import { samplingFrom, samplingOptions, type SamplingFlags } from './sampling.js';
import { out } from './output.js';

interface Options extends SamplingFlags {
  model: string;
  tokenizer?: string;
  template?: string;
  system?: string;
  messages?: string;
  tools?: string;
  templateVars?: string;
  printPrompt?: boolean;
  contextShift?: boolean;
  topK?: number;
  skip?: string;
  backend?: 'scalar' | 'simd' | 'relaxed';
  threads?: number;
  kvCache?: KvCache;
  integerDot?: IntegerDot;
}

export function chatCommand(): Command {
  const command = new Command('chat')
    .description("talk with a model through its chat template (interactive on a terminal; one turn per line from a pipe)")
    .requiredOption('--model <path>', 'GGUF, llama2.c .bin, or a Hugging Face directory')
    .option('--tokenizer <path>', `${TOKENIZER_SOURCES} (default: the vocabulary in the model file)`)
    .option('--template <file>', "a Jinja chat template (default: the model's own)")
    .option('--system <text>', 'a system message to start the conversation with')
    .option('--messages <file.json>', 'a conversation, [{ "role": ..., "content": ... }] (content a string or OpenAI\'s text parts): print one reply to it and exit')
    .option('--tools <file.json>', 'tools the model may call, passed to the template as tools: a JSON array as transformers and OpenAI take it, [{ "type": "function", "function": { "name", "description", "parameters" } }]')
    .option('--template-vars <json>', `further template variables, a JSON object (e.g. '{"enable_thinking": false}')`)
    .option('--print-prompt', 'print the rendered prompt exactly (nothing else) and exit')
    .addOption(new Option('--context-shift', 'when the context fills, drop the oldest turns instead of stopping with an error'));
  return samplingOptions(command)
    .addOption(expertsOption())
    .addOption(skipOption())
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(kvCacheOption())
    .addOption(integerDotOption())
    .action(async (o: Options) => {
      // parsed before the model loads, and named in its errors (parse and render) by the flag and file
      const template = o.template === undefined ? undefined : await ChatTemplate.parse(await readTextOption(o.template, '--template'), `--template ${o.template}`);
      const messages = o.messages === undefined ? undefined : await readJsonFile(o.messages, '--messages', checkMessages);
      const tools = o.tools === undefined ? undefined : await readJsonFile(o.tools, '--tools', checkTools);
      const variables = o.templateVars === undefined ? undefined : templateVars(o.templateVars);
      if (tools && variables && 'tools' in variables) throw new FfnkitError('E_ARG', '--template-vars: holds tools, which --tools gives (pass one)');
      if (o.printPrompt && messages === undefined) throw new FfnkitError('E_ARG', '--print-prompt: prints the prompt of the conversation in a --messages file, which is missing (stdin is not read)');
      if (o.system !== undefined && messages?.[0]?.role === 'system') throw new FfnkitError('E_ARG', `--system: ${o.messages} starts with a system message already`);
      const { model, tokenizer } = await loadWithTokenizer(o.model, o.tokenizer, o.backend, o.threads, o.kvCache, o.integerDot);
      if (template === undefined && storedChatTemplate(model) === undefined) {
        throw new FfnkitError('E_ARG', `--template: required, since ${o.model} has no chat template (${CHAT_TEMPLATE_KEYS})`);
      }
      applyTopK(model, o.topK);
      const skip = skipPolicy(o.skip, model);
      const seed = o.seed ?? freshSeed();
      const session = new ChatSession(model, {
        tokenizer, ...samplingFrom(o), seed,
        ...(template !== undefined ? { template } : {}),
        ...(o.system !== undefined ? { system: o.system } : {}),
        ...(o.contextShift ? { contextShift: true } : {}),
        ...(tools ? { tools } : {}),
        ...(variables ? { variables } : {}),
        ...(skip ? { skip } : {}),
      });
      if (messages) session.messages.push(...messages);
      if (o.printPrompt) {
        out(await session.prompt());
        return;
      }
      if (messages) {
        await stream(session.reply(), session);
        return;
      }
      process.stderr.write(`seed ${seed}\n`);
      await converse(session);
    });
}

/** Streams one reply to stdout, then its figures to stderr. */
async function stream(reply: AsyncGenerator<string, unknown>, session: ChatSession): Promise<void> {
  const started = performance.now();
  try {
    for await (const piece of reply) out(piece);
  } catch (e) {
    throw inFlags(e);
  }
  out('\n');
  process.stderr.write(`${turnLine(session.lastTurn!, (performance.now() - started) / 1000)}\n`);
}

/** A library error in the command line's terms: a full context's remedy is --context-shift, not the contextShift option. */
function inFlags(e: unknown): unknown {
  if (!(e instanceof FfnkitError) || !e.message.includes(CONTEXT_SHIFT_REMEDY)) return e;
  return new FfnkitError(e.code, e.message.replace(CONTEXT_SHIFT_REMEDY, 'run with --context-shift to drop the oldest turns'));
}

function turnLine(t: TurnStats, seconds: number): string {
  const ended = t.finish === 'abort' ? ', stopped' : t.finish === 'length' ? ', at --max-tokens' : '';
  const dropped = t.droppedMessages ? `, ${t.droppedMessages} oldest messages left out` : '';
  return `[${t.replyTokens} tokens in ${seconds.toFixed(2)} s (${(t.replyTokens / seconds).toFixed(1)} tokens/s); prompt ${t.promptTokens} tokens, ${t.reusedTokens} from the KV cache${dropped}${ended}]`;
}

/** The conversation loop over stdin: one user turn per line; /reset, /exit; Ctrl-C ends a reply, or quits at the prompt. */
async function converse(session: ChatSession): Promise<void> {
  const tty = process.stdin.isTTY === true;
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: tty, prompt: '> ' });
  let replying: AbortController | undefined;
  rl.on('SIGINT', () => {
    if (replying && !replying.signal.aborted) replying.abort();
    else rl.close();
  });
  if (tty) {
    process.stderr.write('/reset clears the conversation, /exit (or Ctrl-C) quits; Ctrl-C during a reply ends it\n');
    rl.prompt();
  }
  for await (const line of rl) {
    const text = line.trim();
    if (text === '/exit') break;
    if (text === '/reset') {
      session.reset();
      process.stderr.write('[conversation cleared]\n');
    } else if (text !== '') {
      replying = new AbortController();
      await stream(session.send(text, { signal: replying.signal }), session);
      replying = undefined;
    }
    if (tty) rl.prompt();
  }
  rl.close();
}

/** A JSON file named by a command-line flag, checked by `check`; its errors name the flag and the file. */
async function readJsonFile<T>(path: string, flag: string, check: (v: unknown) => asserts v is T): Promise<T> {
  let v: unknown;
  try {
    v = JSON.parse(await readTextOption(path, flag));
  } catch (e) {
    if (e instanceof FfnkitError) throw e;
    throw new FfnkitError('E_ARG', `${flag}: ${path} is not JSON (${(e as Error).message})`);
  }
  try {
    check(v);
  } catch (e) {
    throw new FfnkitError('E_ARG', `${flag}: ${path}: ${(e as Error).message}`);
  }
  return v;
}

/** --template-vars: a JSON object given on the command line. */
function templateVars(text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new FfnkitError('E_ARG', `--template-vars: not JSON (${(e as Error).message}); quote the object, e.g. '{"enable_thinking": false}'`);
  }
  asFlag('variables', '--template-vars', () => checkVariables(v));
  return v as Record<string, unknown>;
}
