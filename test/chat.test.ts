// Chats: real chat templates against prompts written by hand from the model cards, special tokens
// and end-of-turn ids from metadata, and sessions on stories260K: a new turn prefills only what
// the KV cache lacks (with the logits of a fresh run), the context shifts or fails with its sizes.

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  ChatSession, ChatTemplate, FfnkitError, LlamaModel, Tokenizer, ggufChatVocabulary, hfChatVocabulary, loadModel, messageText, parseGguf, readLlama2c,
  writeHfLlama, type ChatMessage, type ChatVocabulary, type MetaValue,
} from '../src/node/index.js';
import { dropOldestTurn, encodePrompt } from '../src/llm/chat.js';
import { SHARED, sharedBytes, sharedPath } from './shared.js';

const templates = sharedPath('templates');

async function all(stream: AsyncGenerator<string, unknown>): Promise<{ pieces: string[]; result: unknown }> {
  const pieces: string[] = [];
  for (;;) {
    const r = await stream.next();
    if (r.done) return { pieces, result: r.value };
    pieces.push(r.value);
  }
}
const template = (name: string) => ChatTemplate.parse(readFileSync(join(templates, `${name}.jinja`), 'utf8'), name);

const conversation: ChatMessage[] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Hello!' },
  { role: 'assistant', content: 'Hi there.' },
  { role: 'user', content: 'What is 2+2?' },
];
const withoutSystem = conversation.slice(1);

/** A small ChatML template (stories260K has none). */
const CHATML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

