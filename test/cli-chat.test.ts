// `ffnkit chat` and generate's new flags, run as a user runs them: a child process per command,
// with stdin piped where the conversation comes from it.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SHARED, sharedPath } from './shared.js';

const bin = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'bin', 'ffnkit.js');
const FROM_SOURCES = { ...process.env, FFNKIT_FROM_SOURCES: '1' }; // the sources under test, not dist/

function run(args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: FROM_SOURCES });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill(), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

const CHATML = '{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}';

describe.skipIf(!SHARED)('ffnkit chat', () => {
  const model = sharedPath('models', 'stories260K.gguf');
  let dir: string;
  let template: string;
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ffnkit-cli-chat-'));
    template = file('chatml.jinja', CHATML);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('--print-prompt prints the rendered prompt exactly and nothing else', async () => {
    const messages = file('one.json', JSON.stringify([{ role: 'user', content: 'Tell me a story.' }]));
    const r = await run(['chat', '--model', model, '--template', template, '--system', 'Stories.', '--messages', messages, '--print-prompt']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('<|im_start|>system\nStories.<|im_end|>\n<|im_start|>user\nTell me a story.<|im_end|>\n<|im_start|>assistant\n');
  });

  test("--messages with OpenAI's text parts: the template sees them joined by newlines; an image part exits 1 naming it", async () => {
    const parts = file('parts.json', JSON.stringify([{ role: 'user', content: [{ type: 'text', text: 'Tell me' }, { type: 'text', text: 'a story.' }] }]));
    const r = await run(['chat', '--model', model, '--template', template, '--messages', parts, '--print-prompt']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('<|im_start|>user\nTell me\na story.<|im_end|>\n<|im_start|>assistant\n');
    const image = file('image.json', JSON.stringify([{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'cat.png' } }] }]));
    const bad = await run(['chat', '--model', model, '--template', template, '--messages', image, '--print-prompt']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^ffnkit: .*messages\[0\]\.content\[0\]\.type: "image_url" parts are not implemented/);
  });

  test('--print-prompt: a template that raises exits 1 with its message, stdout empty; no template at all is named', async () => {
    const messages = file('sys.json', JSON.stringify([{ role: 'system', content: 'x' }, { role: 'user', content: 'hi' }]));
    const r = await run(['chat', '--model', model, '--template', sharedPath('templates', 'google-gemma-2-2b-it.jinja'), '--messages', messages, '--print-prompt']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ffnkit: .*System role not supported/);
    const none = await run(['chat', '--model', model, '--messages', messages, '--print-prompt']);
    expect(none.code).toBe(1);
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe(`ffnkit: --template: required, since ${model} has no chat template (GGUF tokenizer.chat_template, tokenizer_config.json chat_template)\n`);
  });

  test('--messages prints one reply: the greedy continuation of the rendered prompt', async () => {
    const messages = file('story.json', JSON.stringify([{ role: 'user', content: 'Once upon a time there was a cat.' }]));
    const args = ['--model', model, '--temperature', '0', '--max-tokens', '24'];
    const reply = await run(['chat', ...args, '--template', template, '--messages', messages]);
    expect(reply.code, reply.stderr).toBe(0);
    expect(reply.stderr).toMatch(/\[\d+ tokens in .* tokens\/s\); prompt \d+ tokens, 0 from the KV cache/);
    // the prompt has no special tokens of this vocabulary: generate continues the same ids
    const prompt = (await run(['chat', ...args, '--template', template, '--messages', messages, '--print-prompt'])).stdout;
    const generated = await run(['generate', ...args, '--prompt', prompt]);
    expect(generated.code, generated.stderr).toBe(0);
    expect(reply.stdout).toBe(generated.stdout.slice(prompt.length));
  });

  test('from a pipe, one turn per line: the history stays in the KV cache, /reset clears it', async () => {
    const args = ['chat', '--model', model, '--template', template, '--temperature', '0', '--max-tokens', '12', '--system', 'Stories.'];
    const r = await run(args, 'Once upon a time\nThe dog ran\n/reset\nThe dog ran\n/exit\nnever read\n');
    expect(r.code, r.stderr).toBe(0);
    const turns = [...r.stderr.matchAll(/prompt (\d+) tokens, (\d+) from the KV cache/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
    expect(turns).toHaveLength(3);
    // the second turn's prompt holds the first turn and mostly comes from the cache
    expect(turns[1]![0]).toBeGreaterThan(turns[0]![0]);
    expect(turns[1]![1]).toBeGreaterThan(turns[0]![0] / 2);
    // after /reset the conversation is the system message and the new line only: as a fresh one
    const fresh = await run([...args, '--messages', file('dog.json', JSON.stringify([{ role: 'user', content: 'The dog ran' }]))]);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(turns[2]![0]).toBe(Number(/prompt (\d+) tokens/.exec(fresh.stderr)![1]));
    expect(turns[2]![0]).toBeLessThan(turns[1]![0]);
    const replies = r.stdout.split('\n');
    expect(replies[2]).toBe(fresh.stdout.split('\n')[0]);
    // and not the reply the same line got with the history before it
    expect(replies[1]).not.toBe(replies[2]);
    expect(r.stderr).toMatch(/\[conversation cleared\]/);
  });

  test('--tools and --template-vars reach the template: every tool-use template in shared/templates renders, and a reply runs', async () => {
    const tools = file('tools.json', JSON.stringify([{
      type: 'function',
      function: { name: 'get_weather', description: 'The weather in a city.', parameters: { type: 'object', properties: { city: { type: 'string', description: 'The city.' } } } },
    }]));
    const messages = file('ask.json', JSON.stringify([{ role: 'user', content: 'Weather in Paris?' }]));
    const cases: Array<[string, string[]]> = [
      ['NousResearch-Hermes-3-Llama-3.1-8B-tool_use', ['--tools', tools]],
      ['NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use', ['--tools', tools]],
      ['CohereForAI-c4ai-command-r-plus-tool_use', ['--tools', tools]],
      ['meetkai-functionary-medium-v3.1', ['--tools', tools]],
      ['meta-llama-Llama-3.2-3B-Instruct', ['--tools', tools, '--template-vars', '{"date_string": "26 Jul 2024"}']],
      // firefunction-v2 reads its functions as one JSON string and the date as datetime
      ['fireworks-ai-llama-3-firefunction-v2', ['--template-vars', JSON.stringify({ functions: '[{"name": "get_weather"}]', datetime: '2024-07-26' })]],
    ];
    for (const [name, flags] of cases) {
      const r = await run(['chat', '--model', model, '--template', sharedPath('templates', `${name}.jinja`), '--messages', messages, ...flags, '--print-prompt']);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      expect(r.stdout, name).toContain('get_weather');
      expect(r.stdout, name).toContain('Weather in Paris?');
      if (name.startsWith('meta-llama')) expect(r.stdout).toContain('Today Date: 26 Jul 2024');
    }
    // without the list, the Hermes template fails with the renderer's message, named by the template file
    const bare = await run(['chat', '--model', model, '--template', sharedPath('templates', `${cases[0]![0]}.jinja`), '--messages', messages, '--print-prompt']);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toMatch(/^ffnkit: --template .*Hermes-3.*: /);
    // a reply with the tool list (Hermes' system block alone outgrows this model's 512-token context: a short template)
    const listing = file('listing.jinja', `Tools:{% for t in tools %} {{ t.function.name }}{% endfor %}\n${CHATML}`);
    const args = ['chat', '--model', model, '--template', listing, '--messages', messages, '--tools', tools, '--temperature', '0', '--max-tokens', '8'];
    const prompt = await run([...args, '--print-prompt']);
    // (the newline after a block tag is trimmed, as transformers renders)
    expect(prompt.stdout.startsWith('Tools: get_weather<|im_start|>user\nWeather in Paris?'), prompt.stdout).toBe(true);
    const reply = await run(args);
    expect(reply.code, reply.stderr).toBe(0);
    expect(reply.stderr).toMatch(/\[8 tokens in .*; prompt \d+ tokens/);
  });

  test('bad --tools and --template-vars are errors naming the flag, before the model loads', async () => {
    const messages = file('hi.json', JSON.stringify([{ role: 'user', content: 'hi' }]));
    const base = ['chat', '--model', join(dir, 'no-such-model.gguf'), '--template', template, '--messages', messages, '--print-prompt'];
    const cases: Array<[string[], RegExp]> = [
      [['--tools', file('bad.json', '[{')], /^ffnkit: --tools: .*bad\.json is not JSON/],
      [['--tools', file('obj.json', '{"name": "f"}')], /^ffnkit: --tools: .*obj\.json: tools: expected an array/],
      [['--tools', file('noname.json', '[{"type": "function", "function": {"description": "x"}}]')], /^ffnkit: --tools: .*noname\.json: tools\[0\]\.function\.name: expected the tool's name/],
      [['--tools', join(dir, 'missing.json')], /^ffnkit: --tools: cannot read /],
      [['--template-vars', '{date_string: 1}'], /^ffnkit: --template-vars: not JSON .*quote the object/],
      [['--template-vars', '[1]'], /^ffnkit: --template-vars: expected an object of template variables, found an array/],
      [['--template-vars', '{"messages": []}'], /^ffnkit: --template-vars: messages is set by the renderer itself, not a variable$/],
      [['--template-vars', '{"tools": []}', '--tools', file('empty.json', '[]')], /^ffnkit: --template-vars: holds tools, which --tools gives/],
    ];
    // --print-prompt prints a --messages conversation; it does not read stdin
    const noMessages = await run(['chat', '--model', join(dir, 'no-such-model.gguf'), '--template', template, '--print-prompt'], 'hello\n');
    expect([noMessages.code, noMessages.stdout]).toEqual([1, '']);
    expect(noMessages.stderr).toMatch(/^ffnkit: --print-prompt: prints the prompt of the conversation in a --messages file, which is missing/);
    for (const [flags, message] of cases) {
      const r = await run([...base, ...flags]);
      expect(r.code, flags.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n')[0], flags.join(' ')).toMatch(message);
    }
  });

  test('--messages in OpenAI\'s tool-calling form (a call with content null, then its result) renders through Hermes 3', async () => {
    const tools = file('tools2.json', JSON.stringify([{ type: 'function', function: { name: 'get_weather', description: 'Weather.', parameters: { type: 'object', properties: {} } } }]));
    const messages = file('round.json', JSON.stringify([
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }] },
      { role: 'tool', content: 'clear' },
    ]));
    const r = await run(['chat', '--model', model, '--template', sharedPath('templates', 'NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja'), '--messages', messages, '--tools', tools, '--print-prompt']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n<|im_start|>tool\n<tool_response>\nclear\n</tool_response><|im_end|><|im_start|>assistant\n');
  });
});

describe.skipIf(!SHARED)('ffnkit generate: the new sampling flags', () => {
  const model = sharedPath('models', 'stories260K.gguf');
  const base = ['generate', '--model', model, '--prompt', 'Once upon a time', '--temperature', '0', '--max-tokens', '30'];

  test('--stop ends the text before the string (across tokens); --repeat-penalty changes greedy text; the seed is printed', async () => {
    const plain = await run(base);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toMatch(/seed \d+/);
    const stopped = await run([...base, '--stop', 'rl nam', '--stop', 'never']);
    expect(stopped.stdout).toBe(`${plain.stdout.slice(0, plain.stdout.indexOf('rl nam'))}\n`);
    const penalized = await run([...base, '--repeat-penalty', '1.5', '--min-p', '0.05']);
    expect(penalized.code, penalized.stderr).toBe(0);
    expect(penalized.stdout).not.toBe(plain.stdout);
    expect((await run([...base, '--ids', '--stop', 'x'])).code).toBe(1);
    expect((await run([...base, '--min-p', '2'])).code).toBe(2);
  });

  test('without --seed two samples differ; with it they repeat', async () => {
    const sample = ['generate', '--model', model, '--prompt', 'Once upon a time', '--max-tokens', '30'];
    const [a, b] = await Promise.all([run(sample), run(sample)]);
    expect(a.stdout).not.toBe(b.stdout);
    const [c, d] = await Promise.all([run([...sample, '--seed', '7']), run([...sample, '--seed', '7'])]);
    expect(c.stdout).toBe(d.stdout);
  });

  test('a text file given as the model says it is none of the formats', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffnkit-cli-text-'));
    try {
      const path = join(dir, 'story.txt');
      writeFileSync(path, 'Once upon a time.\n');
      const r = await run(['generate', '--model', path, '--prompt', 'x']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/not a GGUF, llama2\.c or safetensors file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