describe.skipIf(!SHARED)('chat templates', () => {
  test('Llama 3.2: header tokens, the dated system block, the assistant header', async () => {
    const got = (await template('meta-llama-Llama-3.2-3B-Instruct')).render(conversation, { bosToken: '<|begin_of_text|>', variables: { date_string: '26 Jul 2024' } });
    expect(got).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n' +
        'You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nHi there.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  test('Qwen2.5: ChatML, and its default system message when none is given', async () => {
    const t = await template('Qwen-Qwen2.5-7B-Instruct');
    expect(t.render(conversation)).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\nHi there.<|im_end|>\n' +
        '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(t.render([{ role: 'user', content: 'Hello!' }])).toBe(
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  test("Gemma 2: 'model' turns after <bos>; a system message is the template's own error", async () => {
    const t = await template('google-gemma-2-2b-it');
    expect(t.render(withoutSystem, { bosToken: '<bos>' })).toBe(
      '<bos><start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\nHi there.<end_of_turn>\n<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n',
    );
    expect(() => t.render(conversation)).toThrow(FfnkitError);
    expect(() => t.render(conversation)).toThrow(/google-gemma-2-2b-it: System role not supported/);
  });

  test('Phi-3.5: <|role|> lines ending in <|end|>; without the generation prompt it ends in EOS', async () => {
    const t = await template('microsoft-Phi-3.5-mini-instruct');
    expect(t.render(conversation)).toBe(
      '<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHello!<|end|>\n<|assistant|>\nHi there.<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n',
    );
    expect(t.render(withoutSystem.slice(0, 2), { addGenerationPrompt: false, eosToken: '<|endoftext|>' })).toBe('<|user|>\nHello!<|end|>\n<|assistant|>\nHi there.<|end|>\n<|endoftext|>');
  });

  test('Mistral Nemo: [INST] blocks, the system message joined to the last user message; roles must alternate', async () => {
    const t = await template('mistralai-Mistral-Nemo-Instruct-2407');
    expect(t.render(conversation, { bosToken: '<s>', eosToken: '</s>' })).toBe('<s>[INST]Hello![/INST]Hi there.</s>[INST]You are a helpful assistant.\n\nWhat is 2+2?[/INST]');
    expect(() => t.render([{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }])).toThrow(/conversation roles must alternate user\/assistant/);
  });

  test('DeepSeek-R1 distill: full-width markers, and the reply opens with <think>', async () => {
    const t = await template('deepseek-ai-DeepSeek-R1-Distill-Qwen-32B');
    expect(t.render(conversation, { bosToken: '<｜begin▁of▁sentence｜>' })).toBe(
      '<｜begin▁of▁sentence｜>You are a helpful assistant.<｜User｜>Hello!<｜Assistant｜>Hi there.<｜end▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜><think>\n',
    );
  });

  test('every template in shared/templates renders a user/assistant conversation (the tool-use ones given their tool list)', async () => {
    // these are written for tool calling and read the tool list unconditionally, as under transformers
    const needs: Record<string, Record<string, unknown>> = {
      'CohereForAI-c4ai-command-r-plus-tool_use': { tools: [] },
      'NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use': { tools: [] },
      'NousResearch-Hermes-3-Llama-3.1-8B-tool_use': { tools: [] },
      'meetkai-functionary-medium-v3.1': { tools: [] },
      'fireworks-ai-llama-3-firefunction-v2': { functions: '[]', datetime: '2024-07-26' },
    };
    const names = readdirSync(templates).filter((f) => f.endsWith('.jinja')).map((f) => f.slice(0, -'.jinja'.length));
    expect(names.length).toBeGreaterThanOrEqual(15);
    for (const name of names) {
      const variables = { date_string: '26 Jul 2024', ...needs[name] };
      const text = (await template(name)).render(withoutSystem, { bosToken: '<s>', eosToken: '</s>', variables });
      expect(text, name).toContain('What is 2+2?');
      expect(text, name).toContain('Hi there.');
    }
  });

  // a tool-calling round trip in OpenAI's message format: the call has content null, the result is a 'tool' message
  const weather = {
    type: 'function',
    function: {
      name: 'get_weather', description: 'The weather in a city.',
      parameters: { type: 'object', properties: { city: { type: 'string', description: 'The city.' } }, required: ['city'] },
    },
  };
  const toolRound: ChatMessage[] = [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: null, tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
    { role: 'tool', content: '{"sky": "clear"}' },
  ];

  test('tools: Hermes 3 lists them in its system block and writes the call and result as its model card shows', async () => {
    const text = (await template('NousResearch-Hermes-3-Llama-3.1-8B-tool_use')).render(toolRound, { tools: [weather] });
    expect(text).toContain('<tools> {"type": "function", "function": {"name": "get_weather", "description": "get_weather(city: str) - The weather in a city.\n\n    Args:\n        city(str): The city.", "parameters": ');
    expect(text).toContain('<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n');
    expect(text.endsWith('<|im_start|>tool\n<tool_response>\n{"sky": "clear"}\n</tool_response><|im_end|><|im_start|>assistant\n')).toBe(true);
  });

  test("tools: OpenAI's arguments string renders as the object it encodes, and a call's null content as '' (Qwen2.5, command-r)", async () => {
    const asString: ChatMessage[] = toolRound.map((m) => (m.tool_calls ? { ...m, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }] } : m));
    const qwen = await template('Qwen-Qwen2.5-7B-Instruct');
    const text = qwen.render(asString, { tools: [weather] });
    expect(text).toContain('<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>');
    expect(text).toBe(qwen.render(toolRound, { tools: [weather] }));
    // command-r trims every message's content: null would fail in the renderer
    const cohere = (await template('CohereForAI-c4ai-command-r-plus-tool_use')).render(asString, { tools: [weather] });
    expect(cohere).toContain('"tool_name": "get_weather",\n        "parameters": {\n            "city": "Paris"\n        }');
    // Hermes prints a string as it is (its probe shows no second quoting): the caller's text, not re-serialized;
    // arguments that are not a JSON object stay the string they are
    const hermes = await template('NousResearch-Hermes-3-Llama-3.1-8B-tool_use');
    const exact = '{"n":1.0,"big":12345678901234567890}';
    const withExact = asString.map((m) => (m.tool_calls ? { ...m, tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: exact } }] } : m));
    expect(hermes.render(withExact, { tools: [weather] })).toContain(`"arguments": ${exact}}`);
    const notJson = asString.map((m) => (m.tool_calls ? { ...m, tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: '{city' } }] } : m));
    expect(qwen.render(notJson, { tools: [weather] })).toContain('"arguments": "{city"}');
    // the caller's messages are left as they were
    expect(asString[1]!.content).toBeNull();
    expect((asString[1]!.tool_calls as Array<{ function: { arguments: unknown } }>)[0]!.function.arguments).toBe('{"city": "Paris"}');
  });

  test('a template that reads tools and fails without them says so', async () => {
    const hermes = await template('NousResearch-Hermes-3-Llama-3.1-8B-tool_use');
    expect(() => hermes.render(withoutSystem)).toThrow(/\(the template needs tools, and none were given\)$/);
  });

  test('tools: Llama 3.1 puts them in the first user message and the result in an ipython turn', async () => {
    const text = (await template('meta-llama-Llama-3.1-8B-Instruct')).render(toolRound, { tools: [weather], variables: { date_string: '26 Jul 2024' } });
    expect(text).toContain('<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a function call ');
    expect(text).toContain('"name": "get_weather"');
    expect(text).toContain('Weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>');
    // a string `is iterable` in Jinja as in Python, so this template writes the result through tojson, quoted, as transformers does
    expect(text.endsWith('<|start_header_id|>ipython<|end_header_id|>\n\n"{\\"sky\\": \\"clear\\"}"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n')).toBe(true);
    // without tools the same template writes no function list
    const plain = (await template('meta-llama-Llama-3.1-8B-Instruct')).render(withoutSystem, { variables: { date_string: '26 Jul 2024' } });
    expect(plain).not.toContain('Given the following functions');
  });

  test("OpenAI's text parts render as their texts joined by newlines, as llama.cpp joins them; other parts are refused", async () => {
    const parts: ChatMessage[] = [
      { role: 'system', content: [{ type: 'text', text: 'You are a helpful assistant.' }] },
      { role: 'user', content: [{ type: 'text', text: 'Hello!' }, { type: 'text', text: 'What is 2+2?' }] },
      { role: 'assistant', content: [] },
    ];
    const joined: ChatMessage[] = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'Hello!\nWhat is 2+2?' },
      { role: 'assistant', content: '' },
    ];
    for (const name of ['Qwen-Qwen2.5-7B-Instruct', 'meta-llama-Llama-3.2-3B-Instruct']) {
      const t = await template(name);
      const prompt = t.render(parts, { variables: { date_string: '01 Dec 2026' } });
      expect(prompt).toContain('Hello!\nWhat is 2+2?');
      expect(prompt).toBe(t.render(joined, { variables: { date_string: '01 Dec 2026' } }));
    }
    expect(messageText(parts[1]!)).toBe('Hello!\nWhat is 2+2?');
    expect(messageText({ role: 'assistant', content: null })).toBe('');
    const t = await ChatTemplate.parse(CHATML);
    const image = [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'a.png' } }] }] as unknown as ChatMessage[];
    expect(() => t.render(image)).toThrow(expect.objectContaining({ code: 'E_UNSUPPORTED', message: expect.stringMatching(/^messages\[0\]\.content\[1\]\.type: "image_url" parts are not implemented/) }));
    expect(() => t.render([{ role: 'user', content: [{ type: 'text' }] }] as unknown as ChatMessage[])).toThrow(/^messages\[0\]\.content\[0\]\.text: expected a string, found undefined/);
    expect(() => t.render([{ role: 'user', content: ['hi'] }] as unknown as ChatMessage[])).toThrow(/^messages\[0\]\.content\[0\]: expected \{ type: 'text', text \}, found the string "hi"/);
    expect(() => t.render([{ role: 'user', content: [{ text: 'hi' }] }] as unknown as ChatMessage[])).toThrow(/^messages\[0\]\.content\[0\]\.type: expected 'text', found undefined/);
  });

  test('bad templates and messages are FfnkitErrors naming the problem', async () => {
    await expect(ChatTemplate.parse('{% for m in messages %}', 'broken')).rejects.toThrow(/broken: not a Jinja template/);
    // text that ends inside a tag or block: the parser's TypeError becomes what is wrong
    for (const open of ['{{', '{% if x %}', 'Hi {%']) {
      await expect(ChatTemplate.parse(open, 'open')).rejects.toThrow(/^open: not a Jinja template the renderer reads \(it ends inside a tag or block that is not closed: /);
    }
    const t = await ChatTemplate.parse(CHATML);
    expect(() => t.render([{ role: 'user' } as unknown as ChatMessage])).toThrow(/messages\[0\]\.content: expected a string/);
    expect(() => t.render('hi' as unknown as ChatMessage[])).toThrow(/messages: expected an array/);
    expect(() => t.render(withoutSystem, { variables: { messages: [] } })).toThrow(/^variables: messages is set by the renderer itself/);
    expect(() => t.render(withoutSystem, { tools: [{ type: 'function', function: { description: 'no name' } }] as never })).toThrow(/^tools\[0\]\.function\.name: expected the tool's name/);
    expect(() => t.render(withoutSystem, { tools: {} as never })).toThrow(/^tools: expected an array/);
    expect(() => t.render(withoutSystem, { tools: [], variables: { tools: [] } })).toThrow(/^variables\.tools: given twice/);
    expect(() => t.render(withoutSystem, { addGenerationPromt: false } as never)).toThrow(/^render: unknown option 'addGenerationPromt' \(did you mean 'addGenerationPrompt'\?\)/);
    expect(() => t.render([{ role: 'assistant', content: null, tool_calls: [{ type: 'function', function: { arguments: '{}' } }] }])).toThrow(/^messages\[0\]\.tool_calls\[0\]\.function\.name: expected the tool's name/);
    expect(() => t.render([{ role: 'assistant', content: null, tool_calls: [{ function: null, name: 'f' }] }])).toThrow(/^messages\[0\]\.tool_calls\[0\]\.function: expected \{ name, arguments \}, found null/);
    // a template that never shows tools would leave them out of the prompt: refused, not ignored;
    // an empty list has nothing to show
    expect(() => t.render(withoutSystem, { tools: [weather] })).toThrow(/^chat template: the prompt does not show the tool get_weather, so the model would not see it/);
    expect(t.render(withoutSystem, { tools: [] })).toBe(t.render(withoutSystem));
    const mentions = await ChatTemplate.parse(`{# tools #}${CHATML}`, 'mentions');
    expect(() => mentions.render(withoutSystem, { tools: [weather] })).toThrow(/^mentions: the prompt does not show the tool get_weather/);
    expect(() => t.render([{ role: 'assistant', content: null }])).toThrow(/^messages\[0\]\.content: expected a string or an array of \{ type: 'text', text \}, found null/);
    expect(() => t.render([{ role: 'assistant', content: null, tool_calls: {} }])).toThrow(/^messages\[0\]\.tool_calls: expected an array/);
  });

  test('dropOldestTurn keeps system messages and the last turn', async () => {
    expect(dropOldestTurn(conversation)).toEqual([conversation[0], conversation[3]]);
    expect(dropOldestTurn([conversation[0]!, conversation[3]!])).toBeUndefined();
  });
});

describe('chat vocabulary from metadata', () => {
  test('GGUF: EOS, EOT and end-of-turn markers found by text; control tokens are special', async () => {
    const tokens = ['<unk>', '<s>', '</s>', 'a', '<|im_start|>', '<|im_end|>', '<|eot_id|>', 'b'];
    const meta = new Map<string, MetaValue>([
      ['tokenizer.ggml.model', 'gpt2'],
      ['tokenizer.ggml.tokens', tokens],
      ['tokenizer.ggml.token_type', [2, 3, 3, 1, 3, 3, 3, 1]],
      ['tokenizer.ggml.bos_token_id', 1],
      ['tokenizer.ggml.eos_token_id', 2],
      ['tokenizer.ggml.eot_token_id', 5],
      ['tokenizer.chat_template', CHATML],
    ]);
    const v = ggufChatVocabulary(meta, 'test.gguf')!;
    expect(v.template).toBe(CHATML);
    expect(v.bos).toEqual({ id: 1, text: '<s>' });
    expect(v.eos).toEqual({ id: 2, text: '</s>' });
    expect(v.endOfTurn).toEqual([2, 5, 6]);
    expect([...v.special]).toEqual([['<s>', 1], ['</s>', 2], ['<|im_start|>', 4], ['<|im_end|>', 5], ['<|eot_id|>', 6]]);
    expect(v.addBos).toBe(false); // a BPE vocabulary without add_bos_token
    expect(() => ggufChatVocabulary(new Map([...meta, ['tokenizer.ggml.eot_token_id', 99]]), 'test.gguf')).toThrow(/test.gguf: metadata tokenizer.ggml.eot_token_id = 99 is outside the vocabulary of 8/);
  });

  test.skipIf(!SHARED)('stories260K.gguf: <s> and </s>, EOS ends a turn, no template', () => {
    const v = ggufChatVocabulary(parseGguf(sharedBytes('models', 'stories260K.gguf')).metadata)!;
    expect(v.template).toBeUndefined();
    expect(v.bos).toEqual({ id: 1, text: '<s>' });
    expect(v.endOfTurn).toEqual([2]);
    expect(v.addBos).toBe(true);
  });

  test('tokenizer_config.json: added tokens, { content } tokens, the default of named templates, generation_config EOS ids', async () => {
    const config = JSON.stringify({
      add_bos_token: true,
      bos_token: '<s>',
      eos_token: { content: '</s>' },
      added_tokens_decoder: { 1: { content: '<s>', special: true }, 2: { content: '</s>', special: true }, 7: { content: '<|end|>', special: true } },
      chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: CHATML }],
    });
    const v = hfChatVocabulary({ tokenizerConfig: config, generationConfig: JSON.stringify({ eos_token_id: [2, 9] }) })!;
    expect(v.template).toBe(CHATML);
    expect(v.bos).toEqual({ id: 1, text: '<s>' });
    expect(v.eos).toEqual({ id: 2, text: '</s>' });
    expect(v.endOfTurn).toEqual([2, 7, 9]);
    expect(v.addBos).toBe(true);
    expect(hfChatVocabulary({ tokenizerConfig: config, chatTemplate: 'OWN' })!.template).toBe('OWN');
    expect(() => hfChatVocabulary({ tokenizerConfig: '{' })).toThrow(/tokenizer_config.json: not JSON/);
  });

  test.skipIf(!SHARED)('a Hugging Face directory brings its tokenizer_config.json template to the model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffnkit-hf-chat-'));
    try {
      const { configJson, safetensors } = writeHfLlama(readLlama2c(sharedBytes('models', 'stories260K.bin')));
      writeFileSync(join(dir, 'config.json'), configJson);
      writeFileSync(join(dir, 'model.safetensors'), safetensors);
      writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: CHATML, eos_token: '</s>', added_tokens_decoder: { 2: { content: '</s>' } } }));
      const model = await loadModel(dir);
      expect(model.chatVocabulary?.template).toBe(CHATML);
      expect(model.chatVocabulary?.endOfTurn).toEqual([2]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!SHARED)('chat sessions on stories260K', () => {
  const vocab = (): Promise<Tokenizer> => Tokenizer.load(sharedPath('models', 'tok512.bin'));

  test('a rendered prompt: special tokens it spells out become their ids, BOS first unless written', async () => {
    const tok = await vocab();
    const v: ChatVocabulary = { bos: { id: 1, text: '<s>' }, eos: { id: 2, text: '</s>' }, endOfTurn: [2], special: new Map([['<s>', 1], ['</s>', 2]]), addBos: true };
    expect(encodePrompt(tok, v, '<s>Tom ran.</s> Sam sat.')).toEqual([1, ...tok.encode('Tom ran.', { bos: false }), 2, ...tok.encode(' Sam sat.', { bos: false })]);
    expect(encodePrompt(tok, v, 'Tom ran.')).toEqual([1, ...tok.encode('Tom ran.', { bos: false })]);
    expect(encodePrompt(tok, { ...v, addBos: false }, 'Tom ran.')).toEqual(tok.encode('Tom ran.', { bos: false }));
  });

  test('the second turn prefills only the tokens the cache lacks, and its logits equal a fresh run over the whole conversation', async () => {
    const model = await loadModel(sharedPath('models', 'stories260K.gguf'));
    const session = new ChatSession(model, { template: CHATML, temperature: 0, maxTokens: 24 });
    let first = '';
    for await (const piece of session.send('Once upon a time there was a cat.')) first += piece;
    expect(first.length).toBeGreaterThan(0);
    expect(session.messages).toEqual([{ role: 'user', content: 'Once upon a time there was a cat.' }, { role: 'assistant', content: first }]);
    const cached = Array.from(model.cachedTokens());

    // record what the model runs during the second turn
    const calls: { tokens: number[]; logits: Float32Array }[] = [];
    const forward = model.forward.bind(model);
    model.forward = (tokens, options) => {
      const logits = forward(tokens, options);
      calls.push({ tokens: Array.from(tokens), logits: logits.slice() });
      return logits;
    };
    for await (const piece of session.send('The cat was happy.', { maxTokens: 4 })) void piece;
    model.forward = forward;

    const prompt2 = encodePrompt(model.tokenizer!, model.chatVocabulary!, (await ChatTemplate.parse(CHATML)).render(session.messages.slice(0, 3)));
    let common = 0;
    while (common < Math.min(cached.length, prompt2.length) && cached[common] === prompt2[common]) common++;
    const turn = session.lastTurn!;
    expect(turn.promptTokens).toBe(prompt2.length);
    expect(turn.reusedTokens).toBe(common);
    // here the reply re-tokenizes as it was generated: the whole first turn, reply included, is reused
    expect(common).toBe(cached.length);
    expect(calls[0]!.tokens).toEqual(prompt2.slice(common));
    expect(turn.prefilledTokens).toBe(prompt2.length - common);

    const fresh = await LlamaModel.create(readLlama2c(sharedBytes('models', 'stories260K.bin')));
    const want = fresh.forward(prompt2);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i]! - calls[0]!.logits[i]!));
    expect(worst).toBeLessThan(1e-4);
  });

  test('a model without a chat template needs one; the template raising is an FfnkitError with its message', async () => {
    const model = await loadModel(sharedPath('models', 'stories260K.gguf'));
    await expect(model.chat(withoutSystem).next()).rejects.toThrow(/has no chat template \(GGUF tokenizer\.chat_template, tokenizer_config\.json chat_template\): pass one as the 'template' option/);
    const gemma = readFileSync(join(templates, 'google-gemma-2-2b-it.jinja'), 'utf8');
    await expect(model.chat(conversation, { template: gemma }).next()).rejects.toMatchObject({ code: 'E_ARG', message: expect.stringMatching(/System role not supported/) });
    // the refused turn did not touch the conversation
    const session = new ChatSession(model, { template: gemma, system: 'Be brief.' });
    await expect(session.send('Hello').next()).rejects.toThrow(/System role not supported/);
    expect(session.messages).toEqual([{ role: 'system', content: 'Be brief.' }]);
  });

  test('a full context is an error naming the sizes, or with contextShift the oldest turns go', async () => {
    const model = await loadModel(sharedPath('models', 'stories260K.gguf'));
    const long = 'Once upon a time there was a little dog who liked to run in the park with his friends. '.repeat(3);
    const turns = (shift: boolean) => new ChatSession(model, { template: CHATML, temperature: 0, maxTokens: 16, contextShift: shift, system: 'Stories.' });
    const plain = turns(false);
    let failure: unknown;
    try {
      for (let i = 0; i < 12; i++) for await (const piece of plain.send(long)) void piece;
    } catch (e) {
      failure = e;
    }
    expect(failure).toBeInstanceOf(FfnkitError);
    expect((failure as Error).message).toMatch(/context: .*512/);

    const shifting = turns(true);
    for (let i = 0; i < 12; i++) for await (const piece of shifting.send(long)) void piece;
    const turn = shifting.lastTurn!;
    expect(turn.droppedMessages).toBeGreaterThan(0);
    expect(turn.promptTokens + 16).toBeLessThanOrEqual(512);
    expect(shifting.messages).toHaveLength(1 + 2 * 12); // the session keeps the whole conversation
    // the system message stays in what the model sees
    expect(model.tokenizer!.decode(model.cachedTokens())).toContain('system\nStories.');

    // a reply that fills the context mid-way: the oldest turns go and the rest and the reply so
    // far are prefilled again, and the reply goes on
    const midway = turns(true);
    for (let i = 0; i < 2; i++) for await (const piece of midway.send(long, { maxTokens: 8 })) void piece;
    const { pieces, result } = await all(midway.send(long, { maxTokens: 300, stopTokens: [] }));
    const last = midway.lastTurn!;
    expect(last.promptTokens + 300).toBeGreaterThan(512); // it could not have fitted
    expect(result).toBe('length');
    expect(last.replyTokens).toBe(300);
    expect(last.droppedMessages).toBeGreaterThan(0);
    expect(last.prefilledTokens).toBeGreaterThan(last.promptTokens - last.reusedTokens);
    expect(pieces.join('')).toBe(midway.messages.at(-1)!.content);
  });
});
